"""pid_alive: a running process, another user's, a gone one and a zombie, for real."""

from __future__ import annotations

import os
import subprocess
import sys

from employes_sync.processes import pid_alive
from tests.fixtures.kube import wait_for


def test_a_running_process_is_alive_and_a_zombie_or_a_gone_one_is_not() -> None:
    assert pid_alive(os.getpid()) and pid_alive(1)  # pid 1: another user's on most machines
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Exited but not reaped yet: a zombie, which has stopped running.
    wait_for(lambda: open(f"/proc/{child.pid}/stat").read().rpartition(")")[2].split()[0] == "Z", 30,
             what="the child to exit")  # fmt: skip
    assert not pid_alive(child.pid)
    child.wait()
    assert not pid_alive(child.pid) and not pid_alive(0) and not pid_alive(-1)
