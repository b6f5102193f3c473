-- The transactional outbox of webhook events: one row per event and subscribed webhook, written in the
-- same transaction as the change it reports (a run's end, a timeline write, a departure), so a process
-- that dies loses none. A row holds the exact body to send and no secret: the receiver's URL and signing
-- secret live in Kubernetes Secrets (or the CLI's flags) and reach only the deliverer's memory.
-- Subscriptions come from the run's settings: settings -> 'webhooks' = [{name, events, include_details,
-- max_age_seconds}], non-secret by construction.
CREATE TABLE notification_outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text        NOT NULL UNIQUE,       -- webhook-id: the same on every attempt
    scope           text        NOT NULL,
    webhook         text        NOT NULL,
    event_type      text        NOT NULL
        CHECK (event_type IN ('run.finished', 'run.failed', 'timeline.changed', 'employee.removed')),
    employee_id     text,                              -- events of one employee are delivered in order
    run_id          bigint,
    body            jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,              -- dead-lettered when an attempt fails after this
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz
);

CREATE INDEX notification_outbox_due
    ON notification_outbox (scope, webhook, next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_outbox_order
    ON notification_outbox (scope, webhook, employee_id, seq) WHERE status = 'pending';

-- A stable, unguessable id per event (Standard Webhooks' webhook-id).
CREATE FUNCTION employes_sync_event_id() RETURNS text
LANGUAGE sql AS $$ SELECT 'evt_' || replace(gen_random_uuid()::text, '-', '') $$;

-- The webhooks of a run subscribed to an event type.
CREATE FUNCTION employes_sync_subscribers(p_run_id bigint, p_type text)
RETURNS TABLE (name text, include_details boolean, max_age_seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT w ->> 'name',
           coalesce((w ->> 'include_details')::boolean, false),
           coalesce((w ->> 'max_age_seconds')::float8, 86400)
      FROM sync_runs r, jsonb_array_elements(coalesce(r.settings -> 'webhooks', '[]'::jsonb)) AS w
     WHERE r.id = p_run_id
       AND coalesce(w -> 'events', '[]'::jsonb) ? p_type
$$;

-- run.finished for every run that ends, and run.failed as well for one that failed or degraded.
CREATE FUNCTION employes_sync_outbox_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (id, scope, webhook, event_type, run_id, body, expires_at)
    SELECT employes_sync_event_id(), NEW.scope, s.name, t.type, NEW.id,
           jsonb_build_object(
               'type', t.type,
               'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', jsonb_build_object(
                   'scope', NEW.scope, 'company_id', NEW.company_id, 'run_id', NEW.id,
                   'status', NEW.status, 'trigger', NEW.trigger,
                   'started_at', NEW.started_at, 'finished_at', NEW.finished_at,
                   'employees', coalesce((NEW.summary ->> 'employees_processed')::bigint, 0),
                   'events_created', coalesce((NEW.summary ->> 'events_created')::bigint, 0),
                   'events_updated', coalesce((NEW.summary ->> 'events_updated')::bigint, 0),
                   'employees_removed', coalesce((NEW.summary ->> 'employees_removed')::bigint, 0),
                   'batches_failed', coalesce((NEW.summary -> 'batches' ->> 'failed')::bigint, 0))),
           now() + make_interval(secs => s.max_age_seconds)
      FROM (VALUES ('run.finished'), ('run.failed')) AS t(type)
      JOIN LATERAL employes_sync_subscribers(NEW.id, t.type) s ON true
     WHERE t.type = 'run.finished' OR NEW.status IN ('failed', 'degraded');
    RETURN NULL;
END
$$;

CREATE TRIGGER sync_runs_outbox
    AFTER UPDATE OF status ON sync_runs
    FOR EACH ROW
    WHEN (OLD.status = 'running' AND NEW.status <> 'running')
    EXECUTE FUNCTION employes_sync_outbox_run();

-- Wake the deliverers at commit (their own channel: applications listen on employes_sync).
CREATE FUNCTION employes_sync_outbox_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('employes_sync_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER notification_outbox_wake
    AFTER INSERT ON notification_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION employes_sync_outbox_wake();
