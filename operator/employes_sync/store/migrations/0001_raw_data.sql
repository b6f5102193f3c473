-- Raw API responses, one row per distinct response (SHA-256 of canonical JSON) per scope, employee
-- and endpoint; is_latest marks the current one and last_verified_at when it was last seen unchanged.
CREATE TABLE employes_raw_data (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope            text        NOT NULL,
    employee_id      text        NOT NULL,
    endpoint         text        NOT NULL CHECK (endpoint IN ('/employee', '/employments')),
    api_response     jsonb       NOT NULL,
    data_hash        text        NOT NULL,
    dt_update        text,
    collected_at     timestamptz NOT NULL DEFAULT now(),
    last_verified_at timestamptz NOT NULL DEFAULT now(),
    is_latest        boolean     NOT NULL DEFAULT true
);

-- Exactly one latest response per scope, employee and endpoint; also the lookup path for every write.
CREATE UNIQUE INDEX employes_raw_data_one_latest
    ON employes_raw_data (scope, employee_id, endpoint)
    WHERE is_latest;
