"""A local stand-in for the Employes.nl API v4, for tests, the demo and benchmarks.

It serves the three endpoints the client uses with deterministic data (`fakedata`), enforces the
API's limit the way a gateway does (a token bucket per token of `rps` tokens refilled at `rps`/s,
answering 429 + Retry-After), checks the bearer token, and misbehaves on request (`sim.faults`) so the
client's retry paths are tested over real HTTP. One simulator can serve many companies at once
(`companies=N`), each with its own id, data and token (or one token for all of them, as an accountant's
token would be: `shared_token=True`), for scale tests and benchmarks. Responses are pre-serialised
once per employee so that thousands of employees at high request rates cost little CPU.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import ssl
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from employes_sync.employes.fakedata import DEMO_COMPANY_ID, DEMO_TOKEN, SimEmployee, generate_company
from employes_sync.employes.faults import Fault, Faults

__all__ = ["Faults", "SimCompany", "Simulator", "SimulatorConfig", "SimulatorStats", "serve_in_thread"]

MiB = 1024 * 1024


@dataclass
class SimulatorConfig:
    """What the simulated service looks like; fields may be changed while it runs."""

    employees: int = 78
    seed: int = 1
    requests_per_second: float = 5.0  # per token; 0 disables the limit
    latency_ms: float = 80.0
    latency_jitter: float = 0.25  # each response waits latency * (1 ± jitter)
    fault_rate: float = 0.0  # fraction of requests answered with a random 500/503
    token: str = DEMO_TOKEN
    company_id: str = DEMO_COMPANY_ID
    max_per_page: int = 100
    employee_envelope: bool = True  # GET /employees/{id} answers {data: {...}} rather than {...}
    employments_envelope: bool = True  # GET .../employments answers {data: [...]} rather than [...]
    company: Sequence[SimEmployee] | None = field(default=None, repr=False)  # serve these instead
    companies: int = 1  # companies served; the first is `company_id`, see `company_ids()` for the rest
    shared_token: bool = False  # one token (`token`) for every company, instead of one each

    def company_ids(self) -> list[str]:
        """The companies served: `company_id` first, then ids derived from the seed (stable across runs)."""
        return [self.company_id] + [
            str(uuid.uuid5(uuid.NAMESPACE_URL, f"employes-sync-simulator:{self.seed}:{i}"))
            for i in range(1, self.companies)
        ]

    def token_for(self, index: int) -> str:
        """The bearer token of the index-th company: `token`, or `token-<index>` unless shared."""
        return self.token if index == 0 or self.shared_token else f"{self.token}-{index}"


@dataclass
class SimCompany:
    """One company the simulator serves, with its responses pre-serialised."""

    index: int
    company_id: str
    token: str
    employees: list[SimEmployee]
    by_id: dict[str, int] = field(init=False, repr=False)
    employee_json: list[bytes] = field(init=False, repr=False)
    employments_json: dict[int, bytes] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {sim.id: i for i, sim in enumerate(self.employees)}
        self.employee_json = [_dumps(sim.employee) for sim in self.employees]


class SimulatorStats:
    """What the simulator answered, for tests to assert on (e.g. "exactly one request, a 401")."""

    def __init__(self, keep_arrivals: int = 100_000) -> None:
        self._lock = threading.Lock()
        # (endpoint kind, status) -> count; status 0 is a dropped connection
        self.requests: Counter[tuple[str, int]] = Counter()
        # (monotonic arrival time, kind, status), for spacing checks
        self.arrivals: deque[tuple[float, str, int]] = deque(maxlen=keep_arrivals)

    def record(self, kind: str, status: int, arrived: float) -> None:
        with self._lock:
            self.requests[(kind, status)] += 1
            self.arrivals.append((arrived, kind, status))

    def count(self, kind: str | None = None, status: int | None = None) -> int:
        """Requests matching an endpoint kind and/or status (0 = connection dropped)."""
        with self._lock:
            return sum(
                n
                for (k, s), n in self.requests.items()
                if (kind is None or k == kind) and (status is None or s == status)
            )

    @property
    def total(self) -> int:
        return self.count()

    @property
    def rate_limited(self) -> int:
        """429s sent, by the limiter or by an injected storm."""
        return self.count(status=429)

    def by_status(self) -> dict[int, int]:
        with self._lock:
            result: Counter[int] = Counter()
            for (_, status), n in self.requests.items():
                result[status] += n
            return dict(result)

    def arrival_times(self, kind: str | None = None, status: int | None = None) -> list[float]:
        with self._lock:
            return [
                t
                for t, k, s in self.arrivals
                if (kind is None or k == kind) and (status is None or s == status)
            ]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.arrivals.clear()

    def __repr__(self) -> str:
        return f"SimulatorStats(total={self.total}, by_status={self.by_status()})"


class Simulator:
    """The Employes API v4 for one company (or `companies` of them), as an aiohttp application.

    Faults (`sim.faults`) apply to every company; a rotated token replaces the first company's.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        if self.config.companies < 1:
            raise ValueError(f"companies must be at least 1, got {self.config.companies}")
        given = self.config.company
        self.companies: list[SimCompany] = []
        for index, company_id in enumerate(self.config.company_ids()):
            employees = (
                list(given)
                if given is not None and index == 0
                else generate_company(self.config.employees, self.config.seed + index)
            )
            self.companies.append(SimCompany(index, company_id, self.config.token_for(index), employees))
        self._by_company_id = {c.company_id: c for c in self.companies}
        self._other_tokens = frozenset(c.token for c in self.companies[1:])
        self.company: list[SimEmployee] = self.companies[0].employees
        self.stats = SimulatorStats()
        self.faults = Faults(self.config.seed)
        self.url: str | None = None
        self.port: int | None = None
        self._rng = random.Random(f"esync-latency:{self.config.seed}")
        self._buckets: dict[str, list[float]] = {}  # token -> [tokens, last refill]
        self._runner: web.AppRunner | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self.app = self._build_app()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Listen on host:port (0 = a free port); returns the base URL ending in /v4.

        With `ssl_context` (a server context holding its certificate) it serves HTTPS: how tests put
        the API behind a CA only some clients trust.
        """
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if ssl_context else 'http'}://{shown}:{self.port}/v4"
        return self.url

    async def stop(self) -> None:
        """Stop listening; requests still sleeping (slow faults, latency) are cancelled, not awaited."""
        for task in list(self._in_flight):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Forget faults, statistics and rate-limit state (between tests)."""
        self.faults.reset()
        self.stats.reset()
        self._buckets.clear()

    @property
    def employee_ids(self) -> list[str]:
        return [sim.id for sim in self.company]

    # -- HTTP ---------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v4/{company}/employees", self._employees)
        app.router.add_get("/v4/{company}/employees/{employee}", self._employee)
        app.router.add_get("/v4/{company}/employees/{employee}/employments", self._employments)
        app.router.add_get("/v4/{company}/employees/{employee}/{other}", self._forbidden)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _employees(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "employees", self._page_body)

    async def _employee(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "employee", self._employee_body)

    async def _employments(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "employments", self._employments_body)

    async def _forbidden(self, request: web.Request) -> web.StreamResponse:
        # /salary-history, /contracts, /hours exist but a payroll token may not read them.
        return await self._serve(
            request, "other", lambda *_: (403, _dumps({"message": "This action is unauthorized."}))
        )

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        self.stats.record("other", 404, time.monotonic())
        return _json_response(404, _dumps({"message": "Not found."}))

    async def _serve(self, request: web.Request, kind: str, produce: Any) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        arrived = time.monotonic()
        status, body, headers, fault = self._decide(request, kind, arrived, produce)
        dropped = fault is not None and fault.kind == "drop"
        # Counted on arrival, so a test sees a slow request before its answer is sent.
        self.stats.record(kind, 0 if dropped else status, arrived)
        delay = self._latency()
        if fault is not None and fault.kind == "slow":
            delay += fault.seconds
        if delay > 0:
            await asyncio.sleep(delay)
        if dropped:
            return await _drop(request)
        if fault is not None and fault.kind == "oversized":
            return await _oversized(request, fault.size, declare_length=fault.declare_length)
        return _json_response(status, body, headers)

    def _accepted_token(self, company: SimCompany) -> str:
        return self.faults.accepted_token(company.token) if company.index == 0 else company.token

    def _decide(
        self, request: web.Request, kind: str, now: float, produce: Any
    ) -> tuple[int, bytes, dict[str, str], Fault | None]:
        """Status and body in the order a real gateway checks: token, company, limit, then data."""
        token = _bearer(request)
        if token is None or not self._authenticated(token):
            return 401, _dumps({"message": "Unauthenticated."}), {}, None
        company = self._by_company_id.get(request.match_info["company"])
        if company is None or token != self._accepted_token(company):
            return 404, _dumps({"message": "Company not found."}), {}, None
        wait = self._take_token(token, now)
        if wait is not None:
            return 429, _dumps({"message": "Too Many Attempts."}), {"Retry-After": str(wait)}, None
        fault = self.faults.take(kind, default_fault_rate=self.config.fault_rate)
        if fault is not None:
            if fault.kind == "status":
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                return fault.status, _dumps({"message": f"Injected {fault.status}."}), headers, None
            if fault.kind == "malformed":
                return 200, b'{"data": [{"id": "broken", <html>Bad Gateway</html>', {}, None
            if fault.kind == "truncated":
                status, body = produce(company, request)
                return status, body[: max(1, len(body) // 2)], {}, None
            if fault.kind in ("slow", "drop", "oversized"):
                status, body = produce(company, request)
                return status, body, {}, fault
        status, body = produce(company, request)
        return status, body, {}, None

    def _authenticated(self, token: str) -> bool:
        return token == self._accepted_token(self.companies[0]) or token in self._other_tokens

    def _take_token(self, key: str, now: float) -> int | None:
        """None if the request may pass, else the Retry-After seconds (a whole number, at least 1)."""
        rate = self.config.requests_per_second
        if not rate or rate <= 0:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [rate, now]
        tokens = min(rate, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / rate))

    def _latency(self) -> float:
        base = self.config.latency_ms / 1000.0
        if base <= 0:
            return 0.0
        jitter = self.config.latency_jitter
        return base * (1.0 + self._rng.uniform(-jitter, jitter))

    # -- bodies -------------------------------------------------------------------------------

    def _visible(self, company: SimCompany) -> list[int]:
        removed = self.faults.removed_ids()
        if not removed:
            return list(range(len(company.employees)))
        return [i for i, sim in enumerate(company.employees) if sim.id not in removed]

    def _page_body(self, company: SimCompany, request: web.Request) -> tuple[int, bytes]:
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", str(self.config.max_per_page)))
        except ValueError:
            return 422, _dumps({"message": "page and per_page must be integers."})
        if page < 1 or per_page < 1:
            return 422, _dumps({"message": "page and per_page must be positive."})
        per_page = min(per_page, self.config.max_per_page)
        removed = self.faults.removed_ids()
        if removed:
            visible = self._visible(company)
            total = len(visible)
            chosen = visible[(page - 1) * per_page : page * per_page]
        else:
            total = len(company.employees)
            chosen = list(range((page - 1) * per_page, min(total, page * per_page)))
        corrupt = self.faults.corrupt_indices()
        items = [
            _dumps(_mangle(company.employees[i].employee, i)) if i in corrupt else company.employee_json[i]
            for i in chosen
        ]
        pages = math.ceil(total / per_page)
        body = (
            b'{"data":['
            + b",".join(items)
            + f'],"total":{total},"pages":{pages},"page":{page},"per_page":{per_page}}}'.encode()
        )
        return 200, body

    def _lookup(self, company: SimCompany, request: web.Request) -> int | None:
        employee_id = request.match_info["employee"]
        index = company.by_id.get(employee_id)
        if index is None or employee_id in self.faults.removed_ids():
            return None
        return index

    def _employee_body(self, company: SimCompany, request: web.Request) -> tuple[int, bytes]:
        index = self._lookup(company, request)
        if index is None:
            return 404, _dumps({"message": "Employee not found."})
        body = company.employee_json[index]
        if index in self.faults.corrupt_indices():
            body = _dumps(_mangle(company.employees[index].employee, index))
        if self.config.employee_envelope:
            body = b'{"data":' + body + b"}"
        return 200, body

    def _employments_body(self, company: SimCompany, request: web.Request) -> tuple[int, bytes]:
        index = self._lookup(company, request)
        if index is None:
            return 404, _dumps({"message": "Employee not found."})
        sim = company.employees[index]
        how = self.faults.malformed_employments_for(sim.id)
        if how == "json":
            return 200, b'{"data": [{"id": "' + sim.id.encode() + b'", "start_date": '
        if how == "invalid":
            broken = [dict(e) for e in sim.employments] or [{"id": "x"}]
            broken[0]["start_date"] = "31/12/2020"
            broken[0]["salary"] = [{"start_date": "2020-01-01T00:00:00", "hour_wage": "n/a"}]
            data = _dumps(broken)
        elif sim.employments_not_found and not sim.employments:
            return 404, _dumps({"message": "No employments found."})
        else:
            cached = company.employments_json.get(index)
            if cached is None:
                cached = company.employments_json[index] = _dumps(sim.employments)
            data = cached
        if self.config.employments_envelope:
            data = b'{"data":' + data + b"}"
        return 200, data


def _mangle(employee: dict[str, Any], index: int) -> dict[str, Any]:
    """A deterministic kind of breakage per index: a missing id, a bad date, a wrong type, ..."""
    broken = dict(employee)
    style = index % 4
    if style == 0:
        broken.pop("id", None)
    elif style == 1:
        broken["date_of_birth"] = "31-12-1990"
    elif style == 2:
        broken["yearly_wage"] = "lots"
    else:
        broken["employment"] = "current"
    for optional in ("email", "phone_number", "street"):
        broken.pop(optional, None)
    return broken


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=body, headers=headers, content_type="application/json")


async def _drop(request: web.Request) -> web.StreamResponse:
    # Close the socket without a response: what a crashed pod or a reset proxy looks like.
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


async def _oversized(request: web.Request, size: int, *, declare_length: bool) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    chunk = b'{"id":"' + b"x" * 8180 + b'"},'
    if declare_length:
        response.content_length = size
    else:
        response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        await response.write(b'{"data":[')
        sent = 9
        while sent + len(chunk) < size - 2:
            await response.write(chunk)
            sent += len(chunk)
        await response.write(b"{}" + b"]}"[: max(0, size - sent - 2)])
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client gave up reading, as it should
    return response


@contextmanager
def serve_in_thread(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[Simulator]:
    """Run a simulator on its own event loop in a daemon thread, for sync code and fixtures."""
    sim = Simulator(config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(sim.start(host, port, ssl_context=ssl_context))
        except BaseException as error:
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(sim.stop())
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name="employes-simulator", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("simulator did not start within 30 s")
    if failure:
        raise failure[0]
    try:
        yield sim
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
