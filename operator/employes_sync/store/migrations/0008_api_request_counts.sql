-- Employes API requests made by worker processes and Job pods, counted per scope, endpoint and status
-- class. Workers push nothing to Prometheus; the metrics collector reads these running totals.
CREATE TABLE api_request_counts (
    scope        text   NOT NULL,
    endpoint     text   NOT NULL,
    status_class text   NOT NULL,
    requests     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, endpoint, status_class)
);
