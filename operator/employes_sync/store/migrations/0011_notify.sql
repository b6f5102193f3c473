-- Live notifications for applications on the channel `employes_sync`, one JSON object each, sent by
-- PostgreSQL when the transaction that made the change commits (so a listener never hears of a change
-- it cannot read yet, and never of one rolled back). Every payload has type, scope, run_id and at, and
-- carries ids and counts only: no names, no amounts.
CREATE FUNCTION employes_sync_notify(payload jsonb) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('employes_sync',
                     (payload || jsonb_build_object(
                         'at', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))::text)
$$;

-- run.started, run.first_feedback and run.finished, from the run's own row.
CREATE FUNCTION employes_sync_notify_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM employes_sync_notify(jsonb_build_object(
            'type', 'run.started', 'scope', NEW.scope, 'run_id', NEW.id,
            'trigger', NEW.trigger, 'mode', NEW.mode));
        RETURN NULL;
    END IF;
    IF OLD.first_feedback_at IS NULL AND NEW.first_feedback_at IS NOT NULL THEN
        PERFORM employes_sync_notify(jsonb_build_object(
            'type', 'run.first_feedback', 'scope', NEW.scope, 'run_id', NEW.id,
            'seconds', NEW.time_to_first_feedback_seconds));
    END IF;
    IF OLD.status = 'running' AND NEW.status <> 'running' THEN
        PERFORM employes_sync_notify(jsonb_build_object(
            'type', 'run.finished', 'scope', NEW.scope, 'run_id', NEW.id, 'status', NEW.status,
            'employees', coalesce((NEW.summary ->> 'employees_processed')::bigint, 0),
            'events_created', coalesce((NEW.summary ->> 'events_created')::bigint, 0),
            'events_updated', coalesce((NEW.summary ->> 'events_updated')::bigint, 0),
            'employees_removed', coalesce((NEW.summary ->> 'employees_removed')::bigint, 0),
            'batches', coalesce((NEW.summary -> 'batches' ->> 'total')::bigint, 0),
            'batches_failed', coalesce((NEW.summary -> 'batches' ->> 'failed')::bigint, 0)));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_runs_notify
    AFTER INSERT OR UPDATE ON sync_runs
    FOR EACH ROW EXECUTE FUNCTION employes_sync_notify_run();

-- batch.finished: a batch reached completed or failed (its last attempt), from the queue row.
CREATE FUNCTION employes_sync_notify_batch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM employes_sync_notify(jsonb_build_object(
        'type', 'batch.finished', 'scope', NEW.scope, 'run_id', NEW.run_id,
        'batch_id', NEW.id, 'batch_no', NEW.batch_no, 'status', NEW.status,
        'attempts', NEW.attempts,
        'employees', coalesce(jsonb_array_length(NEW.payload -> 'employee_ids'), 0)));
    RETURN NULL;
END
$$;

CREATE TRIGGER processing_queue_notify
    AFTER UPDATE OF status ON processing_queue
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('completed', 'failed'))
    EXECUTE FUNCTION employes_sync_notify_batch();
