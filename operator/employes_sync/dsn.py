"""Reading a PostgreSQL DSN the way libpq does, refusing the ones libpq would read wrongly.

libpq takes a URL's user and password to end at the first '@' before any '/'. A password holding a raw
'/' or '@' (`postgresql://app:Se/cret@db/x`) is not an error to libpq: it reads the user as the host,
a piece of the password as the port and the rest as the database name, and then connects there. Every
message that names the host or database would show the pieces, and the connection goes where nobody
meant. Such a DSN is refused here, before anything is shown or dialled, with advice that fixes it.

Every place that reads a DSN (the store's redaction and connect, the operator's allowlist, the CLI's
option check) parses it through `parse_dsn`, so they agree on what a DSN says.
"""

from __future__ import annotations

from collections.abc import Mapping

_URL_SCHEMES = ("postgresql://", "postgres://")

#: What is wrong, worded to follow the DSN's name ("the database DSN in Secret db/dsn ...").
UNENCODED = (
    "has a raw '@' or '/' in its user or password, so libpq would read part of the password as the "
    "host, port or database; percent-encode them ('@' as %40, '/' as %2F)"
)
UNPARSEABLE = "is not a PostgreSQL URL (postgresql://user@host:5432/db) or key=value connection string"
BAD_PORT = "has a port that is not a number"


class DsnInvalid(ValueError):
    """A DSN that cannot be used as written. The message never quotes it (it may hold a password) and
    reads as a predicate of the DSN's name, which only the caller knows."""


def parse_dsn(dsn: str) -> dict[str, str]:
    """The DSN's parameters as libpq reads them; raises DsnInvalid for one it would misread or reject."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    url = _is_url(dsn)
    if url and _misplaced_at(dsn):
        raise DsnInvalid(UNENCODED)
    try:
        params = {key: str(value) for key, value in conninfo_to_dict(dsn).items() if value is not None}
    except ProgrammingError:
        # psycopg's message quotes the part it choked on, often the password: not passed on.
        raise DsnInvalid(UNPARSEABLE) from None
    if url and any("@" in host[1:] for host in params.get("host", "").split(",")):
        # No host name holds an '@' (a leading one is a Linux abstract socket): the password's '/'
        # ended the credentials early and its '?' began a query that names the host.
        raise DsnInvalid(UNENCODED)
    if not all(port.strip().isdigit() for port in params.get("port", "").split(",") if port.strip()):
        # libpq's own complaint quotes the value, which in a hand-made DSN may be a password's piece.
        raise DsnInvalid(BAD_PORT)
    return params


#: A path no file can ever be at (/dev/null is not a directory): libpq finds no file there and says nothing.
NOWHERE = "/dev/null/none"
#: libpq's names of the Kerberos mechanisms (GSSAPI, and SSPI on Windows) in `require_auth`.
KERBEROS_METHODS = ("gss", "sspi")
#: `require_auth` refusing both: what `for_resource` sets when the DSN asks for no method of its own.
NO_KERBEROS = "!gss,!sspi"
#: What `for_resource` sets, so that a DSN shown in a message can leave it out.
OPERATOR_DEFAULTS_OFF = {
    "passfile": NOWHERE,
    "sslcert": NOWHERE,
    "sslkey": NOWHERE,
    "gssencmode": "disable",
    "require_auth": NO_KERBEROS,
}
#: What is wrong with a DSN that can only connect as the operator's Kerberos principal (see `for_resource`).
GSS_ENCRYPTION_REQUIRED = (
    "requires GSSAPI encryption (gssencmode=require), which would use the operator's own Kerberos "
    "credentials; use sslmode=require (or verify-full) instead"
)
KERBEROS_ONLY = (
    "allows only Kerberos authentication (require_auth gss or sspi), which would authenticate as the "
    "operator's own Kerberos principal"
)


def for_resource(dsn: str) -> str:
    """The DSN as the operator dials it for a resource: with none of the credentials libpq would add from
    the operator's own home and environment.

    Without a password in the DSN libpq offers PGPASSWORD, then the password file (~/.pgpass, whose
    `*:*:*:*:` lines match any host), to whatever server asks; without `sslcert` it presents
    ~/.postgresql/postgresql.crt. Those are the operator's credentials, and the server is one the
    resource's author names: refusing `passfile=` and `sslcert=` in the DSN (allowlist.py) did not stop
    the defaults. An empty password is libpq's "none" (it then reads the password file, here nowhere).

    Kerberos is the operator's identity too: a libpq built with GSSAPI (psycopg's binary one is) answers
    a server asking for `gss` authentication with the credential cache it finds (KRB5CCNAME, else
    /tmp/krb5cc_<uid>, or a client keytab), and `gssencmode=prefer` starts GSSAPI encryption with it, so
    any database trusting the operator's principal would take its author in as the operator. No
    variable can be unset to stop that (the default cache path needs none), so the parameters do:
    `gssencmode=disable`, and `require_auth` without gss and sspi, merged into the DSN's own (see
    `_require_auth`): libpq then fails a server that asks for Kerberos before it touches a credential.
    Password, md5, SCRAM and trust (no authentication) work as before. `require_auth` is libpq 16's: an
    older libpq fails every such connection ("invalid connection option"), loudly rather than offering
    the ticket (psycopg's binary package bundles libpq 18). Raises DsnInvalid as `parse_dsn` does, and
    for a DSN that can only work through Kerberos (`kerberos_problem`).
    """
    from psycopg.conninfo import make_conninfo

    params = parse_dsn(dsn)
    problem = kerberos_problem(params)
    if problem is not None:
        raise DsnInvalid(problem)
    extra: dict[str, str] = dict(OPERATOR_DEFAULTS_OFF)
    # Never None here (kerberos_problem refused that); were it, NO_KERBEROS would still be the safe value.
    extra["require_auth"] = _require_auth(params.get("require_auth")) or NO_KERBEROS
    if not params.get("password"):
        extra["password"] = ""
    return make_conninfo(dsn, **extra)  # keyword values replace the DSN's own


def kerberos_problem(params: Mapping[str, str]) -> str | None:
    """What in a DSN (`parse_dsn`'s parameters) leaves only Kerberos to connect with, or None.

    `gssencmode=require` and a `require_auth` list of nothing but gss and sspi cannot be dialled without
    the operator's principal; turning them off would silently weaken what the author asked for (an
    encrypted connection, a method they chose), so such a DSN is refused in one line instead.
    `gssencmode=prefer` is only a preference: it is dialled as `disable`.
    """
    if params.get("gssencmode", "").strip().lower() == "require":
        return GSS_ENCRYPTION_REQUIRED
    if _require_auth(params.get("require_auth")) is None:
        return KERBEROS_ONLY
    return None


def _require_auth(value: str | None) -> str | None:
    """The DSN's `require_auth` with Kerberos taken out; None when it allowed nothing else.

    libpq reads either a list of methods to allow or (each with '!') a list to refuse, never both: an
    allow-list loses gss and sspi (`scram-sha-256,gss` becomes `scram-sha-256`), a refuse-list gains them
    (`!password` becomes `!password,!gss,!sspi`). An empty or unset one is NO_KERBEROS. A list mixing the
    two kinds keeps its allowed methods but gss and sspi, and libpq refuses it before connecting.
    """
    methods = [method.strip() for method in (value or "").split(",") if method.strip()]
    if not methods:
        return NO_KERBEROS
    if all(method.startswith("!") for method in methods):
        refused = [*methods, *(f"!{kerberos}" for kerberos in KERBEROS_METHODS)]
        return ",".join(dict.fromkeys(refused))
    kept = [method for method in methods if method not in KERBEROS_METHODS]
    if not any(not method.startswith("!") for method in kept):
        return None
    return ",".join(kept)


#: libpq's environment variables that the operator removes from its own environment (see
#: `operator_environment_ignored`): each picks where a connection goes (host, port, database, a service
#: and the files that define services, which servers of a multi-host DSN it takes), as whom (user,
#: password, password file, client certificate and key, Kerberos), or what the session is (options such
#: as search_path, date style, time zone, encoding, application name), or weakens or changes how it
#: reaches the server (sslmode, GSS encryption, SNI, the TLS ceiling, channel binding, required peer).
#: PGDATESTYLE, PGTZ, PGGEQO and PGSYSCONFDIR (where pg_service.conf is) are no connection parameters
#: but libpq reads them too; PGREQUIRESSL is the old name of sslmode; PGOAUTHDEBUG makes libpq print
#: OAuth secrets and accept plain-http issuers.
OPERATOR_ENV_IGNORED = frozenset(
    {
        "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
        "PGSERVICE", "PGSERVICEFILE", "PGSYSCONFDIR", "PGTARGETSESSIONATTRS", "PGLOADBALANCEHOSTS",
        "PGOPTIONS", "PGAPPNAME", "PGCLIENTENCODING", "PGDATESTYLE", "PGTZ", "PGGEQO",
        "PGSSLMODE", "PGREQUIRESSL", "PGSSLNEGOTIATION", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY",
        "PGSSLCERTMODE", "PGSSLSNI", "PGSSLMAXPROTOCOLVERSION", "PGMINPROTOCOLVERSION",
        "PGMAXPROTOCOLVERSION", "PGREQUIREPEER", "PGREQUIREAUTH", "PGCHANNELBINDING",
        "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB", "PGGSSDELEGATION", "PGOAUTHDEBUG",
    }
)  # fmt: skip
#: libpq's environment variables the operator keeps: a platform sets them on purpose for every database
#: its pods reach, and they only decide which servers are trusted or how long a connect may wait, never
#: where a connection goes, as whom, or with what session: the company CA (PGSSLROOTCERT), its
#: revocation lists (PGSSLCRL, PGSSLCRLDIR), a floor under the TLS version (PGSSLMINPROTOCOLVERSION), and
#: PGCONNECT_TIMEOUT. (A stricter trust can still fail a resource's DSN that worked elsewhere: an
#: `sslmode=require` DSN to a server whose certificate the company CA did not sign, since libpq then
#: verifies against PGSSLROOTCERT. That is the platform's decision to make.)
OPERATOR_ENV_KEPT = frozenset(
    {"PGSSLROOTCERT", "PGSSLCRL", "PGSSLCRLDIR", "PGSSLMINPROTOCOLVERSION", "PGCONNECT_TIMEOUT"}
)


def operator_environment_ignored(environ: Mapping[str, str]) -> list[str]:
    """The names in `environ` (the operator's environment) that the operator removes before it makes any
    connection, sorted: those of OPERATOR_ENV_IGNORED that are set, an empty value too (libpq reads a
    set PGSERVICE='' as the service named '' and fails every connection).

    libpq reads its environment at each connect (getenv) for every parameter a DSN leaves out, and a
    PGSERVICE's service file even fills in host, port, database, user and password. The operator's
    environment is set for some other database (a platform's defaults, a debugging session's PGHOST),
    while a resource's connection must go where, and as whom, its author's DSN says. No per-connection
    parameter undoes them: `service=''` in a DSN is again the service named ''. The local CLI keeps them:
    there the environment is its user's own shell.
    """
    return sorted(name for name in environ if name in OPERATOR_ENV_IGNORED)


def dsn_problem(dsn: str) -> str | None:
    """What stops the DSN being used as written (a `kube.secrets.ValueCheck`), or None."""
    try:
        parse_dsn(dsn)
    except DsnInvalid as exc:
        return str(exc)
    return None


def _is_url(dsn: str) -> bool:
    return dsn.strip().lower().startswith(_URL_SCHEMES)


def _misplaced_at(dsn: str) -> bool:
    """Whether a URL's host or database part holds a raw '@': the user or password ended too early.

    Mirrors libpq's split: the credentials run to the first '@' seen before any '/'; then the hosts run
    to the first '/' or '?', and the database name from there to the '?'. A raw '@' is legal in neither
    of those (an '@' in a database name is written %40), so one there means the split went wrong.
    """
    text = dsn.strip()
    rest = text[text.index("://") + 3 :]
    ends = [i for i in (rest.find("@"), rest.find("/")) if i >= 0]
    if ends and rest[min(ends)] == "@":
        rest = rest[min(ends) + 1 :]
    before_query = rest.split("?", 1)[0]
    return "@" in before_query
