-- The run.* webhooks carry the counts of the run.finished notification, as docs/integration.md says:
-- their bodies had no `batches` (a receiver could not tell "0 of 3 batches failed" from "0 of 0"), and
-- neither they nor the notification had `events_removed` (a run whose only change was removed events
-- read as a run that changed nothing). The webhooks also carry the run's `mode`, and its `error` (its
-- first 500 characters; null when it has none), so a receiver of run.failed learns why without
-- database rights. The notification keeps to ids and counts.
CREATE OR REPLACE FUNCTION employes_sync_notify_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM employes_sync_notify(jsonb_build_object(
            'type', 'run.started', 'scope', NEW.scope, 'run_id', NEW.id,
            'trigger', NEW.trigger, 'mode', NEW.mode,
            'request_ids', (SELECT coalesce(jsonb_agg(q.id ORDER BY q.id), '[]'::jsonb)
                              FROM sync_requests q WHERE q.run_id = NEW.id)));
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
            'events_removed', coalesce((NEW.summary ->> 'events_removed')::bigint, 0),
            'employees_removed', coalesce((NEW.summary ->> 'employees_removed')::bigint, 0),
            'batches', coalesce((NEW.summary -> 'batches' ->> 'total')::bigint, 0),
            'batches_failed', coalesce((NEW.summary -> 'batches' ->> 'failed')::bigint, 0)));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION employes_sync_outbox_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (id, scope, webhook, event_type, run_id, body, expires_at)
    SELECT employes_sync_event_id(), NEW.scope, s.name, t.type, NEW.id,
           jsonb_build_object(
               'type', t.type,
               'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', jsonb_build_object(
                   'scope', NEW.scope, 'company_id', NEW.company_id, 'run_id', NEW.id,
                   'status', NEW.status, 'trigger', NEW.trigger, 'mode', NEW.mode,
                   'started_at', NEW.started_at, 'finished_at', NEW.finished_at,
                   'employees', coalesce((NEW.summary ->> 'employees_processed')::bigint, 0),
                   'events_created', coalesce((NEW.summary ->> 'events_created')::bigint, 0),
                   'events_updated', coalesce((NEW.summary ->> 'events_updated')::bigint, 0),
                   'events_removed', coalesce((NEW.summary ->> 'events_removed')::bigint, 0),
                   'employees_removed', coalesce((NEW.summary ->> 'employees_removed')::bigint, 0),
                   'batches', coalesce((NEW.summary -> 'batches' ->> 'total')::bigint, 0),
                   'batches_failed', coalesce((NEW.summary -> 'batches' ->> 'failed')::bigint, 0),
                   'error', left(NEW.error, 500))),
           now() + make_interval(secs => s.max_age_seconds)
      FROM (VALUES ('run.finished'), ('run.failed')) AS t(type)
      JOIN LATERAL employes_sync_subscribers(NEW.id, t.type) s ON true
     WHERE t.type = 'run.finished' OR NEW.status IN ('failed', 'degraded');
    RETURN NULL;
END
$$;
