"""Stopping asyncio tasks without losing a cancel meant for the caller.

Two habits of Python 3.11's asyncio lose a `CancelledError`, and with it a stop:

- `asyncio.wait_for(aw, timeout)` returns the result of `aw` instead of raising when the task
  awaiting it is cancelled in the same loop iteration as `aw` completes (fixed only in 3.12, which
  rewrote it on `asyncio.timeout`). The local driver paused that way while a lister set its wake
  event, so a SIGTERM's cancel was lost and the workers ran their batches to the end (the run then
  closed as interrupted with nothing left to close). `asyncio.timeout` has no such race.
- `with suppress(CancelledError): await task`, after `task.cancel()`, also swallows a cancel of the
  caller that arrives while it waits for the task to end.

`cancel_and_wait` is the second done right: the caller's own cancel always propagates.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel `tasks` and wait until each has ended; what they raised is dropped, not re-raised.

    A cancel of the caller meanwhile propagates (`asyncio.wait` never raises the tasks' own
    exceptions or cancellations, only the caller's).
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` was set within `seconds`: `asyncio.wait_for(event.wait(), seconds)` without
    its lost-cancel race (see above)."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
