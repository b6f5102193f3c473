"""Timeline events in ``employes_timeline_v2``, written set-based and idempotently.

A rebuild hands over every event it derives for a set of employees; one statement inserts the new
keys, updates the existing ones whose content differs and deletes what is no longer derived, so
re-running a batch on unchanged data writes nothing and a corrected source corrects its events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from . import notify, outbox
from ._employee_locks import lock_employees
from ._retry import retry_races
from .queries import Q

# The advisory-lock namespace of the writers of timeline events.
_LOCK_NAMESPACE = 0x54494D45

_FIELDS = (
    "employee_id",
    "event_type",
    "event_date",
    "event_title",
    "event_description",
    "event_data",
    "event_key",
    "event_order",
)


@dataclass(frozen=True)
class WriteResult:
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    #: the employees whose stored events this write changed (sorted), told to listeners
    changed_ids: tuple[str, ...] = ()


def _as_row(event: Any) -> dict[str, Any]:
    """A TimelineEvent (or a mapping with the same fields) as a JSON-ready row."""
    # Fields are read, not copied: dataclasses.asdict deep-copied every event's data only for it to be
    # serialised at once: half of the operator's time in write_events went there (py-spy, 50 resources).
    if isinstance(event, Mapping):
        row = {f: event.get(f) for f in _FIELDS}
    else:
        row = {f: getattr(event, f, None) for f in _FIELDS}
    if isinstance(row["event_date"], date):
        row["event_date"] = row["event_date"].isoformat()
    row["employee_id"] = str(row["employee_id"])
    return row


async def write_events(
    pool: AsyncConnectionPool,
    scope: str,
    employee_ids: Iterable[str],
    events: Iterable[Any],
    *,
    run_id: int | None = None,
) -> WriteResult:
    """Make these employees' stored events exactly ``events``, in one statement.

    ``employee_ids`` names every employee rebuilt, so one whose events all vanished is cleared too.
    The ``timeline.changed`` notifications of the employees changed, and the run's webhook events for
    them, are written in the same transaction.
    """
    ids = sorted({str(e) for e in employee_ids})
    rows = [_as_row(e) for e in events]
    ids = sorted({*ids, *(r["employee_id"] for r in rows)})
    if not ids:
        return WriteResult()
    params = {"scope": scope, "employee_ids": ids, "events": Jsonb(rows)}

    async def attempt() -> WriteResult:
        async with pool.connection() as conn, conn.transaction():
            await lock_employees(conn, _LOCK_NAMESPACE, scope, ids)
            cur = await conn.execute(Q.write_events, params)
            row = await cur.fetchone()
            assert row is not None
            result = WriteResult(
                inserted=int(row[0]), updated=int(row[1]), removed=int(row[2]), changed_ids=tuple(row[3])
            )
            await notify.publish(conn, notify.timeline_changed(scope, run_id, result.changed_ids))
            if run_id is not None:
                await outbox.timeline_changed(conn, scope, run_id, row[4])
        return result

    # Writers of the same employees queue on their locks; a writer that takes none (an older version
    # during an upgrade) can still collide, and the loser reruns.
    return await retry_races(attempt)


async def events_for(pool: AsyncConnectionPool, scope: str, employee_id: str) -> list[dict[str, Any]]:
    """One employee's events, oldest first."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(Q.events_for, {"scope": scope, "employee_id": str(employee_id)})
        return await cur.fetchall()


async def employees_with_events(pool: AsyncConnectionPool, scope: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(Q.employees_with_events, {"scope": scope})
        row = await cur.fetchone()
    return int(row[0]) if row else 0
