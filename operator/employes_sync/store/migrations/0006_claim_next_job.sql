-- Claim the most urgent due pending batch (optionally of one scope) without waiting on batches other
-- workers hold; callable with no argument, as the original was.
CREATE FUNCTION claim_next_job(p_scope text DEFAULT NULL, p_lease interval DEFAULT interval '5 minutes')
RETURNS SETOF processing_queue
LANGUAGE sql
VOLATILE
AS $$
    UPDATE processing_queue q
       SET status = 'processing',
           attempts = q.attempts + 1,
           started_at = now(),
           completed_at = NULL,
           lease_expires_at = now() + p_lease
     WHERE q.id = (
            SELECT c.id
              FROM processing_queue c
             WHERE c.status = 'pending'
               AND c.run_after <= now()
               AND (p_scope IS NULL OR c.scope = p_scope)
             ORDER BY c.priority DESC, c.created_at, c.batch_no
             LIMIT 1
               FOR UPDATE SKIP LOCKED)
    RETURNING q.*;
$$;
