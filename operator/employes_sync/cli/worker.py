"""`employes-sync worker --batch-id ID`: what a Kubernetes Job (or a local worker process) runs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import click
import psycopg

from employes_sync.allowlist import API_URL_ENV, API_URLS_ENV, DATABASE_HOSTS_ENV, AllowlistError, Allowlists
from employes_sync.cli.common import (
    DATABASE_ENV,
    drop_libpq_environment,
    extra_ca,
    fail,
    libpq_environment_ignored,
    read_token,
    warn,
)
from employes_sync.dsn import DsnInvalid, for_resource
from employes_sync.messages import one_line
from employes_sync.settings import WORKER_COMPANY_ENV, WORKER_REDACT_ENV, SettingsError
from employes_sync.store import db
from employes_sync.worker import BatchOutcome, process_batch

log = logging.getLogger(__name__)


def _batch_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A batch id is a UUID: anything else would reach the database as a traceback (ValueError)."""
    try:
        return str(UUID(value.strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a batch id (a UUID)") from None


@click.command()
@click.option(
    "--batch-id", required=True, callback=_batch_id, help="The processing_queue id of the batch (a UUID)."
)
@click.option(
    "--token-file", type=click.Path(path_type=Path, dir_okay=False), help="File holding the API token."
)
def worker(batch_id: str, token_file: Path | None) -> None:
    """Process one queued batch. Reads $DATABASE_URL and $EMPLOYES_API_TOKEN.

    In a Job also $EMPLOYES_API_URL, $EMPLOYES_COMPANY_ID and $EMPLOYES_SYNC_REDACT (used instead of
    those stored with the run), $EMPLOYES_SYNC_ALLOWED_API_URLS (the token goes to no other URL) and
    $EMPLOYES_SYNC_ALLOWED_DATABASE_HOSTS (the DSN is a resource's: it must name one of those hosts,
    and it is dialled without the libpq settings and credentials of this process's image).
    """
    die_with_parent()
    dsn = os.environ.get(DATABASE_ENV)
    if not dsn:
        fail(f"no database: set ${DATABASE_ENV}", 2)
    database_hosts = os.environ.get(DATABASE_HOSTS_ENV)
    if database_hosts is not None:  # a resource's Job (kube/jobs.py); a local worker's DSN is its user's
        dsn = _resource_dsn(dsn, database_hosts)
    token = read_token(token_file)
    extra_ca()  # a Job's $EMPLOYES_SYNC_EXTRA_CA_PEM, from its operator: checked before any request
    # A Job gets the API URL, company and redaction from the resource's spec, with the operator's
    # allowlist (kube/jobs.py): never from the run's stored settings, which others may write.
    spec = SpecValues(
        api_url=os.environ.get(API_URL_ENV) or None,
        company_id=os.environ.get(WORKER_COMPANY_ENV) or None,
        redact=_redact_from_env(os.environ.get(WORKER_REDACT_ENV)),
    )
    allowed = os.environ.get(API_URLS_ENV)
    allowed_urls = None if allowed is None else Allowlists.parse_env(allowed)
    outcome = asyncio.run(_work(dsn, batch_id, token, spec, allowed_urls))
    if outcome.status in ("completed", "skipped"):
        click.echo(f"batch {batch_id}: {outcome.status}")
        sys.exit(0)
    fail(f"batch {batch_id} {outcome.status}: {outcome.error}")


def _resource_dsn(dsn: str, database_hosts: str) -> str:
    """The DSN of a resource's Job as the operator dials it: checked against the operator's database
    allowlist (`database_hosts`, empty: any host) and through `dsn.for_resource`, with libpq's variables
    gone from this process's environment.

    The pod reads the DSN from the Secret itself, after the operator checked its own read, and its
    image is the platform's (chart `worker.image`, a custom `BASE_IMAGE`): a PGSERVICE, PGUSER or
    PGDATABASE set there, or a ~/.pgpass, a client certificate or a Kerberos ticket in it, would
    otherwise pick where this connection goes and as whom. One line and exit 1 for a DSN the operator
    would refuse (the attempt fails, its message says why).
    """
    ignored = drop_libpq_environment()
    if ignored:
        warn(libpq_environment_ignored(ignored, "worker"))
    try:
        allowlists = Allowlists.build(database_hosts=Allowlists.parse_env(database_hosts))
    except AllowlistError as exc:
        fail(f"${DATABASE_HOSTS_ENV}: {exc}", 2)
    try:
        refusal = allowlists.database_refusal(dsn, f"${DATABASE_ENV}")
        if refusal is not None:
            fail(refusal.message)
        return for_resource(dsn)
    except DsnInvalid as exc:
        fail(f"the database DSN in ${DATABASE_ENV} {exc}; no connection was made")


@dataclass(frozen=True)
class SpecValues:
    """What a Job's environment says of the resource's spec, in place of the run's stored settings."""

    api_url: str | None = None
    company_id: str | None = None
    redact: list[str] | None = None


def _redact_from_env(text: str | None) -> list[str] | None:
    """$EMPLOYES_SYNC_REDACT: a JSON list of field names; unset means the run's own list."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        fail(f"${WORKER_REDACT_ENV} must be a JSON list of field names", 2)
    return value


#: Set by the local launcher (`employes-sync sync`): the pid of the process that started this worker.
PARENT_ENV = "EMPLOYES_SYNC_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A local worker ends with the `sync` that started it, even one killed with SIGKILL.

    On Linux the kernel sends SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG). The parent may
    have died before that call, so the parent pid is compared afterwards. Elsewhere, a thread polls
    the parent pid. A Job pod has no such parent and no variable: nothing changes there.
    """
    expected = os.environ.get(PARENT_ENV, "")
    if not expected.isdigit():
        return
    parent = int(expected)
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        fail(f"the process that started this worker ({parent}) is gone", 1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


async def _work(
    dsn: str, batch_id: str, token: str, spec: SpecValues, allowed_api_urls: list[str] | None
) -> BatchOutcome:
    try:
        pool = await db.open_pool(dsn, max_size=2)
    except db.DatabaseUnavailable as exc:
        fail(str(exc))
    try:
        return await process_batch(
            pool, batch_id, token, api_url=spec.api_url, company_id=spec.company_id, redact=spec.redact,
            allowed_api_urls=allowed_api_urls,
        )  # fmt: skip
    except (LookupError, SettingsError) as exc:
        fail(str(exc))
    except psycopg.errors.UndefinedTable:
        fail(
            f"the database in ${DATABASE_ENV} has no employes-sync tables: a worker runs a batch that a "
            "sync or the operator queued in that database; check which database it names"
        )
    except psycopg.Error as exc:  # what the store does not retry: one line, not a traceback
        fail(f"batch {batch_id}: database error: {one_line(exc)}")
    finally:
        await pool.close()
