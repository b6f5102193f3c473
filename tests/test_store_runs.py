"""Sync runs: start, first feedback once, finish, read back."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

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


def test_owner_gone_only_for_a_dead_cli_process_of_this_machine() -> None:
    def dead(pid: int) -> bool:
        return False

    def alive(pid: int) -> bool:
        return True

    here = "vm"
    assert runs.owner_gone("employes-sync sync@vm:4242", host=here, pid_alive=dead)
    assert not runs.owner_gone("employes-sync sync@vm:4242", host=here, pid_alive=alive)  # or a reused pid
    assert not runs.owner_gone("employes-sync sync@other:4242", host=here, pid_alive=dead)  # not ours to see
    assert not runs.owner_gone("operator@vm", host=here, pid_alive=dead)  # an operator: its heartbeat says
    for odd in (None, "", "vm:4242", "employes-sync sync@vm", "employes-sync sync@vm:x", "sync@vm:0"):
        assert not runs.owner_gone(odd, host=here, pid_alive=dead), odd
    # a host name with a colon in it (an IPv6 literal) still splits at the last one
    assert runs.owner_gone("employes-sync sync@::1:7", host="::1", pid_alive=dead)


def _a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    return child.pid


async def test_a_run_whose_process_here_is_gone_is_taken_over_at_once(
    store_pool: AsyncConnectionPool,
) -> None:
    host, pid = socket.gethostname(), await asyncio.to_thread(_a_dead_pid)
    gone = runs.Owner(f"employes-sync sync@{host}:{pid}", f"{host} pid {pid} (employes-sync sync)")
    first = await runs.claim_run(
        store_pool, "local/x", "c", "cli", "interactive", owner=gone, lease_seconds=3600
    )
    live = runs.Owner.this_process()
    await runs.claim_run(store_pool, "local/y", "c", "cli", "interactive", owner=live, lease_seconds=3600)
    with pytest.raises(runs.RunAlreadyRunning):  # a live owner (this process) is never taken over
        await runs.claim_run(store_pool, "local/y", "c", "cli", "interactive", lease_seconds=3600)
    second = await runs.claim_run(store_pool, "local/x", "c", "cli", "interactive", lease_seconds=3600)
    assert second.took_over is not None and second.took_over.run_id == first.run_id
    assert second.took_over.process_gone
    assert "no longer runs on this machine" in second.took_over.reason
