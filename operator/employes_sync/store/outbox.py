"""The webhook outbox (``notification_outbox``): events written with the change, leased out for delivery.

Writers never name a receiver: the events a run's webhooks subscribe to are written from the run's
settings, in SQL, in the transaction of the change (migration 0016, and the timeline and departure
statements). Deliverers claim due rows of the (scope, webhook) pairs they hold secrets for, at most one
per employee at a time and never ahead of an earlier one of the same employee, and record the outcome.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from .queries import Q

#: (scope, webhook): the receiver a row is for
Target = tuple[str, str]

EVENT_TYPES = ("run.finished", "run.failed", "timeline.changed", "employee.removed")
DEFAULT_MAX_AGE_SECONDS = 86400.0


@dataclass(frozen=True)
class OutboxEvent:
    seq: int
    id: str
    scope: str
    webhook: str
    event_type: str
    employee_id: str | None
    body: str  # the exact JSON text that is signed and sent
    attempts: int
    created_at: datetime


async def timeline_changed(
    conn: AsyncConnection[Any], scope: str, run_id: int, changes: Sequence[dict[str, Any]]
) -> None:
    """Write the timeline.changed events of a timeline write, on its connection and in its transaction."""
    if changes:
        await conn.execute(
            Q.outbox_timeline_changed, {"scope": scope, "run_id": run_id, "changes": Jsonb(list(changes))}
        )


async def claim(
    pool: AsyncConnectionPool,
    room: Mapping[Target, int],
    *,
    limit: int,
    busy: Mapping[Target, int] | None = None,
    in_flight: Collection[int] = (),
    lease_seconds: float = 60.0,
) -> list[OutboxEvent]:
    """Lease due events: at most ``room[target]`` of each target, ``limit`` in all, the targets with the
    fewest ``busy`` (in flight) served first; never one of ``in_flight`` (seqs being sent)."""
    targets = [t for t, n in room.items() if n > 0]
    if not targets or limit <= 0:
        return []
    busy = busy or {}
    params = {
        "scopes": [t[0] for t in targets],
        "webhooks": [t[1] for t in targets],
        "busy": [busy.get(t, 0) for t in targets],
        "room": [room[t] for t in targets],
        "limit": limit,
        "in_flight": list(in_flight),
        "lease_seconds": lease_seconds,
    }
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.claim_outbox, params)
        rows = await cur.fetchall()
    return sorted((OutboxEvent(**row) for row in rows), key=lambda e: e.seq)


async def delivered(pool: AsyncConnectionPool, seqs: Sequence[int]) -> None:
    if seqs:
        async with pool.connection() as conn:
            await conn.execute(Q.outbox_delivered, {"seqs": list(seqs)})


async def failed(pool: AsyncConnectionPool, seq: int, error: str, delay_seconds: float) -> str:
    """Record a failed attempt; returns the row's status now: "pending" (retried later) or "dead"."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            Q.outbox_failed, {"seq": seq, "error": error, "delay_seconds": delay_seconds}
        )
        row = await cur.fetchone()
    return str(row[0]) if row else "stale"


async def next_due_seconds(pool: AsyncConnectionPool, targets: Sequence[Target]) -> float | None:
    """Asked after a claim: seconds until the next pending event of these targets that waits for a later
    attempt is due (0.0 when the pending ones are all due now), None if none is pending."""
    if not targets:
        return None
    params = {"scopes": [t[0] for t in targets], "webhooks": [t[1] for t in targets]}
    async with pool.connection() as conn:
        cur = await conn.execute(Q.outbox_next_due, params)
        row = await cur.fetchone()
    if row is None or not row[0]:
        return None
    return max(float(row[1].total_seconds()), 0.0) if row[1] is not None else 0.0


async def counts(pool: AsyncConnectionPool, scope: str, webhook: str | None = None) -> dict[str, int]:
    async with pool.connection() as conn:
        cur = await conn.execute(Q.outbox_counts, {"scope": scope, "webhook": webhook})
        found = {str(status): int(n) for status, n in await cur.fetchall()}
    return {status: found.get(status, 0) for status in ("pending", "delivered", "dead")}


async def events(pool: AsyncConnectionPool, scope: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.outbox_events, {"scope": scope})
        return await cur.fetchall()
