"""Process one queued batch: the same code in a Job pod and in a local worker process.

The worker needs only the batch id, a database URL and the API token; everything else (limits, locale,
the day) is read from the run the batch belongs to. A Job is also given the spec's API URL, company and
redaction, which take the place of the stored ones (see `process_batch`). A batch that is not pending
(already done, or claimed by a duplicate Job) is left alone: starting the same attempt twice is
harmless. While it works, the worker renews its lease, so a batch whose worker died is rescued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.allowlist import Allowlists
from employes_sync.cancelling import cancel_and_wait
from employes_sync.messages import one_line, traceback_text
from employes_sync.pipeline import OnResponse, make_client
from employes_sync.processing import ProcessResult, process_employees
from employes_sync.settings import SettingsError, SyncSettings
from employes_sync.store import queue as queue_store
from employes_sync.store.requests import RequestTally, add_request_counts

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    batch_id: str
    status: str  # completed | retrying | failed | skipped
    result: ProcessResult | None = None
    error: str | None = None


async def _keep_lease(pool: AsyncConnectionPool, batch_id: str, lease_seconds: float) -> None:
    while True:
        await asyncio.sleep(max(lease_seconds / 3, 0.5))
        try:
            await queue_store.heartbeat(pool, batch_id, lease_seconds)
        except Exception as exc:  # a missed heartbeat is not fatal: the lease is three beats long
            log.warning("heartbeat for batch %s failed: %s", batch_id, one_line(exc))


class DestinationNotAllowed(Exception):
    """The API URL the token would go to is not on the allowlist the worker was started with."""


def _check_destination(api_url: str, allowed_api_urls: Sequence[str] | None) -> None:
    if allowed_api_urls is None:  # a local worker: its parent and its database are the user's own
        return
    refusal = Allowlists.build(api_urls=allowed_api_urls).api_url_refusal(api_url)
    if refusal is not None:
        raise DestinationNotAllowed(refusal.message.replace("spec.api.baseUrl", "the API URL", 1))


def stored_settings(stored: Any, spec: dict[str, Any]) -> SyncSettings:
    """The run's stored settings with the Job's own values in place, checked as a spec's are
    (SyncSettings validates itself), or SettingsError.

    The database is not the resource's author: whoever can write it must not give a batch a rate past
    the token's budget, a lease of a year or a locale the timeline cannot word, and a row it mangled
    must fail the attempt where the status shows it, not the worker before it claims.
    """
    try:
        return SyncSettings.from_json(stored).replace(**spec)
    except SettingsError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise SettingsError(f"they cannot be read ({type(exc).__name__})") from None


async def process_batch(
    pool: AsyncConnectionPool,
    batch_id: str,
    token: str,
    *,
    on_response: OnResponse | None = None,
    api_url: str | None = None,
    company_id: str | None = None,
    redact: Sequence[str] | None = None,
    allowed_api_urls: Sequence[str] | None = None,
) -> BatchOutcome:
    """Claim and process one batch.

    `api_url`, `company_id` and `redact` (a Job's environment, from the resource's spec) take the place
    of those stored with the run: whoever can write the database must not be able to send a tenant's
    token elsewhere, read another company the token reaches, or have redacted fields stored. With
    `allowed_api_urls` (a Job's allowlist) any other URL fails the attempt before a request.
    """
    found = await queue_store.batch_and_run(pool, batch_id)
    if found is None:
        raise LookupError(f"batch {batch_id} does not exist")
    if not found.run_found:
        raise LookupError(f"batch {batch_id} belongs to no run")
    spec: dict[str, Any] = {"api_url": api_url, "company_id": company_id}
    spec = {name: value for name, value in spec.items() if value}
    if redact is not None:
        spec["redact"] = tuple(redact)
    settings: SyncSettings | None = None
    unusable = ""
    try:
        settings = stored_settings(found.settings, spec)
    except SettingsError as exc:
        unusable = f"the run's stored settings are not usable: {exc}"
    # Claimed either way, so an unusable row fails the attempt where the run's status shows it.
    lease_seconds = settings.lease_seconds if settings else queue_store.DEFAULT_LEASE_SECONDS
    batch = await queue_store.claim(pool, batch_id, lease_seconds=lease_seconds)
    if batch is None:
        log.info("batch %s is %s, not pending: nothing to do", batch_id, found.status)
        return BatchOutcome(batch_id, "skipped")
    if settings is None:
        outcome = await queue_store.fail(pool, batch_id, unusable, {"attempt": batch.attempts})
        return BatchOutcome(batch_id, outcome, error=unusable)

    lease = asyncio.create_task(_keep_lease(pool, batch_id, settings.lease_seconds))
    tally = RequestTally()

    def counted(endpoint: str, status_class: str, seconds: float) -> None:
        tally(endpoint, status_class, seconds)
        if on_response is not None:
            on_response(endpoint, status_class, seconds)

    try:
        _check_destination(settings.api_url, allowed_api_urls)
        async with make_client(settings, token, pool, counted) as client:
            result = await process_employees(client, pool, settings, batch.employee_ids, run_id=batch.run_id)
    except Exception as exc:
        error = one_line(exc)
        details = {"traceback": traceback_text(exc), "attempt": batch.attempts}
        await _record_requests(pool, settings.scope, tally)
        outcome = await queue_store.fail(
            pool,
            batch_id,
            error,
            details,
            backoff_base=settings.backoff_seconds,
            backoff_max=settings.backoff_max_seconds,
        )
        return BatchOutcome(batch_id, outcome, error=error)
    finally:
        await cancel_and_wait(lease)
    await _record_requests(pool, settings.scope, tally)
    await queue_store.complete(pool, batch_id, result.to_json())
    return BatchOutcome(batch_id, "completed", result=result)


async def _record_requests(pool: AsyncConnectionPool, scope: str, tally: RequestTally) -> None:
    """Best effort: a lost count must never fail (or retry) the batch it describes."""
    try:
        await add_request_counts(pool, scope, tally.take())
    except Exception as exc:
        log.warning("could not record this attempt's API request counts: %s", type(exc).__name__)
