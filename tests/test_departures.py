"""Departures: an employee absent from a complete listing is removed; a partial listing removes no one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.errors import AuthenticationError
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.pipeline import start_run
from employes_sync.store import employees as employees_store
from tests.reliability import rows
from tests.reliability.helpers import fast_settings


async def removed_ids(pool: AsyncConnectionPool, scope: str) -> list[str]:
    rows = await employees_store.list_employees(pool, scope, removed_only=True)
    return [row["employee_id"] for row in rows]


async def test_removed_between_runs_is_marked_and_a_return_clears_it(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = fast_settings(simulator, page_size=25, batch_size=25)
    token = simulator.config.token
    first = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert first.succeeded and first.summary["employees_removed"] == 0
    gone = simulator.employee_ids[30]

    simulator.faults.remove_employee(gone)
    second = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert second.succeeded, second.error
    assert second.summary["employees_processed"] == 77
    assert second.summary["employees_removed"] == 1
    assert second.summary["removed_employee_ids"] == [gone]
    assert await removed_ids(store_pool, settings.scope) == [gone]
    rows = {r["employee_id"]: r for r in await employees_store.list_employees(store_pool, settings.scope)}
    assert len(rows) == 78, "a removed employee stays in the view"
    assert rows[gone]["status"] == "removed"
    assert rows[gone]["removed_at"] > rows[gone]["last_seen_at"] >= rows[gone]["first_seen_at"]
    assert all(r["status"] != "removed" and r["removed_at"] is None for i, r in rows.items() if i != gone)
    assert rows[gone]["display_name"] and rows[gone]["employee_number"]
    # raw data and the timeline are kept
    with psycopg.connect(database_url) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM employes_timeline_v2 WHERE scope = %s AND employee_id = %s",
            (settings.scope, gone),
        ).fetchone()
    assert kept is not None and kept[0] > 0

    # still absent: not "removed again" (the count is of this run's departures)
    third = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert third.summary["employees_removed"] == 0
    assert await removed_ids(store_pool, settings.scope) == [gone]

    simulator.faults.restore_employee(gone)
    fourth = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert fourth.succeeded and fourth.summary["employees_removed"] == 0
    assert await removed_ids(store_pool, settings.scope) == []
    back = [
        r
        for r in await employees_store.list_employees(store_pool, settings.scope)
        if r["employee_id"] == gone
    ]
    assert back[0]["status"] != "removed" and back[0]["removed_at"] is None

    # and leaving a second time moves the departure on
    simulator.faults.remove_employee(gone)
    fifth = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert fifth.summary["removed_employee_ids"] == [gone]


@pytest.mark.fault(*rows.A_LISTING_STOPPED_BY_401_ON_PAGE_2_REMOVES_NO_ONE)
async def test_a_listing_stopped_by_401_on_page_2_removes_no_one(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = fast_settings(simulator, page_size=25, batch_size=25, inline_count=0)
    token = simulator.config.token
    assert (await sync_locally(settings, store_pool, database_url, token, workers=2)).succeeded
    simulator.faults.remove_employee(simulator.employee_ids[70])  # on page 3 of 4

    def rotate_after_page_one(event: str, fields: dict[str, Any]) -> None:
        if event == "page" and fields["page"] == 1:
            simulator.faults.rotate_token()  # page 2 gets 401

    with pytest.raises(AuthenticationError):
        await start_run(settings, store_pool, token, progress=rotate_after_page_one)
    assert await removed_ids(store_pool, settings.scope) == []
    with psycopg.connect(database_url) as conn:
        run = conn.execute("SELECT status, summary FROM sync_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert run is not None and run[0] == "failed"
    assert run[1]["employees_removed"] == 0


@pytest.mark.fault(*rows.A_LISTING_WITH_AN_INVALID_RECORD_REMOVES_NO_ONE)
async def test_a_listing_with_an_invalid_record_removes_no_one(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = fast_settings(simulator, page_size=25, batch_size=25)
    token = simulator.config.token
    assert (await sync_locally(settings, store_pool, database_url, token, workers=2)).succeeded
    simulator.faults.remove_employee(simulator.employee_ids[10])
    simulator.faults.corrupt_employees([40])  # that employee cannot be stored: it would look absent

    summary = await sync_locally(settings, store_pool, database_url, token, workers=2)
    assert summary.summary["employees_removed"] == 0
    assert "invalid" in summary.summary["departures_skipped"]
    assert await removed_ids(store_pool, settings.scope) == []


@pytest.mark.fault(*rows.A_SYNC_KILLED_DURING_LISTING_REMOVES_NO_ONE)
def test_a_sync_killed_during_listing_removes_no_one(
    make_simulator: Any, database_url: str, tmp_path: Path
) -> None:
    """SIGKILL while pages are still being read: the next reader finds nobody removed."""
    sim: Simulator = make_simulator(employees=78, requests_per_second=1000.0, latency_ms=0.0)
    env = {**os.environ, "EMPLOYES_API_TOKEN": sim.config.token, "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "employes_sync", "sync", "--api-url", str(sim.url), "--company-id"]
    command += [sim.config.company_id, "--database-url", database_url, "--requests-per-second", "500"]
    command += ["--run-lease-seconds", "2"]  # the killed run's lease runs out soon (one run per scope)
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr

    sim.faults.remove_employee(sim.employee_ids[77])
    sim.faults.slow_next(1, 60.0, endpoint="employees")  # the listing hangs on its first page
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with psycopg.connect(database_url) as conn:
                row = conn.execute("SELECT count(*) FROM sync_runs WHERE status = 'running'").fetchone()
            if row is not None and row[0] == 1:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the second sync never started its run")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM employee_departures").fetchone()
    assert rows is not None and rows[0] == 0

    # the killed run holds its scope until its heartbeat expires; then the next sync takes it over
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT bool_and(heartbeat_expires_at < now()) FROM sync_runs WHERE status = 'running'"
            ).fetchone()
        if row is not None and row[0] is not False:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the killed run's heartbeat never expired")
    # the next complete sync does mark the departure, and `employees --removed` shows it
    third = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert third.returncode == 0, third.stderr
    assert "1 marked removed" in third.stdout
    base = [sys.executable, "-m", "employes_sync", "employees", "--database-url", database_url]
    shown = subprocess.run([*base, "--removed"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[-1] == "1 employees, 1 removed" and "removed" in lines[1]
    every = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    assert every.stdout.splitlines()[-1] == "78 employees, 1 removed"
