"""A whole local run, in process: inline part, queued batches in worker processes, idempotent re-runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.errors import AuthenticationError, PermissionDeniedError
from employes_sync.employes.fakedata import SimEmployee, generate_company
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import sync_locally
from employes_sync.processing import fetch_employments, rebuild_timelines
from employes_sync.settings import SyncSettings
from employes_sync.store import db
from tests.fixtures.settings import settings_for
from tests.fixtures.simulator import client_for


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await db.open_pool(database_url)
    await db.migrate(pool)
    yield pool
    await pool.close()


def scalar(database_url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


async def test_a_run_processes_five_inline_and_queues_the_rest(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = settings_for(simulator)
    summary = await sync_locally(settings, pool, database_url, simulator.config.token, workers=2)

    assert summary.succeeded, summary.error
    s = summary.summary
    assert s["employees_processed"] == 78
    assert s["immediately_processed"] == 5
    assert s["queued_for_processing"] == 73
    assert s["batches"] == {"total": 3, "completed": 3}
    assert s["time_to_first_feedback_seconds"] > 0
    assert s["employee_errors"] == {}
    assert s["raw_records"]["new"] == 156  # 78 employee records + 78 employment lists
    # Every employee has a timeline: at least the employee_added event.
    assert scalar(database_url, "select count(distinct employee_id) from employes_timeline_v2") == 78
    assert scalar(database_url, "select count(*) from employes_timeline_v2") == s["events_created"]
    assert scalar(database_url, "select status from sync_runs where id = %s", summary.run_id) == "succeeded"


async def test_a_second_run_of_unchanged_data_writes_nothing_new(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = settings_for(simulator)
    first = await sync_locally(settings, pool, database_url, simulator.config.token)
    rows = scalar(database_url, "select count(*) from employes_raw_data")
    events = scalar(database_url, "select count(*) from employes_timeline_v2")

    second = await sync_locally(settings, pool, database_url, simulator.config.token)

    assert first.succeeded and second.succeeded
    assert second.summary["raw_records"] == {"new": 0, "changed": 0, "unchanged": 156}
    assert second.summary["events_created"] == 0
    assert second.summary["events_updated"] == 0
    assert second.summary["events_removed"] == 0
    assert scalar(database_url, "select count(*) from employes_timeline_v2 where updated_at is not null") == 0
    assert scalar(database_url, "select count(*) from employes_raw_data") == rows
    assert scalar(database_url, "select count(*) from employes_timeline_v2") == events


async def test_incremental_fetches_only_the_list_when_nothing_changed(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    await sync_locally(settings_for(simulator), pool, database_url, simulator.config.token)
    simulator.stats.reset()

    summary = await sync_locally(
        settings_for(simulator, incremental=True), pool, database_url, simulator.config.token
    )

    assert summary.succeeded
    assert summary.summary["skipped_unchanged"] == 78
    assert summary.summary["queued_for_processing"] == 0
    assert simulator.stats.count("employments") == 0
    assert simulator.stats.count("employees") == 1  # 78 employees fit on one page of 100


async def test_an_incremental_run_builds_the_unchanged_timelines_as_of_its_own_day(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    """Skipping unchanged employees' employments must not skip their day: a nightly incremental sync
    kept "Employment ends (planned)" after the person had left, and never reported a contract that ran
    out since, until a full sync."""
    first = await sync_locally(
        settings_for(simulator, as_of="2025-06-01"), pool, database_url, simulator.config.token
    )
    assert first.succeeded, first.error
    due = (
        "select count(*) from employes_timeline_v2"
        " where (event_data->>'planned')::boolean and event_date <= %s"
    )
    assert scalar(database_url, due, "2025-09-01") > 0  # the demo's notices and July changes, planned
    simulator.stats.reset()

    later = await sync_locally(
        settings_for(simulator, as_of="2025-09-01", incremental=True),
        pool,
        database_url,
        simulator.config.token,
    )

    assert later.succeeded, later.error
    assert later.summary["skipped_unchanged"] == 78
    assert simulator.stats.count("employments") == 0  # still nothing fetched but the listing
    assert scalar(database_url, due, "2025-09-01") == 0
    assert later.summary["events_updated"] > 0
    assert later.summary["employee_errors"] == {}
    # Exactly what a build of everything as of that day gives: a rebuild finds nothing to change.
    again = await rebuild_timelines(pool, f"local/{simulator.config.company_id}", as_of=date(2025, 9, 1))
    assert (again.events_created, again.events_updated, again.events_removed) == (0, 0, 0)
    started = scalar(database_url, "select started_at from sync_runs where id = %s", later.run_id)
    updated = "select count(*) from employes_timeline_v2 where updated_at >= %s"
    assert later.summary["events_updated"] == scalar(database_url, updated, started)  # counted as the run's


async def test_background_mode_queues_everything_at_a_lower_priority(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    summary = await sync_locally(
        settings_for(simulator, mode="background", trigger="schedule"),
        pool,
        database_url,
        simulator.config.token,
    )

    assert summary.succeeded
    assert summary.summary["immediately_processed"] == 0
    assert summary.summary["queued_for_processing"] == 78
    assert summary.summary["time_to_first_feedback_seconds"] is None
    assert (
        scalar(database_url, "select max(priority) from processing_queue")
        < SyncSettings(scope="x", company_id=simulator.config.company_id).priority
    )


class HealAfterFirstFailure:
    """A progress sink that clears the simulator's faults once a batch has failed an attempt."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.healed = False

    def event(self, name: str, fields: dict[str, Any]) -> None:
        return None

    def batches(self, batches: list[Any]) -> None:
        if not self.healed and any(b.status == "pending" and b.attempts >= 1 for b in batches):
            self.sim.faults.reset()
            self.healed = True


async def test_a_batch_that_fails_is_retried_and_its_attempts_recorded(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = settings_for(simulator, inline_count=0, batch_size=100, max_attempts=3)
    simulator.faults.fail_fraction(1.0, (503,), endpoint="employments")
    healer = HealAfterFirstFailure(simulator)

    summary = await sync_locally(
        settings, pool, database_url, simulator.config.token, workers=1, progress=healer
    )

    assert healer.healed
    assert summary.succeeded, summary.error
    attempts = scalar(database_url, "select attempts from processing_queue where run_id = %s", summary.run_id)
    assert attempts == 2
    assert scalar(database_url, "select count(distinct employee_id) from employes_timeline_v2") == 78


async def test_a_batch_that_always_fails_ends_failed_with_its_error(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = settings_for(simulator, inline_count=0, batch_size=100, max_attempts=2)
    simulator.faults.fail_fraction(1.0, (503,), endpoint="employments")

    summary = await sync_locally(settings, pool, database_url, simulator.config.token, workers=1)

    assert not summary.succeeded
    [failed] = summary.summary["failed_batches"]
    assert failed["attempts"] == 2
    assert "503" in failed["error"]
    assert scalar(database_url, "select status from sync_runs where id = %s", summary.run_id) == "failed"


async def test_a_rejected_token_fails_the_run_and_records_it(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    with pytest.raises(AuthenticationError) as raised:
        await sync_locally(settings_for(simulator), pool, database_url, "not-the-token")

    assert "not-the-token" not in str(raised.value)
    status, error = await _last_run(pool)
    assert status == "failed"
    assert "401" in error
    assert scalar(database_url, "select count(*) from processing_queue") == 0


async def test_rebuild_recreates_timelines_without_the_api(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    settings = settings_for(simulator)
    await sync_locally(settings, pool, database_url, simulator.config.token)
    events = scalar(database_url, "select count(*) from employes_timeline_v2")
    with psycopg.connect(database_url) as conn:
        conn.execute("delete from employes_timeline_v2")
    simulator.stats.reset()

    result = await rebuild_timelines(pool, settings.scope, as_of=settings.as_of_date)

    assert result.events_created == events
    assert simulator.stats.total == 0
    assert scalar(database_url, "select count(*) from employes_timeline_v2") == events


async def _last_run(pool: AsyncConnectionPool) -> tuple[str, str]:
    async with pool.connection() as conn:
        cur = await conn.execute("select status, error from sync_runs order by id desc limit 1")
        row = await cur.fetchone()
    assert row is not None
    return row[0], row[1]


async def test_a_corrected_contract_end_reaches_the_stored_event_on_rebuild(
    simulator: Simulator, pool: AsyncConnectionPool, database_url: str
) -> None:
    """Issue 12 item 2: a correction upstream updates the stored event instead of leaving it stale."""
    settings = settings_for(simulator)
    await sync_locally(settings, pool, database_url, simulator.config.token)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select employee_id, api_response from employes_raw_data"
            " where endpoint = '/employments' and is_latest and jsonb_array_length(api_response) > 0"
            " and api_response->0->'contracts'->0 ? 'end_date' order by employee_id limit 1"
        ).fetchone()
        assert row is not None, "the demo data has a fixed-term contract"
        employee_id, employments = row
        first = min(employments, key=lambda e: e["start_date"])
        contract = min(first["contracts"], key=lambda c: c["start_date"])
        contract["end_date"] = "2031-12-31T00:00:00"  # corrected: the contract runs years longer
        conn.execute(
            "update employes_raw_data set api_response = %s::jsonb"
            " where employee_id = %s and endpoint = '/employments' and is_latest",
            (json.dumps(employments), employee_id),
        )
    result = await rebuild_timelines(pool, settings.scope, [employee_id], as_of=settings.as_of_date)
    assert result.events_updated >= 1
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "select event_data->>'contract_end_date', updated_at is not null from employes_timeline_v2"
            " where employee_id = %s and event_type = 'contract_started'"
            " and event_data->>'employment_id' = %s",
            (employee_id, first["id"]),
        ).fetchone()
    assert stored == ("2031-12-31", True)
    again = await rebuild_timelines(pool, settings.scope, [employee_id], as_of=settings.as_of_date)
    assert (again.events_created, again.events_updated, again.events_removed) == (0, 0, 0)


async def test_one_employee_failing_for_good_leaves_no_cancel_request_on_the_caller(
    simulator: Simulator,
) -> None:
    """The reconciler tells a cancellation it was asked for by its task's cancelling(): a failed fetch
    must not leave one behind (a TaskGroup did, on Python 3.11: CPython gh-116720)."""
    ids = simulator.employee_ids[:6]
    simulator.faults.fail_next(1, status=403, endpoint="employments")  # not transient: fails the fetch
    async with client_for(simulator) as client:
        with pytest.raises(PermissionDeniedError):
            await fetch_employments(client, ids)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        found, errors = await fetch_employments(client, ids)  # and the next fetch is whole
    assert sorted(found) == sorted(ids) and errors == {}


def _timeline_rows(database_url: str, employee_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select event_key, event_type, event_date, event_title, event_data, updated_at"
            " from employes_timeline_v2 where employee_id = %s order by event_key",
            (employee_id,),
        ).fetchall()


async def test_an_employment_id_that_turns_up_twice_in_two_versions_keeps_the_stored_timeline(
    make_simulator: Any, pool: AsyncConnectionPool, database_url: str
) -> None:
    """The API listing one employment twice, differently: neither version is believed, none lost.

    Read side by side, the copy with the earlier end would state a false "contract ended"; the
    employee is an invalid record instead, and keeps what an earlier run stored, while the others go on.
    """
    people = generate_company(30, seed=13)
    sim = make_simulator(company=people, requests_per_second=0)
    settings = settings_for(sim)
    first = await sync_locally(settings, pool, database_url, sim.config.token, workers=1)
    assert first.succeeded and first.summary["employee_errors"] == {}, first.summary
    conflicted = {3: people[3], 17: people[17]}  # one processed inline, one in a batch
    before = {p.id: _timeline_rows(database_url, p.id) for p in conflicted.values()}
    assert all(before.values())

    def serve(index: int, employments: list[dict[str, Any]]) -> None:
        sim.company[index] = SimEmployee(people[index].employee, employments)
        sim.companies[0].employments_json.pop(index, None)  # its cached response body

    for index, person in conflicted.items():
        employment = person.employments[0]
        assert not employment.get("end_date")
        serve(index, [employment, {**employment, "end_date": "2030-12-31T00:00:00"}])
    # Another employee's change still reaches its timeline in the same run.
    leaver = people[5]
    assert "contract_ended" not in {row[1] for row in _timeline_rows(database_url, leaver.id)}
    serve(5, [{**leaver.employments[0], "end_date": "2025-03-31T00:00:00"}])

    second = await sync_locally(settings, pool, database_url, sim.config.token, workers=1)
    assert second.succeeded, second.error
    errors = second.summary["employee_errors"]
    assert errors == {
        person.id: f"invalid record: employments: id {person.employments[0]['id']} is listed twice"
        " with different content"
        for person in conflicted.values()
    }
    assert second.summary["employees_synced"] == 28, second.summary
    assert {p.id: _timeline_rows(database_url, p.id) for p in conflicted.values()} == before
    ended = [row for row in _timeline_rows(database_url, leaver.id) if row[1] == "contract_ended"]
    assert [row[2].isoformat() for row in ended] == ["2025-03-31"]
    # A rebuild from what is stored (the conflict included) refuses the same and removes nothing.
    ids = sorted(before)
    rebuilt = await rebuild_timelines(pool, settings.scope, ids, as_of=settings.as_of_date)
    assert rebuilt.errors == errors
    assert {i: _timeline_rows(database_url, i) for i in ids} == before
