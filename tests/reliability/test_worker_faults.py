"""Worker faults: a worker SIGKILLed mid-batch, seen by its launcher or lost with its lease.

Workers are real `python -m employes_sync worker --batch-id ID` processes. The simulator answers with
some latency so that a claimed batch is still being fetched when the test kills its worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import psutil
import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync import pipeline
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.driver import DriverSettings, Ended, drive
from employes_sync.executors.local import LocalLauncher
from employes_sync.store import runs as runs_store
from employes_sync.store.queue import Batch
from tests.reliability.helpers import Recorder, assert_complete, fast_settings, local_run, snapshot

pytestmark = pytest.mark.timeout(120)

MakeSim = Callable[..., Simulator]
WORKERS = "Workers"


def worker_pid(batch_id: str) -> int | None:
    """The pid of this process's worker child running `batch_id`, if any."""
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if "worker" in cmdline and batch_id in cmdline:
            return child.pid
    return None


def kill_worker(batch_id: str) -> bool:
    pid = worker_pid(batch_id)
    if pid is None:
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def killer(batch_no: int, times: int, killed: list[str]) -> Callable[[list[Batch]], bool]:
    """A tick hook: SIGKILL the worker of batch `batch_no` while it is processing, `times` times."""
    seen_attempts: set[int] = set()

    def hook(batches: list[Batch]) -> bool:
        batch = next((b for b in batches if b.batch_no == batch_no), None)
        if batch is None or batch.status != "processing" or batch.attempts in seen_attempts:
            return False
        if kill_worker(batch.id):
            seen_attempts.add(batch.attempts)
            killed.append(batch.id)
        return len(seen_attempts) >= times

    return hook


@pytest.mark.fault(
    WORKERS,
    "a worker killed with SIGKILL mid-batch",
    "the launcher sees 'killed by signal 9', the attempt is failed in the worker's name and retried "
    "after backoff; the batch completes on attempt 2 with nothing duplicated",
)
async def test_worker_killed_mid_batch_is_retried(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = make_simulator(employees=40, requests_per_second=0, latency_ms=400)
    killed: list[str] = []
    recorder = Recorder()
    recorder.on_tick(killer(batch_no=2, times=1, killed=killed))
    summary = await local_run(sim, store_pool, database_url, recorder=recorder)
    assert summary.succeeded, summary.error
    assert len(killed) == 1
    state = await snapshot(store_pool, f"local/{sim.config.company_id}")
    assert_complete(state, sim)
    victim = next(b for b in state.batches if b["id"] == killed[0])
    assert victim["attempts"] == 2
    assert victim["error"].startswith("worker killed by signal 9")
    assert all(b["attempts"] == 1 for b in state.batches if b["id"] != killed[0])


@pytest.mark.fault(
    WORKERS,
    "a worker killed with SIGKILL mid-batch",
    "killed on every attempt: the batch fails after max_attempts with the kill as its error, the "
    "run is failed and names it; the other batches complete",
)
async def test_worker_killed_every_attempt_fails_the_batch(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    sim = make_simulator(employees=40, requests_per_second=0, latency_ms=400)
    killed: list[str] = []
    recorder = Recorder()
    recorder.on_tick(killer(batch_no=1, times=2, killed=killed))
    summary = await local_run(sim, store_pool, database_url, recorder=recorder, max_attempts=2)
    assert summary.status == "failed"
    assert len(set(killed)) == 1 and len(killed) == 2
    failed = summary.summary["failed_batches"]
    assert [f["id"] for f in failed] == [killed[0]]
    assert failed[0]["attempts"] == 2 and failed[0]["error"].startswith("worker killed by signal 9")
    state = await snapshot(store_pool, f"local/{sim.config.company_id}")
    assert sorted(b["status"] for b in state.batches).count("completed") == len(state.batches) - 1


class LosingLauncher:
    """Runs workers like LocalLauncher, but loses one attempt the way a vanished node loses a pod.

    The attempt's process is SIGKILLed once it has claimed its batch, and its end is never reported
    to the driver: only the batch's lease running out can tell that the worker is gone.
    """

    def __init__(self, inner: LocalLauncher, batch_no: int) -> None:
        self.inner = inner
        self.batch_no = batch_no
        self.lost: tuple[str, int] | None = None
        self.hidden: list[Ended] = []

    async def launch(self, batch: Batch, attempt: int) -> str:
        name = await self.inner.launch(batch, attempt)
        if batch.batch_no == self.batch_no and self.lost is None:
            self.lost = (batch.id, attempt)
        return name

    def lose_if_claimed(self, batches: list[Batch]) -> bool:
        if self.lost is None:
            return False
        batch = next(b for b in batches if b.id == self.lost[0])
        return batch.status == "processing" and kill_worker(batch.id)

    async def ended(self) -> list[Ended]:
        ended = []
        for item in await self.inner.ended():
            if self.lost is not None and (item.batch_id, item.attempt) == self.lost:
                self.hidden.append(item)
            else:
                ended.append(item)
        return ended

    def running(self) -> set[str]:
        return self.inner.running()

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.fault(
    WORKERS,
    "a batch left processing by a dead worker (lease expiry)",
    "no heartbeat renews the lease; once it runs out the driver rescues the batch ('worker lost: "
    "lease expired'), counts the attempt and runs it again",
)
@pytest.mark.parametrize("lazy_reads", [False, True], ids=["every-poll", "lazy-reads"])
async def test_lost_worker_is_rescued_after_its_lease(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str, lazy_reads: bool
) -> None:
    """Also with the local run's lazy reads: its lost worker's exit wakes the driver with no attempt
    ended, and only the lease's end (not a poll: none is read for while its claim is seen) asks."""
    sim = make_simulator(employees=30, requests_per_second=0, latency_ms=400)
    settings = fast_settings(sim, lease_seconds=2.0, mode="background")
    run_id = await runs_store.start_run(
        store_pool, settings.scope, settings.company_id, "test", settings.mode, settings.to_json()
    )
    await pipeline.start_run(settings, store_pool, sim.config.token, run_id=run_id)
    wake = asyncio.Event() if lazy_reads else None
    inner = LocalLauncher(database_url, sim.config.token, on_exit=wake.set if wake else None)
    launcher = LosingLauncher(inner, batch_no=2)
    killed: list[bool] = []

    def tick(batches: list[Batch]) -> None:
        if not killed and launcher.lose_if_claimed(batches):
            killed.append(True)

    driver_settings = DriverSettings(
        parallelism=2, backoff_seconds=settings.backoff_seconds, backoff_max_seconds=1.0, poll_seconds=0.2,
        lazy_reads=lazy_reads,
    )  # fmt: skip
    await drive(store_pool, run_id, launcher, driver_settings, on_tick=tick, wake=wake)
    summary = await pipeline.finish_run(store_pool, run_id)
    assert killed and launcher.hidden, "the lost attempt was never killed"
    assert summary.succeeded, summary.error
    state = await snapshot(store_pool, settings.scope)
    assert_complete(state, sim)
    victim = next(b for b in state.batches if launcher.lost and b["id"] == launcher.lost[0])
    assert victim["attempts"] == 2
    assert victim["error"] == "worker lost: lease expired"
    # The run's backoff (0.2 s base, 1 s cap) applies to a rescued batch too, not a built-in 5 s base:
    # the wait the rescue scheduled, computed in one statement, so the machine's load cannot move it.
    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "SELECT extract(epoch FROM run_after - (error_details->>'rescued_at')::timestamptz)"
            " FROM processing_queue WHERE id = %(id)s",
            {"id": victim["id"]},
        )
        row = await cur.fetchone()
    assert row is not None and 0 < float(row[0]) <= 1.0, f"retry scheduled {row} s after the rescue"
