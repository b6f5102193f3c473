-- One row per sync run: what started it, its non-secret settings (workers read them through their
-- batch's run), when a person first saw results, and how it ended.
CREATE TABLE sync_runs (
    id                             bigserial PRIMARY KEY,
    scope                          text        NOT NULL,
    company_id                     text        NOT NULL,
    trigger                        text        NOT NULL,
    mode                           text        NOT NULL,
    status                         text        NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed', 'degraded')),
    settings                       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at                     timestamptz NOT NULL DEFAULT now(),
    first_feedback_at              timestamptz,
    time_to_first_feedback_seconds double precision,
    finished_at                    timestamptz,
    summary                        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error                          text
);

CREATE INDEX sync_runs_scope_started ON sync_runs (scope, started_at DESC);
