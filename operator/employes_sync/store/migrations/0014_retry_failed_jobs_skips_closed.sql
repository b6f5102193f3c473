-- A batch closed with its interrupted run (error_details.reason = 'run_closed') is not a failure to
-- retry: nothing drives that run any more, and the next run of the scope syncs its employees again.
CREATE OR REPLACE FUNCTION retry_failed_jobs(stuck_after interval DEFAULT interval '5 minutes')
RETURNS integer
LANGUAGE sql
VOLATILE
AS $$
    WITH retried AS (
        UPDATE processing_queue
           SET status = 'pending',
               run_after = now(),
               lease_expires_at = NULL,
               completed_at = NULL
         WHERE ((status = 'failed' AND attempts < max_attempts)
                OR (status = 'processing' AND started_at < now() - stuck_after))
           AND coalesce(error_details ->> 'reason', '') <> 'run_closed'
        RETURNING 1
    )
    SELECT count(*)::integer FROM retried;
$$;
