"""One rate limit per API credential, shared through PostgreSQL by every process and pod that uses it.

The Employes API counts requests per token. Two resources with one token (a production and a staging
resource of one company, or an accountant's token for several companies) must therefore share one
budget: the key is a SHA-256 of the token (`credential_key`), never the token and never the scope.

Each ``acquire`` reserves the key's next free slot in one statement
(``greatest(next_slot, clock_timestamp()) + 1/rate``) and then sleeps until that slot, measured on the
database's clock. Requests are therefore spaced evenly across all processes without any of them
holding a lock while it waits, and without trusting the pods' clocks to agree. Interactive requests of
one limiter that ask while its statement is on its way share the next one: a run's ten employment
requests, started together, take ten consecutive slots in one or two statements instead of ten (each
of which also waited on the others' lock of the key's row).

Interactive requests (a person is waiting) reserve as far ahead as the queue goes. Background requests
only take a slot that is due now (within a tenth of an interval); otherwise they sleep until the queue
has drained to that point and ask again. Background requests therefore never queue ahead of an
interactive one: the person's first feedback waits for at most the one background request being sent,
however many background workers share the token, and background runs spend whatever budget the
interactive ones leave (a steady interactive load starves them, by design). Each interactive request
also holds background requests back for INTERACTIVE_HOLD seconds after its slot: an interactive run's
requests come in short bursts with gaps (a page, its response stored, then its employees' employments),
and without the hold a background request would take every slot that falls in a gap.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from .queries import Q

#: How early, as a fraction of the interval, a background request may take a slot: enough to cover
#: the round trip to the database, so background runs alone still get (almost) the full rate.
BACKGROUND_LEAD = 0.1
#: Seconds after an interactive request's slot during which background requests of its key wait.
INTERACTIVE_HOLD = 1.0
#: The shortest pause of a background request that found the queue full (no tight loop when the
#: database and this process disagree by a few milliseconds about "due").
MIN_BACKGROUND_PAUSE = 0.002


def credential_key(token: str) -> str:
    """The rate-limit key of an API token: its SHA-256, so the database never holds the token."""
    return "sha256:" + hashlib.sha256(token.strip().encode()).hexdigest()


@dataclass(frozen=True)
class Reservation:
    slot: datetime
    wait_seconds: float


class PostgresRateLimiter:
    """A ``RateLimiter`` (see employes/ratelimit.py) with one row per key in ``rate_limits``."""

    def __init__(self, pool: AsyncConnectionPool, key: str, rate: float, *, interactive: bool = True) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.pool = pool
        self.key = key
        self.rate = rate
        self.interval = 1.0 / rate
        self.interactive = interactive
        self.lead = self.interval * BACKGROUND_LEAD
        self.last: Reservation | None = None
        # Background requests of this process queue here, so only one of them asks the database at a time.
        self._background = asyncio.Lock()
        # Interactive callers waiting for the next reservation statement, and the task that makes it.
        self._waiting: list[asyncio.Future[Reservation]] = []
        self._reserving: asyncio.Task[None] | None = None

    async def reserve(self) -> Reservation:
        """Take the next slot without waiting for it (the interactive way).

        Callers that ask while a reservation statement is on its way are served by the next one, in
        the order they asked: k of them take k consecutive slots in one statement.
        """
        waiter: asyncio.Future[Reservation] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._reserving is None or self._reserving.done():
            self._reserving = asyncio.create_task(self._reserve_waiting())
        return await waiter

    async def _reserve_waiting(self) -> None:
        """Serve the waiting callers, one statement for all who asked since the last one was sent."""
        while self._waiting:
            waiters = [w for w in self._waiting if not w.done()]  # a cancelled caller takes no slot
            self._waiting = []
            if not waiters:
                continue
            try:
                first, now = await self._reserve_slots(len(waiters))
            except asyncio.CancelledError:
                for waiter in [*waiters, *self._waiting]:  # nobody is left waiting for a task that ended
                    waiter.cancel()
                self._waiting = []
                raise
            except Exception as exc:  # each caller raises it, as if it had sent the statement itself
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for i, waiter in enumerate(waiters):
                slot = first + timedelta(seconds=i * self.interval)
                if not waiter.done():  # cancelled while the statement ran: its slot stays unused
                    waiter.set_result(Reservation(slot, max(0.0, (slot - now).total_seconds())))

    async def _reserve_slots(self, slots: int) -> tuple[datetime, datetime]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                Q.reserve_rate_slot,
                {
                    "key": self.key,
                    "slots": slots,
                    "interval_seconds": self.interval,
                    "hold_seconds": INTERACTIVE_HOLD if self.interactive else 0.0,
                },
            )
            row = await cur.fetchone()
        assert row is not None
        first, now = row
        return first, now

    async def try_reserve_due(self) -> Reservation | float:
        """Take a slot that is due now, or say how many seconds until one may be (background)."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                Q.reserve_due_rate_slot,
                {"key": self.key, "interval_seconds": self.interval, "lead_seconds": self.lead},
            )
            row = await cur.fetchone()
        assert row is not None
        slot, next_slot, now = row
        if slot is not None:
            return Reservation(slot=slot, wait_seconds=max(0.0, (slot - now).total_seconds()))
        due_in: float = (next_slot - now).total_seconds() - self.lead
        return max(MIN_BACKGROUND_PAUSE, due_in)

    async def acquire(self) -> None:
        if self.interactive:
            reservation = await self.reserve()
        else:
            async with self._background:
                while True:
                    taken = await self.try_reserve_due()
                    if isinstance(taken, Reservation):
                        reservation = taken
                        break
                    # a little jitter, so background waiters of several processes do not ask in step
                    await asyncio.sleep(taken + random.uniform(0, self.lead / 2))
        self.last = reservation
        if reservation.wait_seconds > 0:
            await asyncio.sleep(reservation.wait_seconds)
