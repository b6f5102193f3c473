-- request_sync's hint for an unknown scope names both kinds of scope: it named only NAMESPACE/NAME,
-- so a caller of a local sync's database (whose scopes are local/<companyId>) was told of the wrong
-- one. CREATE OR REPLACE keeps the function's owner and grants (EXECUTE stays revoked from PUBLIC and
-- granted to the roles given it).
CREATE OR REPLACE FUNCTION request_sync(p_scope text, p_mode text DEFAULT 'interactive') RETURNS bigint
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
                  HINT = 'A scope is NAMESPACE/NAME of an EmployesSync resource whose operator uses this '
                         'database, or local/<companyId> of a company `employes-sync sync` has synced into it.';
    END IF;
    INSERT INTO sync_requests (scope, mode) VALUES (p_scope, p_mode) RETURNING id INTO v_id;
    PERFORM employes_sync_notify(jsonb_build_object(
        'type', 'sync.requested', 'scope', p_scope, 'run_id', NULL, 'request_id', v_id, 'mode', p_mode));
    RETURN v_id;
END
$$;
