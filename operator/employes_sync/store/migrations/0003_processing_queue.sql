-- The batch queue, with the original columns so the original operations SQL keeps working, plus a
-- scope, the run, backoff (run_after), a lease for stuck-batch rescue and the current Job's name.
CREATE TABLE processing_queue (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    scope              text        NOT NULL,
    run_id             bigint      REFERENCES sync_runs (id) ON DELETE CASCADE,
    batch_no           integer,
    job_type           text        NOT NULL DEFAULT 'timeline_processing',
    payload            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status             text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    priority           integer     NOT NULL DEFAULT 0,
    attempts           integer     NOT NULL DEFAULT 0,
    max_attempts       integer     NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    created_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    completed_at       timestamptz,
    error_message      text,
    error_details      jsonb,
    result             jsonb,
    run_after          timestamptz NOT NULL DEFAULT now(),
    lease_expires_at   timestamptz,
    job_name           text,
    -- The original "check queue" query averages this column.
    processing_time_ms numeric GENERATED ALWAYS AS
        (extract(epoch FROM (completed_at - started_at)) * 1000) STORED
);

-- The claim path: due pending batches, most urgent first.
CREATE INDEX processing_queue_claim
    ON processing_queue (priority DESC, created_at, batch_no)
    WHERE status = 'pending';
CREATE INDEX processing_queue_scope_status ON processing_queue (scope, status);
CREATE INDEX processing_queue_run ON processing_queue (run_id, batch_no);
CREATE INDEX processing_queue_lease
    ON processing_queue (lease_expires_at)
    WHERE status = 'processing';
