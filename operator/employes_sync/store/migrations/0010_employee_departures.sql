-- Departures: an employee of a scope who was listed before and is absent from a complete listing.
-- The row stays while the employee is away; one who is listed again is no longer removed (the view
-- compares the departure with when the employee was last seen), and a later absence moves removed_at.
CREATE TABLE employee_departures (
    scope       text        NOT NULL,
    employee_id text        NOT NULL,
    removed_at  timestamptz NOT NULL DEFAULT now(),
    run_id      bigint      REFERENCES sync_runs (id) ON DELETE SET NULL,
    PRIMARY KEY (scope, employee_id)
);

-- One row per employee of a scope, for applications: who, since when, last seen, and whether removed.
-- No personal data beyond the name and number an application shows anyway.
CREATE VIEW employes_employees AS
SELECT e.scope,
       e.employee_id,
       e.api_response ->> 'employee_number' AS employee_number,
       nullif(concat_ws(' ', nullif(e.api_response ->> 'first_name', ''),
                             nullif(e.api_response ->> 'surname_prefix', ''),
                             nullif(e.api_response ->> 'surname', '')), '') AS display_name,
       CASE WHEN d.removed_at IS NOT NULL THEN 'removed'
            ELSE coalesce(e.api_response ->> 'status', 'active') END AS status,
       f.first_seen_at,
       e.last_verified_at AS last_seen_at,
       d.removed_at
  FROM employes_raw_data e
  JOIN (SELECT scope, employee_id, min(collected_at) AS first_seen_at
          FROM employes_raw_data
         WHERE endpoint = '/employee'
         GROUP BY scope, employee_id) f
    ON f.scope = e.scope AND f.employee_id = e.employee_id
  LEFT JOIN employee_departures d
    ON d.scope = e.scope AND d.employee_id = e.employee_id AND d.removed_at > e.last_verified_at
 WHERE e.endpoint = '/employee'
   AND e.is_latest;
