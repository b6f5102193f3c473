"""CPU and memory of one process (or a process tree) read from /proc, for "where does the time go"."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    own: float  # seconds of CPU the process used itself (user + system)
    children: float  # seconds used by its children that have exited and been waited for

    @property
    def total(self) -> float:
        return self.own + self.children


def cpu(pid: int) -> Cpu:
    """utime+stime and cutime+cstime of `pid`, in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return Cpu((utime + stime) / _TICK, (cutime + cstime) / _TICK)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its waited-for children and its live children (e.g. a postmaster)."""
    total = cpu(pid).total
    for child in children(pid):
        try:
            total += cpu(child).own
        except OSError:
            pass  # it exited meanwhile (its time is then in the parent's children figure)
    return total
