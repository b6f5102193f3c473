"""Which databases and webhook receivers a resource may make the operator reach (allowlist.py).

The DSN and the receivers' URLs are the resource author's; the network position and the files are the
operator's. These are the pure decisions; tests/test_operator_allowlists.py shows the operator refusing
before it connects or delivers.
"""

from __future__ import annotations

import pytest

from employes_sync.allowlist import (
    DATABASE_NOT_ALLOWED,
    OPERATOR_FILE_PARAMS,
    AllowlistError,
    Allowlists,
    normalize_database_host,
    normalize_host,
)
from employes_sync.dsn import GSS_ENCRYPTION_REQUIRED, KERBEROS_ONLY, UNPARSEABLE, DsnInvalid

SOURCE = "Secret payroll/dsn"
LISTED = Allowlists.build(database_hosts=["pg.payroll.svc", "PG2.example:6432", "fd00::5", "/cloudsql/"])


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:pw@pg.payroll.svc/payroll",
        "postgresql://u:pw@pg.payroll.svc:1234/payroll",  # a host without a port allows every port
        "host=pg2.example port=6432 dbname=payroll",
        "postgresql://u@[fd00::5]:5433/payroll",
        "host=pg.payroll.svc,pg2.example port=5432,6432 dbname=payroll",
        "host=PG.PAYROLL.SVC dbname=payroll sslmode=verify-full sslrootcert=system",
        "host=/cloudsql dbname=payroll",  # a listed socket directory: a proxy beside the operator
        "postgresql://u@/payroll?host=/cloudsql/",
    ],
)
def test_a_listed_host_is_allowed(dsn: str) -> None:
    assert LISTED.database_refusal(dsn, SOURCE) is None


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("postgresql://u:hunter2@evil.example/payroll", "host evil.example:5432"),
        ("host=pg2.example dbname=payroll", "host pg2.example:5432"),  # listed only with port 6432
        ("host=pg.payroll.svc,evil.example port=5432", "host evil.example:5432"),  # every host of the list
        ("host=pg.payroll.svc hostaddr=10.9.9.9 dbname=payroll", "host 10.9.9.9:5432"),  # libpq goes there
        ("postgresql:///payroll", "no host"),
        ("host=/var/run/postgresql dbname=payroll", "the Unix socket directory /var/run/postgresql"),
        ("host=/cloudsql/../tmp dbname=payroll", "the Unix socket directory /cloudsql/../tmp"),
        ("postgresql://u@[fd00::6]/payroll", "host [fd00::6]:5432"),
    ],
)
def test_an_unlisted_target_is_refused_and_named(dsn: str, named: str) -> None:
    refusal = LISTED.database_refusal(dsn, SOURCE)
    assert refusal is not None and refusal.reason == DATABASE_NOT_ALLOWED
    assert f"the database DSN in {SOURCE} names {named}" in refusal.message
    assert "no connection was made" in refusal.message and "pg.payroll.svc" in refusal.message
    assert "hunter2" not in refusal.message


def test_without_a_list_any_host_is_allowed() -> None:
    anyhost = Allowlists.build()
    assert anyhost.database_hosts == frozenset()
    for dsn in ("postgresql://u:pw@anything.example:1/x", "host=/tmp dbname=x", "postgresql:///x"):
        assert anyhost.database_refusal(dsn, SOURCE) is None


@pytest.mark.parametrize("param", OPERATOR_FILE_PARAMS)
@pytest.mark.parametrize("allow", [Allowlists.build(), LISTED], ids=["any-host", "listed"])
def test_the_operators_own_files_are_refused_with_or_without_a_list(param: str, allow: Allowlists) -> None:
    dsn = f"host=pg.payroll.svc dbname=x {param}=/root/secret-file"
    try:
        refusal = allow.database_refusal(dsn, SOURCE)
    except DsnInvalid as exc:
        # servicefile is a keyword from libpq 18 on: an older libpq cannot parse it, which refuses it too.
        assert param == "servicefile" and str(exc) == UNPARSEABLE
        return
    assert refusal is not None and refusal.reason == DATABASE_NOT_ALLOWED
    assert f"sets {param}," in refusal.message
    assert "/root/secret-file" not in refusal.message


def test_the_same_files_in_a_uri_query_are_refused_too() -> None:
    refusal = Allowlists.build().database_refusal("postgresql://u@pg/x?service=prod&sslmode=require", SOURCE)
    assert refusal is not None and "sets service," in refusal.message


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("gssencmode=require", GSS_ENCRYPTION_REQUIRED),
        ("require_auth=gss", KERBEROS_ONLY),
        ("require_auth=sspi,gss", KERBEROS_ONLY),
    ],
)
@pytest.mark.parametrize("allow", [Allowlists.build(), LISTED], ids=["any-host", "listed"])
def test_a_dsn_only_the_operators_kerberos_ticket_could_connect_is_refused(
    given: str, problem: str, allow: Allowlists
) -> None:
    refusal = allow.database_refusal(f"postgresql://u:hunter2@pg.payroll.svc/x?{given}", SOURCE)
    assert refusal is not None and refusal.reason == DATABASE_NOT_ALLOWED
    assert refusal.message == f"the database DSN in {SOURCE} {problem}; no connection was made"
    # A preference, or a list with another method, is dialled without Kerberos (dsn.for_resource).
    for dialled in ("gssencmode=prefer", "require_auth=gss,scram-sha-256", "require_auth=!gss"):
        assert allow.database_refusal(f"postgresql://u@pg.payroll.svc/x?{dialled}", SOURCE) is None


def test_an_unparseable_dsn_is_not_a_refusal_but_a_broken_dsn_never_echoed() -> None:
    with pytest.raises(DsnInvalid) as info:
        Allowlists.build().database_refusal("host=pg password='hunter2", SOURCE)
    assert str(info.value) == UNPARSEABLE


@pytest.mark.parametrize(
    ("entry", "normal"),
    [
        ("pg.payroll.svc", "pg.payroll.svc"),
        (" PG.Example:06432 ", "pg.example:6432"),
        ("10.0.0.7", "10.0.0.7"),
        ("fd00::5", "[fd00::5]"),
        ("[FD00::5]:5432", "[fd00::5]:5432"),
        ("/cloudsql/", "/cloudsql"),
        ("/Run/PG", "/Run/PG"),  # a path keeps its case
    ],
)
def test_entries_are_compared_in_one_form(entry: str, normal: str) -> None:
    assert normalize_database_host(entry) == normal


@pytest.mark.parametrize(
    "entry", ["/cloudsql/../tmp", "relative/dir", "@abstract", "a.example,b.example", "pg:", "pg:0",
              "pg:99999", "pg:x", "[fd00::5", "[fd00::5]6432", "two words"],
)  # fmt: skip
def test_an_entry_that_cannot_match_safely_stops_the_operator(entry: str) -> None:
    with pytest.raises(AllowlistError, match="allowed database host"):
        Allowlists.build(database_hosts=[entry])


# --- webhook receivers ---------------------------------------------------------------------------

HOOKS = Allowlists.build(webhook_hosts=["hooks.example", "[fd00::7]:8443", "10.0.0.9:8080"])


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example/in?token=abc",
        "https://HOOKS.example:9443/in",  # a host without a port allows every port
        "https://[fd00::7]:8443/in",
        "http://10.0.0.9:8080/in",
    ],
)
def test_a_receiver_on_a_listed_host_is_allowed(url: str) -> None:
    assert HOOKS.webhook_refusal(url, "app") is None


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://169.254.169.254/latest?token=abc", "169.254.169.254:443"),
        ("http://10.0.0.9/in", "10.0.0.9:80"),  # listed only with port 8080: the default port is 80
        ("https://[fd00::7]/in", "[fd00::7]:443"),
        ("https://hooks.example.evil.test/in", "hooks.example.evil.test:443"),
    ],
)
def test_a_receiver_elsewhere_is_refused_naming_only_its_host(url: str, named: str) -> None:
    message = HOOKS.webhook_refusal(url, "app")
    assert message is not None
    assert message.startswith(f"webhook app: the receiver host {named} is not one this operator delivers to")
    assert "token" not in message and "/in" not in message and "latest" not in message


def test_without_a_webhook_list_any_receiver_is_allowed() -> None:
    assert Allowlists.build().webhook_refusal("https://169.254.169.254/x", "app") is None


@pytest.mark.parametrize(
    "entry", ["/var/run/hooks", "hooks.example/in", "hooks.example:", "[fd00::7", "[fd00::7]:"]
)
def test_a_webhook_entry_that_cannot_match_stops_the_operator(entry: str) -> None:
    with pytest.raises(AllowlistError, match="allowed webhook host"):
        Allowlists.build(webhook_hosts=[entry])


def test_host_entries_share_one_form() -> None:
    assert normalize_host(" Hooks.Example:0443 ", "webhook host") == "hooks.example:443"
    assert normalize_host("fd00::7", "webhook host") == "[fd00::7]"
