-- The one place the wait before a batch's next attempt is computed: exponential in the attempts made,
-- capped, with jitter in [0.5, 1] so batches that failed together do not come back together.
-- Used by fail_batch (a worker's own failure) and rescue_expired_batches (a lost worker).
CREATE FUNCTION batch_retry_delay(attempts integer, base float8, cap float8)
RETURNS interval
LANGUAGE sql VOLATILE
AS $$
    SELECT make_interval(secs => least(cap, base * power(2, greatest(attempts - 1, 0))) * (0.5 + random() / 2))
$$;
