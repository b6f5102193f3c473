"""The batch queue in ``processing_queue``: enqueue, claim with a lease, finish, retry with backoff.

A batch is claimed only while pending and due, and every claim renews a lease; a worker that dies
stops renewing it, and ``rescue_expired`` counts that as a failed attempt. So a batch is never run by
two workers at once, and a lost worker costs one attempt rather than a stuck run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from employes_sync.settings import PRIORITY

from .queries import Q

STATUSES = ("pending", "processing", "completed", "failed")
DEFAULT_LEASE_SECONDS = 300.0

# Interactive runs: a person is waiting, so their batches go first.

FailOutcome = Literal["retrying", "failed", "stale"]


@dataclass(frozen=True)
class Batch:
    id: str
    scope: str
    run_id: int | None
    employee_ids: list[str]
    status: str
    priority: int
    attempts: int
    max_attempts: int
    run_after: datetime
    error_message: str | None
    job_name: str | None
    batch_no: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    result: dict[str, Any] | None = None
    #: Failed because its run was closed unfinished (interrupted, taken over), not by its own attempts.
    closed: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Batch:
        payload = row["payload"] or {}
        return cls(
            id=str(row["id"]),
            scope=row["scope"],
            run_id=row["run_id"],
            employee_ids=[str(e) for e in payload.get("employee_ids", [])],
            status=row["status"],
            priority=row["priority"],
            attempts=row["attempts"],
            max_attempts=row["max_attempts"],
            run_after=row["run_after"],
            error_message=row["error_message"],
            job_name=row["job_name"],
            batch_no=row["batch_no"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            lease_expires_at=row["lease_expires_at"],
            result=row["result"],
            closed=(row.get("error_details") or {}).get("reason") == "run_closed",
        )


def _id(batch_id: str | UUID) -> UUID:
    # Validated here so a malformed id is a clear ValueError, not a database error.
    return batch_id if isinstance(batch_id, UUID) else UUID(str(batch_id))


async def _one(pool: AsyncConnectionPool, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchone()


async def _all(pool: AsyncConnectionPool, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchall()


async def enqueue(
    pool: AsyncConnectionPool,
    scope: str,
    run_id: int | None,
    chunks: Sequence[Sequence[str]],
    *,
    priority: int = PRIORITY["background"],
    max_attempts: int = 3,
    source: str = "sync_queued",
) -> list[Batch]:
    """Queue one batch per chunk in one statement, numbered after the run's earlier batches."""
    chunks = [[str(e) for e in chunk] for chunk in chunks if chunk]
    if not chunks:
        return []
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    rows = await _all(
        pool,
        Q.enqueue_batches,
        {
            "scope": scope,
            "run_id": run_id,
            "chunks": Jsonb(chunks),
            "priority": priority,
            "max_attempts": max_attempts,
            "source": source,
        },
    )
    return sorted((Batch.from_row(r) for r in rows), key=lambda b: b.batch_no or 0)


async def claim(
    pool: AsyncConnectionPool, batch_id: str | UUID, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Batch | None:
    """Claim this batch if it is pending and due; None when another worker has it or it is not due."""
    row = await _one(pool, Q.claim_batch, {"batch_id": _id(batch_id), "lease_seconds": lease_seconds})
    return Batch.from_row(row) if row else None


async def claim_next(
    pool: AsyncConnectionPool, scope: str | None = None, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Batch | None:
    """Claim the most urgent due batch (of one scope, or any) through ``claim_next_job()``."""
    row = await _one(pool, Q.claim_next_batch, {"scope": scope, "lease_seconds": lease_seconds})
    return Batch.from_row(row) if row else None


async def heartbeat(
    pool: AsyncConnectionPool, batch_id: str | UUID, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> bool:
    """Extend the lease; False means the batch is no longer processing (rescued or finished elsewhere)."""
    row = await _one(pool, Q.heartbeat_batch, {"batch_id": _id(batch_id), "lease_seconds": lease_seconds})
    return row is not None


async def complete(pool: AsyncConnectionPool, batch_id: str | UUID, result: Mapping[str, Any]) -> bool:
    """Mark the batch completed; False if it was not processing (a late worker whose lease was rescued)."""
    row = await _one(pool, Q.complete_batch, {"batch_id": _id(batch_id), "result": Jsonb(dict(result))})
    return row is not None


async def fail(
    pool: AsyncConnectionPool,
    batch_id: str | UUID,
    error: str,
    details: Mapping[str, Any] | None = None,
    *,
    backoff_base: float = 5.0,
    backoff_max: float = 300.0,
) -> FailOutcome:
    """Record a failed attempt of a processing batch.

    Returns "retrying" (pending again after min(max, base * 2^(attempts-1)) * jitter, jitter in
    [0.5, 1]: the SQL function batch_retry_delay), "failed" (attempts exhausted), or "stale" when the
    batch was not processing any more (already rescued, completed or failed): nothing is changed then.
    """
    params = {
        "batch_id": _id(batch_id),
        "error": error,
        "details": Jsonb(dict(details or {})),
        "backoff_base": backoff_base,
        "backoff_max": backoff_max,
    }
    row = await _one(pool, Q.fail_batch, params)
    if row is None:
        if await _one(pool, Q.batch_status, {"batch_id": params["batch_id"]}) is None:
            raise LookupError(f"no batch {batch_id}")
        return "stale"
    return "retrying" if row["status"] == "pending" else "failed"


async def rescue_expired(
    pool: AsyncConnectionPool,
    scope: str | None = None,
    *,
    backoff_base: float = 5.0,
    backoff_max: float = 300.0,
) -> int:
    """Processing batches whose lease ran out count as a failed attempt ("worker lost: lease expired")."""
    rows = await _all(
        pool,
        Q.rescue_expired_batches,
        {"scope": scope, "backoff_base": backoff_base, "backoff_max": backoff_max},
    )
    return len(rows)


async def set_job_name(pool: AsyncConnectionPool, batch_id: str | UUID, job_name: str) -> bool:
    """Record which Job (or process) runs the current attempt, for status and for humans."""
    row = await _one(pool, Q.set_job_name, {"batch_id": _id(batch_id), "job_name": job_name})
    return row is not None


async def get(pool: AsyncConnectionPool, batch_id: str | UUID) -> Batch | None:
    row = await _one(pool, Q.get_batch, {"batch_id": _id(batch_id)})
    return Batch.from_row(row) if row else None


@dataclass(frozen=True)
class BatchRun:
    """A batch's status and its run's stored settings: what a worker reads before it claims."""

    status: str
    run_found: bool
    settings: Any  # the run's stored settings (None without a run)


async def batch_and_run(pool: AsyncConnectionPool, batch_id: str | UUID) -> BatchRun | None:
    """The batch's status with its run's settings in one statement (None: no such batch); a worker
    read the batch, then the run, two round trips per attempt for what one join answers."""
    row = await _one(pool, Q.batch_and_run_settings, {"batch_id": _id(batch_id)})
    if row is None:
        return None
    return BatchRun(row["status"], bool(row["run_found"]), row["settings"])


async def counts(pool: AsyncConnectionPool, scope: str | None = None) -> dict[str, int]:
    """Batches per status, every status present (0 when none)."""
    rows = await _all(pool, Q.queue_counts, {"scope": scope})
    found = {r["status"]: int(r["n"]) for r in rows}
    return {status: found.get(status, 0) for status in STATUSES}


async def closed_count(pool: AsyncConnectionPool, scope: str | None = None) -> int:
    """How many of the failed batches were closed with an interrupted run (never retried)."""
    async with pool.connection() as conn:
        cur = await conn.execute(Q.closed_batch_count, {"scope": scope})
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def run_batches(pool: AsyncConnectionPool, run_id: int) -> list[Batch]:
    rows = await _all(pool, Q.run_batches, {"run_id": run_id})
    return [Batch.from_row(r) for r in rows]


async def prune(pool: AsyncConnectionPool, older_than: timedelta, scope: str | None = None) -> int:
    """Delete completed and failed batches finished longer ago than ``older_than``; returns how many."""
    rows = await _all(
        pool, Q.prune_batches, {"older_than_seconds": older_than.total_seconds(), "scope": scope}
    )
    return len(rows)
