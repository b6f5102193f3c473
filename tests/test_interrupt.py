"""Ctrl-C stops a test run of this suite within seconds, and what the run started is stopped and removed.

A real pytest run, in a session of its own as a terminal runs it, of one test that uses the real
fixtures (the embedded PostgreSQL, a process in its own session as the operator is) and waits; once
the test is known to be running (a marker file), the run's process group gets SIGINT, as from Ctrl-C
(or SIGTERM, as from a CI runner).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from employes_sync.processes import pid_alive
from tests.fixtures.kube import wait_for

ROOT = Path(__file__).resolve().parents[1]

WAITING_TEST = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    from tests.fixtures.kube import cluster, operator_factory  # noqa: F401


    def test_waits_until_interrupted(pg_server, database_url, operator_factory):
        child = operator_factory([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(os.environ["MARKER"]).write_text(json.dumps({
            "pgdata": str(pg_server.pgdata), "child": child.process.pid,
        }))
        while True:
            time.sleep(0.1)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("inherited", "presses", "stop"),
    [("default", 1, signal.SIGINT), ("ignored", 1, signal.SIGINT), ("default", 2, signal.SIGINT),
     ("default", 1, signal.SIGTERM)],
    ids=["ctrl-c", "started-by-a-script", "pressed-twice", "sigterm"],
)  # fmt: skip
def test_ctrl_c_stops_the_run_and_cleans_up(
    tmp_path: Path, inherited: str, presses: int, stop: signal.Signals
) -> None:
    test_file = tmp_path / "test_waiting.py"
    test_file.write_text(WAITING_TEST)
    marker = tmp_path / "running.json"
    output = tmp_path / "output.txt"
    handler = signal.SIG_IGN if inherited == "ignored" else signal.SIG_DFL  # a script's `cmd &`: ignored
    with output.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(test_file)],
            cwd=ROOT, env={**os.environ, "MARKER": str(marker)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, handler),
        )  # fmt: skip
    started: dict[str, Any] = {}
    postmaster = 0
    try:
        wait_for(lambda: marker.exists() or run.poll() is not None, 120, what="the test to be running")
        assert marker.exists(), output.read_text()
        started = json.loads(marker.read_text())
        pgdata = Path(started["pgdata"])
        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        assert pid_alive(postmaster) and pid_alive(started["child"])

        os.killpg(run.pid, stop)  # Ctrl-C: the whole foreground group (or a CI runner's SIGTERM)
        if presses == 2:
            wait_for(lambda: b"interrupted: stopping" in output.read_bytes(), 60, what="the stop to begin")
            os.killpg(run.pid, signal.SIGINT)  # impatient: again, while the fixtures are torn down
        returncode = wait_for(lambda: run.poll() is not None and [run.returncode], 60, what="the run to end")
        text = output.read_text()
        assert returncode == [pytest.ExitCode.INTERRUPTED], text
        assert "KeyboardInterrupt" in text and "1 passed" not in text
        assert not pid_alive(started["child"]), "the operator-like child in its own session was left running"
        assert not pid_alive(postmaster), "the embedded PostgreSQL was left running"
        assert not pgdata.parent.exists(), "the embedded PostgreSQL's folder was left behind"
    finally:  # this test cleans up even when the run under test did not
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        for pid, sig in ((started.get("child", 0), signal.SIGKILL), (postmaster, signal.SIGQUIT)):
            if pid and pid_alive(pid):
                os.kill(pid, sig)  # SIGQUIT: PostgreSQL's immediate shutdown, its children too
        if postmaster:
            wait_for(lambda: not pid_alive(postmaster), 30, what="PostgreSQL to stop")
        if "pgdata" in started:
            shutil.rmtree(Path(started["pgdata"]).parent, ignore_errors=True)
