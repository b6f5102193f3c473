-- Timeline rows follow corrections: an event's content is updated in place under its key, so the row
-- says when it last changed; and events of one date sort in a meaningful order (ended, started,
-- changed, then the record itself) that the builder decides.
ALTER TABLE employes_timeline_v2
    ADD COLUMN event_order smallint    NOT NULL DEFAULT 0,
    ADD COLUMN updated_at  timestamptz;

COMMENT ON COLUMN employes_timeline_v2.event_order IS
    'Position of the event type within one date: ORDER BY event_date, event_order.';
COMMENT ON COLUMN employes_timeline_v2.updated_at IS
    'When a correction upstream last changed this event (NULL: never since it was added).';
