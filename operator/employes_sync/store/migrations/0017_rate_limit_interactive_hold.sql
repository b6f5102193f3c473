-- Until when background requests of a key hold back for its interactive ones (see store/ratelimit.py).
ALTER TABLE rate_limits ADD COLUMN interactive_until timestamptz;
