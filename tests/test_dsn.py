"""A DSN libpq would misread is refused before anything shows or dials it (dsn.parse_dsn).

A password with a raw '/' or '@' in a postgresql:// URL is read by libpq as host, port and database
pieces; every message naming those, and the connection itself, would carry the password.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from employes_sync.dsn import (
    BAD_PORT,
    NOWHERE,
    UNENCODED,
    UNPARSEABLE,
    DsnInvalid,
    for_resource,
    parse_dsn,
)
from employes_sync.store.db import DatabaseUnavailable, check_connection, open_pool, redact_dsn

#: Each password holds "cret9"; how libpq would read it is in the comment.
MISREAD = [
    "postgresql://app:Se/cret9@127.0.0.1:5432/payroll",  # host=app port=Se dbname=cret9@127.0.0.1:5432/…
    "postgresql://app:Se@cret9@127.0.0.1/payroll",  # password=Se host=cret9@127.0.0.1
    "postgresql://app:Se@cret9@[::1]:5432/payroll",  # host=cret9@[ port=:1]:5432
    "postgres://app:1234/cret9@db.example/payroll",  # port=1234 (a number) dbname=cret9@db.example/…
    "postgresql://app:/cret9@db.example",  # host=app, no port, dbname=cret9@db.example
    "postgresql://ap/pcret9@db.example/payroll",  # a user with a '/', no password
    " POSTGRESQL://app:Se/cret9@db.example/payroll ",  # the scheme in capitals, spaces around
    "postgresql://app:1/e?host=cret9@db.example",  # port=1, dbname=e, host=cret9@db.example
]


@pytest.mark.parametrize("dsn", MISREAD)
def test_a_url_whose_user_or_password_ends_too_early_is_refused_unquoted(dsn: str) -> None:
    with pytest.raises(DsnInvalid) as info:
        parse_dsn(dsn)
    assert str(info.value) == UNENCODED
    assert "cret9" not in str(info.value)
    assert redact_dsn(dsn) == "<unusable dsn>"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://app:Se%2Fcret9@db.example/payroll", {"password": "Se/cret9", "host": "db.example"}),
        ("postgresql://app:Se%40cret9@db.example/payroll", {"password": "Se@cret9", "host": "db.example"}),
        ("postgresql://app:Se?cret9@db.example/x", {"password": "Se?cret9", "dbname": "x"}),  # read right
        ("postgresql://app@db.example/my%40db", {"user": "app", "dbname": "my@db"}),
        ("postgresql://app@db.example/x?application_name=me@laptop", {"application_name": "me@laptop"}),
        ("postgresql://db.example:5432,db2.example:6432/x", {"port": "5432,6432"}),
        ("postgresql:///x?host=/run/postgresql", {"host": "/run/postgresql"}),
        ("host=db.example user=app password=Se/cr@et9 dbname=x", {"password": "Se/cr@et9"}),
        ("host=@pgsock dbname=x", {"host": "@pgsock"}),  # a Linux abstract socket
    ],
)
def test_well_formed_dsns_read_as_libpq_reads_them(dsn: str, expected: dict[str, str]) -> None:
    params = parse_dsn(dsn)
    assert params.items() >= expected.items(), params


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("postgresql://app:Se%cret9@db.example/x", UNPARSEABLE),  # psycopg's own message quotes it
        ("host=db.example password='Secret9", UNPARSEABLE),
        ("host=db.example port=Secret9", BAD_PORT),  # libpq's own message quotes it
        ("postgresql://db.example:5432,db2:Secret9/x", BAD_PORT),
    ],
)
def test_other_unusable_dsns_are_refused_without_quoting_them(dsn: str, message: str) -> None:
    with pytest.raises(DsnInvalid) as info:
        parse_dsn(dsn)
    assert str(info.value) == message and "cret9" not in message


async def test_a_misread_dsn_is_never_dialled_and_its_pieces_are_never_shown() -> None:
    """The user "127.0.0.1" with the password "PORT/cret9": libpq would dial 127.0.0.1:PORT."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        probe.setblocking(False)
        port = probe.getsockname()[1]
        dsn = f"postgresql://127.0.0.1:{port}/cret9@db.example/payroll"
        for attempt in (check_connection(dsn, timeout=3), open_pool(dsn, timeout=3)):
            with pytest.raises(DatabaseUnavailable) as info:
                await attempt
            message = str(info.value)
            assert message == f"the database DSN {UNENCODED}; no connection was made"
            assert "cret9" not in message and str(port) not in message
        with pytest.raises(BlockingIOError):
            probe.accept()  # nothing ever connected


def test_a_resources_dsn_takes_no_credential_from_the_operators_home_or_environment() -> None:
    """libpq's defaults (PGPASSWORD, ~/.pgpass, ~/.postgresql/postgresql.crt) are the operator's own."""
    without = conninfo_to_dict(for_resource("postgresql://payroll@db.example/payroll?sslmode=require"))
    assert without["password"] == ""  # libpq's "none": PGPASSWORD is its default only for an unset one
    assert without["passfile"] == without["sslcert"] == without["sslkey"] == NOWHERE
    assert without["host"] == "db.example" and without["sslmode"] == "require"
    given = conninfo_to_dict(for_resource("host=db.example user=payroll password=s3cret"))
    assert given["password"] == "s3cret" and given["passfile"] == NOWHERE
    assert not Path(NOWHERE).exists() and not Path(NOWHERE).parent.is_dir()
    # what it added is not shown back to the reader of a message
    assert redact_dsn(for_resource("postgresql://payroll:s3cret@db.example/payroll")) == (
        "user=payroll password=*** dbname=payroll host=db.example"
    )
    with pytest.raises(DsnInvalid):
        for_resource("postgresql://app:Se/cret@db/x")
