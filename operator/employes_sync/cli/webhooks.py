"""`sync --webhook-url URL --webhook-secret-file F`: deliver a run's webhook events from this process.

So a newcomer can watch signed webhooks arrive from the demo without a cluster: the run subscribes a
webhook named ``cli`` (its events go to the outbox like the operator's), this process delivers while
the run goes on, and then waits up to ``--webhook-wait`` seconds for what is left. Events still
pending then stay in the outbox and go out with the next sync that names the same receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from psycopg_pool import AsyncConnectionPool

from employes_sync.cancelling import cancel_and_wait
from employes_sync.cli.common import fail, on_command_line, read_text_file, warn
from employes_sync.settings import WEBHOOK_EVENTS, subscription
from employes_sync.webhooks.delivery import Deliverer, DeliverySettings, Receiver
from employes_sync.webhooks.signing import WebhookConfigError, check_url, parse_secret

F = TypeVar("F", bound=Callable[..., Any])
NAME = "cli"


@dataclass(frozen=True)
class CliWebhook:
    url: str = field(repr=False)
    secret: str = field(repr=False)
    events: tuple[str, ...]
    include_details: bool
    max_age_seconds: float
    wait_seconds: float
    delivery: DeliverySettings

    def subscription(self) -> dict[str, Any]:
        return subscription(NAME, self.events, self.include_details, self.max_age_seconds)


WEBHOOK_URL_ENV = "EMPLOYES_SYNC_WEBHOOK_URL"


def carries_credential(url: str) -> bool:
    """Whether a receiver URL holds what looks like a credential: a user or password, a query, or a path
    segment as long as a token (`/hooks/T0123/B456/XXXXXXXXXXXXXXXX` in a chat service's incoming URL).

    A URL that cannot be split (`https://[::1/h`) is not judged here: `check_url` refuses it in one
    line, where raising from this option callback ended `sync` in a traceback."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.username or parts.password or parts.query:
        return True
    return any(len(segment) >= 16 for segment in parts.path.split("/"))


def _check_webhook_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A warning for a receiver URL with a credential on the command line, which `ps` shows to every
    user of the machine, as `--database-url` warns for a password."""
    if value and on_command_line(ctx, param) and carries_credential(value):
        warn(
            "--webhook-url looks like it carries a credential (a user, a query or a token-like path), "
            f"which `ps` shows to every user of this machine; set ${WEBHOOK_URL_ENV} instead"
        )
    return value


def webhook_options(command: F) -> F:
    options = [
        click.option(
            "--webhook-url",
            envvar=WEBHOOK_URL_ENV,
            callback=_check_webhook_url,
            help=f"Deliver the run's webhook events to this receiver (https); or ${WEBHOOK_URL_ENV}, which "
            "`ps` does not show.",
        ),
        click.option(
            "--webhook-secret-file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="File holding the receiver's Standard Webhooks signing secret (whsec_...).",
        ),
        click.option(
            "--webhook-allow-insecure", is_flag=True, help="Allow an http:// receiver URL (local tests)."
        ),
        click.option(
            "--webhook-event",
            "webhook_events",
            multiple=True,
            type=click.Choice(WEBHOOK_EVENTS),
            help="An event type to send (repeatable). Default: all of them.",
        ),
        click.option("--webhook-details", is_flag=True, help="Include titles, descriptions and amounts."),
        click.option(
            "--webhook-max-age",
            type=click.FloatRange(1, 30 * 86400),
            default=86400,
            show_default=True,
            help="Seconds an event is retried before it is dead-lettered.",
        ),
        click.option(
            "--webhook-wait",
            type=click.FloatRange(0, 86400),
            default=30,
            show_default=True,
            help="Seconds to keep delivering after the run ends.",
        ),
        click.option("--webhook-backoff-max", type=click.FloatRange(0.01, 3600), default=300, hidden=True),
        click.option("--webhook-backoff-base", type=click.FloatRange(0.01, 600), default=1, hidden=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def webhook_from_options(options: dict[str, Any]) -> CliWebhook | None:
    """The webhook the options ask for (one line and exit 2 on a bad one), or None."""
    url, secret_file = options.pop("webhook_url"), options.pop("webhook_secret_file")
    allow_insecure = options.pop("webhook_allow_insecure")
    events = options.pop("webhook_events") or WEBHOOK_EVENTS
    details, max_age, wait = (
        options.pop("webhook_details"),
        options.pop("webhook_max_age"),
        options.pop("webhook_wait"),
    )
    backoff_max, backoff_base = options.pop("webhook_backoff_max"), options.pop("webhook_backoff_base")
    if url is None and secret_file is None:
        return None
    if url is None or secret_file is None:
        fail(f"--webhook-url (or ${WEBHOOK_URL_ENV}) and --webhook-secret-file go together", 2)
    text = read_text_file(secret_file, "webhook secret file")
    try:
        return CliWebhook(
            url=check_url(url, NAME, allow_insecure=allow_insecure),
            secret=parse_secret(text, NAME),
            events=tuple(events),
            include_details=details,
            max_age_seconds=max_age,
            wait_seconds=wait,
            delivery=DeliverySettings(backoff_base_seconds=backoff_base, backoff_max_seconds=backoff_max),
        )
    except WebhookConfigError as exc:
        fail(str(exc), 2)


@contextlib.asynccontextmanager
async def delivering(
    pool: AsyncConnectionPool, dsn: str, scope: str, webhook: CliWebhook | None, report: dict[str, Any]
) -> AsyncIterator[None]:
    """Deliver while the body runs, then drain; the counts end up in ``report``."""
    if webhook is None:
        yield
        return
    from employes_sync.metrics import record_webhook_delivery

    deliverer = Deliverer(pool, webhook.delivery, dsn=dsn, on_result=record_webhook_delivery)
    deliverer.set_receivers(scope, [Receiver(scope, NAME, webhook.url, webhook.secret)])
    task = asyncio.create_task(deliverer.run())
    try:
        yield
    finally:
        deliverer.stop()
        try:
            async with asyncio.timeout(webhook.delivery.timeout_seconds + 5):
                await task
        except TimeoutError:
            await cancel_and_wait(task)
        try:
            report.update(await deliverer.drain(webhook.wait_seconds))
        finally:
            await deliverer.close()
