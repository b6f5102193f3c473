"""A resource's Job dials its DSN as the operator does (cli/worker.py `_resource_dsn`), whatever its image
holds.

The worker here is a real `employes-sync worker` process with the environment of the Job manifest the
operator builds (its secretKeyRefs resolved as the kubelet would), over an image's ENV set for some other
database (PGSERVICE with its file, PGUSER, PGDATABASE, PGPASSWORD) and a home with a ~/.pgpass, as a
custom worker image (chart `worker.image`, Dockerfile `BASE_IMAGE`) may have. A local worker, which
`employes-sync sync` starts, keeps its user's environment.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from employes_sync import pipeline
from employes_sync.allowlist import DATABASE_HOSTS_ENV
from employes_sync.dsn import GSS_ENCRYPTION_REQUIRED
from employes_sync.employes.simulator import Simulator
from employes_sync.executors.local import LocalLauncher
from employes_sync.kube import jobs, spec
from employes_sync.store import queue as queue_store
from tests.fixtures.kube import run_job_command
from tests.fixtures.pgwire import AUTH_CLEARTEXT, FakeServer
from tests.fixtures.settings import settings_for
from tests.fixtures.store import migrated_pool
from tests.reliability import rows

OWNER = {
    "apiVersion": "employessync.io/v1alpha1",
    "kind": "EmployesSync",
    "metadata": {"name": "acme", "namespace": "payroll", "uid": "u-1"},
}
IMAGE_PGPASS = "images-own-pgpass"
IMAGE_PGPASSWORD = "images-own-pgpassword"


@pytest.fixture
def own_role(pg_admin_url: str) -> Iterator[str]:
    """A login role and a database of its name, migrated: a DSN naming the server and the role only
    means that database, unless libpq's environment names another."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def socket_dir(pg_admin_url: str) -> str:
    return conninfo_to_dict(pg_admin_url)["host"]


async def queue_batches(database: str, simulator: Simulator) -> tuple[int, list[queue_store.Batch]]:
    """A run of the simulator's company on `database` with every employee queued: (run id, batches)."""
    async with migrated_pool(database) as pool:
        started = await pipeline.start_run(
            settings_for(simulator, inline_count=0, batch_size=25), pool, simulator.config.token
        )
        batches = [await queue_store.get(pool, batch_id) for batch_id in started.batch_ids]
    assert batches and all(batch is not None for batch in batches)
    return started.run_id, [batch for batch in batches if batch is not None]


def batch_status(database: str, batch_id: str) -> str:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT status FROM processing_queue WHERE id = %s", (batch_id,)).fetchone()
    assert row is not None
    return str(row[0])


def image_environment(tmp_path: Path, other: str, *, password: bool = True) -> dict[str, str]:
    """An image's ENV set for `other` (a database URL): its service (the file's dbname and user),
    PGUSER, PGDATABASE and PGPASSWORD, and a HOME whose ~/.pgpass matches any host."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".pgpass").write_text(f"*:*:*:*:{IMAGE_PGPASS}\n")
    (home / ".pgpass").chmod(0o600)
    params = conninfo_to_dict(other)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        f"[payroll-elsewhere]\nhost={params['host']}\ndbname={params['dbname']}\nuser=postgres\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PGSERVICEFILE": str(services),
        "PGSERVICE": "payroll-elsewhere",
        "PGUSER": "postgres",
        "PGDATABASE": str(params["dbname"]),
    }
    if password:
        env["PGPASSWORD"] = IMAGE_PGPASSWORD
    return env


def job_for(
    simulator: Simulator,
    run_id: int,
    batch: queue_store.Batch,
    allowed_database_hosts: list[str] | None = None,
) -> dict[str, Any]:
    """The operator's manifest for the batch's Job (its DSN in Secret db/url, the token in api/token)."""
    assert simulator.url is not None
    resource = spec.parse({
        "api": {"baseUrl": simulator.url, "companyId": simulator.config.company_id,
                "tokenSecretRef": {"name": "api", "key": "token"}},
        "database": {"dsnSecretRef": {"name": "db", "key": "url"}},
    })  # fmt: skip
    return jobs.job_manifest(
        OWNER, resource, run_id, batch, 1, default_image="img:1", allowed_api_urls=[resource.base_url],
        allowed_database_hosts=allowed_database_hosts or [],
    )  # fmt: skip


def has_tables(database: str) -> bool:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    return row != (0,)


@pytest.mark.fault(*rows.A_JOBS_WORKER_TAKES_NO_DESTINATION_OR_IDENTITY_FROM_ITS_IMAGE)
async def test_a_jobs_worker_connects_where_and_as_its_dsn_says_whatever_its_image_sets(
    own_role: str, pg_admin_url: str, database_url: str, simulator: Simulator, tmp_path: Path
) -> None:
    """The DSN names the server and the role; the image's service and PGDATABASE name another database
    (`database_url`, left empty), its PGUSER another role, its PGPASSWORD and ~/.pgpass a password."""
    host = socket_dir(pg_admin_url)
    own = f"host={host} user={own_role} dbname={own_role}"
    run_id, batches = await queue_batches(own, simulator)
    dsn = f"host={host} user={own_role}"  # the database of the role's name
    secrets = {("api", "token"): simulator.config.token, ("db", "url"): dsn}
    image = image_environment(tmp_path, database_url)
    code, out = await run_job_command(job_for(simulator, run_id, batches[0]), secrets, image)
    assert code == 0, out
    assert out.strip().endswith(f"batch {batches[0].id}: completed"), out
    assert batch_status(own, batches[0].id) == "completed"
    assert not has_tables(database_url), "the image's database was written to"
    [warning] = [line for line in out.splitlines() if "warning" in line]
    assert warning.startswith(
        "employes-sync: warning: ignoring PGDATABASE, PGPASSWORD, PGSERVICE, PGSERVICEFILE, PGUSER from the "
        "worker's environment: "
    ), warning
    assert IMAGE_PGPASSWORD not in out and "payroll-elsewhere" not in out


@pytest.mark.fault(*rows.A_JOBS_WORKER_OFFERS_NO_PASSWORD_OF_ITS_IMAGE)
@pytest.mark.parametrize("where", ["~/.pgpass", "PGPASSWORD"])
async def test_a_jobs_worker_offers_no_password_of_its_image(
    where: str, own_role: str, pg_admin_url: str, database_url: str, simulator: Simulator, tmp_path: Path
) -> None:
    """A DSN without a password, to a server (the author's) that asks for one in clear text."""
    run_id, batches = await queue_batches(f"host={socket_dir(pg_admin_url)} user={own_role}", simulator)
    image = image_environment(tmp_path, database_url, password=where == "PGPASSWORD")
    with FakeServer(AUTH_CLEARTEXT) as server:
        dsn = f"postgresql://payroll@127.0.0.1:{server.port}/payroll?sslmode=disable"
        secrets = {("api", "token"): simulator.config.token, ("db", "url"): dsn}
        code, out = await run_job_command(job_for(simulator, run_id, batches[0]), secrets, image)
        assert code == 1, out
        assert server.connections >= 1 and server.passwords == [], server.passwords
        assert "no password supplied" in out, out
        assert IMAGE_PGPASS not in out and IMAGE_PGPASSWORD not in out


@pytest.mark.fault(*rows.A_JOBS_WORKER_CHECKS_THE_DSN_ITS_POD_READ)
@pytest.mark.parametrize(
    ("given", "hosts", "expected"),
    [
        (
            "",
            ["pg.payroll.svc"],
            "names host 127.0.0.1:{port}, which is not a database this operator connects to",
        ),
        (
            "&passfile=/root/.pgpass",
            [],
            "sets passfile, which would make the operator use its own credential files",
        ),
        ("&gssencmode=require", [], GSS_ENCRYPTION_REQUIRED),
    ],
    ids=["unlisted-host", "passfile", "gssencmode-require"],
)
async def test_a_dsn_changed_after_the_operators_check_is_refused_by_the_jobs_worker(
    given: str, hosts: list[str], expected: str, own_role: str, pg_admin_url: str, simulator: Simulator
) -> None:
    """The pod reads the Secret itself, after the operator read and checked it: its author may have
    changed it in between. The worker checks what it read, with the operator's own host list."""
    run_id, batches = await queue_batches(f"host={socket_dir(pg_admin_url)} user={own_role}", simulator)
    requests = simulator.stats.total  # the run's listing
    with FakeServer(AUTH_CLEARTEXT) as server:
        dsn = f"postgresql://payroll:s3cret@127.0.0.1:{server.port}/payroll?sslmode=disable{given}"
        secrets = {("api", "token"): simulator.config.token, ("db", "url"): dsn}
        code, out = await run_job_command(job_for(simulator, run_id, batches[0], hosts), secrets)
        assert code == 1, out
        [line] = out.strip().splitlines()
        assert line.startswith("employes-sync: error: the database DSN in $DATABASE_URL "), line
        assert expected.format(port=server.port) in line and line.endswith("; no connection was made"), line
        assert "s3cret" not in line and server.connections == 0
    assert simulator.stats.total == requests  # nor any request to the API


async def test_a_local_worker_keeps_its_users_libpq_environment(
    own_role: str, pg_admin_url: str, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`employes-sync sync`'s workers: the DSN and the environment are the user's own shell's, so a DSN
    that leaves the role and database to PGUSER and PGDATABASE still works; the operator's host list
    exported in that shell does not make a local worker a resource's."""
    host = socket_dir(pg_admin_url)
    own = f"host={host} user={own_role} dbname={own_role}"
    _, batches = await queue_batches(own, simulator)
    monkeypatch.setenv("PGUSER", own_role)
    monkeypatch.setenv("PGDATABASE", own_role)
    monkeypatch.setenv(DATABASE_HOSTS_ENV, "pg.payroll.svc")
    launcher = LocalLauncher(f"host={host}", simulator.config.token)
    try:
        await launcher.launch(batches[0], 1)
        for _ in range(600):
            ended = await launcher.ended()
            if ended:
                break
            await asyncio.sleep(0.1)
        assert [(e.batch_id, e.succeeded) for e in ended] == [(batches[0].id, True)], ended
    finally:
        await launcher.close()
    assert batch_status(own, batches[0].id) == "completed"
