"""Bad input: arbitrary JSON into the parsers, the client and the timeline builder; hostile names stored.

Property tests (hypothesis) feed JSON of the right and the wrong shapes. The contract everywhere is
the same: either a result, or `InvalidRecord` / an `EmployesError` with a one-line reason — never
another exception, never a crash of the page or batch around the bad record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp.web
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.client import EmployesClient
from employes_sync.employes.errors import EmployesError
from employes_sync.employes.fakedata import AS_OF, generate_company
from employes_sync.employes.models import (
    InvalidRecord,
    parse_employee,
    parse_employee_page,
    parse_employments,
)
from employes_sync.employes.simulator import Simulator
from employes_sync.store import raw as raw_store
from employes_sync.store.db import migrate, open_pool
from employes_sync.timeline import TimelineEvent, build_timeline
from tests.fixtures.network import served
from tests.reliability.helpers import local_run, snapshot

pytestmark = pytest.mark.timeout(180)
MakeSim = Callable[..., Simulator]
BAD = "Bad input"
PARSER = "arbitrary JSON to the API response parser"
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))

FIELDS = [
    "id",
    "data",
    "total",
    "pages",
    "page",
    "first_name",
    "start_date",
    "end_date",
    "date_of_birth",
    "dt_update",
    "yearly_wage",
    "employment",
    "salary",
    "hours",
    "contracts",
    "contract",
    "hour_wage",
    "month_wage",
    "hours_per_week",
    "days_per_week",
    "tax_details",
    "sign_date",
    "x",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["2024-01-31", "2024-02-30", "2024-01-01T00:00:00", "31/12/2020", "12.5", "", "x"])
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=25,
)
SAMPLE = generate_company(6, seed=3)


def mutated(record: Any) -> st.SearchStrategy[Any]:
    """A real record with some fields (at any depth) replaced by arbitrary JSON: the right shape, mostly."""

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix] if prefix else []
        if isinstance(value, dict):
            for key, item in value.items():
                found += paths(item, (*prefix, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found += paths(item, (*prefix, index))
        return found

    every = paths(record)

    def apply(changes: list[tuple[tuple[Any, ...], Any]]) -> Any:
        copy = json.loads(json.dumps(record))
        for path, value in changes:
            target = copy
            try:
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change replaced a parent of this path
        return copy

    return st.lists(st.tuples(st.sampled_from(every), json_values), max_size=3).map(apply)


employee_like = st.sampled_from(SAMPLE).flatmap(lambda p: mutated(p.employee))
employments_like = st.sampled_from([p for p in SAMPLE if p.employments]).flatmap(
    lambda p: mutated(p.employments)
)


def one_line_reason(error: InvalidRecord) -> None:
    assert isinstance(error.reason, str) and error.reason.strip()
    assert "\n" not in error.reason


@pytest.mark.fault(BAD, PARSER, "a page: valid records kept, each invalid one named with a reason")
@settings(max_examples=300, deadline=None)
@given(body=json_values | st.fixed_dictionaries({"data": st.lists(json_values | employee_like, max_size=5)}))
def test_page_parser_never_crashes(body: Any) -> None:
    try:
        page = parse_employee_page(body, page=1, per_page=100)
    except InvalidRecord as error:
        one_line_reason(error)
        return
    assert len(page.employees) + len(page.invalid) == len(body["data"])
    assert all(isinstance(e["id"], str) and e["id"].strip() for e in page.employees)
    for _, reason in page.invalid:
        assert reason.strip() and "\n" not in reason
    assert page.pages >= 0 and page.total >= 0


@pytest.mark.fault(BAD, PARSER, "employments: a list of valid records, or InvalidRecord with a reason")
@settings(max_examples=300, deadline=None)
@given(body=json_values | employments_like | st.fixed_dictionaries({"data": employments_like}))
def test_employments_parser_never_crashes(body: Any) -> None:
    try:
        employments = parse_employments(body)
    except InvalidRecord as error:
        one_line_reason(error)
        return
    assert all(isinstance(e, dict) and isinstance(e["id"], str) for e in employments)


@pytest.mark.fault(
    BAD,
    "arbitrary JSON to the timeline builder",
    "events (deterministic, unique keys) or InvalidRecord with a one-line reason; never another exception",
)
@settings(max_examples=400, deadline=None)
@given(
    employee=json_values | employee_like,
    employments=st.none() | st.lists(json_values, max_size=3) | employments_like,
)
def test_timeline_builder_never_crashes(employee: Any, employments: Any) -> None:
    try:
        events = build_timeline(employee, employments, as_of=AS_OF)
    except InvalidRecord as error:
        one_line_reason(error)
        return
    assert all(isinstance(e, TimelineEvent) for e in events)
    keys = [e.event_key for e in events]
    assert len(keys) == len(set(keys))
    assert build_timeline(employee, employments, as_of=AS_OF) == events


@pytest.mark.fault(
    BAD,
    "arbitrary JSON to the timeline builder",
    "records that passed the parser, with fields replaced by arbitrary values: parse + build never crash",
)
@settings(max_examples=300, deadline=None)
@given(employee=employee_like, employments=employments_like)
def test_parsed_records_build_or_are_rejected(employee: Any, employments: Any) -> None:
    try:
        events = build_timeline(parse_employee(employee), parse_employments(employments), as_of=AS_OF)
    except InvalidRecord as error:
        one_line_reason(error)
        return
    assert all(e.employee_id == employee["id"] for e in events)


def _client_sees(body: bytes, endpoint: str) -> None:
    async def answer(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=body, content_type="application/json")

    async def main() -> None:
        # A real server on 127.0.0.1 answers every path with the body: the client reads it as it
        # would the API's, raw chunks counted against its limit.
        app = aiohttp.web.Application()
        app.router.add_get("/{tail:.*}", answer)
        async with (
            served(app) as port,
            EmployesClient(
                f"http://127.0.0.1:{port}/v4", "c", "t", max_retries=0, requests_per_second=0
            ) as client,
        ):
            try:
                if endpoint == "employees":
                    await client.get_employee_page(1)
                elif endpoint == "employee":
                    await client.get_employee("e1")
                else:
                    await client.get_employments("e1")
            except EmployesError as error:
                assert str(error).strip() and "\n" not in str(error)

    asyncio.run(main())


@pytest.mark.fault(
    BAD,
    PARSER,
    "over HTTP: any 200 body (JSON or bytes) gives a result or an EmployesError, one line",
)
@settings(max_examples=150, deadline=None)
@given(
    body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64),
    endpoint=st.sampled_from(["employees", "employee", "employments"]),
)
def test_client_never_crashes_on_a_200_body(body: bytes, endpoint: str) -> None:
    _client_sees(body, endpoint)


HOSTILE_NAMES = [
    "O'Brien",
    'Jan "de Vries"',
    "Robert'); DROP TABLE employes_raw_data;--",
    "x' OR '1'='1",
    "%(scope)s {scope} %s $1 \\N",
    "😀👩‍👩‍👧 Zoë Ñandú ﷽ \u202eRTL",
    "tab\tnew\nline\r\\backslash",
    "L" * 100_000,
]


@pytest.mark.fault(
    BAD,
    "names with quotes, SQL, emoji, very long strings",
    "stored verbatim through a whole run (API -> jsonb -> read back); no other employee affected",
)
async def test_hostile_names_are_stored_verbatim(
    make_simulator: MakeSim, store_pool: AsyncConnectionPool, database_url: str
) -> None:
    company = generate_company(len(HOSTILE_NAMES) + 4, seed=5)
    for person, name in zip(company, HOSTILE_NAMES, strict=False):
        person.employee["first_name"] = name
        person.employee["last_name"] = name[::-1]
    # Two that PostgreSQL cannot hold at all (a NUL, at the top and deep inside): named as invalid,
    # the others of their page stored.
    company[-1].employee["first_name"] = "nul\x00byte"
    company[-2].employee["employment"]["contract"]["employee_type"] = "deep\x00down"
    sim = make_simulator(company=company, requests_per_second=0)
    summary = await local_run(sim, store_pool, database_url, batch_size=4, inline_count=2)
    assert summary.succeeded, summary.error
    invalid = summary.summary["invalid_employees"]
    assert len(invalid) == 2 and all("PostgreSQL cannot store" in r for r in invalid.values())
    stored = await raw_store.load_latest(store_pool, f"local/{sim.config.company_id}")
    assert len(stored) == len(company) - 2
    for person, name in zip(company, HOSTILE_NAMES, strict=False):
        employee, employments = stored[person.id]
        assert employee["first_name"] == name
        assert employee["last_name"] == name[::-1]
        assert employments is not None
    state = await snapshot(store_pool, f"local/{sim.config.company_id}")
    assert state.rows["employes_raw_data"] == 2 * (len(company) - 2)
    assert {e for e, _ in state.timeline} >= {p.id for p in company[: len(HOSTILE_NAMES)]}


@pytest.mark.fault(
    BAD,
    "names with quotes, SQL, emoji, very long strings",
    "any text hypothesis draws (no NUL/surrogate) survives store -> load_latest unchanged",
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(TEXT, max_size=5))
def test_any_text_round_trips(database_url: str, names: list[str]) -> None:
    async def main() -> None:
        pool = await open_pool(database_url, max_size=1)
        try:
            await migrate(pool)
            # Any text as a key too, prefixed so it never names a field the parser checks ("employment").
            employees = [{"id": f"e{i}", "first_name": n, "k" + n: n} for i, n in enumerate(names)]
            parsed = [parse_employee(e) for e in employees]
            await raw_store.store_employees(pool, "hyp", parsed)
            stored = await raw_store.load_latest(pool, "hyp", [e["id"] for e in employees])
            for employee in employees:
                assert stored[employee["id"]][0] == employee
        finally:
            await pool.close()

    asyncio.run(main())


@pytest.mark.fault(
    BAD,
    "names with quotes, SQL, emoji, very long strings",
    "a lone surrogate escape (valid JSON, refused by jsonb) makes that record invalid, not the page",
)
def test_lone_surrogate_is_an_invalid_record() -> None:
    body = json.loads('{"data": [{"id": "a", "first_name": "x\\ud800y"}, {"id": "b", "first_name": "ok"}]}')
    page = parse_employee_page(body)
    assert [e["id"] for e in page.employees] == ["b"]
    assert page.invalid and "PostgreSQL cannot store" in page.invalid[0][1]
