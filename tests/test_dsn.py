"""A DSN libpq would misread is refused before anything shows or dials it (dsn.parse_dsn).

A password with a raw '/' or '@' in a postgresql:// URL is read by libpq as host, port and database
pieces; every message naming those, and the connection itself, would carry the password.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from employes_sync.dsn import (
    BAD_PORT,
    GSS_ENCRYPTION_REQUIRED,
    KERBEROS_ONLY,
    NO_KERBEROS,
    NOWHERE,
    OPERATOR_ENV_IGNORED,
    OPERATOR_ENV_KEPT,
    UNENCODED,
    UNPARSEABLE,
    DsnInvalid,
    for_resource,
    operator_environment_ignored,
    parse_dsn,
)
from employes_sync.store.db import DatabaseUnavailable, check_connection, open_pool, redact_dsn
from tests.fixtures.pgwire import (
    AUTH_CLEARTEXT,
    AUTH_GSS,
    GSSENC_REQUEST,
    STARTUP_V3,
    FakeServer,
    write_credential_cache,
)

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


def test_the_operator_ignores_libpqs_destination_identity_and_session_variables_and_keeps_trust() -> None:
    environ = {
        "PGSERVICE": "",  # set, though empty: libpq would look for the service named ''
        "PGUSER": "postgres",
        "PGHOST": "db.elsewhere",
        "PGSERVICEFILE": "/etc/pg_service.conf",
        "PGOPTIONS": "-c search_path=other",
        "PGSSLMODE": "disable",
        "PGSSLROOTCERT": "/etc/ssl/company-ca.pem",  # trust, set on purpose: kept
        "PGCONNECT_TIMEOUT": "5",
        "PGBOUNCER_SERVICE_HOST": "10.0.0.7",  # a Kubernetes service link, not libpq's: untouched
        "PGLOCALEDIR": "/usr/share/locale",  # the language of libpq's messages
        "PATH": "/usr/bin",
    }
    assert operator_environment_ignored(environ) == [
        "PGHOST", "PGOPTIONS", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE", "PGUSER",
    ]  # fmt: skip
    assert operator_environment_ignored({"PATH": "/usr/bin", "PGSSLCRL": "/etc/ssl/crl.pem"}) == []
    assert not OPERATOR_ENV_IGNORED & OPERATOR_ENV_KEPT


def test_every_variable_this_libpq_reads_for_a_connection_is_either_ignored_or_kept() -> None:
    """A newer libpq with a new variable fails here until someone decides which of the two it is."""
    read = {opt.envvar.decode() for opt in pq.Conninfo.get_defaults() if opt.envvar}
    assert {"PGSERVICE", "PGHOST", "PGUSER", "PGDATABASE", "PGSSLROOTCERT"} <= read
    assert read - OPERATOR_ENV_IGNORED - OPERATOR_ENV_KEPT == set()


def test_libpq_reads_the_environment_at_each_connect_so_removing_the_names_is_enough(
    pg_admin_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the operator relies on, with the real libpq and server: a PGSERVICE (its file's dbname) or
    PGDATABASE fills in the database a DSN leaves out, in this very process, and once the names
    `operator_environment_ignored` gives are gone from os.environ the DSN's own defaults hold again."""
    params = conninfo_to_dict(database_url)
    other = params["dbname"]  # the environment's database
    dsn = for_resource(f"host={params['host']} user={params['user']}")  # no dbname: the user's, postgres

    def database() -> str:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        return str(row[0])

    assert database() == "postgres"
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[payroll-elsewhere]\nhost={params['host']}\ndbname={other}\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGSERVICE", "payroll-elsewhere")
    assert database() == other
    monkeypatch.setenv("PGSERVICE", "nowhere-defined")
    with pytest.raises(psycopg.OperationalError, match="nowhere-defined"):
        database()
    monkeypatch.setenv("PGSERVICE", "payroll-elsewhere")
    monkeypatch.setenv("PGDATABASE", other)
    for name in operator_environment_ignored(os.environ):
        monkeypatch.delenv(name)
    assert database() == "postgres"


# --- Kerberos: the operator's principal is its identity too ------------------------------------------


@pytest.mark.parametrize(
    ("given", "require_auth"),
    [
        ("", NO_KERBEROS),
        (" require_auth=", NO_KERBEROS),  # libpq's "no requirement"
        (" gssencmode=prefer", NO_KERBEROS),  # a preference: dialled as disable
        (" require_auth=scram-sha-256", "scram-sha-256"),  # the author's own choice holds
        (" require_auth=scram-sha-256,gss", "scram-sha-256"),  # without Kerberos
        (" require_auth='sspi, md5,none'", "md5,none"),
        (" require_auth=!password", "!password,!gss,!sspi"),  # a refuse-list refuses Kerberos too
        (" require_auth=!gss", NO_KERBEROS),
        (" require_auth=scram-sha-256,!md5,gss", "scram-sha-256,!md5"),  # mixed: libpq refuses it itself
    ],
)
def test_a_resources_dsn_never_lets_libpq_offer_kerberos(given: str, require_auth: str) -> None:
    """The keyword values replace the DSN's own: what the author wrote is merged, never left to win."""
    params = conninfo_to_dict(for_resource("host=db.example user=payroll password=pw" + given))
    assert params["require_auth"] == require_auth and params["gssencmode"] == "disable"
    assert params["password"] == "pw" and params["passfile"] == NOWHERE
    # what it added is not shown back to the reader of a message; the author's own choice is
    shown = redact_dsn(for_resource("host=db.example user=payroll" + given))
    assert "gssencmode" not in shown
    assert ("require_auth" in shown) == (require_auth != NO_KERBEROS), shown


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("gssencmode=require", GSS_ENCRYPTION_REQUIRED),
        ("gssencmode=Require", GSS_ENCRYPTION_REQUIRED),
        ("require_auth=gss", KERBEROS_ONLY),
        ("require_auth=gss,sspi", KERBEROS_ONLY),
        ("require_auth=sspi", KERBEROS_ONLY),
    ],
)
def test_a_dsn_only_kerberos_could_connect_is_never_dialled(given: str, problem: str) -> None:
    """Turning it off would weaken what the author asked for (encryption, a method they chose) in silence."""
    with pytest.raises(DsnInvalid) as info:
        for_resource(f"postgresql://payroll:s3cret@db.example/payroll?{given.replace(' ', '&')}")
    assert str(info.value) == problem and "\n" not in problem and "s3cret" not in problem


@pytest.fixture
def operators_kerberos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's pod holding a Kerberos ticket (KRB5CCNAME, as `kinit` leaves one), and no krb5.conf:
    there is no KDC to reach here, and libpq's use of the cache shows before one would be asked."""
    cache = write_credential_cache(tmp_path / "krb5cc")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")
    monkeypatch.setenv("KRB5_CONFIG", str(tmp_path / "no-krb5.conf"))
    return cache


def _refused(conninfo: str) -> str:
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(conninfo, connect_timeout=5).close()
    return str(info.value)


def test_libpq_is_built_with_gssapi_so_the_gap_is_real() -> None:
    """psycopg's libpq links GSSAPI (its default gssencmode is disable, psycopg's own patch, but a server
    asking for gss and a DSN asking for GSS encryption are still answered with the process's tickets)."""
    defaults = {opt.keyword.decode(): opt for opt in pq.Conninfo.get_defaults()}
    assert {"gssencmode", "krbsrvname", "gssdelegation", "require_auth"} <= defaults.keys()
    message = _refused("host=127.0.0.1 port=1 gssencmode=require")
    assert "not compiled in" not in message and "credential cache" in message, message


def test_a_server_asking_for_kerberos_never_gets_the_operators_ticket(operators_kerberos: Path) -> None:
    """A database the author runs (or one that trusts the operator's principal) asks for GSSAPI."""
    with FakeServer(AUTH_GSS) as server:
        dsn = f"host=127.0.0.1 port={server.port} user=payroll dbname=payroll sslmode=disable"
        # As written, libpq takes up the operator's cache to answer (its made-up ticket is where it stops;
        # with a real one and a KDC it would authenticate as the operator's principal).
        assert "GSSAPI continuation error" in _refused(dsn)
        for given in ("", " require_auth=scram-sha-256,gss", " require_auth=!password", " gssencmode=prefer"):
            message = _refused(for_resource(dsn + given))
            assert "authentication method requirement" in message, message
            assert "server requested GSSAPI authentication" in message, message
            assert "GSSAPI continuation" not in message, message
        assert server.answers == []  # nothing was sent in reply


def test_gss_encryption_is_never_started_with_the_operators_ticket(operators_kerberos: Path) -> None:
    """`gssencmode=prefer` (a system libpq's default) starts GSSAPI encryption whenever a cache is found."""
    with FakeServer(AUTH_CLEARTEXT) as server:
        dsn = (
            f"host=127.0.0.1 port={server.port} user=payroll dbname=payroll sslmode=disable gssencmode=prefer"
        )
        _refused(dsn)
        assert server.requests == [GSSENC_REQUEST, STARTUP_V3]  # the operator's ticket would be next
        server.requests.clear()
        _refused(for_resource(dsn))
        assert server.requests == [STARTUP_V3]


#: (pg_hba method, how the role's password is stored): each way a resource's database may ask.
LOGINS = [("password", "scram-sha-256"), ("md5", "md5"), ("scram-sha-256", "scram-sha-256"), ("trust", None)]


@pytest.fixture
def logins(pg_admin_url: str) -> Iterator[dict[str, str]]:
    """A role per `LOGINS` method, its password `pw-<role>`, and pg_hba lines asking each role for its
    method only, ahead of the server's own (trust) lines; removed afterwards. {method: role}"""
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        row = conn.execute("SHOW hba_file").fetchone()
        assert row is not None
        hba = Path(str(row[0]))
        roles = {method: f"auth_{method.replace('-', '_')}_{uuid.uuid4().hex[:8]}" for method, _ in LOGINS}
        for method, stored in LOGINS:
            role = roles[method]
            if stored is None:
                conn.execute(f'CREATE ROLE "{role}" LOGIN')
            else:
                conn.execute(f"SET password_encryption = '{stored}'")
                conn.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'pw-{role}'")
        original = hba.read_text()
        lines = "".join(f"local all {roles[method]} {method}\n" for method, _ in LOGINS)
        hba.write_text(lines + original)
        try:
            conn.execute("SELECT pg_reload_conf()")
            yield roles
        finally:
            hba.write_text(original)
            conn.execute("SELECT pg_reload_conf()")
            for role in roles.values():
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_password_md5_scram_and_trust_logins_work_through_for_resource(
    logins: dict[str, str], pg_admin_url: str, operators_kerberos: Path
) -> None:
    """What a resource's database asks for, other than Kerberos, is answered as before: the parameters
    for_resource adds are accepted by this libpq and refuse only gss and sspi."""
    host = conninfo_to_dict(pg_admin_url)["host"]

    def dsn(role: str, password: str | None, extra: str = "") -> str:
        secret = "" if password is None else f" password={password}"
        return for_resource(f"host={host} user={role} dbname=postgres{secret}{extra}")

    asking = logins["scram-sha-256"]
    deadline = time.monotonic() + 10
    while "password" not in _refused_or_empty(dsn(asking, None)):  # the reload has taken effect
        assert time.monotonic() < deadline, "pg_hba.conf was not reloaded"
        time.sleep(0.05)
    for method, role in logins.items():
        password = None if method == "trust" else f"pw-{role}"
        for extra in ("", " require_auth=!password" if method != "password" else " require_auth=password"):
            with psycopg.connect(dsn(role, password, extra)) as conn:
                assert conn.execute("SELECT current_user").fetchone() == (role,)
        if password is not None:  # the method really was asked for: a wrong password is refused
            assert "password authentication failed" in _refused(dsn(role, "wrong"))
    # And an author's own requirement still holds: SCRAM asked of an md5 server fails.
    message = _refused(dsn(logins["md5"], f"pw-{logins['md5']}", " require_auth=scram-sha-256"))
    assert "server requested a hashed password" in message, message


def _refused_or_empty(conninfo: str) -> str:
    try:
        psycopg.connect(conninfo, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return ""
