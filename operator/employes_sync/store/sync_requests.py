"""Requests for a run made from SQL (``SELECT request_sync('ns/name', 'interactive')``).

A request is a row until a run serves it; the trigger on ``sync_runs`` writes the serving run on every
open request when a run of the scope starts. Open requests are therefore a level, like the trigger
annotation: any number of them made during a run add up to one follow-up run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from .queries import Q


@dataclass(frozen=True)
class OpenRequests:
    count: int
    interactive: bool
    oldest: datetime | None


async def register_scope(pool: AsyncConnectionPool, scope: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(Q.register_scope, {"scope": scope})


async def open_requests(pool: AsyncConnectionPool, scope: str) -> OpenRequests:
    async with pool.connection() as conn:
        cur = await conn.execute(Q.open_sync_requests, {"scope": scope})
        row = await cur.fetchone()
    assert row is not None
    return OpenRequests(count=int(row[0]), interactive=bool(row[1]), oldest=row[2])


async def request_sync(pool: AsyncConnectionPool, scope: str, mode: str = "interactive") -> int:
    """What an application does; raises psycopg's NoDataFound for an unknown scope."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.request_sync, {"scope": scope, "mode": mode})
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def get_request(pool: AsyncConnectionPool, request_id: int) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.get_sync_request, {"id": request_id})
        return await cur.fetchone()
