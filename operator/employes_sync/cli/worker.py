"""`employes-sync worker --batch-id ID`: what a Kubernetes Job (or a local worker process) runs."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from employes_sync.allowlist import API_URL_ENV, API_URLS_ENV, Allowlists
from employes_sync.cli.common import DATABASE_ENV, fail, read_token
from employes_sync.store import db
from employes_sync.worker import BatchOutcome, process_batch

log = logging.getLogger(__name__)


@click.command()
@click.option("--batch-id", required=True, help="The processing_queue id of the batch.")
@click.option(
    "--token-file", type=click.Path(path_type=Path, dir_okay=False), help="File holding the API token."
)
def worker(batch_id: str, token_file: Path | None) -> None:
    """Process one queued batch. Reads $DATABASE_URL and $EMPLOYES_API_TOKEN.

    In a Job also $EMPLOYES_API_URL (used instead of the URL stored with the run) and
    $EMPLOYES_SYNC_ALLOWED_API_URLS (the token goes to no other URL).
    """
    dsn = os.environ.get(DATABASE_ENV)
    if not dsn:
        fail(f"no database: set ${DATABASE_ENV}", 2)
    token = read_token(token_file)
    # A Job gets the API URL from the resource's spec, with the operator's allowlist (kube/jobs.py).
    api_url = os.environ.get(API_URL_ENV) or None
    allowed = os.environ.get(API_URLS_ENV)
    allowed_urls = None if allowed is None else Allowlists.parse_env(allowed)
    outcome = asyncio.run(_work(dsn, batch_id, token, api_url, allowed_urls))
    if outcome.status in ("completed", "skipped"):
        click.echo(f"batch {batch_id}: {outcome.status}")
        sys.exit(0)
    fail(f"batch {batch_id} {outcome.status}: {outcome.error}")


async def _work(
    dsn: str, batch_id: str, token: str, api_url: str | None, allowed_api_urls: list[str] | None
) -> BatchOutcome:
    try:
        pool = await db.open_pool(dsn, max_size=2)
    except db.DatabaseUnavailable as exc:
        fail(str(exc))
    try:
        return await process_batch(pool, batch_id, token, api_url=api_url, allowed_api_urls=allowed_api_urls)
    except LookupError as exc:
        fail(str(exc))
    finally:
        await pool.close()
