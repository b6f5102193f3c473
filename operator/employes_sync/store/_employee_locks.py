"""Serialising writers of the same employees, so concurrent writes queue instead of colliding.

Two processes storing the same employee at once (two syncs of one scope, a rebuild during a run)
both see no new latest row and both insert one; the loser used to get a UniqueViolation and retry
blind, and under steady contention it could lose every try. A transaction-scoped advisory lock per
employee bucket makes the second writer wait for the first to commit, and its statement, started
after the wait, sees the first one's rows. Buckets bound the locks one statement takes (a page of
100 employees takes at most ``BUCKETS``), and sorted keys mean two writers can never wait on each
other in a cycle.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection

from .queries import Q

BUCKETS = 64


def bucket_keys(namespace: int, scope: str, employee_ids: Iterable[str]) -> list[int]:
    """The sorted, distinct lock keys for these employees of ``scope`` in ``namespace``."""
    buckets = {zlib.crc32(str(e).encode()) % BUCKETS for e in employee_ids}
    keys = {_int4(zlib.crc32(f"{namespace}\0{scope}\0{b}".encode())) for b in buckets}
    return sorted(keys)


def _int4(value: int) -> int:
    """crc32 is unsigned; advisory lock keys are signed int4."""
    return value - 2**32 if value >= 2**31 else value


async def lock_employees(
    conn: AsyncConnection[Any], namespace: int, scope: str, employee_ids: Iterable[str]
) -> None:
    """Hold these employees' locks until the surrounding transaction ends."""
    keys = bucket_keys(namespace, scope, employee_ids)
    if keys:
        await conn.execute(Q.lock_employees, {"namespace": namespace, "keys": keys})
