"""How often the local driver reads its run's batches (`DriverSettings.lazy_reads`).

The queue is read only when the read can change what the driver does. A re-sync of 78 employees
(benchmark 4) read its 3 batches 17 times: at every wake of the lister (one per queued batch) and
every 2 s poll while both workers were busy, although only a worker's exit could free a slot. The
attempts here are in-process claims the test ends, so every read is one the driver chose to make.
The run is closed from the driver's last read, so that read must see every batch the lister queued.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.simulator import Simulator
from employes_sync.executors.driver import DriverSettings, Ended, drive
from employes_sync.executors.local import sync_locally
from employes_sync.store import queue as queue_store
from employes_sync.store import runs as runs_store
from employes_sync.store.queries import Q
from employes_sync.store.queue import Batch
from tests.fixtures.settings import settings_for

pytestmark = pytest.mark.timeout(60)

SCOPE = "local/reads"


class InProcessLauncher:
    """Attempts without processes: `launch` claims the batch (a worker's first statement), and
    `finish` completes it and ends the attempt, waking the driver as a worker's exit does."""

    def __init__(self, pool: AsyncConnectionPool, wake: asyncio.Event) -> None:
        self.pool = pool
        self.wake = wake
        self.attempts: dict[str, int] = {}
        self.done: list[Ended] = []
        self.looked = asyncio.Event()  # set at each look of the driver (it asks what ended first)

    async def launch(self, batch: Batch, attempt: int) -> str:
        assert await queue_store.claim(self.pool, batch.id) is not None
        self.attempts[batch.id] = attempt
        return f"in-process {batch.batch_no}"

    async def ended(self) -> list[Ended]:
        self.looked.set()
        done, self.done = self.done, []
        return done

    def running(self) -> set[str]:
        return set(self.attempts)

    async def close(self) -> None:
        self.attempts.clear()

    async def finish(self, batch_id: str) -> None:
        assert await queue_store.complete(self.pool, batch_id, {})
        self.done.append(Ended(batch_id, self.attempts.pop(batch_id), True))
        self.wake.set()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every read of a run's batches sent from this process (the statement, as the driver sends it)."""
    sent: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if str(query) == Q.run_batches:
            sent.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    return sent


async def queued_run(pool: AsyncConnectionPool, batches: int) -> tuple[int, list[Batch]]:
    run_id = await runs_store.start_run(pool, SCOPE, "c", "test", "interactive", {})
    return run_id, await queue_store.enqueue(pool, SCOPE, run_id, [[f"e{n}"] for n in range(batches)])


class Ticks:
    """The driver's looks that read the queue, and a way to wait for one that shows something."""

    def __init__(self) -> None:
        self.seen: list[list[Batch]] = []
        self.changed = asyncio.Event()

    def __call__(self, batches: list[Batch]) -> None:
        self.seen.append(batches)
        self.changed.set()

    async def until(self, test: Any) -> None:
        while not (self.seen and test(self.seen[-1])):
            self.changed.clear()
            await self.changed.wait()


def processing(*numbers: int) -> Any:
    return lambda batches: all(b.status == "processing" for b in batches if b.batch_no in numbers)


async def test_wakes_while_every_worker_is_busy_read_nothing(
    store_pool: AsyncConnectionPool, reads: list[str]
) -> None:
    """Twenty wakes (a lister queueing batch after batch) while both slots are busy: no read at all;
    the run's whole drive is six reads, each one a look that started or finished something."""
    run_id, batches = await queued_run(store_pool, 3)
    wake = asyncio.Event()
    launcher = InProcessLauncher(store_pool, wake)
    ticks = Ticks()
    settings = DriverSettings(parallelism=2, poll_seconds=0.05, lazy_reads=True)
    driver = asyncio.create_task(drive(store_pool, run_id, launcher, settings, on_tick=ticks, wake=wake))
    await ticks.until(processing(1, 2))  # read 2: both claims seen (read 1 started them)
    before = len(reads)
    for _ in range(20):
        launcher.looked.clear()
        wake.set()
        await launcher.looked.wait()
    assert len(reads) == before, "a wake with every slot busy read the queue"
    await launcher.finish(batches[0].id)  # read 3 starts batch 3
    await ticks.until(processing(3))  # read 4 sees its claim
    await launcher.finish(batches[1].id)  # read 5: nothing left to start
    await ticks.until(lambda seen: sum(b.status == "completed" for b in seen) == 2)
    await launcher.finish(batches[2].id)  # read 6: the run is done
    final = await driver
    assert [b.status for b in final] == ["completed"] * 3
    assert len(reads) == 6, f"{len(reads)} reads of 3 batches"


async def test_a_run_still_listing_is_first_read_when_its_lister_wakes_the_driver(
    store_pool: AsyncConnectionPool, reads: list[str]
) -> None:
    """A run just claimed has no batch before its lister queues one, and the lister wakes the driver:
    before that, no look and no read (the driver read an empty queue at once, then at every poll)."""
    run_id = await runs_store.start_run(store_pool, SCOPE, "c", "test", "interactive", {})
    wake, listing_done = asyncio.Event(), asyncio.Event()
    launcher = InProcessLauncher(store_pool, wake)
    ticks = Ticks()
    settings = DriverSettings(parallelism=2, poll_seconds=0.05, lazy_reads=True)
    driver = asyncio.create_task(
        drive(store_pool, run_id, launcher, settings, listing_done=listing_done, on_tick=ticks, wake=wake)
    )
    await asyncio.sleep(0.3)  # six polls' worth of time to read in
    assert reads == [] and not launcher.looked.is_set()
    (batch,) = await queue_store.enqueue(store_pool, SCOPE, run_id, [["e1"]])
    listing_done.set()
    wake.set()
    await ticks.until(processing(1))
    assert [b.id for b in ticks.seen[0]] == [batch.id]  # the first read found the lister's batch
    await launcher.finish(batch.id)
    assert [b.status for b in await driver] == ["completed"]


class Progress:
    """A progress sink that keeps the driver's looks at the batches."""

    def __init__(self) -> None:
        self.looks: list[list[Batch]] = []

    def event(self, name: str, fields: dict[str, Any]) -> None:
        pass

    def batches(self, batches: list[Batch]) -> None:
        self.looks.append(batches)


async def test_a_local_run_reads_its_batches_only_in_its_drivers_looks(
    simulator: Simulator, store_pool: AsyncConnectionPool, database_url: str, reads: list[str]
) -> None:
    """The run is closed from the driver's last read (all finished, after the listing), not from
    one more: every read of the run's batches in this process is a look the progress was shown."""
    progress = Progress()
    settings = settings_for(simulator)
    summary = await sync_locally(
        settings, store_pool, database_url, simulator.config.token, workers=2, progress=progress
    )
    assert summary.succeeded, summary.error
    assert summary.summary["batches"] == {"total": 3, "completed": 3}
    assert [b.status for b in progress.looks[-1]] == ["completed"] * 3
    assert len(reads) == len(progress.looks), f"{len(reads)} reads, {len(progress.looks)} looks"


async def test_a_run_is_done_only_from_a_read_made_after_its_listing_ended(
    store_pool: AsyncConnectionPool, database_url: str
) -> None:
    """The look that finds every batch finished was made while the lister still queued: a batch
    queued during that read, the listing ending just after it, is run too, not left pending in a run
    closed from the batches the driver returned."""
    run_id, (first,) = await queued_run(store_pool, 1)
    wake, listing_done = asyncio.Event(), asyncio.Event()
    launcher = InProcessLauncher(store_pool, wake)
    ticks = Ticks()

    def lister_ends_during(batches: list[Batch]) -> None:
        ticks(batches)
        if [b.status for b in batches] == ["completed"] and not listing_done.is_set():
            with psycopg.connect(database_url, autocommit=True) as conn:  # queued as the read returns
                conn.execute(
                    Q.enqueue_batches,
                    {"scope": SCOPE, "run_id": run_id, "chunks": Jsonb([["e9"]]), "priority": 0,
                     "max_attempts": 3, "source": "test"},
                )  # fmt: skip
            listing_done.set()
            wake.set()

    settings = DriverSettings(parallelism=2, poll_seconds=0.05, lazy_reads=True)
    wake.set()  # the lister queued the first batch
    driver = asyncio.create_task(
        drive(store_pool, run_id, launcher, settings, listing_done=listing_done, on_tick=lister_ends_during,
              wake=wake)
    )  # fmt: skip
    await ticks.until(processing(1))
    await launcher.finish(first.id)
    second = asyncio.create_task(ticks.until(lambda seen: len(seen) == 2 and seen[1].status == "processing"))
    await asyncio.wait({driver, second}, return_when=asyncio.FIRST_COMPLETED)
    second.cancel()
    assert not driver.done(), f"the driver returned {[b.status for b in driver.result()]}"
    await launcher.finish(ticks.seen[-1][1].id)
    assert [b.status for b in await driver] == ["completed", "completed"]


async def test_a_read_lost_to_a_database_outage_is_made_again_at_once(
    store_pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt ends and the read it asks for fails (the database went away): the driver reads
    again after its outage pause, not only when the leases it last saw run out (300 s here)."""
    run_id, batches = await queued_run(store_pool, 3)
    wake = asyncio.Event()
    launcher = InProcessLauncher(store_pool, wake)
    ticks = Ticks()
    settings = DriverSettings(parallelism=2, poll_seconds=0.05, lazy_reads=True)
    driver = asyncio.create_task(drive(store_pool, run_id, launcher, settings, on_tick=ticks, wake=wake))
    await ticks.until(processing(1, 2))
    real, failed = queue_store.run_batches, []

    async def once_unreachable(pool: AsyncConnectionPool, run_id: int) -> list[Batch]:
        if not failed:
            failed.append(True)
            raise psycopg.OperationalError("the database went away")
        return await real(pool, run_id)

    monkeypatch.setattr(queue_store, "run_batches", once_unreachable)
    await launcher.finish(batches[0].id)
    await ticks.until(processing(3))  # started by the read made again
    assert failed
    await launcher.finish(batches[1].id)
    await launcher.finish(batches[2].id)
    assert [b.status for b in await driver] == ["completed"] * 3
