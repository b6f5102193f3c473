"""Re-running a statement that lost a race with another process doing the same write."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from psycopg import errors

T = TypeVar("T")

# A concurrent writer of the same keys surfaces as one of these; the statement is whole or nothing, so
# running it again (now seeing the other's committed rows) is always safe.
RACE_ERRORS = (errors.UniqueViolation, errors.DeadlockDetected, errors.SerializationFailure)


async def retry_races(attempt: Callable[[], Awaitable[T]], *, tries: int = 6) -> T:
    for n in range(tries):
        try:
            return await attempt()
        except RACE_ERRORS:
            if n == tries - 1:
                raise
            await asyncio.sleep(random.uniform(0, 0.01 * 2**n))
    raise AssertionError("unreachable")
