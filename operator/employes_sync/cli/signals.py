"""SIGINT and SIGTERM as an orderly stop: workers stopped, the run closed, the embedded server stopped.

Python's default SIGTERM ends the process on the spot, so nothing is cleaned up: the embedded
PostgreSQL keeps running with a dead pid in its handle file, and the workers are orphaned. `timeout`,
systemd and `docker stop` all send SIGTERM. Here both signals are caught:

- while the event loop runs, the first signal sets `stop` (the run closes itself as interrupted) or,
  before the run has started, cancels the main task;
- between the loop's start and end (starting or stopping the embedded server, the simulator), the
  signal raises `Interrupted` at once, or at the end of a `deferred()` section;
- a second signal while stopping only says that the stop is under way: a person pressing Ctrl-C
  twice must not leave the server behind.

The process then exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Iterator
from types import FrameType
from typing import Any, TypeVar

from employes_sync.cli.common import run

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """Raised out of the command when a signal stopped it (a BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class SignalGuard:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._watching = False  # the run watches `stop` itself; do not cancel the task
        self._deferred = 0
        self._raised = False
        self._previous: dict[int, Any] = {}

    @property
    def reason(self) -> str:
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        return f"the sync process was stopped by {name}"

    def __enter__(self) -> SignalGuard:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            sys.stderr.write("employes-sync: still stopping (workers, run, database); please wait\n")
            return
        self.signum = signum
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            if self._watching:
                self._raised = True  # the run reports it: it closes itself and returns its summary
                loop.call_soon_threadsafe(self._stop_run)
            else:
                loop.call_soon_threadsafe(task.cancel)
            return
        if not self._deferred:
            self._raised = True
            raise Interrupted(signum)

    def _stop_run(self) -> None:
        if self.stop is not None:
            self.stop.set()

    def watching(self) -> asyncio.Event:
        """From now on a signal sets the returned event instead of cancelling the main task."""
        self.stop = asyncio.Event()
        self._watching = True
        if self.signum is not None and not self._raised:
            self._raised = True
            self.stop.set()
        return self.stop

    @contextlib.contextmanager
    def entered(self, manager: contextlib.AbstractContextManager[T]) -> Iterator[T]:
        """Enter and exit `manager` (the embedded server) with signals deferred, both ways."""
        with self.deferred():
            value = manager.__enter__()
        try:
            yield value
        except BaseException:
            with self.deferred():
                if not manager.__exit__(*sys.exc_info()):
                    raise
        else:
            with self.deferred():
                manager.__exit__(None, None, None)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section a signal must not cut in half (starting or stopping the embedded server)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
        self.check()

    def check(self) -> None:
        """Raise `Interrupted` for a signal that arrived while it could not be raised."""
        if self.signum is not None and not self._deferred and not self._raised:
            self._raised = True
            raise Interrupted(self.signum)

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """`asyncio.run(main)`; a signal before `watching()` cancels it and raises `Interrupted`."""

        async def guarded() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            try:
                return await main
            finally:
                self._loop = self._task = None
                self._watching = False

        try:
            self.check()
            result = run(guarded())
        except asyncio.CancelledError:
            if self.signum is None:
                raise
            self._raised = True
            raise Interrupted(self.signum) from None
        finally:
            main.close()  # a signal before `guarded` awaited it (see `common.run`)
        return result  # a signal that stopped the run itself is the caller's to report (`signum`)
