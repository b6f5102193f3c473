"""API faults during whole local runs: the run completes with every employee, or names each one it lost.

Each test starts a private simulator (40 employees, no rate limit, no latency), injects one kind of
misbehaviour, runs `sync_locally` (inline part here, batches in worker subprocesses) and then checks
every table: each employee stored once, exactly the expected timeline events, every batch completed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync import pipeline
from employes_sync.employes.client import EmployesClient
from employes_sync.employes.errors import AuthenticationError, ResponseTooLargeError
from employes_sync.employes.simulator import Simulator
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.worker import process_batch
from tests.fixtures.simulator import client_for
from tests.reliability.helpers import Recorder, assert_complete, fast_settings, local_run, snapshot

pytestmark = pytest.mark.timeout(120)

MakeSim = Callable[..., Simulator]
API = "API"


def small(make_simulator: MakeSim, **config: Any) -> Simulator:
    return make_simulator(employees=40, requests_per_second=0, **config)


def scope_of(sim: Simulator) -> str:
    return f"local/{sim.config.company_id}"


@pytest.mark.fault(
    API,
    "429 storm with Retry-After",
    "the client waits Retry-After (every task of the process holds back), then retries; "
    "the run completes with every employee",
)
async def test_injected_429_storm(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    sim.faults.rate_limit_next(2, retry_after=1, endpoint="employees")
    sim.faults.rate_limit_next(8, retry_after=1, endpoint="employments")
    summary = await local_run(sim, store_pool, database_url)
    assert summary.succeeded, summary.error
    assert sim.stats.rate_limited == 10
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim)


@pytest.mark.fault(
    API,
    "429 storm with Retry-After",
    "a gateway limit below ours (10/s against 100/s): 429s come back, are waited out, the run completes",
)
async def test_gateway_limit_below_ours(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = make_simulator(employees=40, requests_per_second=10)
    summary = await local_run(sim, store_pool, database_url, requests_per_second=100.0)
    assert summary.succeeded, summary.error
    assert sim.stats.rate_limited > 0
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim)


@pytest.mark.fault(
    API,
    "5xx on 20% of requests",
    "each failed request is retried with exponential backoff and jitter; "
    "the run completes with every employee",
)
async def test_five_hundreds_on_a_fifth_of_requests(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    sim.faults.fail_fraction(0.2, (500, 502, 503))
    summary = await local_run(sim, store_pool, database_url)
    assert summary.succeeded, summary.error
    by_status = sim.stats.by_status()
    assert sum(by_status.get(s, 0) for s in (500, 502, 503)) >= 5, by_status
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim)


@pytest.mark.fault(
    API,
    "timeouts and dropped connections",
    "a response slower than the timeout and a connection closed without an answer are retried; "
    "the run completes with every employee",
)
async def test_timeouts_and_dropped_connections(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    sim.faults.slow_next(3, seconds=2.0, endpoint="employments")
    sim.faults.drop_next(2, endpoint="employees")
    sim.faults.drop_next(4, endpoint="employments")
    summary = await local_run(sim, store_pool, database_url, timeout_seconds=0.5)
    assert summary.succeeded, summary.error
    assert sim.stats.count(status=0) == 6  # dropped
    assert sim.faults.pending() == 0
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim)


@pytest.mark.fault(
    API,
    "malformed or truncated JSON in a 200",
    "a body that is not JSON, or is cut in half, is retried like a 5xx; "
    "the run completes with every employee",
)
async def test_malformed_and_truncated_bodies(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    sim.faults.malformed_next(1, endpoint="employees")
    sim.faults.truncated_next(1, endpoint="employees")
    sim.faults.truncated_next(3, endpoint="employments")
    sim.faults.malformed_next(2, endpoint="employments")
    summary = await local_run(sim, store_pool, database_url)
    assert summary.succeeded, summary.error
    assert sim.faults.pending() == 0
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim)


@pytest.mark.fault(
    API,
    "a page with missing fields or wrong types",
    "the bad records are left out and named in the summary (page, item, id, field); "
    "every other employee of the page is synced",
)
async def test_page_with_invalid_records(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    broken = [1, 12, 30, 31]  # in the inline part and in batches; missing id, bad date, wrong types
    sim.faults.corrupt_employees(broken)
    summary = await local_run(sim, store_pool, database_url)
    assert summary.succeeded, summary.error
    invalid = summary.summary["invalid_employees"]
    assert set(invalid) == {f"page 1 item {i}" for i in broken}
    assert "id: missing" in invalid["page 1 item 12"]
    assert "date_of_birth" in invalid["page 1 item 1"] and sim.company[1].id in invalid["page 1 item 1"]
    assert "yearly_wage" in invalid["page 1 item 30"]
    assert "employment" in invalid["page 1 item 31"]
    missing = {sim.company[i].id for i in broken}
    state = await snapshot(store_pool, scope_of(sim))
    assert not [key for key in state.raw_all if key[0] in missing]
    assert summary.summary["employees_processed"] == 36
    assert_complete(state, sim, missing=missing)


@pytest.mark.fault(
    API,
    "a 401 in the middle of a run",
    "batches fail with 'AuthenticationError ... (401) ... check the API token' after their attempts; "
    "the run is failed and names them; what was done before stays",
)
async def test_token_rejected_after_listing(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    recorder = Recorder()
    recorder.on("listed", lambda _: sim.faults.rotate_token())
    summary = await local_run(sim, store_pool, database_url, recorder=recorder, max_attempts=2)
    assert not summary.succeeded
    assert summary.status == "failed"
    assert summary.error and "401" in summary.error
    state = await snapshot(store_pool, scope_of(sim))
    failed = [b for b in state.batches if b["status"] == "failed"]
    assert failed, state.batches
    for batch in failed:
        assert batch["attempts"] == 2
        assert batch["error"].startswith("AuthenticationError: Employes API rejected the token (401)")
    assert all(b["status"] in ("failed", "completed") for b in state.batches)
    inline_ids = [p.id for p in sim.company[:5]]
    assert {e for e, _ in state.timeline} >= set(inline_ids)
    assert state.runs[0]["status"] == "failed"


@pytest.mark.fault(
    API,
    "a 401 in the middle of a run",
    "during the inline part: the run stops with the AuthenticationError itself (one line, no traceback "
    "group) and its sync_runs row is failed with that reason",
)
async def test_token_rejected_during_inline_part(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    recorder = Recorder()
    recorder.on("page", lambda _: sim.faults.rotate_token())
    with pytest.raises(AuthenticationError, match=r"\(401\)"):
        await local_run(sim, store_pool, database_url, recorder=recorder)
    run = await runs_store.latest_run(store_pool, scope_of(sim))
    assert run is not None and run["status"] == "failed"
    assert run["error"].startswith("AuthenticationError: Employes API rejected the token (401)")


@pytest.mark.fault(
    API,
    "an employee listed, then 404 when its employments are fetched",
    "one more request tells 'gone' from 'no employments'; the gone employee is named "
    "('employee not found (404)...'), everyone else is synced",
)
async def test_employee_gone_after_listing(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    gone = {sim.company[2].id, sim.company[25].id}  # one in the inline part, one in a batch
    recorder = Recorder()
    recorder.on("page", lambda _: [sim.faults.remove_employee(i) for i in gone])
    summary = await local_run(sim, store_pool, database_url, recorder=recorder)
    assert summary.succeeded, summary.error
    errors = summary.summary["employee_errors"]
    assert set(errors) == gone
    assert all("404" in reason for reason in errors.values())
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim, missing=gone)


@pytest.mark.fault(
    API,
    "a malformed record of one employee in a batch",
    "the employee is named with the field at fault; the other employees of its batch complete",
)
async def test_invalid_employments_of_one_employee(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    bad = {sim.company[3].id, sim.company[12].id}  # one in the inline part, one in batch 1
    for employee_id in bad:
        sim.faults.malformed_employments(employee_id, "invalid")
    summary = await local_run(sim, store_pool, database_url)
    assert summary.succeeded, summary.error
    errors = summary.summary["employee_errors"]
    assert set(errors) == bad
    assert all("start_date" in reason for reason in errors.values())
    state = await snapshot(store_pool, scope_of(sim))
    assert_complete(state, sim, missing=bad)
    holder = next(b for b in state.batches if sim.company[12].id in b["employee_ids"])
    assert holder["status"] == "completed" and holder["attempts"] == 1


@pytest.mark.fault(
    API,
    "a malformed record of one employee in a batch",
    "employments that stay non-JSON through every retry: named for that employee, the batch completes",
)
async def test_unparseable_employments_in_a_batch(
    make_simulator: MakeSim,
    store_pool: AsyncConnectionPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = small(make_simulator)
    monkeypatch.setattr(pipeline, "EmployesClient", functools.partial(EmployesClient, backoff_base=0.01))
    settings = fast_settings(sim, mode="background")
    started = await pipeline.start_run(settings, store_pool, sim.config.token)
    first = await queue_store.get(store_pool, started.batch_ids[0])
    assert first is not None
    bad = first.employee_ids[4]
    sim.faults.malformed_employments(bad, "json")
    outcome = await process_batch(store_pool, first.id, sim.config.token)
    assert outcome.status == "completed"
    assert outcome.result is not None
    assert set(outcome.result.errors) == {bad}
    assert "not valid JSON" in outcome.result.errors[bad]
    state = await snapshot(store_pool, scope_of(sim))
    done = set(first.employee_ids) - {bad}
    assert {e for e, _ in state.timeline} == done


@pytest.mark.fault(
    API,
    "a response over the size limit (10 MiB)",
    "refused while streaming, declared or chunked: 'Employes API response too large (...limit "
    "10485760) for GET ...'; never read into memory",
)
@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
async def test_oversized_response_refused(make_simulator: MakeSim, declare_length: bool) -> None:
    sim = small(make_simulator)
    sim.faults.oversized_next(1, endpoint="employees", declare_length=declare_length)
    async with client_for(sim) as client:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.get_employee_page(1)
    message = str(caught.value)
    assert message.startswith("Employes API response too large")
    assert "limit 10485760" in message and "GET /employees?page=1" in message


@pytest.mark.fault(
    API,
    "a response over the size limit (10 MiB)",
    "an oversized employments response names that one employee; the rest of the run completes",
)
async def test_oversized_employments_in_a_run(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = small(make_simulator)
    recorder = Recorder()
    recorder.on("listed", lambda _: sim.faults.oversized_next(1, endpoint="employments"))
    summary = await local_run(sim, store_pool, database_url, recorder=recorder)
    assert summary.succeeded, summary.error
    errors = summary.summary["employee_errors"]
    assert len(errors) == 1, errors
    ((employee_id, reason),) = errors.items()
    assert "too large" in reason
    assert_complete(await snapshot(store_pool, scope_of(sim)), sim, missing={employee_id})
