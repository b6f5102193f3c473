-- "Sync now" from SQL: an application calls request_sync('NAMESPACE/NAME', 'interactive') with no
-- Kubernetes rights at all. The request is a row; the operator, listening on this database, starts that
-- resource's run within a second, or coalesces the request into the follow-up of a run already going.
-- The run that serves a request is written on it (by the trigger on sync_runs below), so an application
-- can follow its request id to a run through the run.started notification.

-- The scopes known in this database: registered by the operator for each resource it manages, and by
-- every run.
CREATE TABLE sync_scopes (
    scope         text PRIMARY KEY,
    registered_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_scopes (scope) SELECT DISTINCT scope FROM sync_runs ON CONFLICT DO NOTHING;

CREATE TABLE sync_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope        text        NOT NULL REFERENCES sync_scopes (scope) ON DELETE CASCADE,
    mode         text        NOT NULL CHECK (mode IN ('interactive', 'background')),
    requested_by text        NOT NULL DEFAULT session_user,
    requested_at timestamptz NOT NULL DEFAULT now(),
    run_id       bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    served_at    timestamptz
);
CREATE INDEX sync_requests_open ON sync_requests (scope) WHERE served_at IS NULL;

-- SECURITY DEFINER: an application role needs EXECUTE on this function only, not rights on the tables.
CREATE FUNCTION request_sync(p_scope text, p_mode text DEFAULT 'interactive') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_mode IS NULL OR p_mode NOT IN ('interactive', 'background') THEN
        RAISE EXCEPTION 'request_sync: mode must be ''interactive'' or ''background'', not %',
                        coalesce(quote_literal(p_mode), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM sync_scopes WHERE scope = p_scope) THEN
        RAISE EXCEPTION 'request_sync: unknown scope %', coalesce(quote_literal(p_scope), 'NULL')
            USING ERRCODE = 'no_data_found',
                  HINT = 'A scope is NAMESPACE/NAME of an EmployesSync resource whose operator uses this database.';
    END IF;
    INSERT INTO sync_requests (scope, mode) VALUES (p_scope, p_mode) RETURNING id INTO v_id;
    PERFORM employes_sync_notify(jsonb_build_object(
        'type', 'sync.requested', 'scope', p_scope, 'run_id', NULL, 'request_id', v_id, 'mode', p_mode));
    RETURN v_id;
END
$$;
REVOKE ALL ON FUNCTION request_sync(text, text) FROM PUBLIC;

-- A new run registers its scope and serves every request of the scope still open: those made before it
-- started; a request made during a run stays open and is served by the follow-up run.
CREATE FUNCTION employes_sync_serve_requests() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_scopes (scope) VALUES (NEW.scope) ON CONFLICT DO NOTHING;
    UPDATE sync_requests SET run_id = NEW.id, served_at = now()
     WHERE scope = NEW.scope AND served_at IS NULL;
    RETURN NULL;
END
$$;

-- Named to fire before sync_runs_notify (triggers fire in name order), so run.started lists them.
CREATE TRIGGER sync_runs_a_serve_requests
    AFTER INSERT ON sync_runs
    FOR EACH ROW EXECUTE FUNCTION employes_sync_serve_requests();

-- run.started now names the requests the run serves.
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
            'employees_removed', coalesce((NEW.summary ->> 'employees_removed')::bigint, 0),
            'batches', coalesce((NEW.summary -> 'batches' ->> 'total')::bigint, 0),
            'batches_failed', coalesce((NEW.summary -> 'batches' ->> 'failed')::bigint, 0)));
    END IF;
    RETURN NULL;
END
$$;
