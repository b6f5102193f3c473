-- Timeline events; event_key (a digest of what identifies the event) makes rewrites idempotent.
CREATE TABLE employes_timeline_v2 (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope             text        NOT NULL,
    employee_id       text        NOT NULL,
    event_type        text        NOT NULL,
    event_date        date        NOT NULL,
    event_title       text        NOT NULL,
    event_description text,
    event_data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    change_id         uuid,
    event_key         text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT employes_timeline_v2_event_key UNIQUE (scope, employee_id, event_key)
);
