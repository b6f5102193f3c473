"""What the CLI's commands share: secrets, the database, errors as one line and an exit code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from psycopg_pool import AsyncConnectionPool

from employes_sync.dsn import OPERATOR_ENV_KEPT, DsnInvalid, operator_environment_ignored, parse_dsn
from employes_sync.localdb import EmbeddedUnavailable, embedded_database
from employes_sync.settings import WORKER_DATABASE_ENV, WORKER_TOKEN_ENV, token_problem
from employes_sync.store import db

T = TypeVar("T")

TOKEN_ENV = WORKER_TOKEN_ENV
DATABASE_ENV = WORKER_DATABASE_ENV


def dsn_password(dsn: str) -> bool:
    """Whether a PostgreSQL URL or key=value DSN carries a credential; raises DsnInvalid for one that
    cannot be used as written.

    A password, or another parameter libpq hides for the same reason (libpq 18's OAuth client secret
    and SCRAM keys: `db.SECRET_PARAMS`).
    """
    params = parse_dsn(dsn)
    return any(params.get(key) for key in db.SECRET_PARAMS)


def on_command_line(ctx: click.Context, param: click.Parameter) -> bool:
    """Whether the option's value was typed on the command line, where `ps` and /proc show it to every
    user of the machine, rather than taken from its environment variable."""
    return ctx.get_parameter_source(param.name or "") == click.core.ParameterSource.COMMANDLINE


def _check_database_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A usage error for a DSN libpq cannot parse; a warning for a password on the command line.

    An unparseable DSN is never quoted: psycopg's own message echoes the part it choked on, which is
    often the password (`postgresql://u:pa%ss@h/db`). A password on the command line is visible to
    every user of the machine (`ps`, /proc).
    """
    if not value:
        return value
    typed = on_command_line(ctx, param)
    try:
        password = dsn_password(value)
    except DsnInvalid as exc:
        where = "--database-url" if typed else f"${DATABASE_ENV}"
        raise click.UsageError(f"{where} {exc}; it is not shown, as it may hold a password", ctx) from None
    if typed and password:
        warn(
            "--database-url carries a password (or another credential), which `ps` shows to every user "
            f"of this machine; set ${DATABASE_ENV} instead, or keep the password in a file (~/.pgpass or "
            "$PGPASSFILE)"
        )
    return value


database_option = click.option(
    "--database-url",
    envvar=DATABASE_ENV,
    callback=_check_database_url,
    help="PostgreSQL URL (or $DATABASE_URL, which `ps` does not show). Default: an embedded PostgreSQL "
    "in the user's data folder.",
)


ERROR_PREFIX = "employes-sync: error: "


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr and an exit code: 2 for usage, 1 for a run that failed."""
    click.echo(ERROR_PREFIX + " ".join(message.split()), err=True)
    sys.exit(code)


def warn(message: str) -> None:
    click.echo(f"employes-sync: warning: {message}", err=True)


def drop_libpq_environment() -> list[str]:
    """Remove from the process environment the libpq variables that would pick a resource connection's
    destination, identity or session (`dsn.operator_environment_ignored` says which and why); returns
    the names removed, for the caller to say so.

    libpq reads them with getenv at each connect, and Python's os.environ writes through to the C
    environment, so a removal here holds for every connection the process makes from then on. The
    operator calls it at start and a resource's Job worker before it connects (its image's ENV is not
    the resource's); the local CLI never does: there the environment is its user's own shell.
    """
    ignored = operator_environment_ignored(os.environ)
    for name in ignored:
        del os.environ[name]
    return ignored


def libpq_environment_ignored(names: list[str], whose: str) -> str:
    """The one line that says `drop_libpq_environment` removed `names` from `whose` environment: names
    only (a value may be a password), so the platform learns its setting is not used."""
    return (
        f"ignoring {', '.join(names)} from the {whose}'s environment: a resource's database connection "
        "goes where, and as whom, its own DSN says, never where libpq's environment points (kept, for "
        f"every connection: {', '.join(sorted(OPERATOR_ENV_KEPT))})"
    )


_verbosity = [-1]


def setup_logging(verbose: int) -> None:
    """Log level from -v counts; a later, larger count (`sync -vv`) raises what an earlier one set."""
    verbose = min(verbose, 2)
    if verbose <= _verbosity[0]:
        return
    _verbosity[0] = verbose
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 employee`, `3 employees`, `1 batch`, `2 batches` (pass `many` when +s is wrong)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def read_text_file(path: Path, what: str) -> str:
    """A small text file the user named (a token, a signing secret), or one usage line saying why not."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}", 2)
    except UnicodeDecodeError:
        fail(f"{what} {path} is not text (UTF-8)", 2)


def read_token(token_file: Path | None, *, required: bool = True) -> str:
    source = f"token file {token_file}" if token_file is not None else f"${TOKEN_ENV}"
    if token_file is not None:
        token = read_text_file(token_file, "token file").strip()
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token and required:
        fail(f"no API token: set ${TOKEN_ENV} or pass --token-file", 2)
    if token and (problem := token_problem(token)):
        fail(f"the API token from {source} {problem}", 2)
    return token


def extra_ca() -> str | None:
    """The extra CA certificates of $EMPLOYES_SYNC_EXTRA_CA_FILE / $EMPLOYES_SYNC_EXTRA_CA_PEM (see
    employes/trust.py), read and checked before anything else is done, or one usage line naming the
    setting, the file and what is wrong: a bad CA would otherwise surface as a TLS error per request."""
    from employes_sync.employes.trust import ExtraCAError, configured_extra_ca

    try:
        return configured_extra_ca()
    except ExtraCAError as exc:
        fail(str(exc), 2)


class Terminated(BaseException):
    """SIGTERM while a command holds the embedded server (`timeout 60 employes-sync watch`).

    Raised where the command is, like KeyboardInterrupt, so the server is stopped and its handle
    dropped on the way out; the command group turns it into one line and exit 143.
    """


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, and `main` closed however that ends.

    A SIGTERM raised as `Terminated` (see `terminable`) or an `Interrupted` can land after the coroutine
    was made and before the loop started it. It then went unawaited, and Python printed "coroutine ...
    was never awaited" under the command's one-line error (a flaky test of `watch`). Closing a coroutine
    that ran, or that never started, does nothing more.
    """
    try:
        return asyncio.run(main)
    finally:
        main.close()


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM unwinds instead of killing, while nothing else handles it (sync's SignalGuard does)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def resolve_database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    try:
        with terminable(), embedded_database() as uri:
            yield uri
    except EmbeddedUnavailable as exc:
        fail(str(exc), 2)


@contextlib.asynccontextmanager
async def open_database(url: str) -> AsyncIterator[AsyncConnectionPool]:
    """A migrated pool, or one clear line if the database is unreachable."""
    try:
        pool = await db.open_pool(url)
    except db.DatabaseUnavailable as exc:
        fail(str(exc))
    try:
        await db.migrate(pool)
        yield pool
    finally:
        await pool.close()


def echo_json(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))
