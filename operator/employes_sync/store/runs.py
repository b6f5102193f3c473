"""Sync runs in ``sync_runs``: one row per run, the record a person or a dashboard reads afterwards.

The run also carries its non-secret settings, so a worker given only a batch id finds how to behave
(API URL, rate, redaction) through the batch's run instead of through its command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from .queries import Q

RunStatus = Literal["running", "succeeded", "failed", "degraded"]
FINAL_STATUSES = ("succeeded", "failed", "degraded")


async def start_run(
    pool: AsyncConnectionPool,
    scope: str,
    company_id: str,
    trigger: str,
    mode: str,
    settings: Mapping[str, Any] | None = None,
) -> int:
    """Open a run; ``settings`` must hold no secret (they are readable by anyone reading the table)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.start_run,
            {
                "scope": scope,
                "company_id": str(company_id),
                "trigger": trigger,
                "mode": mode,
                "settings": Jsonb(dict(settings or {})),
            },
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def mark_first_feedback(pool: AsyncConnectionPool, run_id: int, seconds: float) -> bool:
    """Record the time to first feedback; only the first call counts (returns whether this one did)."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.mark_first_feedback, {"run_id": run_id, "seconds": seconds})
        return await cur.fetchone() is not None


async def update_summary(pool: AsyncConnectionPool, run_id: int, summary: Mapping[str, Any]) -> None:
    """Replace the summary of a run in progress, so a reader sees progress before the end."""
    async with pool.connection() as conn:
        await conn.execute(Q.update_run_summary, {"run_id": run_id, "summary": Jsonb(dict(summary))})


async def finish_run(
    pool: AsyncConnectionPool,
    run_id: int,
    status: RunStatus,
    summary: Mapping[str, Any],
    error: str | None = None,
) -> None:
    if status not in FINAL_STATUSES:
        raise ValueError(f"a run finishes as one of {FINAL_STATUSES}, not {status!r}")
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.finish_run,
            {"run_id": run_id, "status": status, "summary": Jsonb(dict(summary)), "error": error},
        )
        if await cur.fetchone() is None:
            raise LookupError(f"no run {run_id}")


async def get_run(pool: AsyncConnectionPool, run_id: int) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.get_run, {"run_id": run_id})
        return await cur.fetchone()


async def latest_run(pool: AsyncConnectionPool, scope: str) -> dict[str, Any] | None:
    """The scope's most recent run (an operator resuming after a restart starts here)."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.latest_run, {"scope": scope})
        return await cur.fetchone()


async def scopes(pool: AsyncConnectionPool) -> list[str]:
    """The scopes that have synced into this database (`local/<companyId>`, `<namespace>/<name>`)."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.scopes)
        return [row[0] for row in await cur.fetchall()]
