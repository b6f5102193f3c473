"""Client-side rate limiting: one limit shared by every concurrent request of a process.

The Employes API allows 5 requests/second. Spacing requests evenly (burst 1) rather than sending
them in bursts keeps us below the server's token bucket even when network jitter bunches arrivals.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["RateLimiter", "TokenBucket", "Unlimited"]


@runtime_checkable
class RateLimiter(Protocol):
    """Anything that can make a caller wait for its turn to send one request."""

    async def acquire(self) -> None: ...


class TokenBucket:
    """Evenly spaced slots at `rate` per second, allowing at most `burst` back to back.

    Slots are reserved (generic cell rate algorithm) instead of polled: each caller computes its own
    start time under a lock and sleeps until then, so N concurrent callers never wake to race for one
    token, and the order of `acquire()` calls is the order requests go out. The lock is a thread lock
    so one bucket can also be shared by clients on several event loops (threads) of one process.
    A caller cancelled while waiting gives up its slot silently (the limit only gets stricter).
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._interval = 1.0 / self.rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next_free = float("-inf")  # theoretical arrival time of the next request

    def reserve(self) -> float:
        """Claim the next slot; returns how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            tat = max(self._next_free, now)
            start = tat - (self.burst - 1) * self._interval
            self._next_free = tat + self._interval
            return max(0.0, start - now)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst})"


class Unlimited:
    """A limiter that never waits (tests, or a limit enforced elsewhere)."""

    async def acquire(self) -> None:
        return None

    def __repr__(self) -> str:
        return "Unlimited()"
