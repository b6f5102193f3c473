-- A claim takes each webhook's oldest pending events: walk them in order through this index, not the
-- whole table from its first (long delivered) row.
CREATE INDEX notification_outbox_pending
    ON notification_outbox (scope, webhook, seq) WHERE status = 'pending';
