"""Deliver the outbox's events to webhook receivers: at least once, signed, in order per employee.

One `Deliverer` per database. It holds the receivers (URL and signing secret, from Kubernetes Secrets
or the CLI's flags) of the (scope, webhook) pairs it serves, in memory only, and loops: claim due events,
POST them concurrently, record each outcome. A 2xx is delivered; anything else is retried after an
exponential backoff with jitter until the event's max age has passed, then it is dead-lettered with its
last error. It wakes on ``NOTIFY employes_sync_outbox`` (sent when events are written) and otherwise
sleeps until the next retry is due.

Errors recorded or logged are a status code or an exception's class: never the URL (it may carry a
token) nor the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync import __version__
from employes_sync.cancelling import cancel_and_wait
from employes_sync.store import outbox
from employes_sync.store.outbox import OutboxEvent
from employes_sync.webhooks.signing import sign_headers

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "employes_sync_outbox"
_HEADERS = {"user-agent": f"employes-sync/{__version__}", "content-type": "application/json"}

#: (scope, result) for every attempt: delivered, failed (retried later) or dead
OnResult = Callable[[str, str], None]


@dataclass(frozen=True)
class Receiver:
    scope: str
    webhook: str
    url: str = field(repr=False)
    secret: str = field(repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.scope, self.webhook)


@dataclass(frozen=True)
class DeliverySettings:
    concurrency: int = 16
    claim_limit: int = 100
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 60.0
    #: the longest sleep without a wake-up (a missed NOTIFY costs at most this)
    idle_seconds: float = 5.0


def retry_delay(attempts: int, base: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(attempts-1), capped, times a factor in [0.5, 1]."""
    delay = min(maximum, base * 2 ** max(attempts - 1, 0))
    return float(delay * (rng or random).uniform(0.5, 1.0))


#: The most of a receiver's answer that is read (and dropped): the status is all that counts.
ANSWER_LIMIT = 64 * 1024


async def _discard_answer(response: aiohttp.ClientResponse) -> None:
    """Read a short answer to its end, so its connection goes back to the pool; close a longer one.

    One process delivers every tenant's webhooks: a receiver must not make it read, or hold, an
    answer of any size (`response.read()` would keep the whole of it in memory).
    """
    left = ANSWER_LIMIT
    while left > 0:
        chunk = await response.content.read(min(left, 16 * 1024))
        if not chunk:
            return
        left -= len(chunk)
    if not response.content.at_eof():
        response.close()


def describe(status: int | None, exc: BaseException | None = None) -> str:
    """What went wrong in one line that holds no URL: a status, or the kind of transport failure.

    aiohttp's exception messages name the host and port, so only their class is kept.
    """
    if status is not None:
        return f"HTTP {status}"
    if isinstance(exc, TimeoutError):
        return "timed out (TimeoutError)"
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionError):
        return "connection failed (ConnectError)"
    return f"request failed ({type(exc).__name__})"


class Deliverer:
    """The delivery loop of one database (see the module docstring)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        settings: DeliverySettings | None = None,
        *,
        dsn: str | None = None,
        on_result: OnResult | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings or DeliverySettings()
        self._dsn = dsn  # for LISTEN; without one the loop only wakes on wake() and its timers
        self._on_result = on_result
        self._receivers: dict[tuple[str, str], Receiver] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the running loop
        self._gate = asyncio.Semaphore(self.settings.concurrency)
        self.delivered = 0
        self.failed = 0
        self.dead = 0

    # --- receivers ------------------------------------------------------------------------------

    def set_receivers(self, scope: str, receivers: list[Receiver]) -> None:
        """The scope's receivers from now on (a changed Secret or spec replaces them all).

        Wakes the loop only when they changed: every idle pass of every resource hands its receivers
        over again, and a wake-up costs two statements.
        """
        before = {k: r for k, r in self._receivers.items() if k[0] == scope}
        after = {r.key: r for r in receivers}
        if before == after:
            return
        for key in before:
            del self._receivers[key]
        self._receivers.update(after)
        self.wake()

    @property
    def targets(self) -> list[tuple[str, str]]:
        return sorted(self._receivers)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Let `run` return after the round in flight (cancelling it could leave events leased)."""
        self._stopping = True
        self._wake.set()

    # --- delivering ------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """One round: claim what is due, send it, record it; returns how many attempts were made."""
        events = await outbox.claim(
            self.pool,
            self.targets,
            limit=self.settings.claim_limit,
            lease_seconds=self.settings.lease_seconds,
        )
        if not events:
            return 0
        outcomes = await asyncio.gather(*(self._send(event) for event in events))
        delivered = [event.seq for event, error in zip(events, outcomes, strict=True) if error is None]
        await outbox.delivered(self.pool, delivered)
        self.delivered += len(delivered)
        for event, error in zip(events, outcomes, strict=True):
            if error is None:
                self._result(event.scope, "delivered")
                continue
            delay = retry_delay(
                event.attempts + 1, self.settings.backoff_base_seconds, self.settings.backoff_max_seconds
            )
            status = await outbox.failed(self.pool, event.seq, error, delay)
            if status == "dead":
                self.dead += 1
                self._result(event.scope, "dead")
                log.warning(
                    "webhook %s of %s: event %s dead-lettered after %d attempts: %s",
                    event.webhook, event.scope, event.id, event.attempts + 1, error,
                )  # fmt: skip
            else:
                self.failed += 1
                self._result(event.scope, "failed")
        return len(events)

    def _result(self, scope: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(scope, result)

    async def _send(self, event: OutboxEvent) -> str | None:
        """POST one event; None when the receiver took it (2xx), else the error to record."""
        receiver = self._receivers.get((event.scope, event.webhook))
        if receiver is None:  # removed between claim and send: try again once it is back
            return "no receiver configured"
        headers = {**sign_headers(receiver.secret, event.id, event.body), **_HEADERS}
        async with self._gate:
            try:
                async with self._client().post(
                    receiver.url, data=event.body.encode(), headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    await _discard_answer(response)
            except Exception as exc:  # anything: one receiver must not end the round
                # Not only aiohttp's own errors: a host no DNS name can be made of ("a..b") raises
                # UnicodeError from the resolver, which ended deliver_due and so every tenant's loop.
                return describe(None, exc)
        return None if 200 <= status < 300 else describe(status)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            )
        return self._session

    async def run(self) -> None:
        """Deliver until cancelled."""
        listener = asyncio.create_task(self._listen()) if self._dsn else None
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    made = await self.deliver_due()
                except (psycopg.Error, OSError) as exc:
                    log.warning("webhook delivery paused: database error (%s)", type(exc).__name__)
                    made = 0
                    await self._sleep(self.settings.idle_seconds)
                    continue
                if made:
                    continue
                await self._sleep(await self._until_next_due())
        finally:
            if listener is not None:
                await cancel_and_wait(listener)

    async def drain(self, timeout: float) -> dict[str, int]:
        """Deliver until nothing of our targets is pending or ``timeout`` passed; the counts left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.deliver_due():
                continue
            wait = await outbox.next_due_seconds(self.pool, self.targets)
            if wait is None:
                break
            await asyncio.sleep(min(max(wait, 0.01), max(deadline - time.monotonic(), 0)))
        pending = 0
        for scope in {scope for scope, _ in self.targets}:
            pending += (await outbox.counts(self.pool, scope))["pending"]
        return {"delivered": self.delivered, "failed": self.failed, "dead": self.dead, "pending": pending}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _until_next_due(self) -> float:
        wait = await outbox.next_due_seconds(self.pool, self.targets)
        if wait is None:
            return self.settings.idle_seconds
        return min(max(wait, 0.0), self.settings.idle_seconds)

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that meets a wake-up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.01)):
                await self._wake.wait()

    async def _listen(self) -> None:
        """Wake on every outbox write at commit; reconnect with backoff (the timers cover the gap)."""
        assert self._dsn is not None
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=10
                ) as conn:
                    await conn.execute("LISTEN employes_sync_outbox")
                    failures = 0
                    self.wake()
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.debug("outbox listener reconnecting (%s)", type(exc).__name__)
                await asyncio.sleep(retry_delay(failures, 0.5, 30.0))


def summary_line(counts: dict[str, Any]) -> str:
    """`sync`'s line about webhooks: what was delivered, and what is left for later."""
    line = f"{counts['delivered']} delivered"
    if counts.get("failed"):
        line += f", {counts['failed']} failed attempts"
    if counts.get("dead"):
        line += f", {counts['dead']} dead-lettered"
    if counts.get("pending"):
        line += f", {counts['pending']} still pending (sent by the next sync with this webhook)"
    return line
