"""Notifications for applications: ``NOTIFY employes_sync`` with a small JSON payload.

Run and batch notifications come from triggers on their rows (migration 0011); the timeline's come
from here, sent on the same connection and in the same transaction as the write they describe, so a
listener is told at commit and only of what committed. Payloads carry ids and counts, never personal
data, and stay far below PostgreSQL's 8000-byte limit: ids are split over several notifications.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from .queries import Q

CHANNEL = "employes_sync"
#: PostgreSQL refuses a payload of 8000 bytes or more; ours stay well under.
MAX_PAYLOAD_BYTES = 8000
MAX_IDS = 100
_IDS_BUDGET = 6000

TYPES = ("run.started", "run.first_feedback", "batch.finished", "run.finished", "timeline.changed")


def timeline_changed(
    scope: str, run_id: int | None, employee_ids: Sequence[str], *, budget: int = _IDS_BUDGET
) -> list[dict[str, Any]]:
    """One payload per at most 100 ids (and at most ``budget`` bytes of them), in the given order."""
    payloads: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for employee_id in employee_ids:
        cost = len(json.dumps(employee_id).encode()) + 2
        if chunk and (len(chunk) == MAX_IDS or size + cost > budget):
            payloads.append(_timeline_payload(scope, run_id, chunk))
            chunk, size = [], 0
        chunk.append(employee_id)
        size += cost
    if chunk:
        payloads.append(_timeline_payload(scope, run_id, chunk))
    return payloads


def _timeline_payload(scope: str, run_id: int | None, ids: list[str]) -> dict[str, Any]:
    return {"type": "timeline.changed", "scope": scope, "run_id": run_id, "employee_ids": ids}


async def publish(conn: AsyncConnection[Any], payloads: Sequence[dict[str, Any]]) -> None:
    """Queue the notifications on this connection's transaction (sent when it commits)."""
    if payloads:
        await conn.execute(Q.notify, {"payloads": [Jsonb(p) for p in payloads]})
