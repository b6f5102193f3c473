-- One running run per scope, enforced here rather than inside one process: a run has an owner (the
-- process or operator pod that drives it) and a heartbeat it renews. A starter that meets a running
-- run with a live heartbeat does not start; one whose heartbeat has expired is taken over (closed as
-- interrupted, with its unfinished batches) by the next starter.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'degraded', 'interrupted'));

ALTER TABLE sync_runs
    ADD COLUMN owner                text,   -- for people: "host pid 123 (employes-sync sync)"
    ADD COLUMN owner_id             text,   -- for code: who may renew and resume the run
    ADD COLUMN heartbeat_at         timestamptz,
    ADD COLUMN heartbeat_expires_at timestamptz,
    ADD COLUMN took_over            bigint REFERENCES sync_runs (id);  -- the expired run this one closed

-- Earlier versions could leave several runs of one scope running; keep the newest open.
UPDATE sync_runs r
   SET status = 'interrupted',
       finished_at = now(),
       error = 'interrupted: a newer run of this scope was already running'
 WHERE r.status = 'running'
   AND EXISTS (SELECT 1 FROM sync_runs n WHERE n.scope = r.scope AND n.status = 'running' AND n.id > r.id);

CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (scope) WHERE status = 'running';
