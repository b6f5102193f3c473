-- The original manual retry: failed batches with attempts left, and batches processing for longer than
-- the interval, go back to pending; returns how many.
CREATE FUNCTION retry_failed_jobs(stuck_after interval DEFAULT interval '5 minutes')
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
         WHERE (status = 'failed' AND attempts < max_attempts)
            OR (status = 'processing' AND started_at < now() - stuck_after)
        RETURNING 1
    )
    SELECT count(*)::integer FROM retried;
$$;
