-- The store's query catalogue: every statement the store runs, each under a `-- name: query_name`
-- header followed by a one-line comment. Parameters are always named (%(name)s); nothing is ever
-- formatted into this text.

-- ---------------------------------------------------------------------------------------------------
-- migrations
-- ---------------------------------------------------------------------------------------------------

-- name: lock_migrations
-- Serialise migrators (two operators starting at once) until the transaction ends.
SELECT pg_advisory_xact_lock(%(lock_key)s);

-- name: create_schema_migrations
-- The ledger of applied migrations; created before the first one runs.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: applied_migrations
-- Versions already applied.
SELECT version FROM schema_migrations ORDER BY version;

-- name: record_migration
-- Note a migration as applied, in the same transaction that applied it.
INSERT INTO schema_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: ping
-- Prove a connection works.
SELECT 1;

-- ---------------------------------------------------------------------------------------------------
-- raw data
-- ---------------------------------------------------------------------------------------------------

-- name: lock_employees
-- Queue behind other writers of the same employee buckets until the transaction ends (keys sorted).
SELECT pg_advisory_xact_lock(%(namespace)s::int4, k)
  FROM unnest(%(keys)s::int4[]) WITH ORDINALITY AS u(k, n)
 ORDER BY n;

-- name: store_employees
-- Store a page of /employee responses: unchanged bump last_verified_at, new or changed add a latest row.
-- updated_ids: what an incremental run must fetch employments for (new, dt_update changed, or no
-- employments stored yet).
WITH input AS (
    SELECT *
      FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS r(employee_id text, api_response jsonb, data_hash text, dt_update text)
),
touched AS (
    UPDATE employes_raw_data d
       SET is_latest = (d.data_hash = i.data_hash),
           last_verified_at = CASE WHEN d.data_hash = i.data_hash THEN now() ELSE d.last_verified_at END
      FROM input i
     WHERE d.scope = %(scope)s
       AND d.endpoint = '/employee'
       AND d.employee_id = i.employee_id
       AND d.is_latest
 RETURNING d.employee_id,
           d.data_hash = i.data_hash AS unchanged,
           d.dt_update IS DISTINCT FROM i.dt_update AS dt_changed
),
inserted AS (
    INSERT INTO employes_raw_data (scope, employee_id, endpoint, api_response, data_hash, dt_update)
    SELECT %(scope)s, i.employee_id, '/employee', i.api_response, i.data_hash, i.dt_update
      FROM input i
     -- an InitPlan: the retiring UPDATE runs to completion before the first new latest row goes in
     WHERE (SELECT count(*) FROM touched) >= 0
       AND NOT EXISTS (SELECT 1 FROM touched t WHERE t.employee_id = i.employee_id AND t.unchanged)
 RETURNING employee_id
)
SELECT (SELECT count(*) FROM inserted n WHERE NOT EXISTS
            (SELECT 1 FROM touched t WHERE t.employee_id = n.employee_id)) AS new,
       (SELECT count(*) FROM touched WHERE NOT unchanged) AS changed,
       (SELECT count(*) FROM touched WHERE unchanged) AS unchanged,
       ARRAY(
           SELECT i.employee_id
             FROM input i
             LEFT JOIN touched t ON t.employee_id = i.employee_id
             LEFT JOIN employes_raw_data e
                    ON e.scope = %(scope)s
                   AND e.endpoint = '/employments'
                   AND e.employee_id = i.employee_id
                   AND e.is_latest
            WHERE t.employee_id IS NULL
               OR t.dt_changed
               OR e.id IS NULL
            ORDER BY i.employee_id
       ) AS updated_ids;

-- name: store_employments
-- Store a batch of /employments responses (one list per employee), deduplicated like store_employees.
-- updated_ids: the employees whose employments are new or changed.
WITH input AS (
    SELECT *
      FROM jsonb_to_recordset(%(rows)s::jsonb)
        AS r(employee_id text, api_response jsonb, data_hash text)
),
touched AS (
    UPDATE employes_raw_data d
       SET is_latest = (d.data_hash = i.data_hash),
           last_verified_at = CASE WHEN d.data_hash = i.data_hash THEN now() ELSE d.last_verified_at END
      FROM input i
     WHERE d.scope = %(scope)s
       AND d.endpoint = '/employments'
       AND d.employee_id = i.employee_id
       AND d.is_latest
 RETURNING d.employee_id, d.data_hash = i.data_hash AS unchanged
),
inserted AS (
    INSERT INTO employes_raw_data (scope, employee_id, endpoint, api_response, data_hash)
    SELECT %(scope)s, i.employee_id, '/employments', i.api_response, i.data_hash
      FROM input i
     -- an InitPlan: the retiring UPDATE runs to completion before the first new latest row goes in
     WHERE (SELECT count(*) FROM touched) >= 0
       AND NOT EXISTS (SELECT 1 FROM touched t WHERE t.employee_id = i.employee_id AND t.unchanged)
 RETURNING employee_id
)
SELECT (SELECT count(*) FROM inserted n WHERE NOT EXISTS
            (SELECT 1 FROM touched t WHERE t.employee_id = n.employee_id)) AS new,
       (SELECT count(*) FROM touched WHERE NOT unchanged) AS changed,
       (SELECT count(*) FROM touched WHERE unchanged) AS unchanged,
       ARRAY(SELECT employee_id FROM inserted ORDER BY employee_id) AS updated_ids;

-- name: load_latest
-- Latest employee response and latest employments list (null if never fetched) per employee.
-- All employees of the scope when employee_ids is null.
SELECT e.employee_id, e.api_response AS employee, m.api_response AS employments
  FROM employes_raw_data e
  LEFT JOIN employes_raw_data m
         ON m.scope = e.scope
        AND m.employee_id = e.employee_id
        AND m.endpoint = '/employments'
        AND m.is_latest
 WHERE e.scope = %(scope)s
   AND e.endpoint = '/employee'
   AND e.is_latest
   AND (%(employee_ids)s::text[] IS NULL OR e.employee_id = ANY (%(employee_ids)s::text[]))
 ORDER BY e.employee_id;

-- ---------------------------------------------------------------------------------------------------
-- employees and departures
-- ---------------------------------------------------------------------------------------------------

-- name: mark_departures
-- After a complete listing: employees whose latest record was not seen since the run started, and who
-- are not already removed, are removed now by this run; an employee.removed event for each, for the
-- run's subscribed webhooks, in the same statement. Returns their ids.
WITH marked AS (
INSERT INTO employee_departures AS d (scope, employee_id, removed_at, run_id)
SELECT e.scope, e.employee_id, now(), %(run_id)s
  FROM employes_raw_data e
  JOIN sync_runs r ON r.id = %(run_id)s
 WHERE e.scope = %(scope)s
   AND e.endpoint = '/employee'
   AND e.is_latest
   AND e.last_verified_at < r.started_at
   AND NOT EXISTS (SELECT 1
                     FROM employee_departures o
                    WHERE o.scope = e.scope
                      AND o.employee_id = e.employee_id
                      AND o.removed_at > e.last_verified_at)
    ON CONFLICT (scope, employee_id) DO UPDATE
   SET removed_at = excluded.removed_at, run_id = excluded.run_id
RETURNING d.employee_id, d.removed_at
),
outbox AS (
    INSERT INTO notification_outbox (id, scope, webhook, event_type, employee_id, run_id, body, expires_at)
    SELECT employes_sync_event_id(), r.scope, s.name, 'employee.removed', m.employee_id, r.id,
           jsonb_build_object(
               'type', 'employee.removed',
               'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', jsonb_build_object('scope', r.scope, 'company_id', r.company_id, 'run_id', r.id,
                                          'employee_id', m.employee_id, 'removed_at', m.removed_at)),
           now() + make_interval(secs => s.max_age_seconds)
      FROM marked m
      JOIN sync_runs r ON r.id = %(run_id)s
      JOIN LATERAL employes_sync_subscribers(r.id, 'employee.removed') s ON true
     ORDER BY m.employee_id
)
SELECT employee_id FROM marked;

-- name: list_employees
-- The employes_employees view for one scope (or every scope), removed ones only when asked.
SELECT scope, employee_id, employee_number, display_name, status, first_seen_at, last_seen_at, removed_at
  FROM employes_employees
 WHERE (%(scope)s::text IS NULL OR scope = %(scope)s::text)
   AND (NOT %(removed_only)s::boolean OR removed_at IS NOT NULL)
 ORDER BY scope, removed_at DESC NULLS LAST, display_name, employee_id;

-- ---------------------------------------------------------------------------------------------------
-- sync requests (request_sync() from SQL)
-- ---------------------------------------------------------------------------------------------------

-- name: register_scope
-- Make a scope known here, so request_sync() accepts it before its first run.
INSERT INTO sync_scopes (scope) VALUES (%(scope)s) ON CONFLICT DO NOTHING;

-- name: known_scopes
-- Every scope known here (request_sync accepts them; `watch --scope` warns of another).
SELECT scope FROM sync_scopes ORDER BY scope;

-- name: open_sync_requests
-- A scope's requests no run has served yet: how many, and whether any asks for an interactive run.
SELECT count(*) AS n,
       coalesce(bool_or(mode = 'interactive'), false) AS interactive,
       min(requested_at) AS oldest
  FROM sync_requests
 WHERE scope = %(scope)s
   AND served_at IS NULL;

-- name: request_sync
-- Ask for a run of a scope, as an application would.
SELECT request_sync(%(scope)s, %(mode)s);

-- name: get_sync_request
-- One request, with the run that served it.
SELECT id, scope, mode, requested_by, requested_at, run_id, served_at FROM sync_requests WHERE id = %(id)s;

-- ---------------------------------------------------------------------------------------------------
-- queue
-- ---------------------------------------------------------------------------------------------------

-- name: enqueue_batches
-- Queue one batch per chunk of employee ids, numbered after the run's existing batches.
WITH chunks AS (
    SELECT c.employee_ids, c.ord
      FROM jsonb_array_elements(%(chunks)s::jsonb) WITH ORDINALITY AS c(employee_ids, ord)
),
base AS (
    SELECT coalesce(max(batch_no), 0) AS last_no
      FROM processing_queue
     WHERE scope = %(scope)s
       AND run_id IS NOT DISTINCT FROM %(run_id)s::bigint
)
INSERT INTO processing_queue (scope, run_id, batch_no, payload, priority, max_attempts)
SELECT %(scope)s,
       %(run_id)s::bigint,
       base.last_no + chunks.ord,
       jsonb_build_object('employee_ids', chunks.employee_ids,
                          'run_id', %(run_id)s::bigint,
                          'source', %(source)s::text),
       %(priority)s,
       %(max_attempts)s
  FROM chunks, base
 ORDER BY chunks.ord
RETURNING *;

-- name: claim_batch
-- Claim one given batch, only if it is pending and due (a second Job for the same attempt gets nothing).
UPDATE processing_queue
   SET status = 'processing',
       attempts = attempts + 1,
       started_at = now(),
       completed_at = NULL,
       lease_expires_at = now() + make_interval(secs => %(lease_seconds)s::float8)
 WHERE id = %(batch_id)s
   AND status = 'pending'
   AND run_after <= now()
RETURNING *;

-- name: claim_next_batch
-- Claim the most urgent due batch through the claim_next_job() SQL function.
SELECT * FROM claim_next_job(%(scope)s::text, make_interval(secs => %(lease_seconds)s::float8));

-- name: heartbeat_batch
-- Extend the lease of a batch this worker is still processing.
UPDATE processing_queue
   SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s::float8)
 WHERE id = %(batch_id)s
   AND status = 'processing'
RETURNING id;

-- name: complete_batch
-- Mark a processing batch completed with its result.
UPDATE processing_queue
   SET status = 'completed',
       completed_at = now(),
       lease_expires_at = NULL,
       result = %(result)s::jsonb
 WHERE id = %(batch_id)s
   AND status = 'processing'
RETURNING id;

-- name: fail_batch
-- Record a failed attempt: back to pending after exponential backoff while attempts remain, else failed.
UPDATE processing_queue
   SET status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
       run_after = CASE
           WHEN attempts < max_attempts
           THEN now() + batch_retry_delay(attempts, %(backoff_base)s::float8, %(backoff_max)s::float8)
           ELSE run_after
       END,
       completed_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,
       lease_expires_at = NULL,
       error_message = %(error)s,
       error_details = %(details)s::jsonb
 WHERE id = %(batch_id)s
   AND status = 'processing'
RETURNING status;

-- name: batch_status
-- The status of one batch (to answer a fail() that found the batch no longer processing).
SELECT status FROM processing_queue WHERE id = %(batch_id)s;

-- name: rescue_expired_batches
-- Batches whose worker stopped renewing its lease: count the attempt as failed, retry after backoff or fail.
UPDATE processing_queue
   SET status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END,
       run_after = CASE
           WHEN attempts < max_attempts
           THEN now() + batch_retry_delay(attempts, %(backoff_base)s::float8, %(backoff_max)s::float8)
           ELSE run_after
       END,
       completed_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,
       lease_expires_at = NULL,
       error_message = 'worker lost: lease expired',
       error_details = jsonb_build_object('reason', 'lease_expired',
                                          'lease_expired_at', lease_expires_at,
                                          'rescued_at', now(),
                                          'job_name', job_name)
 WHERE status = 'processing'
   AND lease_expires_at < now()
   AND (%(scope)s::text IS NULL OR scope = %(scope)s::text)
RETURNING id;

-- name: set_job_name
-- Record the Kubernetes Job (or local process) name running the batch's current attempt.
UPDATE processing_queue SET job_name = %(job_name)s WHERE id = %(batch_id)s RETURNING id;

-- name: get_batch
-- One batch by id.
SELECT * FROM processing_queue WHERE id = %(batch_id)s;

-- name: batch_and_run_settings
-- What a worker reads before its claim, in one statement: the batch's status and its run's stored settings.
SELECT q.status, r.id IS NOT NULL AS run_found, r.settings
  FROM processing_queue q
  LEFT JOIN sync_runs r ON r.id = q.run_id
 WHERE q.id = %(batch_id)s;

-- name: queue_counts
-- Batches by status (the original "check queue" query, per scope when given).
SELECT status, count(*) AS n
  FROM processing_queue
 WHERE %(scope)s::text IS NULL OR scope = %(scope)s::text
 GROUP BY status;

-- name: closed_batch_count
-- Failed batches that were closed with their interrupted run rather than failed by their attempts.
SELECT count(*) AS n
  FROM processing_queue
 WHERE status = 'failed'
   AND error_details ->> 'reason' = 'run_closed'
   AND (%(scope)s::text IS NULL OR scope = %(scope)s::text);

-- name: run_batches
-- A run's batches in the order they were queued.
SELECT * FROM processing_queue WHERE run_id = %(run_id)s ORDER BY batch_no, created_at;

-- name: prune_batches
-- Delete finished batches past a retention (the original "clear failed jobs", completed ones too).
DELETE FROM processing_queue
 WHERE status IN ('completed', 'failed')
   AND coalesce(completed_at, created_at) < now() - make_interval(secs => %(older_than_seconds)s::float8)
   AND (%(scope)s::text IS NULL OR scope = %(scope)s::text)
RETURNING id;

-- ---------------------------------------------------------------------------------------------------
-- timeline
-- ---------------------------------------------------------------------------------------------------

-- name: write_events
-- Make a set of employees' stored events equal the derived ones, in one statement.
-- New keys are inserted; an existing key is updated only when its content differs (a correction
-- upstream, a planned event whose day came, another locale), so unchanged data writes nothing;
-- keys no longer derived are deleted. xmax = 0 tells an inserted row from an updated one.
WITH incoming AS (
    SELECT *
      FROM jsonb_to_recordset(%(events)s::jsonb)
        AS e(employee_id text, event_type text, event_date date, event_title text,
             event_description text, event_data jsonb, event_key text, event_order smallint)
),
removed AS (
    DELETE FROM employes_timeline_v2 t
     WHERE t.scope = %(scope)s
       AND t.employee_id = ANY (%(employee_ids)s::text[])
       AND NOT EXISTS (SELECT 1
                         FROM incoming i
                        WHERE i.employee_id = t.employee_id
                          AND i.event_key = t.event_key)
 RETURNING t.employee_id, t.event_key, t.event_type, t.event_date
),
written AS (
    INSERT INTO employes_timeline_v2 AS t
           (scope, employee_id, event_type, event_date, event_title, event_description, event_data,
            event_key, event_order)
    SELECT %(scope)s, employee_id, event_type, event_date, event_title, event_description,
           coalesce(event_data, '{}'::jsonb), event_key, coalesce(event_order, 0)
      FROM incoming
        ON CONFLICT (scope, employee_id, event_key) DO UPDATE
       SET event_type = excluded.event_type,
           event_date = excluded.event_date,
           event_title = excluded.event_title,
           event_description = excluded.event_description,
           event_data = excluded.event_data,
           event_order = excluded.event_order,
           updated_at = now()
     WHERE (t.event_type, t.event_date, t.event_title, t.event_description, t.event_data, t.event_order)
           IS DISTINCT FROM
           (excluded.event_type, excluded.event_date, excluded.event_title, excluded.event_description,
            excluded.event_data, excluded.event_order)
 RETURNING t.employee_id, t.event_key, t.event_type, t.event_date, (xmax = 0) AS inserted
),
changes AS (
    SELECT CASE WHEN inserted THEN 'added' ELSE 'updated' END AS change,
           employee_id, event_key, event_type, event_date
      FROM written
    UNION ALL
    SELECT 'removed', employee_id, event_key, event_type, event_date FROM removed
)
SELECT (SELECT count(*) FROM written WHERE inserted) AS inserted,
       (SELECT count(*) FROM written WHERE NOT inserted) AS updated,
       (SELECT count(*) FROM removed) AS removed,
       ARRAY(SELECT DISTINCT employee_id FROM changes ORDER BY 1) AS changed_ids,
       -- what changed, event by event, for the webhook outbox (keys, types and dates only)
       (SELECT coalesce(jsonb_agg(jsonb_build_object('employee_id', employee_id, 'change', change,
                                                     'key', event_key, 'type', event_type,
                                                     'date', event_date)
                                  ORDER BY employee_id, event_date, event_key), '[]'::jsonb)
          FROM changes) AS changes;

-- name: outbox_timeline_changed
-- One timeline.changed event per changed employee and subscribed webhook of the run, with the events
-- added, updated and removed (keys, types, dates; titles, descriptions and data only for a webhook with
-- include_details). Runs in the timeline write's transaction.
WITH changes AS (
    SELECT *
      FROM jsonb_to_recordset(%(changes)s::jsonb)
        AS c(employee_id text, change text, key text, type text, date date)
),
run AS (SELECT id, scope, company_id FROM sync_runs WHERE id = %(run_id)s),
detailed AS (
    SELECT c.employee_id, c.change,
           jsonb_build_object('key', c.key, 'type', c.type, 'date', c.date) AS thin,
           jsonb_build_object('key', c.key, 'type', c.type, 'date', c.date)
               || CASE WHEN t.id IS NULL THEN '{}'::jsonb
                       ELSE jsonb_build_object('title', t.event_title, 'description', t.event_description,
                                               'data', t.event_data) END AS rich
      FROM changes c
      LEFT JOIN employes_timeline_v2 t
             ON c.change <> 'removed'
            AND t.scope = %(scope)s AND t.employee_id = c.employee_id AND t.event_key = c.key
),
per_employee AS (
    SELECT employee_id,
           jsonb_build_object(
               'added', coalesce(jsonb_agg(thin) FILTER (WHERE change = 'added'), '[]'::jsonb),
               'updated', coalesce(jsonb_agg(thin) FILTER (WHERE change = 'updated'), '[]'::jsonb),
               'removed', coalesce(jsonb_agg(thin) FILTER (WHERE change = 'removed'), '[]'::jsonb)) AS thin,
           jsonb_build_object(
               'added', coalesce(jsonb_agg(rich) FILTER (WHERE change = 'added'), '[]'::jsonb),
               'updated', coalesce(jsonb_agg(rich) FILTER (WHERE change = 'updated'), '[]'::jsonb),
               'removed', coalesce(jsonb_agg(thin) FILTER (WHERE change = 'removed'), '[]'::jsonb)) AS rich
      FROM detailed
     GROUP BY employee_id
)
INSERT INTO notification_outbox (id, scope, webhook, event_type, employee_id, run_id, body, expires_at)
SELECT employes_sync_event_id(), run.scope, s.name, 'timeline.changed', p.employee_id, run.id,
       jsonb_build_object(
           'type', 'timeline.changed',
           'timestamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', jsonb_build_object('scope', run.scope, 'company_id', run.company_id, 'run_id', run.id,
                                      'employee_id', p.employee_id)
                   || CASE WHEN s.include_details THEN p.rich ELSE p.thin END),
       now() + make_interval(secs => s.max_age_seconds)
  FROM run
  JOIN LATERAL employes_sync_subscribers(run.id, 'timeline.changed') s ON true
 CROSS JOIN per_employee p
 ORDER BY p.employee_id, s.name;

-- name: notify
-- Send notifications on the employes_sync channel at commit; each payload gets its `at`.
SELECT employes_sync_notify(p) FROM unnest(%(payloads)s::jsonb[]) AS p;

-- name: events_for
-- One employee's timeline, oldest first.
SELECT employee_id, event_type, event_date, event_title, event_description, event_data, change_id,
       event_key, event_order, created_at, updated_at
  FROM employes_timeline_v2
 WHERE scope = %(scope)s
   AND employee_id = %(employee_id)s
 ORDER BY event_date, event_order, event_key;

-- name: employees_with_events
-- How many employees of a scope have at least one event.
SELECT count(DISTINCT employee_id) AS n FROM employes_timeline_v2 WHERE scope = %(scope)s;

-- ---------------------------------------------------------------------------------------------------
-- runs
-- ---------------------------------------------------------------------------------------------------

-- name: add_api_requests
-- Add one worker attempt's API request tallies to the scope's running totals, in one statement.
INSERT INTO api_request_counts AS c (scope, endpoint, status_class, requests)
SELECT %(scope)s, t.endpoint, t.status_class, t.requests
  FROM unnest(%(endpoints)s::text[], %(status_classes)s::text[], %(requests)s::bigint[])
       AS t (endpoint, status_class, requests)
ON CONFLICT (scope, endpoint, status_class)
DO UPDATE SET requests = c.requests + excluded.requests;

-- name: scopes
-- Every scope with stored data, for commands that default to the only one (a run that stored
-- nothing, such as one for a mistyped company id, makes no scope).
SELECT scope FROM employes_raw_data GROUP BY scope ORDER BY scope;

-- name: start_run
-- Open a run with its owner and first heartbeat, unless the scope has a run running (sync_runs_one_running
-- then makes this insert nothing and return no row).
INSERT INTO sync_runs (scope, company_id, trigger, mode, settings, owner, owner_id, heartbeat_at,
                       heartbeat_expires_at, took_over)
VALUES (%(scope)s, %(company_id)s, %(trigger)s, %(mode)s, %(settings)s::jsonb, %(owner)s, %(owner_id)s, now(),
        now() + make_interval(secs => %(lease_seconds)s::float8), %(took_over)s)
ON CONFLICT (scope) WHERE status = 'running' DO NOTHING
RETURNING id;

-- name: lock_running_run
-- The scope's running run, locked for the rest of the transaction, and whether its heartbeat expired
-- (a run from before heartbeats has none: expired).
SELECT id, owner, owner_id, started_at, heartbeat_at, heartbeat_expires_at,
       coalesce(heartbeat_expires_at < now(), true) AS expired
  FROM sync_runs
 WHERE scope = %(scope)s AND status = 'running'
   FOR UPDATE;

-- name: renew_runs
-- The owner's heartbeat, for all the runs it drives on this database at once: move their expiry on.
-- A run that is no longer running or no longer its own is not renewed, and its id is not returned.
UPDATE sync_runs
   SET heartbeat_at = now(),
       heartbeat_expires_at = now() + make_interval(secs => %(lease_seconds)s::float8)
 WHERE id = ANY(%(run_ids)s::bigint[])
   AND status = 'running'
   AND owner_id IS NOT DISTINCT FROM %(owner_id)s
RETURNING id;

-- name: adopt_run
-- Become the owner of a running run that is already ours, or whose owner stopped renewing it (an
-- operator resuming after a restart or a failover). Of two adopters at once, the second finds the
-- heartbeat renewed and gets no row.
UPDATE sync_runs
   SET owner = %(owner)s,
       owner_id = %(owner_id)s,
       heartbeat_at = now(),
       heartbeat_expires_at = now() + make_interval(secs => %(lease_seconds)s::float8)
 WHERE id = %(run_id)s
   AND status = 'running'
   AND (owner_id IS NOT DISTINCT FROM %(owner_id)s OR owner_id IS NULL
        OR coalesce(heartbeat_expires_at < now(), true))
RETURNING id;

-- name: close_run_batches
-- Close a stopped run's unfinished batches: failed with the reason, marked run_closed so that nothing
-- retries them (the next run of the scope syncs their employees again).
UPDATE processing_queue
   SET status = 'failed',
       completed_at = now(),
       lease_expires_at = NULL,
       error_message = %(reason)s,
       error_details = jsonb_build_object('reason', 'run_closed', 'run_id', run_id,
                                          'status_before', status, 'attempts', attempts)
 WHERE run_id = %(run_id)s
   AND status IN ('pending', 'processing')
RETURNING id;

-- name: lock_run_to_interrupt
-- Lock a run that is still running, before its batches and then itself are closed.
SELECT id FROM sync_runs WHERE id = %(run_id)s AND status = 'running' FOR UPDATE;

-- name: interrupt_run
-- Close a run that ended without finishing (stopped by a signal, its owner dead, taken over).
UPDATE sync_runs
   SET status = 'interrupted',
       error = %(error)s,
       finished_at = now(),
       summary = summary || %(summary)s::jsonb
 WHERE id = %(run_id)s
   AND status = 'running'
RETURNING id;

-- name: mark_first_feedback
-- Note when a person first saw results (only the first call of a run counts).
UPDATE sync_runs
   SET first_feedback_at = now(),
       time_to_first_feedback_seconds = %(seconds)s
 WHERE id = %(run_id)s
   AND first_feedback_at IS NULL
RETURNING id;

-- name: update_run_summary
-- Replace a running run's summary (progress while it runs).
UPDATE sync_runs SET summary = %(summary)s::jsonb WHERE id = %(run_id)s RETURNING id;

-- name: finish_run
-- Close a run with its outcome.
UPDATE sync_runs
   SET status = %(status)s,
       summary = %(summary)s::jsonb,
       error = %(error)s,
       finished_at = now()
 WHERE id = %(run_id)s
RETURNING id;

-- name: get_run
-- One run by id.
SELECT * FROM sync_runs WHERE id = %(run_id)s;

-- name: latest_run
-- The most recent run of a scope, and whether its heartbeat has expired (by the database's clock).
SELECT *, coalesce(heartbeat_expires_at < now(), true) AS heartbeat_expired
  FROM sync_runs
 WHERE scope = %(scope)s
 ORDER BY started_at DESC, id DESC
 LIMIT 1;

-- name: latest_run_and_requests
-- A reconcile pass's one look: latest_run (NULL columns when the scope has none) and
-- open_sync_requests of the scope, in one statement and one snapshot.
SELECT q.n AS open_requests_n, q.interactive AS open_requests_interactive, q.oldest AS open_requests_oldest,
       r.*, coalesce(r.heartbeat_expires_at < now(), true) AS heartbeat_expired
  FROM (SELECT count(*) AS n,
               coalesce(bool_or(mode = 'interactive'), false) AS interactive,
               min(requested_at) AS oldest
          FROM sync_requests
         WHERE scope = %(scope)s
           AND served_at IS NULL) q
  LEFT JOIN LATERAL (
        SELECT *
          FROM sync_runs
         WHERE scope = %(scope)s
         ORDER BY started_at DESC, id DESC
         LIMIT 1) r ON true;

-- ---------------------------------------------------------------------------------------------------
-- rate limit
-- ---------------------------------------------------------------------------------------------------

-- name: reserve_rate_slot
-- Reserve a key's next %(slots)s free request slots (consecutive, one interval apart) and move its next
-- slot on past them; an interactive request (hold_seconds > 0) also keeps background requests back
-- until hold_seconds after the last of them. Returns the first slot and the database's clock, so every
-- process sleeps by the same clock.
INSERT INTO rate_limits AS r (key, next_slot, interactive_until)
VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(slots)s::int4 * %(interval_seconds)s::float8),
        CASE WHEN %(hold_seconds)s::float8 > 0
             THEN clock_timestamp()
                  + make_interval(secs => (%(slots)s::int4 - 1) * %(interval_seconds)s::float8 + %(hold_seconds)s::float8)
        END)
    ON CONFLICT (key) DO UPDATE
   SET next_slot = greatest(r.next_slot, clock_timestamp())
                   + make_interval(secs => %(slots)s::int4 * %(interval_seconds)s::float8),
       interactive_until = CASE WHEN %(hold_seconds)s::float8 > 0
                                THEN greatest(r.next_slot, clock_timestamp())
                                     + make_interval(secs => (%(slots)s::int4 - 1) * %(interval_seconds)s::float8
                                                             + %(hold_seconds)s::float8)
                                ELSE r.interactive_until END
RETURNING r.next_slot - make_interval(secs => %(slots)s::int4 * %(interval_seconds)s::float8) AS slot,
          clock_timestamp() AS now;

-- name: reserve_due_rate_slot
-- A background request: reserve the key's next slot only if it is due within %(lead_seconds)s.
-- Returns slot (null when not taken), the key's next slot as it was, and the database's clock.
WITH taken AS (
    INSERT INTO rate_limits AS r (key, next_slot)
    VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(interval_seconds)s::float8))
        ON CONFLICT (key) DO UPDATE
       SET next_slot = greatest(r.next_slot, clock_timestamp()) + make_interval(secs => %(interval_seconds)s::float8)
     WHERE r.next_slot <= clock_timestamp() + make_interval(secs => %(lead_seconds)s::float8)
       AND coalesce(r.interactive_until <= clock_timestamp(), true)
    RETURNING r.next_slot - make_interval(secs => %(interval_seconds)s::float8) AS slot
)
SELECT (SELECT slot FROM taken) AS slot,
       (SELECT greatest(next_slot, interactive_until + make_interval(secs => %(lead_seconds)s::float8))
          FROM rate_limits WHERE key = %(key)s) AS next_slot,
       clock_timestamp() AS now;

-- ---------------------------------------------------------------------------------------------------
-- webhook outbox (delivery)
-- ---------------------------------------------------------------------------------------------------

-- name: claim_outbox
-- Due events of the given (scope, webhook) targets for the deliverer's free slots: each target's oldest
-- first and at most its `room` (what it may still have in flight), `limit` in all, shared out in turns:
-- the next event of the target with the fewest in flight (`busy`) goes first, so a receiver that holds
-- many requests or has a long backlog never takes the slots the others need. At most one per employee
-- and only when no earlier event of that employee is still pending (order kept), never one this
-- deliverer has in flight; each is leased for a while so a second deliverer skips it.
WITH targets AS (
    SELECT *
      FROM unnest(%(scopes)s::text[], %(webhooks)s::text[], %(busy)s::int[], %(room)s::int[])
        AS t(scope, webhook, busy, room)
),
due AS (
    SELECT d.seq, t.busy + row_number() OVER (PARTITION BY t.scope, t.webhook ORDER BY d.seq) AS turn
      FROM targets t
     CROSS JOIN LATERAL (
        SELECT o.seq
          FROM notification_outbox o
         WHERE o.scope = t.scope
           AND o.webhook = t.webhook
           AND o.status = 'pending'
           AND o.next_attempt_at <= now()
           AND o.seq <> ALL (%(in_flight)s::bigint[])
           AND (o.employee_id IS NULL OR NOT EXISTS (
                   SELECT 1
                     FROM notification_outbox p
                    WHERE p.scope = o.scope
                      AND p.webhook = o.webhook
                      AND p.employee_id = o.employee_id
                      AND p.status = 'pending'
                      AND p.seq < o.seq))
         ORDER BY o.seq
         LIMIT t.room
           FOR UPDATE OF o SKIP LOCKED
     ) d
),
chosen AS (
    SELECT seq FROM due ORDER BY turn, seq LIMIT %(limit)s
)
UPDATE notification_outbox o
   SET next_attempt_at = now() + make_interval(secs => %(lease_seconds)s::float8)
  FROM chosen
 WHERE o.seq = chosen.seq
RETURNING o.seq, o.id, o.scope, o.webhook, o.event_type, o.employee_id, o.body::text AS body, o.attempts,
          o.created_at;

-- name: outbox_delivered
-- Record successful deliveries.
UPDATE notification_outbox
   SET status = 'delivered', delivered_at = now(), attempts = attempts + 1, last_error = NULL
 WHERE seq = ANY (%(seqs)s::bigint[])
   AND status = 'pending';

-- name: outbox_failed
-- Record a failed attempt: retry after the given delay, or dead-letter it once it is past its age.
UPDATE notification_outbox
   SET attempts = attempts + 1,
       last_error = %(error)s,
       status = CASE WHEN now() >= expires_at THEN 'dead' ELSE 'pending' END,
       dead_at = CASE WHEN now() >= expires_at THEN now() END,
       next_attempt_at = now() + make_interval(secs => %(delay_seconds)s::float8)
 WHERE seq = %(seq)s
   AND status = 'pending'
RETURNING status;

-- name: outbox_next_due
-- Whether any event of these targets is pending, and when the next one waiting for a later attempt (a
-- backoff, or another deliverer's lease) is due. Events due now are left out: they are asked about
-- just after a claim, which took each one it could, so those left wait behind an earlier event of
-- their employee (the deliverer wakes when that one is done) and counting them would be a busy wait.
WITH targets AS (
    SELECT * FROM unnest(%(scopes)s::text[], %(webhooks)s::text[]) AS t(scope, webhook)
)
SELECT EXISTS (SELECT 1
                 FROM notification_outbox o JOIN targets t ON t.scope = o.scope AND t.webhook = o.webhook
                WHERE o.status = 'pending') AS pending,
       (SELECT min(o.next_attempt_at)
          FROM notification_outbox o JOIN targets t ON t.scope = o.scope AND t.webhook = o.webhook
         WHERE o.status = 'pending' AND o.next_attempt_at > now()) - now() AS wait;

-- name: outbox_counts
-- Events of one scope by status (and webhook, when given).
SELECT status, count(*) AS n
  FROM notification_outbox
 WHERE scope = %(scope)s
   AND (%(webhook)s::text IS NULL OR webhook = %(webhook)s::text)
 GROUP BY status;

-- name: outbox_events
-- A scope's outbox rows in order (for inspection and tests; never holds a secret).
SELECT seq, id, scope, webhook, event_type, employee_id, run_id, body, status, attempts, created_at,
       expires_at, last_error, delivered_at, dead_at
  FROM notification_outbox
 WHERE scope = %(scope)s
 ORDER BY seq;

-- ---------------------------------------------------------------------------------------------------
-- metrics (read at scrape time by employes_sync.metrics; scopes = null reads every scope)
-- ---------------------------------------------------------------------------------------------------

-- name: metrics_session
-- Bound every metrics statement (a scrape never waits long) and make the session read-only.
SELECT set_config('statement_timeout', %(statement_timeout_ms)s::text, false),
       set_config('default_transaction_read_only', 'on', false);

-- name: metrics_queue
-- Batches per scope and status with their attempts, and how long the oldest of them has waited.
SELECT scope,
       status,
       count(*) AS batches,
       coalesce(sum(attempts), 0)::bigint AS attempts,
       coalesce(sum(greatest(attempts - 1, 0)), 0)::bigint AS retries,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest_age_seconds
  FROM processing_queue
 WHERE %(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[])
 GROUP BY scope, status;

-- name: metrics_batch_durations
-- Cumulative histogram of finished batches' last-attempt durations per scope, one row per bucket bound.
WITH durations AS (
    SELECT scope, extract(epoch FROM completed_at - started_at)::float8 AS seconds
      FROM processing_queue
     WHERE status IN ('completed', 'failed')
       AND started_at IS NOT NULL
       AND completed_at IS NOT NULL
       AND (%(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[]))
)
SELECT d.scope,
       b.le,
       count(*) FILTER (WHERE d.seconds <= b.le) AS cumulative,
       count(*) AS total_count,
       coalesce(sum(d.seconds), 0)::float8 AS total_seconds
  FROM durations d
 CROSS JOIN unnest(%(buckets)s::float8[]) AS b(le)
 GROUP BY d.scope, b.le
 ORDER BY d.scope, b.le;

-- name: metrics_run_totals
-- Per scope, totals over every run: finished runs from their final summary, runs still going from their
-- summary so far plus their completed batches; and when the scope last synced successfully.
WITH runs AS (
    SELECT id, scope, status, finished_at, summary,
           coalesce(jsonb_typeof(summary -> 'batches') = 'object', false) AS final
      FROM sync_runs
     WHERE %(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[])
),
unsummarised AS (
    SELECT q.run_id,
           sum(coalesce((q.result ->> 'raw_new')::bigint, 0)) AS raw_new,
           sum(coalesce((q.result ->> 'raw_changed')::bigint, 0)) AS raw_changed,
           sum(coalesce((q.result ->> 'raw_unchanged')::bigint, 0)) AS raw_unchanged,
           sum(coalesce((q.result ->> 'events_created')::bigint, 0)) AS events_created,
           sum(coalesce((q.result ->> 'events_updated')::bigint, 0)) AS events_updated
      FROM processing_queue q
      JOIN runs r ON r.id = q.run_id AND NOT r.final
     WHERE q.status = 'completed'
     GROUP BY q.run_id
)
SELECT r.scope,
       sum(coalesce((r.summary ->> 'employees_processed')::bigint, 0))::bigint AS employees,
       sum(coalesce((r.summary -> 'raw_records' ->> 'new')::bigint, 0)
           + coalesce((r.summary -> 'inline' ->> 'raw_new')::bigint, 0)
           + coalesce(u.raw_new, 0))::bigint AS raw_new,
       sum(coalesce((r.summary -> 'raw_records' ->> 'changed')::bigint, 0)
           + coalesce((r.summary -> 'inline' ->> 'raw_changed')::bigint, 0)
           + coalesce(u.raw_changed, 0))::bigint AS raw_changed,
       sum(coalesce((r.summary -> 'raw_records' ->> 'unchanged')::bigint, 0)
           + coalesce((r.summary -> 'inline' ->> 'raw_unchanged')::bigint, 0)
           + coalesce(u.raw_unchanged, 0))::bigint AS raw_unchanged,
       sum(coalesce((r.summary ->> 'events_created')::bigint, 0)
           + coalesce((r.summary -> 'inline' ->> 'events_created')::bigint, 0)
           + coalesce(u.events_created, 0))::bigint AS events_created,
       sum(coalesce((r.summary ->> 'events_updated')::bigint, 0)
           + coalesce((r.summary -> 'inline' ->> 'events_updated')::bigint, 0)
           + coalesce(u.events_updated, 0))::bigint AS events_updated,
       extract(epoch FROM max(r.finished_at) FILTER (WHERE r.status = 'succeeded'))::float8
           AS last_success_timestamp,
       (array_agg(r.status IN ('failed', 'degraded') ORDER BY r.finished_at DESC NULLS LAST, r.id DESC)
            FILTER (WHERE r.status <> 'running'))[1] AS last_finished_failed
  FROM runs r
  LEFT JOIN unsummarised u ON u.run_id = r.id
 GROUP BY r.scope;

-- name: metrics_timeline_events
-- Stored timeline events per scope and event type.
SELECT scope, event_type, count(*) AS events
  FROM employes_timeline_v2
 WHERE %(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[])
 GROUP BY scope, event_type;

-- name: metrics_worker_api_requests
-- Per scope, endpoint and status class: API requests made by worker processes and Job pods.
SELECT scope, endpoint, status_class, requests
  FROM api_request_counts
 WHERE %(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[]);

-- name: metrics_outbox
-- Pending webhook events per scope, and how long the oldest has waited.
SELECT scope,
       count(*) AS pending,
       extract(epoch FROM now() - min(created_at))::float8 AS oldest_seconds
  FROM notification_outbox
 WHERE status = 'pending'
   AND (%(scopes)s::text[] IS NULL OR scope = ANY (%(scopes)s::text[]))
 GROUP BY scope;
