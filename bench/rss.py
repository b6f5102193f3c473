"""Peak resident memory of processes, sampled with psutil while something runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil


class PeakRss:
    """Samples, every `interval` s, the RSS of the processes `select` picks; keeps each one's peak."""

    def __init__(self, select: Callable[[], list[psutil.Process]], interval: float = 0.05) -> None:
        self._select = select
        self._interval = interval
        self._stop = threading.Event()
        self.peaks: dict[int, int] = {}
        self.samples = 0
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for process in self._select():
                try:
                    rss = process.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                if rss > self.peaks.get(process.pid, 0):
                    self.peaks[process.pid] = rss
            self.samples += 1
            self._stop.wait(self._interval)

    @property
    def max_mib(self) -> float | None:
        return max(self.peaks.values()) / 2**20 if self.peaks else None


def worker_children(parent: psutil.Process | None = None) -> Callable[[], list[psutil.Process]]:
    """`employes-sync worker` processes below `parent` (this process by default)."""
    root = parent or psutil.Process()

    def select() -> list[psutil.Process]:
        found = []
        for child in root.children(recursive=True):
            try:
                if "worker" in child.cmdline():
                    found.append(child)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    return select
