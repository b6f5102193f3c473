"""Employees as an application sees them: the ``employes_employees`` view, and departures.

An employee absent from the API stays in the raw data and keeps its timeline, but must stop looking
current. Only a complete listing may say someone is gone: a listing that stopped part-way (an error on
page 2, a killed process, an invalid record on a page) proves nothing about who is missing.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from .queries import Q

#: How many removed ids a run summary lists (the count is always complete).
MAX_LISTED_REMOVED = 20


async def mark_departures(pool: AsyncConnectionPool, scope: str, run_id: int) -> list[str]:
    """Mark removed the employees a complete listing of ``run_id`` did not see; returns their ids (sorted).

    Call only after every page of the run was read and stored without error.
    """
    async with pool.connection() as conn:
        cur = await conn.execute(Q.mark_departures, {"scope": scope, "run_id": run_id})
        return sorted(str(row[0]) for row in await cur.fetchall())


async def list_employees(
    pool: AsyncConnectionPool, scope: str | None = None, *, removed_only: bool = False
) -> list[dict[str, Any]]:
    """Rows of ``employes_employees``: the removed first (latest first), then by name."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.list_employees, {"scope": scope, "removed_only": removed_only})
        return await cur.fetchall()
