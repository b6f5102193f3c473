"""The simulator: realistic deterministic data, the real API's checks and limits, and its faults."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from employes_sync.employes.fakedata import DEMO_COMPANY_ID, DEMO_TOKEN, SimEmployee, generate_company
from employes_sync.employes.simulator import Simulator, SimulatorConfig, serve_in_thread
from tests.fixtures.simulator import client_for

MakeSimulator = Callable[..., Simulator]
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}"}


_http: list[httpx.Client] = []


@pytest.fixture(autouse=True, scope="module")
def _shared_http() -> Iterator[None]:
    # One client for the module: creating one per request costs ~40 ms (it loads the CA bundle).
    _http.append(httpx.Client(timeout=10))
    yield
    _http.pop().close()


def _get(sim: Simulator, path: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    return _http[0].get(f"{sim.url}{path}", headers=headers, **kwargs)


def _base(sim: Simulator) -> str:
    return f"/{sim.config.company_id}/employees"


# -- generated data -----------------------------------------------------------------------------


def test_data_is_deterministic_per_seed_and_stable_as_the_company_grows() -> None:
    assert generate_company(78, 1) == generate_company(78, 1)
    assert generate_company(78, 1) != generate_company(78, 2)
    assert generate_company(200, 1)[:78] == generate_company(78, 1)
    ids = [s.id for s in generate_company(500, 3)]
    assert len(set(ids)) == 500


def _periods(sim: SimEmployee, name: str) -> list[list[dict[str, Any]]]:
    return [sorted(e[name], key=lambda p: p["start_date"]) for e in sim.employments]


def test_the_demo_company_has_every_kind_of_history() -> None:
    company = generate_company(78, 1)
    names = " ".join(
        f"{s.employee['first_name']} {s.employee['surname_prefix'] or ''} {s.employee['surname']}"
        for s in company
    )
    assert not names.isascii()
    assert " van " in names or " van der " in names or " van den " in names
    assert "IJ" in names

    assert any(len(s.employments) >= 2 for s in company), "a re-hired employee"
    assert any(not s.employments and s.employments_not_found for s in company), "no employments, as 404"
    assert any(not s.employments and not s.employments_not_found for s in company), "no employments, as []"
    assert any(s.employee["status"] == "out_of_service" for s in company)
    assert any("end_date" in e for s in company for e in s.employments), "an ended employment"
    durations = [[c["contract_duration"] for c in cs] for s in company for cs in _periods(s, "contracts")]
    assert ["definite", "definite", "permanent"] in durations, "fixed term renewed, then permanent"
    salaries = [ps for s in company for ps in _periods(s, "salary")]
    steps = [(a["hour_wage"], b["hour_wage"]) for ps in salaries for a, b in itertools.pairwise(ps)]
    assert any(b > a for a, b in steps) and any(b < a for a, b in steps)
    assert any(len(hs) > 1 for s in company for hs in _periods(s, "hours")), "an hours change"
    assert any("personal_identification_number" in s.employee for s in company)
    assert any("personal_identification_number" not in s.employee for s in company)


def test_open_periods_have_no_end_date_key_and_dates_have_no_zone() -> None:
    for sim in generate_company(78, 1):
        for employment in sim.employments:
            for name in ("salary", "hours", "contracts"):
                periods = sorted(employment[name], key=lambda p: p["start_date"])
                assert all(p.get("end_date", "x") is not None for p in periods)
                if "end_date" not in employment:
                    assert "end_date" not in periods[-1] or name == "contracts"
            assert employment["start_date"].endswith("T00:00:00")


def test_bsn_and_iban_are_valid_numbers() -> None:
    for sim in generate_company(78, 1):
        bsn = sim.employee.get("personal_identification_number")
        if bsn:
            digits = [int(d) for d in bsn]
            assert len(digits) == 9
            assert (sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=False)) - digits[8]) % 11 == 0
        iban = sim.employee.get("iban")
        if iban:
            rearranged = iban[4:] + iban[:4]
            assert int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


# -- HTTP behaviour -----------------------------------------------------------------------------


def test_pages_carry_total_and_pages(simulator: Simulator) -> None:
    body = _get(simulator, _base(simulator), params={"page": 2, "per_page": 30}).json()
    assert (body["total"], body["pages"], len(body["data"])) == (78, 3, 30)
    assert body["data"][0]["id"] == simulator.employee_ids[30]
    beyond = _get(simulator, _base(simulator), params={"page": 9, "per_page": 30}).json()
    assert beyond["data"] == [] and beyond["pages"] == 3
    capped = _get(simulator, _base(simulator), params={"per_page": 1000}).json()
    assert capped["per_page"] == 100
    assert _get(simulator, _base(simulator), params={"page": "x"}).status_code == 422


def test_non_ascii_is_served_as_utf8(simulator: Simulator) -> None:
    response = _get(simulator, _base(simulator))
    assert response.headers["content-type"].startswith("application/json")
    assert [e["surname"] for e in response.json()["data"]] == [
        s.employee["surname"] for s in simulator.company
    ]


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/{company}/employees", {}, 401),
        ("/{company}/employees", {"Authorization": "Bearer nope"}, 401),
        ("/{company}/employees", {"Authorization": f"Basic {DEMO_TOKEN}"}, 401),
        ("/00000000-0000-0000-0000-000000000000/employees", AUTH, 404),
        ("/{company}/employees/unknown", AUTH, 404),
        ("/{company}/employees/{employee}/salary-history", AUTH, 403),
        ("/{company}/employees/{employee}/contracts", AUTH, 403),
        ("/{company}/nothing-here", AUTH, 404),
    ],
)
def test_checks_like_the_real_api(
    simulator: Simulator, path: str, headers: dict[str, str], status: int
) -> None:
    url = path.format(company=simulator.config.company_id, employee=simulator.employee_ids[0])
    assert _get(simulator, url, headers=headers).status_code == status
    assert simulator.stats.total == 1


def test_the_limit_is_a_token_bucket_answering_429_with_retry_after(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=3, requests_per_second=20)
    url = f"{sim.url}{_base(sim)}/{sim.employee_ids[0]}"
    with httpx.Client(headers=AUTH) as http:
        started = time.monotonic()
        burst = [http.get(url) for _ in range(40)]
        elapsed = time.monotonic() - started
    passed = [r for r in burst if r.status_code == 200]
    limited = [r for r in burst if r.status_code == 429]
    # A full bucket of 20, plus at most what refilled while the burst was being sent.
    assert 20 <= len(passed) <= 20 + 20 * elapsed + 1
    assert len(passed) + len(limited) == 40
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert sim.stats.rate_limited == len(limited)


def test_the_limit_is_per_token(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=3, requests_per_second=5)
    url = f"{sim.url}{_base(sim)}/{sim.employee_ids[0]}"
    with httpx.Client(headers=AUTH) as http:
        statuses = [http.get(url).status_code for _ in range(15)]
    assert statuses.count(429) >= 1
    sim.faults.rotate_token("second-token")
    with httpx.Client(headers={"Authorization": "Bearer second-token"}) as http:
        assert http.get(url).status_code == 200  # a fresh bucket for the new token


def test_latency_is_added_to_every_response(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=3, requests_per_second=0, latency_ms=150, latency_jitter=0.2)
    started = time.monotonic()
    assert _get(sim, f"{_base(sim)}/{sim.employee_ids[0]}").status_code == 200
    assert time.monotonic() - started >= 0.11


def test_fault_rate_is_random_but_repeatable(make_simulator: MakeSimulator) -> None:
    def statuses() -> list[int]:
        sim = make_simulator(employees=3, requests_per_second=0, fault_rate=0.3, seed=9)
        url = f"{_base(sim)}/{sim.employee_ids[0]}"
        return [_get(sim, url).status_code for _ in range(40)]

    first = statuses()
    assert first == statuses()
    assert 3 <= sum(s >= 500 for s in first) <= 25
    assert set(first) <= {200, 500, 503}


def test_fault_fraction_and_endpoint_filters(simulator: Simulator) -> None:
    simulator.faults.fail_fraction(1.0, statuses=(503,), endpoint="employments")
    assert _get(simulator, f"{_base(simulator)}/{simulator.employee_ids[0]}").status_code == 200
    assert _get(simulator, f"{_base(simulator)}/{simulator.employee_ids[0]}/employments").status_code == 503
    simulator.reset()
    assert _get(simulator, f"{_base(simulator)}/{simulator.employee_ids[0]}/employments").status_code == 200


def test_body_faults(simulator: Simulator) -> None:
    url = f"{_base(simulator)}/{simulator.employee_ids[0]}"
    simulator.faults.malformed_next(1)
    simulator.faults.truncated_next(1)
    simulator.faults.rate_limit_next(1, retry_after=7)
    simulator.faults.oversized_next(1, size=300_000)
    malformed, truncated, storm, oversized = (_get(simulator, url) for _ in range(4))
    for response in (malformed, truncated):
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()
    assert len(truncated.content) < len(_get(simulator, url).content)
    assert (storm.status_code, storm.headers["Retry-After"]) == (429, "7")
    assert "content-length" not in oversized.headers
    assert 290_000 <= len(oversized.content) <= 300_000
    assert len(oversized.json()["data"]) > 10
    assert simulator.faults.pending() == 0


def test_a_dropped_connection_gets_no_response(simulator: Simulator) -> None:
    simulator.faults.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        _get(simulator, _base(simulator))
    assert simulator.stats.count(status=0) == 1
    assert _get(simulator, _base(simulator)).status_code == 200


def test_stats_count_by_kind_and_status_and_reset(simulator: Simulator) -> None:
    _get(simulator, _base(simulator))
    _get(simulator, f"{_base(simulator)}/{simulator.employee_ids[0]}")
    _get(simulator, f"{_base(simulator)}/{simulator.employee_ids[0]}/employments")
    _get(simulator, _base(simulator), headers={})
    assert simulator.stats.requests == {
        ("employees", 200): 1,
        ("employee", 200): 1,
        ("employments", 200): 1,
        ("employees", 401): 1,
    }
    assert simulator.stats.by_status() == {200: 3, 401: 1}
    assert len(simulator.stats.arrival_times(status=200)) == 3
    simulator.reset()
    assert simulator.stats.total == 0


def test_custom_company_data_is_served(make_simulator: MakeSimulator) -> None:
    only = SimEmployee(employee={"id": "custom-1", "surname": "Ĳsselmeer"}, employments=[])
    sim = make_simulator(company=[only], requests_per_second=0)
    assert _get(sim, _base(sim)).json()["data"] == [only.employee]


# -- scale and ways to run it -------------------------------------------------------------------


def test_five_thousand_employees_are_served(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=5000, requests_per_second=0)

    async def crawl() -> tuple[int, int]:
        async with client_for(sim) as client:
            count = sum([len(p.employees) async for p in client.iter_employee_pages()])
            ids = sim.employee_ids[:300]
            sem = asyncio.Semaphore(16)

            async def one(i: str) -> int:
                async with sem:
                    try:
                        return len(await client.get_employments(i))
                    except Exception:
                        return 0

            found = await asyncio.gather(*(one(i) for i in ids))
            return count, len(found)

    count, fetched = asyncio.run(crawl())
    assert (count, fetched) == (5000, 300)


def test_serve_in_thread_for_sync_code() -> None:
    with serve_in_thread(SimulatorConfig(employees=2, latency_ms=0)) as sim:
        assert sim.url is not None and sim.url.endswith("/v4")
        assert _get(sim, _base(sim)).json()["total"] == 2
    with pytest.raises(httpx.ConnectError):
        _get(sim, _base(sim))


async def test_start_and_stop_on_the_callers_loop() -> None:
    sim = Simulator(SimulatorConfig(employees=1, latency_ms=0))
    url = await sim.start()
    try:
        async with httpx.AsyncClient(headers=AUTH) as http:
            response = await http.get(f"{url}/{DEMO_COMPANY_ID}/employees")
        assert response.json()["total"] == 1
    finally:
        await sim.stop()


def test_the_simulate_command_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "employes_sync",
            "simulate",
            "--port",
            "0",
            "--employees",
            "7",
            "--latency-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url, company = process.stdout.readline().split()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v4")
        assert company == DEMO_COMPANY_ID
        response = httpx.get(f"{url}/{company}/employees", headers=AUTH, timeout=10)
        assert response.json()["total"] == 7
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# -- many companies -----------------------------------------------------------------------------


def test_many_companies_each_with_its_own_token_data_and_limit(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=4, companies=3, requests_per_second=5)
    ids = [c.company_id for c in sim.companies]
    assert ids[0] == DEMO_COMPANY_ID and len(set(ids)) == 3
    assert ids == SimulatorConfig(companies=3).company_ids(), "ids are stable for a seed"
    tokens = [c.token for c in sim.companies]
    assert tokens == [DEMO_TOKEN, f"{DEMO_TOKEN}-1", f"{DEMO_TOKEN}-2"]
    first_employees = {}
    for company in sim.companies:
        headers = {"Authorization": f"Bearer {company.token}"}
        response = _get(sim, f"/{company.company_id}/employees", headers=headers)
        assert response.status_code == 200 and response.json()["total"] == 4
        first_employees[company.company_id] = response.json()["data"][0]["id"]
    assert len(set(first_employees.values())) == 3, "each company has its own people"
    # a token reads only its own company
    other = {"Authorization": f"Bearer {tokens[1]}"}
    assert _get(sim, f"/{ids[2]}/employees", headers=other).status_code == 404
    assert _get(sim, f"/{ids[0]}/employees", headers={"Authorization": "Bearer nope"}).status_code == 401
    # spend company 1's budget: company 2 still has its own
    url1 = f"/{ids[1]}/employees/{first_employees[ids[1]]}"
    statuses = [_get(sim, url1, headers=other).status_code for _ in range(12)]
    assert 429 in statuses
    own = {"Authorization": f"Bearer {tokens[2]}"}
    assert _get(sim, f"/{ids[2]}/employees", headers=own).status_code == 200


def test_a_shared_token_reads_every_company_on_one_limit(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(employees=2, companies=2, shared_token=True, requests_per_second=5)
    assert {c.token for c in sim.companies} == {DEMO_TOKEN}
    statuses = []
    for _ in range(6):
        for company in sim.companies:
            statuses.append(_get(sim, f"/{company.company_id}/employees").status_code)
    assert statuses[:5] == [200] * 5 and 429 in statuses, "one bucket of 5 for both companies"


def test_the_simulate_command_serves_many_companies() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "employes_sync", "simulate", "--port", "0", "-n", "3", "--companies", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(4)]
        assert [company for _, company in lines] == SimulatorConfig(companies=4).company_ids()
        url, company = lines[3]
        response = httpx.get(
            f"{url}/{company}/employees", headers={"Authorization": f"Bearer {DEMO_TOKEN}-3"}, timeout=10
        )
        assert response.json()["total"] == 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_companies_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="companies"):
        Simulator(SimulatorConfig(companies=0))
