"""Deliver the outbox's events to webhook receivers: at least once, signed, in order per employee.

One `Deliverer` per database. It holds the receivers (URL and signing secret, from Kubernetes Secrets
or the CLI's flags) of the (scope, webhook) pairs it serves, in memory only, and keeps up to
`concurrency` requests in flight, at most `per_receiver` of them to one receiver: whenever a slot is
free it claims due events for the free slots, in turns between the receivers (the one with the fewest
in flight first), POSTs each at once and records each outcome when it is in. So one receiver that
stalls (answers only at the timeout, or trickles) holds at most its own slots, and one that fails with
a long backlog gets its turn like the others rather than the whole of every claim. Once a request to a
receiver has timed out it is sent one request at a time (a probe) until one is answered: so stalled
receivers hold one slot each, not four, and several of them cannot take every slot of the database
from the healthy ones for longer than their first timeout. A 2xx is delivered;
anything else is retried after an exponential backoff with jitter until the event's max age has
passed, then it is dead-lettered with its last error. It wakes on ``NOTIFY employes_sync_outbox`` (sent
when events are written) and when a request ends, and otherwise sleeps until the next retry is due.

Errors recorded or logged are a status code or an exception's class: never the URL (it may carry a
token) nor the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg
from psycopg_pool import AsyncConnectionPool

from employes_sync import __version__
from employes_sync.cancelling import cancel_and_wait
from employes_sync.employes.trust import shared_ssl_context
from employes_sync.store import outbox
from employes_sync.store.outbox import OutboxEvent, Target
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
    #: requests in flight at most, over every receiver of the database
    concurrency: int = 16
    #: requests in flight at most to one receiver (scope, webhook): a stalled one holds no more
    per_receiver: int = 4
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    lease_seconds: float = 60.0
    #: the longest sleep without a wake-up (a missed NOTIFY costs at most this)
    idle_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 1 <= self.per_receiver <= self.concurrency:
            raise ValueError("per_receiver must be between 1 and concurrency")
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("lease_seconds must be longer than timeout_seconds (a lease outlives a request)")


def rooms(
    targets: Iterable[Target],
    busy: Mapping[Target, int],
    *,
    concurrency: int,
    per_receiver: int,
    caps: Mapping[Target, int] | None = None,
) -> tuple[dict[Target, int], int]:
    """What a claim may take now: per receiver, how many more it may have in flight (those with none
    left out), and how many in all. A receiver's room never exceeds the free slots, nor its cap in
    `caps` (see `receiver_caps`) where it has one, else `per_receiver`."""
    free = max(concurrency - sum(busy.values()), 0)
    limit = caps or {}
    room = {t: min(limit.get(t, per_receiver) - busy.get(t, 0), free) for t in targets}
    return {t: n for t, n in room.items() if n > 0}, free


def receiver_caps(stalled: Iterable[Target]) -> dict[Target, int]:
    """The in-flight cap of each stalled receiver: one request (a probe) until one of them is answered.

    A receiver not named keeps `per_receiver`. Without this a stalled receiver with a backlog had its
    next events claimed as soon as its requests timed out, so it held all of its slots for as long as
    it stalled, and four of them held every slot of the database. Only a timeout counts: a receiver
    that fails fast (an error status, a refused connection) holds a slot for no time, and its events
    keep their own retries, so each dies at its own max age while the receiver is down.
    """
    return {target: 1 for target in stalled}


def after_attempt(stalled: frozenset[Target], target: Target, error: str | None) -> frozenset[Target]:
    """The stalled receivers once an attempt to `target` has ended: a timeout makes it stalled, any
    answer (a delivery, or a failure that came back before the timeout) ends its stall."""
    if error == TIMED_OUT:
        return stalled | {target}
    return stalled - {target}


def retry_delay(attempts: int, base: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base·2^(attempts-1), capped, times a factor in [0.5, 1].

    The exponent stops at 64, which any cap is below: 2^1024 is no float, and an event retried that
    often (a long max age at a short cap) raised OverflowError in the loop that records the outcomes.
    """
    delay = min(maximum, base * 2 ** min(max(attempts - 1, 0), 64))
    return float(delay * (rng or random).uniform(0.5, 1.0))


#: The error of a request that got no full answer within the timeout: the receiver stalls.
TIMED_OUT = "timed out (TimeoutError)"
#: The error of an event whose receiver was removed between its claim and its sending.
NO_RECEIVER = "no receiver configured"

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
        return TIMED_OUT
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        # A ClientConnectorError too, but the fix is a CA, not the network.
        return "TLS certificate not trusted (CertificateError)"
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
        self._receivers: dict[Target, Receiver] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None  # made on first use, inside the running loop
        #: seq -> (target, its request): what is being sent now
        self._in_flight: dict[int, tuple[Target, asyncio.Task[None]]] = {}
        #: requests that ended, their outcome (None: delivered) not yet recorded
        self._ended: list[tuple[OutboxEvent, str | None]] = []
        #: receivers whose last attempt timed out (in memory: a restart tries each in full again)
        self._stalled: frozenset[Target] = frozenset()
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

    def adopt(self, ended: Deliverer) -> None:
        """Take over the receivers of a loop that ended (what it had in flight is sent again once its
        leases end)."""
        self._receivers.update(ended._receivers)
        self.wake()

    @property
    def targets(self) -> list[Target]:
        return sorted(self._receivers)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Let `run` return once the requests in flight have ended (each by its timeout at the latest)
        and their outcomes are recorded (cancelling it would leave them leased until the lease ends)."""
        self._stopping = True
        self._wake.set()

    # --- delivering ------------------------------------------------------------------------------

    def _busy(self) -> Counter[Target]:
        return Counter(target for target, _ in self._in_flight.values())

    def in_flight(self, target: Target) -> int:
        """Requests being sent to one receiver now."""
        return self._busy()[target]

    def _rooms(self) -> tuple[dict[Target, int], int]:
        s = self.settings
        caps = receiver_caps(self._stalled)
        return rooms(
            self.targets, self._busy(), concurrency=s.concurrency, per_receiver=s.per_receiver, caps=caps
        )

    async def _pass(self) -> int:
        """Record the outcomes that are in, then claim due events for the free slots and start sending
        them; returns how many were started. Never waits for a request."""
        await self._record()
        room, free = self._rooms()
        if not room:
            return 0
        events = await outbox.claim(
            self.pool,
            room,
            limit=free,
            busy=self._busy(),
            in_flight=list(self._in_flight),
            lease_seconds=self.settings.lease_seconds,
        )
        for event in events:
            task = asyncio.create_task(self._attempt(event), name=f"webhook-{event.seq}")
            self._in_flight[event.seq] = ((event.scope, event.webhook), task)
        return len(events)

    async def _attempt(self, event: OutboxEvent) -> None:
        try:
            error = await self._send(event)
        except Exception as exc:  # a bug here must not leave the event in flight for ever
            error = describe(None, exc)
        finally:
            self._in_flight.pop(event.seq, None)
        if error != NO_RECEIVER:  # the receiver was not tried: says nothing of it
            self._stalled = after_attempt(self._stalled, (event.scope, event.webhook), error)
        self._ended.append((event, error))
        self._wake.set()

    async def _record(self) -> None:
        """Write the outcomes that are in: the deliveries in one statement, each failure in its own.

        An outcome is dropped only once written, so a database error loses none: the next pass writes
        it, and until then its lease keeps it from being sent again."""
        left, self._ended = self._ended, []
        try:
            delivered = [event for event, error in left if error is None]
            await outbox.delivered(self.pool, [event.seq for event in delivered])
            left = [(event, error) for event, error in left if error is not None]
            self.delivered += len(delivered)
            for event in delivered:
                self._result(event.scope, "delivered")
            while left:
                event, error = left[0]
                assert error is not None
                delay = retry_delay(
                    event.attempts + 1, self.settings.backoff_base_seconds, self.settings.backoff_max_seconds
                )
                status = await outbox.failed(self.pool, event.seq, error, delay)
                left.pop(0)
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
        finally:
            self._ended[:0] = left

    async def _settle(self) -> None:
        """Wait for the requests in flight to end (each by its timeout at the latest), then record them."""
        while self._in_flight:
            await asyncio.wait([task for _, task in self._in_flight.values()])
        await self._record()

    async def deliver_due(self) -> int:
        """One round: claim what is due for the free slots, send it, wait for it and record it; returns
        how many attempts were made (`run` does the same without waiting for a round to end)."""
        started = await self._pass()
        await self._settle()
        return started

    def _result(self, scope: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(scope, result)

    async def _send(self, event: OutboxEvent) -> str | None:
        """POST one event; None when the receiver took it (2xx), else the error to record."""
        receiver = self._receivers.get((event.scope, event.webhook))
        if receiver is None:  # removed between claim and send: try again once it is back
            return NO_RECEIVER
        headers = {**sign_headers(receiver.secret, event.id, event.body), **_HEADERS}
        try:
            async with self._client().post(
                receiver.url, data=event.body.encode(), headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await _discard_answer(response)
        except Exception as exc:  # anything: one receiver must not end the loop
            # Not only aiohttp's own errors: a host no DNS name can be made of ("a..b") raises
            # UnicodeError from the resolver, which ended deliver_due and so every tenant's loop.
            return describe(None, exc)
        return None if 200 <= status < 300 else describe(status)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # a backstop: the loop never has more than `concurrency` requests out. The API client's
                # trust: a company's receiver behind its own CA is trusted through the same extra CA.
                connector=aiohttp.TCPConnector(limit=self.settings.concurrency, ssl=shared_ssl_context()),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            )
        return self._session

    async def run(self) -> None:
        """Deliver until `stop()` (then the requests in flight end and are recorded) or cancelled."""
        listener = asyncio.create_task(self._listen()) if self._dsn else None
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self._pass()
                    wait = await self._until_next_due()
                except (psycopg.Error, OSError) as exc:
                    log.warning("webhook delivery paused: database error (%s)", type(exc).__name__)
                    wait = self.settings.idle_seconds
                await self._sleep(wait)
            try:
                await self._settle()
            except (psycopg.Error, OSError) as exc:  # their leases end and they are sent again
                log.warning("webhook outcomes not recorded: database error (%s)", type(exc).__name__)
        finally:
            await self._abandon()
            if listener is not None:
                await cancel_and_wait(listener)

    async def drain(self, timeout: float) -> dict[str, int]:
        """Deliver until nothing of our targets is pending or ``timeout`` passed; the counts left.

        Requests still in flight at the deadline end by their own timeout and are recorded."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self._wake.clear()
                await self._pass()
                if not self._in_flight and not self._ended:
                    wait = await outbox.next_due_seconds(self.pool, self.targets)
                    if wait is None:
                        break
                else:
                    wait = await self._until_next_due()
                await self._sleep(min(wait, max(deadline - time.monotonic(), 0)))
            await self._settle()
        finally:
            await self._abandon()
        pending = 0
        for scope in {scope for scope, _ in self.targets}:
            pending += (await outbox.counts(self.pool, scope))["pending"]
        return {"delivered": self.delivered, "failed": self.failed, "dead": self.dead, "pending": pending}

    async def _abandon(self) -> None:
        """Cancel what is still in flight (the loop was cancelled): sent again once their leases end."""
        await cancel_and_wait(*(task for _, task in self._in_flight.values()))
        self._in_flight.clear()

    async def close(self) -> None:
        await self._abandon()
        if self._session is not None:
            await self._session.close()

    async def _until_next_due(self) -> float:
        """How long the loop may sleep: until the next claimable event of a receiver with room is due.
        A request that ends wakes it, so receivers with every slot taken are not asked about."""
        room, _ = self._rooms()
        wait = await outbox.next_due_seconds(self.pool, list(room))
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
