"""Writers of the same employees queue on advisory locks instead of colliding and retrying blind."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.store import _employee_locks, _retry, raw, timeline

SCOPE = "default/acme"


def employee(i: int, surname: str) -> dict[str, Any]:
    return {"id": f"emp-{i:04d}", "surname": surname, "dt_update": "2024-01-01T10:00:00"}


def test_bucket_keys_are_sorted_distinct_bounded_and_scoped() -> None:
    ids = [f"emp-{i}" for i in range(1000)]
    keys = _employee_locks.bucket_keys(1, SCOPE, ids)
    assert keys == sorted(set(keys))
    assert len(keys) <= _employee_locks.BUCKETS
    assert all(-(2**31) <= k < 2**31 for k in keys)
    # the same employees give the same keys in any order; another scope or namespace gives others
    keys_of = _employee_locks.bucket_keys
    assert keys_of(1, SCOPE, reversed(ids)) == keys
    assert keys_of(1, "default/other", ["emp-1"]) != keys_of(1, SCOPE, ["emp-1"])
    assert keys_of(2, SCOPE, ["emp-1"]) != keys_of(1, SCOPE, ["emp-1"])
    assert keys_of(1, SCOPE, []) == []


def _waiting_on_advisory(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_second_writer_of_the_same_employee_waits_for_the_first_to_commit(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    keys = _employee_locks.bucket_keys(raw._LOCKS["/employee"], SCOPE, ["emp-0001"])
    with psycopg.connect(database_url) as holder:
        for key in keys:
            holder.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (raw._LOCKS["/employee"], key))
        store = asyncio.create_task(raw.store_employees(store_pool, SCOPE, [employee(1, "a")]))
        for _ in range(500):
            if _waiting_on_advisory(database_url):
                break
            await asyncio.sleep(0.01)
        assert _waiting_on_advisory(database_url) == 1
        assert not store.done()
        holder.rollback()
    result = await asyncio.wait_for(store, 30)
    assert result.new == 1


@pytest.mark.parametrize("writer", ["raw", "timeline"])
async def test_concurrent_writers_of_the_same_new_employees_need_no_retry(
    store_pool: AsyncConnectionPool, database_url: str, monkeypatch: pytest.MonkeyPatch, writer: str
) -> None:
    """Without the locks the raw writers collide on the first insert (UniqueViolation, retried blind);
    with them no writer of either table needs a second try."""
    tries: list[int] = []
    original = _retry.retry_races

    async def once(attempt: Any, **_: Any) -> Any:
        tries.append(1)
        return await original(attempt, tries=1)

    monkeypatch.setattr(raw, "retry_races", once)
    monkeypatch.setattr(timeline, "retry_races", once)
    ids = [f"emp-{i:04d}" for i in range(40)]

    async def write(n: int) -> None:
        if writer == "raw":
            await raw.store_employees(store_pool, SCOPE, [employee(i, f"v{n}") for i in range(40)])
        else:
            events = [_event(e, n) for e in ids]
            await timeline.write_events(store_pool, SCOPE, ids, events)

    for _ in range(5):
        await asyncio.gather(*(write(n) for n in range(4)))
    assert len(tries) == 20
    with psycopg.connect(database_url) as conn:
        if writer == "raw":
            rows = conn.execute(
                "SELECT employee_id, count(*) FILTER (WHERE is_latest) FROM employes_raw_data GROUP BY 1"
            ).fetchall()
            assert len(rows) == 40 and all(n == 1 for _, n in rows)
        else:
            row = conn.execute("SELECT count(DISTINCT employee_id) FROM employes_timeline_v2").fetchone()
            assert row is not None and row[0] == 40


def _event(employee_id: str, n: int) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "event_type": "salary_increase",
        "event_date": "2024-01-01",
        "event_title": "Salary increase",
        "event_description": f"+€{n}",
        "event_data": {"n": n},
        "event_key": "k1",
        "event_order": 0,
    }
