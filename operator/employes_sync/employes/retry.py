"""When and how long to wait before trying a failed request again.

Kept apart from the client so the schedule can be tested without a server, and so the client reads
as "send, classify, maybe wait" instead of a tangle of counters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "parse_retry_after"]


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").

    Full jitter spreads the retries of many workers that failed together (a 503 during a deploy)
    instead of having them all come back at the same instant. `max_retries` counts retries, so a
    request is sent at most `max_retries + 1` times. A server's Retry-After is obeyed as given,
    unless it exceeds `max_retry_after`: then waiting is pointless for a sync and we give up.
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_base < 0:
            raise ValueError(f"backoff_base must be >= 0, got {self.backoff_base}")

    def should_retry(self, attempt: int) -> bool:
        """`attempt` is 0 for the first send; True while another send is allowed."""
        return attempt < self.max_retries

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed send number `attempt` (0-based): uniform in [0, cap]."""
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        return self.rng.uniform(0.0, cap)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before the next send, preferring the server's own Retry-After when it gave one."""
        if retry_after is not None:
            # A little jitter on top so callers told "1" do not all return on the same tick.
            return retry_after + self.rng.uniform(0.0, min(0.25, retry_after * 0.1 + 0.05))
        return self.backoff(attempt)

    def retry_after_too_long(self, retry_after: float | None) -> bool:
        return retry_after is not None and retry_after > self.max_retry_after


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); garbage counts as absent."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds
