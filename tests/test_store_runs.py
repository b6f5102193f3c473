"""Sync runs: start, first feedback once, finish, read back."""

from __future__ import annotations

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync.store import runs


async def test_run_lifecycle(store_pool: AsyncConnectionPool) -> None:
    settings = {"api_url": "http://sim/v4", "requests_per_second": 5, "redact": ["iban"]}
    run_id = await runs.start_run(store_pool, "default/acme", "c-1", "created", "interactive", settings)
    run = await runs.get_run(store_pool, run_id)
    assert run is not None
    assert (run["status"], run["settings"], run["finished_at"]) == ("running", settings, None)

    assert await runs.mark_first_feedback(store_pool, run_id, 1.25)
    assert not await runs.mark_first_feedback(store_pool, run_id, 9.0)
    await runs.update_summary(store_pool, run_id, {"queued": 3})
    assert (await runs.get_run(store_pool, run_id) or {})["summary"] == {"queued": 3}

    await runs.finish_run(store_pool, run_id, "degraded", {"failed_batches": 1}, "batch 2: boom")
    run = await runs.get_run(store_pool, run_id)
    assert run is not None
    assert run["status"] == "degraded"
    assert run["time_to_first_feedback_seconds"] == 1.25
    assert run["first_feedback_at"] >= run["started_at"]
    assert run["finished_at"] >= run["first_feedback_at"]
    assert (run["summary"], run["error"]) == ({"failed_batches": 1}, "batch 2: boom")


async def test_latest_run_and_bad_input(store_pool: AsyncConnectionPool) -> None:
    assert await runs.latest_run(store_pool, "ns/x") is None
    first = await runs.start_run(store_pool, "ns/x", "c", "created", "background")
    await runs.finish_run(store_pool, first, "succeeded", {})
    second = await runs.start_run(store_pool, "ns/x", "c", "annotation", "background")
    await runs.start_run(store_pool, "ns/y", "c", "created", "background")
    assert (await runs.latest_run(store_pool, "ns/x") or {})["id"] == second
    with pytest.raises(ValueError):
        await runs.finish_run(store_pool, second, "running", {})  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        await runs.finish_run(store_pool, 999_999, "failed", {}, "x")
    assert await runs.get_run(store_pool, 999_999) is None
