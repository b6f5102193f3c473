"""Whether a process of this machine still runs: the embedded server's handle pids, a CLI run's owner."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True for a running process, another user's included; False for a gone one or a zombie.

    A zombie has exited and only waits for its parent to reap it: counting it as alive kept a killed
    `sync`'s handle (and its run) for as long as that parent lived.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here: kill(0) found it
    return state != "Z"
