-- One row per rate-limit key holding the next free request slot, shared by every process of a scope.
CREATE TABLE rate_limits (
    key       text        PRIMARY KEY,
    next_slot timestamptz NOT NULL
);
