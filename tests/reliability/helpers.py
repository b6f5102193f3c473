"""What the fault tests share: quick settings, a whole local run, and the checks that nothing was lost.

A run here is the real thing: `sync_locally` lists and processes the inline part in this process and
runs every batch as an `employes-sync worker` subprocess against a simulator over HTTP and a real
PostgreSQL. Settings are chosen for speed (no rate limit to speak of, small batches, short backoff).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.models import parse_employee, parse_employments
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.pipeline import RunSummary
from employes_sync.settings import SyncSettings
from employes_sync.store import raw as raw_store
from employes_sync.store.queue import Batch
from employes_sync.timeline import build_timeline
from tests.fixtures.settings import settings_for

#: Every table the store writes (schema_migrations aside).
TABLES = ("employes_raw_data", "processing_queue", "employes_timeline_v2", "sync_runs", "rate_limits")


def fast_settings(sim: Simulator, **changes: Any) -> SyncSettings:
    """The shared factory's settings with the reliability suite's batches: 10 a batch, 3 attempts."""
    values: dict[str, Any] = {
        "inline_count": 5, "batch_size": 10, "max_attempts": 3, "lease_seconds": 30.0, "trigger": "test",
        **changes,
    }  # fmt: skip
    return settings_for(sim, **values)


class Recorder:
    """A progress sink for `sync_locally` that lets a test act at a moment of the run.

    `on("page" | "inline" | "queued" | "listed", hook)` runs `hook(fields)` on that event (once);
    `on_tick(hook)` runs `hook(batches)` on every driver tick until it returns True.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ticks: list[list[Batch]] = []
        self._hooks: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._tick_hooks: list[Callable[[list[Batch]], bool]] = []

    def on(self, name: str, hook: Callable[[dict[str, Any]], None]) -> None:
        self._hooks.setdefault(name, []).append(hook)

    def on_tick(self, hook: Callable[[list[Batch]], bool]) -> None:
        self._tick_hooks.append(hook)

    def event(self, name: str, fields: dict[str, Any]) -> None:
        self.events.append((name, dict(fields)))
        for hook in self._hooks.pop(name, []):
            hook(fields)

    def batches(self, batches: list[Batch]) -> None:
        self.ticks.append(batches)
        self._tick_hooks = [hook for hook in self._tick_hooks if not hook(batches)]


async def local_run(
    sim: Simulator,
    pool: AsyncConnectionPool,
    dsn: str,
    *,
    workers: int = 2,
    recorder: Recorder | None = None,
    token: str | None = None,
    **changes: Any,
) -> RunSummary:
    settings = fast_settings(sim, **changes)
    # Short polls: fault hooks act on what a tick sees, so they must see every state a batch passes.
    return await sync_locally(
        settings,
        pool,
        dsn,
        token or sim.config.token,
        workers=workers,
        progress=recorder or Recorder(),
        poll_seconds=0.1,
    )


@dataclass
class State:
    """Everything a scope holds, for the "nothing lost, nothing duplicated" checks."""

    rows: dict[str, int]
    raw_latest: Counter[tuple[str, str]]  # (employee_id, endpoint) -> rows marked latest
    raw_all: Counter[tuple[str, str]]
    timeline: Counter[tuple[str, str]]  # (employee_id, event_key) -> rows
    batches: list[dict[str, Any]]
    runs: list[dict[str, Any]] = field(default_factory=list)


async def _fetch(pool: AsyncConnectionPool, sql: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def snapshot(pool: AsyncConnectionPool, scope: str) -> State:
    rows: dict[str, int] = {}
    for table, sql in (
        ("employes_raw_data", "SELECT count(*) FROM employes_raw_data WHERE scope = %(s)s"),
        ("processing_queue", "SELECT count(*) FROM processing_queue WHERE scope = %(s)s"),
        ("employes_timeline_v2", "SELECT count(*) FROM employes_timeline_v2 WHERE scope = %(s)s"),
        ("sync_runs", "SELECT count(*) FROM sync_runs WHERE scope = %(s)s"),
    ):
        rows[table] = (await _fetch(pool, sql, {"s": scope}))[0][0]
    raw_rows = await _fetch(
        pool,
        "SELECT employee_id, endpoint, is_latest FROM employes_raw_data WHERE scope = %(s)s",
        {"s": scope},
    )
    events = await _fetch(
        pool, "SELECT employee_id, event_key FROM employes_timeline_v2 WHERE scope = %(s)s", {"s": scope}
    )
    batches = await _fetch(
        pool,
        "SELECT id::text, status, attempts, max_attempts, payload, error_message, result"
        " FROM processing_queue WHERE scope = %(s)s ORDER BY run_id, batch_no",
        {"s": scope},
    )
    runs = await _fetch(
        pool, "SELECT id, status, error, summary FROM sync_runs WHERE scope = %(s)s ORDER BY id", {"s": scope}
    )
    return State(
        rows=rows,
        raw_latest=Counter((e, p) for e, p, latest in raw_rows if latest),
        raw_all=Counter((e, p) for e, p, _ in raw_rows),
        timeline=Counter((e, k) for e, k in events),
        batches=[
            {
                "id": i,
                "status": s,
                "attempts": a,
                "max_attempts": m,
                "employee_ids": p["employee_ids"],
                "error": err,
                "result": res,
            }
            for i, s, a, m, p, err, res in batches
        ],
        runs=[{"id": i, "status": s, "error": err, "summary": summ} for i, s, err, summ in runs],
    )


def expected_events(sim: Simulator, employee_ids: set[str]) -> set[tuple[str, str]]:
    """(employee_id, event_key) of every event these employees should have, from the simulator's data."""
    keys: set[tuple[str, str]] = set()
    for person in sim.company:
        if person.id not in employee_ids:
            continue
        employee = raw_store.redact(parse_employee(person.employee), raw_store.DEFAULT_REDACT)
        employments = raw_store.redact(parse_employments(person.employments), raw_store.DEFAULT_REDACT)
        keys.update(
            (e.employee_id, e.event_key) for e in build_timeline(employee, employments, as_of=date.today())
        )
    return keys


def assert_complete(
    state: State, sim: Simulator, *, missing: frozenset[str] | set[str] = frozenset(), runs: int = 1
) -> None:
    """Every employee but `missing` is stored once and fully processed; nothing is duplicated.

    - each employee has exactly one latest `/employee` and one latest `/employments` raw row, and no
      other rows (the data never changed, so a retry may only bump `last_verified_at`);
    - the timeline holds exactly the events the builder derives from the simulator's data, once each;
    - every batch completed, and every queued employee sits in exactly one batch.
    """
    present = {sim_employee.id for sim_employee in sim.company} - set(missing)
    for endpoint in ("/employee", "/employments"):
        got = {e for (e, p), n in state.raw_latest.items() if p == endpoint and n == 1}
        assert got >= present, f"{endpoint}: missing raw rows for {sorted(present - got)[:5]}"
    assert all(n == 1 for n in state.raw_latest.values()), "an employee has two latest raw rows"
    assert state.raw_all == state.raw_latest, "unchanged data added history rows"
    assert not any(e in missing for (e, p) in state.raw_latest if p == "/employments")
    assert all(n == 1 for n in state.timeline.values()), "a timeline event is stored twice"
    expected = expected_events(sim, present)
    got_events = set(state.timeline)
    assert got_events == expected, (
        f"{len(expected - got_events)} events lost, {len(got_events - expected)} unexpected"
    )
    assert state.rows["employes_timeline_v2"] == len(expected)
    assert [b for b in state.batches if b["status"] != "completed"] == []
    queued = Counter(i for b in state.batches for i in b["employee_ids"])
    assert all(n == runs for n in queued.values()), "an employee was queued twice in one run"
    assert state.rows["sync_runs"] == runs
