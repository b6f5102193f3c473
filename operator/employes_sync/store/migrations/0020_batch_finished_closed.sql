-- batch.finished says whether a failed batch was closed with its interrupted run (`closed`): such a
-- batch is `failed` like one that used up its attempts, but nothing retries it and the run's summary
-- counts it apart; a listener could not tell the two apart.
CREATE OR REPLACE FUNCTION employes_sync_notify_batch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM employes_sync_notify(jsonb_build_object(
        'type', 'batch.finished', 'scope', NEW.scope, 'run_id', NEW.run_id,
        'batch_id', NEW.id, 'batch_no', NEW.batch_no, 'status', NEW.status,
        'attempts', NEW.attempts,
        'employees', coalesce(jsonb_array_length(NEW.payload -> 'employee_ids'), 0),
        'closed', coalesce(NEW.error_details ->> 'reason' = 'run_closed', false)));
    RETURN NULL;
END
$$;
