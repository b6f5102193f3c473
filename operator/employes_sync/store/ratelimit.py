"""A rate limit shared through PostgreSQL by every process and pod of a scope.

Each ``acquire`` reserves the key's next free slot in one statement
(``greatest(next_slot, clock_timestamp()) + 1/rate``) and then sleeps until that slot, measured on the
database's clock. Requests are therefore spaced evenly across all processes without any of them
holding a lock while it waits, and without trusting the pods' clocks to agree.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from .queries import Q


@dataclass(frozen=True)
class Reservation:
    slot: datetime
    wait_seconds: float


class PostgresRateLimiter:
    """A ``RateLimiter`` (see employes/ratelimit.py) with one row per key in ``rate_limits``."""

    def __init__(self, pool: AsyncConnectionPool, key: str, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.pool = pool
        self.key = key
        self.rate = rate
        self.interval = 1.0 / rate
        self.last: Reservation | None = None

    async def reserve(self) -> Reservation:
        """Take the next slot without waiting for it."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                Q.reserve_rate_slot, {"key": self.key, "interval_seconds": self.interval}
            )
            row = await cur.fetchone()
        assert row is not None
        slot, now = row
        return Reservation(slot=slot, wait_seconds=max(0.0, (slot - now).total_seconds()))

    async def acquire(self) -> None:
        reservation = await self.reserve()
        self.last = reservation
        if reservation.wait_seconds > 0:
            await asyncio.sleep(reservation.wait_seconds)
