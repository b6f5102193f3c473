"""A stop that reaches a paused driver or a task being stopped is never lost.

The failure this guards against: Python 3.11's `asyncio.wait_for` dropped a cancel that arrived in
the same loop iteration as the event it waited for. The local driver paused on it while the lister
set its wake event, so a SIGTERM's cancel was lost and the workers ran their batches to the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from psycopg_pool import AsyncConnectionPool

from employes_sync import pipeline
from employes_sync.cancelling import cancel_and_wait, wait_event
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.driver import DriverSettings, drive
from employes_sync.executors.local import LocalLauncher
from employes_sync.store import runs as runs_store
from employes_sync.store.queue import Batch
from tests.fixtures.settings import settings_for
from tests.reliability import rows

pytestmark = pytest.mark.timeout(60)


async def started(task: asyncio.Task[object]) -> None:
    """Let `task` run up to its first real wait."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()


async def test_a_cancel_arriving_as_the_event_is_set_is_not_lost() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(event, 30))
    await started(waiting)
    event.set()
    waiting.cancel()  # the same iteration: asyncio.wait_for returned True here and lost the cancel
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_wait_event_says_whether_the_event_came_in_time() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 30) is True


async def test_cancel_and_wait_stops_the_tasks_and_drops_their_errors() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            raise RuntimeError("cleanup failed")

    sleeper = asyncio.create_task(asyncio.sleep(30))
    failing = asyncio.create_task(fails_on_cancel())
    await started(failing)
    await cancel_and_wait(sleeper, failing)
    assert sleeper.cancelled()
    assert isinstance(failing.exception(), RuntimeError)


async def test_a_cancel_of_the_caller_while_it_waits_for_a_task_to_end_propagates() -> None:
    cleaning = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            cleaning.set()
            await asyncio.shield(asyncio.sleep(0.2))  # a cleanup that takes a moment

    inner = asyncio.create_task(slow_to_stop())
    await started(inner)
    stopping = asyncio.create_task(cancel_and_wait(inner))
    await cleaning.wait()
    stopping.cancel()  # `with suppress(CancelledError): await inner` swallowed this one
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await asyncio.wait([inner])


@pytest.mark.fault(*rows.A_STOP_AS_THE_DRIVER_IS_WOKEN_STOPS_ITS_WORKERS)
async def test_a_driver_cancelled_as_it_is_woken_stops_its_workers(
    make_simulator: Callable[..., Simulator], store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """What SIGTERM does to `employes-sync sync`, at the moment the lister wakes the driver."""
    sim = make_simulator(employees=30, requests_per_second=0, latency_ms=400)  # a batch takes seconds
    settings = settings_for(sim, inline_count=0, batch_size=10, mode="background", trigger="test")
    run_id = await runs_store.start_run(
        store_pool, settings.scope, settings.company_id, "test", settings.mode, settings.to_json()
    )
    await pipeline.start_run(settings, store_pool, sim.config.token, run_id=run_id)
    launcher = LocalLauncher(database_url, sim.config.token)
    wake = asyncio.Event()
    claimed = asyncio.Event()

    def tick(batches: list[Batch]) -> None:
        if launcher.running() and any(b.status == "processing" for b in batches):
            claimed.set()

    driver = asyncio.create_task(
        drive(store_pool, run_id, launcher, DriverSettings(parallelism=1, poll_seconds=0.1), on_tick=tick,
              wake=wake)
    )  # fmt: skip
    await claimed.wait()
    processes = [attempt.process for attempt in launcher._attempts.values()]
    assert processes
    # Nothing more to launch (one at a time): from the tick the driver went straight to its pause.
    wake.set()
    driver.cancel()
    with pytest.raises(asyncio.CancelledError):
        await driver
    assert all(p.returncode is not None for p in processes), "a worker outlived the stop"
    assert launcher.running() == set()
    async with store_pool.connection() as conn:
        cur = await conn.execute(
            "select count(*) from processing_queue where run_id = %s and status = 'completed'", (run_id,)
        )
        row = await cur.fetchone()
    assert row == (0,), "a batch ran to its end after the driver was stopped"
