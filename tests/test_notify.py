"""NOTIFY employes_sync: a listener hears every step of a sync, in order, and exactly who changed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.store import notify
from tests.fixtures.kube import wait_for
from tests.reliability.helpers import fast_settings


class Listener:
    """LISTEN on its own connection and keep every payload, in arrival order."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.payloads: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute("LISTEN employes_sync")
            self._ready.set()
            async for message in conn.notifies():
                self.raw.append(message.payload)
                self.payloads.append(json.loads(message.payload))
                self._arrived.set()

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while sum(1 for p in self.payloads if p["type"] == type_) < count:
                self._arrived.clear()
                await self._arrived.wait()


def changed_ids(payloads: list[dict[str, Any]]) -> list[str]:
    ids = [i for p in payloads if p["type"] == "timeline.changed" for i in p["employee_ids"]]
    assert len(ids) == len(set(ids)), "an employee is told once per write"
    return sorted(ids)


def wait_listening(database_url: str, count: int) -> None:
    """Until `count` sessions LISTEN on the channel (the watchers have started), or fail after 30 s."""

    def listening() -> bool:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN employes_sync'"
            ).fetchone()
        return row is not None and row[0] == count

    wait_for(listening, 30, what=f"{count} watcher(s) to LISTEN")


async def test_a_sync_tells_a_listener_every_step_in_order(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = fast_settings(simulator, batch_size=25)
    token = simulator.config.token
    async with Listener(database_url) as listener:
        summary = await sync_locally(settings, store_pool, database_url, token, workers=2)
        await listener.wait_for("run.finished")
    assert summary.succeeded
    seen = listener.payloads
    types = [p["type"] for p in seen]
    # run.started, the inline timelines, the first feedback, then the batches, then the end
    assert types[0] == "run.started"
    assert types[1] == "timeline.changed" and len(seen[1]["employee_ids"]) == 5
    assert types[2] == "run.first_feedback"
    assert types[-1] == "run.finished"
    assert types.count("batch.finished") == 3
    assert set(types[3:-1]) == {"timeline.changed", "batch.finished"}
    for payload, raw in zip(seen, listener.raw, strict=True):
        assert {"type", "scope", "run_id", "at"} <= payload.keys()
        assert payload["scope"] == settings.scope and payload["run_id"] == summary.run_id
        assert len(raw.encode()) < 4000
    end = seen[-1]
    assert end["status"] == "succeeded" and end["employees"] == 78 and end["batches"] == 3
    assert end["events_created"] == summary.summary["events_created"]
    # exactly the employees whose events were written
    with psycopg.connect(database_url) as conn:
        stored = [
            r[0] for r in conn.execute("SELECT DISTINCT employee_id FROM employes_timeline_v2 ORDER BY 1")
        ]
    assert changed_ids(seen) == stored
    # no personal data: no name, no amount of any employee appears in any payload
    everything = " ".join(listener.raw)
    for employee in simulator.company[:20]:
        assert employee.employee["surname"] not in everything
        assert employee.employee["first_name"] not in everything

    # a second run changes nothing: no timeline.changed at all
    async with Listener(database_url) as listener:
        await sync_locally(settings, store_pool, database_url, token, workers=2)
        await listener.wait_for("run.finished")
    assert changed_ids(listener.payloads) == []

    # one employee lost its events, another got a stale one: exactly those two are told
    lost, stale = stored[3], stored[40]
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM employes_timeline_v2 WHERE employee_id = %s", (lost,))
        conn.execute(
            "INSERT INTO employes_timeline_v2 (scope, employee_id, event_type, event_date, event_title,"
            " event_key) VALUES (%s, %s, 'hours_change', '2001-01-01', 'stale', 'stale-key')",
            (settings.scope, stale),
        )
    async with Listener(database_url) as listener:
        await sync_locally(settings, store_pool, database_url, token, workers=2)
        await listener.wait_for("run.finished")
    assert changed_ids(listener.payloads) == sorted([lost, stale])


def test_timeline_payloads_are_split_by_count_and_by_size() -> None:
    ids = [f"{n:05d}" for n in range(250)]
    chunks = notify.timeline_changed("ns/name", 7, ids)
    assert [len(c["employee_ids"]) for c in chunks] == [100, 100, 50]
    assert [i for c in chunks for i in c["employee_ids"]] == ids
    long_ids = ["x" * 500 for _ in range(30)]
    chunks = notify.timeline_changed("ns/name", 7, long_ids)
    assert all(len(json.dumps(c).encode()) < notify.MAX_PAYLOAD_BYTES - 500 for c in chunks)
    assert sum(len(c["employee_ids"]) for c in chunks) == 30
    assert notify.timeline_changed("ns/name", None, []) == []


async def test_watch_prints_a_syncs_notifications_as_they_arrive(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str, tmp_path: Any
) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "employes_sync", "watch", "--database-url", database_url, "--json"]
    command += ["--count", "4", "--scope", f"local/{simulator.config.company_id}"]
    human = [sys.executable, "-m", "employes_sync", "watch", "--database-url", database_url, "--count", "3"]
    env = {**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}
    watchers = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True, env=env) for c in (command, human)]  # noqa: ASYNC220
    try:
        wait_listening(database_url, 2)
        await sync_locally(
            fast_settings(simulator, batch_size=25), store_pool, database_url, simulator.config.token
        )
        outputs = [w.communicate(timeout=30)[0] for w in watchers]
    finally:
        for w in watchers:
            if w.poll() is None:
                w.kill()
                w.wait(5)
    lines = [json.loads(line) for line in outputs[0].splitlines()]
    assert [p["type"] for p in lines] == ["run.started", "timeline.changed", "run.first_feedback",
                                          "timeline.changed"]  # fmt: skip
    text = outputs[1].splitlines()
    assert "run.started" in text[0] and "timeline.changed" in text[1] and "5 employees" in text[1]
    assert "first timelines after" in text[2]


def test_the_documented_listener_works(database_url: str, tmp_path: Any) -> None:
    """docs/integration.md's 15-line listener, run as written, prints what a sync would tell it."""
    import re
    import subprocess
    import sys
    import time
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "integration.md").read_text()
    code = re.search(r"A listener in Python.*?```python\n(.*?)```", text, re.S)
    assert code is not None and len(code.group(1).strip().splitlines()) <= 15
    script = tmp_path / "listener.py"
    script.write_text(code.group(1))
    process = subprocess.Popen(
        [sys.executable, str(script), database_url, "ns/a"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN employes_sync'"
                )
                if (found := row.fetchone()) is not None and found[0] == 1:
                    break
                time.sleep(0.05)
            for scope in ("ns/other", "ns/a"):
                payload = {
                    "type": "timeline.changed",
                    "scope": scope,
                    "run_id": 1,
                    "employee_ids": ["e1", "e2"],
                }
                conn.execute("SELECT pg_notify('employes_sync', %s)", (json.dumps(payload),))
            payload = {
                "type": "run.finished",
                "scope": "ns/a",
                "run_id": 1,
                "status": "succeeded",
                "employees": 2,
            }
            conn.execute("SELECT pg_notify('employes_sync', %s)", (json.dumps(payload),))
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "refresh profiles: e1, e2"
        assert process.stdout.readline().strip() == "sync succeeded - 2 employees"
    finally:
        process.kill()
        process.wait(10)


def test_watch_beside_sync_demo_shows_the_first_five_then_the_batches(
    database_url: str, tmp_path: Any
) -> None:
    """The issue's two terminals: `watch --json` beside `sync --demo`, both CLI processes on one database.

    The first timeline.changed names exactly the five employees processed inline (every employee of the
    run that no batch holds), before the first feedback; then come the batches, then the end.
    """
    import subprocess
    import sys
    import threading
    import time

    env = {**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "employes_sync"]
    watcher = subprocess.Popen(
        [*cli, "watch", "--json", "--database-url", database_url], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            lines.append(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_listening(database_url, 1)
        sync = subprocess.run(
            [*cli, "sync", "--demo", "--json", "--database-url", database_url],
            capture_output=True, text=True, env=env, timeout=240,
        )  # fmt: skip
        assert sync.returncode == 0, sync.stderr
        deadline = time.monotonic() + 30
        while not any(p["type"] == "run.finished" for p in lines):
            assert time.monotonic() < deadline and watcher.poll() is None, f"no run.finished: {lines}"
            time.sleep(0.05)
    finally:
        watcher.kill()
        watcher.wait(10)
        reader.join(10)
    run_id = lines[0]["run_id"]
    types = [p["type"] for p in lines]
    assert types[:3] == ["run.started", "timeline.changed", "run.first_feedback"]
    assert types[-1] == "run.finished" and lines[-1]["status"] == "succeeded"
    assert set(types[3:-1]) == {"timeline.changed", "batch.finished"}
    assert all(p["run_id"] == run_id for p in lines)
    with psycopg.connect(database_url) as conn:
        everyone = {r[0] for r in conn.execute("SELECT employee_id FROM employes_employees")}
        batched = {
            str(e)
            for (ids,) in conn.execute(
                "SELECT payload->'employee_ids' FROM processing_queue WHERE run_id = %s", (run_id,)
            )
            for e in ids
        }
        batches = conn.execute(
            "SELECT count(*) FROM processing_queue WHERE run_id = %s", (run_id,)
        ).fetchone()
        timelined = {r[0] for r in conn.execute("SELECT DISTINCT employee_id FROM employes_timeline_v2")}
    inline = everyone - batched
    assert len(inline) == 5 and len(everyone) == 78
    assert sorted(lines[1]["employee_ids"]) == sorted(inline)
    assert batches is not None and types.count("batch.finished") == batches[0] >= 2
    # every timelined employee is told once: the inline five first, the batches' ones after them
    later = [i for p in lines[2:] if p["type"] == "timeline.changed" for i in p["employee_ids"]]
    assert sorted(later) == sorted(timelined - inline) and inline <= timelined


def test_watch_lines_say_whose_removals_each_count_is_and_which_requests_a_run_serves() -> None:
    """`run 2 succeeded: 78 employees, 0 events new, 0 removed` read the employees removed as events
    removed, and left out the updated and removed events and the batches; run.started left out the
    `request_sync()` requests the run serves."""
    from employes_sync.cli.watch import describe

    base = {"scope": "local/c", "run_id": 2, "at": "2026-12-01T09:00:17.400000Z"}
    finished = {**base, "type": "run.finished", "status": "degraded", "employees": 78, "events_created": 1,
                "events_updated": 2, "events_removed": 3, "employees_removed": 4, "batches": 3,
                "batches_failed": 1}  # fmt: skip
    assert describe(finished).endswith(
        "run 2 degraded: 78 employees (4 removed), events 1 new, 2 updated, 3 removed; batches 1 failed of 3"
    )
    started = {**base, "type": "run.started", "trigger": "sql-requested", "mode": "interactive"}
    assert describe({**started, "request_ids": [7, 8]}).endswith(
        "run 2 (sql-requested, interactive, serving request 7, 8)"
    )
    assert describe({**started, "request_ids": []}).endswith("run 2 (sql-requested, interactive)")
    batch = {**base, "type": "batch.finished", "batch_no": 3, "status": "failed", "employees": 23}
    batch["attempts"] = 0
    closed = describe({**batch, "closed": True})
    assert closed.endswith("batch 3 closed with its run (23 employees, attempt 0)")
    assert describe({**batch, "closed": False}).endswith("batch 3 failed (23 employees, attempt 0)")


def test_watch_warns_once_of_a_scope_this_database_does_not_know(database_url: str, tmp_path: Any) -> None:
    """A mistyped --scope printed nothing, for ever, like a quiet database: now one warning naming the
    known scopes, and it still shows the scope's notifications once they come."""
    import subprocess
    import sys

    from employes_sync.store.db import migrate_dsn

    asyncio.run(migrate_dsn(database_url))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sync_scopes (scope) VALUES ('local/known')")
    command = [sys.executable, "-m", "employes_sync", "watch", "--database-url", database_url,
               "--scope", "payroll/acme", "--count", "1"]  # fmt: skip
    env = {**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_listening(database_url, 1)
        with psycopg.connect(database_url, autocommit=True) as conn:
            payload = {"type": "sync.requested", "scope": "payroll/acme", "run_id": None, "request_id": 1,
                       "mode": "background"}  # fmt: skip
            conn.execute("SELECT pg_notify('employes_sync', %s)", (json.dumps(payload),))
        out, err = watcher.communicate(timeout=30)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(5)
    assert watcher.returncode == 0, err
    assert err.splitlines() == [
        "employes-sync: warning: no scope 'payroll/acme' in this database yet (known: local/known); "
        "waiting for its notifications"
    ]
    assert "request 1 (background)" in out


async def test_an_interrupted_run_reports_its_counts_and_its_closed_batches_first(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """A run stopped by a signal wrote its summary after closing itself: its run.finished (and run.*
    webhooks) said 0 events and 0 batches, and its closed batches' batch.finished came after it,
    reading `failed` like batches that used up their attempts."""
    from employes_sync.pipeline import interrupt_run
    from employes_sync.settings import subscription
    from employes_sync.store import outbox
    from employes_sync.store import queue as queue_store
    from employes_sync.store import runs as runs_store

    scope = "ns/stopped"
    settings = {"webhooks": [subscription("hook", events=["run.finished"])]}
    run_id = await runs_store.start_run(store_pool, scope, "c0", "test", "interactive", settings)
    await runs_store.update_summary(store_pool, run_id, {"employees_processed": 7, "inline": {
        "events_created": 2, "events_updated": 1, "events_removed": 1}})  # fmt: skip
    await queue_store.enqueue(store_pool, scope, run_id, [["e1", "e2"], ["e3"]])
    async with Listener(database_url) as listener:
        stopped = await interrupt_run(store_pool, run_id, "stopped by SIGINT")
        await listener.wait_for("run.finished")
    assert stopped.status == "interrupted" and stopped.summary["batches"] == {"total": 2, "closed": 2}
    mine = [p for p in listener.payloads if p["run_id"] == run_id]
    assert [(p["type"], p.get("closed")) for p in mine] == [
        ("batch.finished", True), ("batch.finished", True), ("run.finished", None)]  # fmt: skip
    finished = mine[-1]
    counts = {
        "events_created": 2,
        "events_updated": 1,
        "events_removed": 1,
        "batches": 2,
        "batches_failed": 0,
    }
    assert {k: finished[k] for k in counts} == counts and finished["status"] == "interrupted"
    (webhook,) = await outbox.events(store_pool, scope)
    assert {k: webhook["body"]["data"][k] for k in counts} == counts


async def test_employees_json_writes_rfc_3339_times(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """`employees --json` wrote `2026-12-04 22:06:13.308337+00:00` (str of a datetime), which
    JavaScript's Date.parse among others does not read; the webhooks already write the `T` form."""
    import subprocess
    import sys
    from datetime import datetime

    from employes_sync.store import raw as raw_store

    employee = {"id": "e1", "employee_number": 1, "first_name": "A", "surname": "B", "status": "active"}
    await raw_store.store_employees(store_pool, "local/c1", [employee])
    done = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-m", "employes_sync", "employees", "--json", "--database-url", database_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["employee_id"] == "e1" and row["removed_at"] is None
    for key in ("first_seen_at", "last_seen_at"):
        assert "T" in row[key] and datetime.fromisoformat(row[key]).utcoffset() is not None
