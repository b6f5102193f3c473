"""The Employes client against the simulator over real HTTP: paging, retries, limits, secrecy."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from employes_sync.employes.client import EmployesClient, MiB, status_class
from employes_sync.employes.errors import (
    AuthenticationError,
    EmployesError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
)
from employes_sync.employes.ratelimit import RateLimiter, TokenBucket, Unlimited
from employes_sync.employes.retry import RetryPolicy, parse_retry_after
from employes_sync.employes.simulator import Simulator
from tests.fixtures.simulator import client_for
from tests.reliability import rows

MakeSimulator = Callable[..., Simulator]


def _employee_with(sim: Simulator, predicate: Callable[[Any], bool]) -> str:
    return next(s.id for s in sim.company if predicate(s))


async def _all_pages(client: EmployesClient) -> list[Any]:
    return [page async for page in client.iter_employee_pages()]


# -- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page_size", "requests"),
    [(100, 1), (78, 1), (26, 3), (39, 2), (25, 4), (1, 78)],
    ids=["single-page", "exactly-one-page", "exact-multiple-3", "exact-multiple-2", "remainder", "one-each"],
)
async def test_paging_fetches_every_employee_once_without_an_extra_empty_page(
    simulator: Simulator, page_size: int, requests: int
) -> None:
    async with client_for(simulator, page_size=page_size) as client:
        pages = await _all_pages(client)
    assert [p.page for p in pages] == list(range(1, requests + 1))
    assert all(p.pages == requests and p.total == 78 for p in pages)
    assert [e["id"] for p in pages for e in p.employees] == simulator.employee_ids
    assert simulator.stats.count("employees") == requests


async def test_an_empty_company_is_one_request(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=0, requests_per_second=0)
    async with client_for(sim) as client:
        pages = await _all_pages(client)
    assert [(p.page, p.total, p.employees) for p in pages] == [(1, 0, [])]
    assert sim.stats.total == 1


async def test_records_that_fail_validation_are_reported_not_retried(simulator: Simulator) -> None:
    broken = simulator.faults.corrupt_page(2, count=4, per_page=30)
    async with client_for(simulator, page_size=30) as client:
        pages = await _all_pages(client)
    assert [len(p.invalid) for p in pages] == [0, 4, 0]
    assert [index for index, _ in pages[1].invalid] == [0, 1, 2, 3]
    assert sum(len(p.employees) for p in pages) == 78 - len(broken)
    assert simulator.stats.count("employees") == 3


async def test_a_removed_employee_leaves_the_list_and_answers_404(simulator: Simulator) -> None:
    gone = simulator.employee_ids[5]
    simulator.faults.remove_employee(gone)
    async with client_for(simulator) as client:
        pages = await _all_pages(client)
        with pytest.raises(NotFoundError):
            await client.get_employee(gone)
        with pytest.raises(NotFoundError):
            await client.get_employments(gone)
    assert pages[0].total == 77
    assert gone not in {e["id"] for e in pages[0].employees}


# -- single employee and employments ------------------------------------------------------------


@pytest.mark.parametrize("envelope", [True, False])
async def test_one_employee_wrapped_or_bare(make_simulator: MakeSimulator, envelope: bool) -> None:
    sim = make_simulator(employees=5, requests_per_second=0, employee_envelope=envelope)
    async with client_for(sim) as client:
        employee = await client.get_employee(sim.employee_ids[2])
    assert employee == sim.company[2].employee


@pytest.mark.parametrize("envelope", [True, False])
async def test_employments_wrapped_or_bare(make_simulator: MakeSimulator, envelope: bool) -> None:
    sim = make_simulator(employees=20, requests_per_second=0, employments_envelope=envelope)
    rehired = _employee_with(sim, lambda s: len(s.employments) >= 2)
    async with client_for(sim) as client:
        employments = await client.get_employments(rehired)
    assert employments == next(s.employments for s in sim.company if s.id == rehired)


async def test_no_employments_is_an_empty_list_or_not_found(simulator: Simulator) -> None:
    empty = _employee_with(simulator, lambda s: not s.employments and not s.employments_not_found)
    missing = _employee_with(simulator, lambda s: s.employments_not_found)
    async with client_for(simulator) as client:
        assert await client.get_employments(empty) == []
        with pytest.raises(NotFoundError) as caught:
            await client.get_employments(missing)
    assert caught.value.status == 404 and not caught.value.transient
    assert simulator.stats.count("employments") == 2  # a 404 is never retried


async def test_invalid_employments_are_not_retried(simulator: Simulator) -> None:
    target = simulator.employee_ids[3]
    simulator.faults.malformed_employments(target, how="invalid")
    async with client_for(simulator) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.get_employments(target)
    assert not caught.value.transient
    assert "employments[0]: employment.start_date" in str(caught.value)
    assert simulator.stats.count("employments") == 1


async def test_unparseable_employments_are_retried_then_reported(simulator: Simulator) -> None:
    target = simulator.employee_ids[3]
    simulator.faults.malformed_employments(target, how="json")
    async with client_for(simulator, max_retries=2) as client:
        with pytest.raises(MalformedResponseError) as caught:
            await client.get_employments(target)
    assert caught.value.transient
    assert "not valid JSON" in str(caught.value)
    assert simulator.stats.count("employments") == 3


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "inject",
    [
        lambda f: f.fail_next(2, status=500),
        lambda f: f.fail_next(2, status=503),
        lambda f: f.malformed_next(2),
        lambda f: f.truncated_next(2),
        lambda f: f.drop_next(2),
        lambda f: (f.fail_next(1, 502), f.drop_next(1)),
    ],
    ids=["500", "503", "malformed-json", "truncated-json", "dropped-connection", "mixed"],
)
async def test_transient_failures_are_retried(simulator: Simulator, inject: Callable[[Any], Any]) -> None:
    inject(simulator.faults)
    async with client_for(simulator) as client:
        pages = await _all_pages(client)
    assert len(pages[0].employees) == 78
    assert simulator.stats.count("employees") == 3
    assert simulator.faults.pending() == 0


async def test_a_slow_response_times_out_and_is_retried(simulator: Simulator) -> None:
    simulator.faults.slow_next(1, seconds=5.0, endpoint="employee")
    async with client_for(simulator, timeout=0.5) as client:
        employee = await client.get_employee(simulator.employee_ids[0])
    assert employee["id"] == simulator.employee_ids[0]
    # The client gave up on the slow answer and asked again (waiting it out would be one request).
    assert simulator.stats.count("employee") >= 2


async def test_retries_run_out_with_a_typed_transient_error(simulator: Simulator) -> None:
    simulator.faults.fail_next(10, status=503)
    async with client_for(simulator, max_retries=2) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_employee(simulator.employee_ids[0])
    assert caught.value.status == 503 and caught.value.transient
    assert simulator.stats.count() == 3


async def test_connection_failures_run_out_as_transport_errors(simulator: Simulator) -> None:
    simulator.faults.drop_next(5)
    async with client_for(simulator, max_retries=1) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_employee(simulator.employee_ids[0])
    assert caught.value.transient and caught.value.status is None


@pytest.mark.fault(*rows.NOTHING_LISTENS_IS_A_TRANSPORT_ERROR_NAMING_THE_HOST_AND_THE)
async def test_nothing_listens_is_a_transport_error_naming_the_host_and_the_cause() -> None:
    notices: list[object] = []
    client = EmployesClient(
        "http://127.0.0.1:9/v4", "c", "t", requests_per_second=0, max_retries=2, backoff_base=0.01, timeout=2,
        on_retry=notices.append,
    )  # fmt: skip
    async with client:
        with pytest.raises(TransportError) as caught:
            await client.get_employee("x")
    assert str(caught.value) == (
        "Employes API at 127.0.0.1:9: connection refused for GET /employees/x (gave up after 3 attempts)"
    )
    # Each retry was announced with what it waits for, so a person watching is not left in silence.
    assert [str(n).rsplit(" in ", 1)[0] for n in notices] == [
        "GET /employees/x: connection refused, retry 1 of 2",
        "GET /employees/x: connection refused, retry 2 of 2",
    ]


@pytest.mark.fault(*rows.A_SERVER_THAT_NEVER_ANSWERS_NAMES_THE_TIMEOUT)
async def test_a_server_that_never_answers_names_the_timeout(simulator: Simulator) -> None:
    simulator.faults.slow_next(2, seconds=5)
    async with client_for(simulator, max_retries=1, timeout=0.3, backoff_base=0.01) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_employee(simulator.employee_ids[0])
    assert "answer within 0.3 s" in str(caught.value)
    assert f"at {simulator.url.split('/')[2]}:" in str(caught.value)


async def test_429_waits_for_retry_after(simulator: Simulator) -> None:
    simulator.faults.rate_limit_next(1, retry_after=1, endpoint="employee")
    seen: list[tuple[str, str]] = []
    async with client_for(simulator, on_response=lambda e, s, _: seen.append((e, s))) as client:
        started = time.monotonic()
        await client.get_employee(simulator.employee_ids[0])
        waited = time.monotonic() - started
    assert waited >= 0.95
    assert seen == [("employee", "429"), ("employee", "2xx")]
    assert simulator.stats.rate_limited == 1


async def test_after_a_429_the_other_tasks_hold_back_too(simulator: Simulator) -> None:
    simulator.faults.rate_limit_next(1, retry_after=1, endpoint="employee")
    told: list[float] = []

    def on_response(endpoint: str, status: str, seconds: float) -> None:
        if status == "429":
            told.append(time.monotonic())

    async with client_for(simulator, on_response=on_response) as client:
        first = asyncio.create_task(client.get_employee(simulator.employee_ids[0]))
        # Wait until the client itself has the 429 (the server counts it before the client reads it).
        while not told:  # noqa: ASYNC110 - set by the first task's response callback
            await asyncio.sleep(0.01)
        await client.get_employments(simulator.employee_ids[1])
        await first
    (other,) = simulator.stats.arrival_times(kind="employments")  # the same monotonic clock
    assert other - told[0] >= 0.95


async def test_a_retry_after_too_long_to_wait_gives_up_at_once(simulator: Simulator) -> None:
    simulator.faults.rate_limit_next(1, retry_after=3600)
    async with client_for(simulator) as client:
        with pytest.raises(RateLimitedError, match="asked to wait 3600 s"):
            await client.get_employee(simulator.employee_ids[0])
    assert simulator.stats.total == 1


# -- errors that are never retried --------------------------------------------------------------


async def test_a_wrong_token_fails_at_once_with_a_clear_message(simulator: Simulator) -> None:
    assert simulator.url is not None
    client = EmployesClient(simulator.url, simulator.config.company_id, "wrong-token", backoff_base=0.01)
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await _all_pages(client)
    assert str(caught.value) == (
        "Employes API rejected the token (401) for GET /employees?page=1; check the API token"
    )
    assert caught.value.status == 401 and not caught.value.transient
    assert simulator.stats.requests == {("employees", 401): 1}  # once: a 401 is never retried


@pytest.mark.parametrize("mistake", ["company id", "base URL without /v4"])
async def test_a_listing_that_is_not_there_names_the_company_and_the_base_url(
    simulator: Simulator, mistake: str
) -> None:
    """A mistyped company id, or the API's host without its /v4, read "no such resource (404)"."""
    assert simulator.url is not None
    typo = "00000000-0000-4000-8000-00000000dead"
    base, company = (
        (simulator.url, typo)
        if mistake == "company id"
        else (simulator.url.removesuffix("/v4"), simulator.config.company_id)
    )
    client = EmployesClient(base, company, simulator.config.token, backoff_base=0.01)
    async with client:
        with pytest.raises(NotFoundError) as caught:
            await _all_pages(client)
    assert str(caught.value) == (
        f"Employes API has no company {company} at {base} (404 for GET /employees?page=1); "
        "check the company id and the API base URL"
    )
    assert caught.value.status == 404 and not caught.value.transient
    assert sum(simulator.stats.requests.values()) == 1  # a 404 is never retried


async def test_a_rotated_token_is_rejected_from_then_on(simulator: Simulator) -> None:
    async with client_for(simulator) as client:
        await client.get_employee(simulator.employee_ids[0])
        simulator.faults.rotate_token()
        with pytest.raises(AuthenticationError):
            await client.get_employee(simulator.employee_ids[0])
    assert simulator.stats.count(status=401) == 1


async def test_forbidden_and_unknown_company_are_typed(simulator: Simulator) -> None:
    simulator.faults.fail_next(1, status=403)
    async with client_for(simulator) as client:
        with pytest.raises(PermissionDeniedError, match=r"\(403\)"):
            await client.get_employee(simulator.employee_ids[0])
    assert simulator.url is not None
    async with EmployesClient(simulator.url, "no-such-company", simulator.config.token) as client:
        with pytest.raises(
            NotFoundError,
            match=r"^Employes API has no company no-such-company at .*\(404 for GET /employees\?page=1\)",
        ):
            await _all_pages(client)
    assert simulator.stats.total == 2


async def test_an_unexpected_client_error_is_not_retried(simulator: Simulator) -> None:
    simulator.faults.fail_next(1, status=422)
    async with client_for(simulator) as client:
        with pytest.raises(EmployesError, match="unexpected 422") as caught:
            await client.get_employee(simulator.employee_ids[0])
    assert caught.value.status == 422
    assert simulator.stats.total == 1


@pytest.mark.parametrize("declare_length", [False, True], ids=["chunked", "content-length"])
async def test_an_oversized_response_is_refused(simulator: Simulator, declare_length: bool) -> None:
    simulator.faults.oversized_next(1, size=2 * MiB, declare_length=declare_length)
    async with client_for(simulator, max_response_bytes=256 * 1024) as client:
        with pytest.raises(ResponseTooLargeError, match="limit 262144") as caught:
            await _all_pages(client)
    assert not caught.value.transient
    assert simulator.stats.total == 1


# -- secrecy ------------------------------------------------------------------------------------

SECRET = "tok-Zq8v3Xk2-very-secret"


async def test_the_token_never_appears_in_errors_logs_or_reprs(
    make_simulator: MakeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_simulator(employees=10, requests_per_second=0, token=SECRET)
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    async with client_for(sim, max_retries=3) as client:
        assert SECRET not in repr(client)
        sim.faults.fail_next(1, status=500)
        sim.faults.malformed_next(1)
        sim.faults.drop_next(1)
        await client.get_employee(sim.employee_ids[0])  # three failures, retried
        sim.faults.fail_next(8, status=503)
        for call in (client.get_employee, client.get_employments):
            try:
                await call(sim.employee_ids[1])
            except EmployesError as error:
                errors.append(error)
        sim.faults.rotate_token("another-token")
        try:
            await client.get_employee(sim.employee_ids[0])
        except AuthenticationError as error:
            errors.append(error)
    assert [type(e) for e in errors] == [ServerError, ServerError, AuthenticationError]
    for error in errors:
        text = "".join(traceback.format_exception(error))
        assert SECRET not in text and SECRET not in repr(error)
    assert caplog.records, "expected the retries to be logged"
    assert SECRET not in caplog.text
    assert all(SECRET not in str(record.args) for record in caplog.records)


def test_bad_settings_are_refused_without_echoing_the_token() -> None:
    with pytest.raises(ValueError, match="empty"):
        EmployesClient("https://example.test/v4", "c", "  \n")
    with pytest.raises(ValueError, match="whitespace") as caught:
        EmployesClient("https://example.test/v4", "c", "abc def")
    assert "abc" not in str(caught.value)
    with pytest.raises(ValueError, match="credentials") as caught:
        EmployesClient("https://user:hunter2@example.test/v4", "c", "t")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ValueError, match="http"):
        EmployesClient("ftp://example.test", "c", "t")
    with pytest.raises(ValueError, match="page size"):
        EmployesClient("https://example.test/v4", "c", "t", page_size=0)


async def test_a_token_file_newline_is_stripped(simulator: Simulator) -> None:
    assert simulator.url is not None
    token = simulator.config.token + "\n"
    async with EmployesClient(simulator.url, simulator.config.company_id, token) as client:
        assert (await client.get_employee(simulator.employee_ids[0]))["id"] == simulator.employee_ids[0]


# -- metrics callback ---------------------------------------------------------------------------


async def test_on_response_labels_are_bounded(simulator: Simulator) -> None:
    seen: list[tuple[str, str, float]] = []
    simulator.faults.fail_next(1, status=500, endpoint="employments")
    simulator.faults.drop_next(1, endpoint="employee")
    async with client_for(simulator, on_response=lambda *args: seen.append(args)) as client:
        await _all_pages(client)
        await client.get_employee(simulator.employee_ids[0])
        await client.get_employments(simulator.employee_ids[0])
        with pytest.raises(NotFoundError):
            await client.get_employee("nobody")
    assert [(e, s) for e, s, _ in seen] == [
        ("employees", "2xx"),
        ("employee", "error"),
        ("employee", "2xx"),
        ("employments", "5xx"),
        ("employments", "2xx"),
        ("employee", "4xx"),
    ]
    assert all(seconds >= 0 for *_, seconds in seen)


async def test_a_failing_metrics_callback_does_not_break_the_request(simulator: Simulator) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("metrics backend down")

    async with client_for(simulator, on_response=broken) as client:
        assert (await client.get_employee(simulator.employee_ids[0]))["id"]


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 204, 301, 404, 429, 500, 503, None)] == [
        "2xx", "2xx", "3xx", "4xx", "429", "5xx", "5xx", "error",
    ]  # fmt: skip


# -- rate limiting ------------------------------------------------------------------------------


async def test_a_client_at_the_simulators_limit_never_sees_a_429(make_simulator: MakeSimulator) -> None:
    """20 requests/second on both sides, 8 concurrent callers, latency with jitter, ~3 seconds."""
    sim = make_simulator(employees=60, requests_per_second=20, latency_ms=30, latency_jitter=0.5)
    async with client_for(sim, requests_per_second=20) as client:
        queue = list(sim.employee_ids)

        async def caller() -> None:
            while queue:
                try:
                    await client.get_employments(queue.pop())
                except NotFoundError:
                    pass  # an employee without employments

        started = time.monotonic()
        await asyncio.gather(*(caller() for _ in range(8)), return_exceptions=False)
        elapsed = time.monotonic() - started
    assert sim.stats.rate_limited == 0
    assert sim.stats.count(status=200) + sim.stats.count(status=404) == 60
    assert elapsed >= 59 / 20 * 0.9  # the limiter really held the callers back


async def test_an_unlimited_client_is_told_off_and_still_finishes(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=30, requests_per_second=10)
    async with client_for(sim, limiter=Unlimited(), max_retries=8) as client:
        ids = sim.employee_ids
        results = await asyncio.gather(*(client.get_employee(i) for i in ids[:15]))
    assert [r["id"] for r in results] == ids[:15]
    assert sim.stats.rate_limited > 0


def test_token_bucket_hands_out_evenly_spaced_slots() -> None:
    now = [100.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert [round(bucket.reserve(), 6) for _ in range(4)] == [0.0, 0.1, 0.2, 0.3]
    now[0] += 10  # idle time does not build up a burst beyond `burst`
    assert [round(bucket.reserve(), 6) for _ in range(3)] == [0.0, 0.1, 0.2]


def test_token_bucket_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(4, burst=3, clock=lambda: now[0])
    assert [round(bucket.reserve(), 6) for _ in range(5)] == [0.0, 0.0, 0.0, 0.25, 0.5]
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(5, burst=0)
    assert isinstance(bucket, RateLimiter)


async def test_token_bucket_spaces_concurrent_callers_in_real_time() -> None:
    bucket = TokenBucket(50)
    woke: list[tuple[int, float]] = []
    started = time.monotonic()

    async def one(turn: int) -> None:
        await bucket.acquire()
        woke.append((turn, time.monotonic() - started))

    await asyncio.gather(*(one(turn) for turn in range(11)))
    # Callers go in the order they asked, and none before its slot (turn x 20 ms): sleeping never
    # ends early, so this holds however loaded the machine is (a late wake-up only delays).
    assert [turn for turn, _ in woke] == list(range(11))
    assert all(at >= turn * 0.02 - 0.002 for turn, at in woke)


# -- retry policy -------------------------------------------------------------------------------


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=4.0, rng=random.Random(7))
    for attempt, cap in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8 and min(samples) < cap * 0.2  # spread over the whole range
    assert [policy.should_retry(a) for a in range(7)] == [True] * 5 + [False] * 2


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(backoff_base=100.0, rng=random.Random(1))
    assert 2.0 <= policy.delay(0, retry_after=2.0) <= 2.3
    assert policy.retry_after_too_long(121.0) and not policy.retry_after_too_long(120.0)


def test_parse_retry_after() -> None:
    from datetime import UTC, datetime

    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-1") is None
    now = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Sun, 01 Jun 2025 12:00:30 GMT", now=now) == 30.0
