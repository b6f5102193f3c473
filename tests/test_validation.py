"""One validation layer: the API parser and the timeline read every field the same way, and no reason
ever quotes the value it rejects (a wage, a name, an address must not reach a log or the status)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from employes_sync.employes.models import parse_employee, parse_employee_page, parse_employments
from employes_sync.store import raw as raw_store
from employes_sync.timeline import build_timeline
from employes_sync.validation import (
    MAX_DEPTH,
    InvalidRecord,
    _checked_copy_naming_paths,
    check_record,
    employee_id,
    parse_date,
    parse_number,
)
from tests.reliability import rows

AS_OF = date(2025, 1, 1)
EMPLOYMENT: dict[str, Any] = {
    "id": "emp-1",
    "start_date": "2022-03-01T00:00:00",
    "salary": [{"start_date": "2022-03-01T00:00:00", "month_wage": "3512.50"}],
}


@pytest.mark.parametrize(
    "text",
    [
        "2024-09-01",
        "2024-09-01T00:00:00",
        "2024-09-01T00:00:00Z",
        "2024-09-01T00:00:00+02:00",
        "2024-09-01 08:15",
        "2024-09-01T00:00:00.123456",
        "31-12-1990",
        "2024-13-01",
        "2024-09-01T25:00:00",
        "2024-09-01T12:61:00",
        "yesterday",
    ],
)
def test_the_parser_and_the_timeline_accept_the_same_dates(text: str) -> None:
    """The parser used to refuse `Z`/offset dates the timeline took: now one grammar decides for both."""

    def parser_accepts() -> bool:
        try:
            parse_employments([{**EMPLOYMENT, "start_date": text}])
        except InvalidRecord:
            return False
        return True

    def timeline_accepts() -> bool:
        try:
            build_timeline({"id": "e1"}, [{**EMPLOYMENT, "start_date": text}], as_of=AS_OF)
        except InvalidRecord:
            return False
        return True

    assert parser_accepts() == timeline_accepts()


def test_money_is_decimal_and_kept_as_sent() -> None:
    assert parse_number("3512.50", "wage") == Decimal("3512.50")
    assert parse_number(0.1, "wage") == Decimal("0.1")
    assert parse_number("", "wage") is None
    # The parser checks the number and stores the record as the API sent it.
    assert parse_employee({"id": "e1", "yearly_wage": "3512.50"})["yearly_wage"] == "3512.50"
    with pytest.raises(InvalidRecord, match="out of range"):
        parse_number(-1, "wage", lower=Decimal(0))


NON_FINITE_JSON = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("literal", NON_FINITE_JSON)
def test_a_non_finite_number_anywhere_makes_that_one_record_invalid(literal: str) -> None:
    """`json.loads` takes NaN, Infinity and 1e400 (inf); jsonb refuses them and would fail the page."""
    body = json.loads(
        '{"data": ['
        '{"id": "a", "last_name": "Jansen", "address": {"city": "Utrecht", "housenumber": ' + literal + "}},"
        '{"id": "b", "tags": [1, 2, ' + literal + "]},"
        '{"id": "c", "first_name": "Kees"}'
        '], "total": 3}'
    )
    page = parse_employee_page(body, per_page=100)
    assert [e["id"] for e in page.employees] == ["c"]
    assert [index for index, _ in page.invalid] == [0, 1]
    first, second = (reason for _, reason in page.invalid)
    assert first == "id a: employee.address.housenumber: not a finite number"
    assert second == "id b: employee.tags[2]: not a finite number"
    for reason in (first, second):
        assert "Jansen" not in reason and "Utrecht" not in reason and literal.lstrip("-") not in reason


@pytest.mark.parametrize("literal", NON_FINITE_JSON)
def test_a_non_finite_number_in_an_employment_rejects_that_employees_employments(literal: str) -> None:
    body = json.loads(
        '{"data": [{"id": "x", "start_date": "2020-01-01", "salary": [{"start_date": "2020-01-01", '
        '"hour_wage": 20, "bonus": {"amount": ' + literal + "}}]}]}"
    )
    with pytest.raises(InvalidRecord) as caught:
        parse_employments(body)
    assert caught.value.reason == "employments[0]: employment.salary[0].bonus.amount: not a finite number"


async def test_a_page_with_a_non_finite_record_stores_the_rest(store_pool: AsyncConnectionPool) -> None:
    """End to end through PostgreSQL: the good records of the page are stored, the statement succeeds."""
    body = json.loads('{"data": [{"id": "a", "x": NaN}, {"id": "b", "y": [Infinity]}, {"id": "c"}]}')
    page = parse_employee_page(body, per_page=100)
    stored = await raw_store.store_employees(store_pool, "ns/validation", page.employees)
    assert stored.new == 1
    assert len(page.invalid) == 2


@pytest.mark.parametrize(
    "bad", ["", "   ", ".", "..", "a/b", "/", "../companies", "a\\b", "a?b", "a#b", "a\x00b", "a\nb"]
)
@pytest.mark.fault(*rows.EMPLOYEE_IDS_THAT_CANNOT_BE_A_URL_SEGMENT_ARE_REFUSED)
def test_employee_ids_that_cannot_be_a_url_segment_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        employee_id(bad)
    assert caught.value.reason.startswith("employee.id: ")
    page = parse_employee_page({"data": [{"id": bad, "last_name": "Jansen"}, {"id": "ok"}]}, per_page=10)
    assert [e["id"] for e in page.employees] == ["ok"]
    [(index, reason)] = page.invalid
    assert index == 0 and reason.startswith("employee.id: ")  # no "id <bad>: " label
    with pytest.raises(InvalidRecord):
        build_timeline({"id": bad}, None, as_of=AS_OF)


@pytest.mark.parametrize("good", ["e1", "7b0e4c1e-8f3a-4d2b-9c55-2f0b8a1d6e77", "...", "a.b", "Jansen-01"])
def test_ordinary_ids_are_fine(good: str) -> None:
    assert employee_id(good) == good
    assert parse_employee({"id": good})["id"] == good


SECRETS = ["€ 45.000,00", "Jansen", "Kerkstraat 12", "1990-31-12", "4321.99 EUR", "NL91ABNA0417164300"]


@pytest.mark.parametrize("value", SECRETS)
@pytest.mark.parametrize(
    "place",
    [
        lambda v: parse_employee({"id": "e1", "yearly_wage": v}),
        lambda v: parse_employee({"id": "e1", "date_of_birth": v}),
        lambda v: parse_employee({"id": "e1", "employment": {"salary": {"month_wage": v}}}),
        lambda v: parse_employee({"id": "e1", "employment": {"contract": {"end_date": v}}}),
        lambda v: parse_employee({"id": v + "\x00"}),
        lambda v: parse_employee({"id": "e1", "street": v + "\ud800"}),
        lambda v: parse_employee({"id": "e1", v + "\x00": 1}),
        lambda v: parse_employments([{**EMPLOYMENT, "start_date": v}]),
        lambda v: parse_employments(
            [{**EMPLOYMENT, "salary": [{"start_date": "2022-01-01", "hour_wage": v}]}]
        ),
        lambda v: build_timeline({"id": "e1"}, [{**EMPLOYMENT, "salary": [{"start_date": v}]}], as_of=AS_OF),
        lambda v: build_timeline({"id": "e1", "first_name": 5, "last_name": v}, None, as_of=AS_OF),
        lambda v: parse_date(v, "date"),
        lambda v: parse_employee_page({"data": [], "total": v}),
    ],
)
@pytest.mark.fault(*rows.NO_REASON_ECHOES_THE_REJECTED_VALUE)
def test_no_reason_echoes_the_rejected_value(place: Any, value: str) -> None:
    try:
        place(value)
    except InvalidRecord as error:
        reason = error.reason
    else:  # not every value is bad in every place (a name is fine text): nothing to echo then
        return
    for fragment in (value, value.split()[0], value.replace(" ", "")):
        assert fragment not in reason, reason


def deep_record(levels: int) -> dict[str, Any]:
    """{"id": "e1", "n": {"n": ... {"x": NaN}}}, the NaN `levels` objects deep."""
    deep: dict[str, Any] = {"id": "e1"}
    node = deep
    for _ in range(levels - 1):
        node["n"] = {}
        node = node["n"]
    node["x"] = float("nan")
    return deep


def test_check_record_walks_deep_records_without_recursion() -> None:
    # Within the depth a record may have, a NaN at the bottom is found.
    with pytest.raises(InvalidRecord, match="not a finite number"):
        check_record(deep_record(MAX_DEPTH), "employee")
    # Deeper, the record is invalid for its depth: what stores and redacts records walks them
    # recursively, and 5000 levels must not end in RecursionError here either.
    for levels in (MAX_DEPTH + 1, 5000):
        with pytest.raises(InvalidRecord, match=r"^employee\.n: nested too deeply \(more than 32 levels\)$"):
            check_record(deep_record(levels), "employee")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # One instant, written with the local offset or in UTC, is one Dutch calendar day.
        ("2024-04-01T00:00:00+02:00", date(2024, 4, 1)),
        ("2024-03-31T22:00:00Z", date(2024, 4, 1)),  # summer time: local midnight is 22:00 UTC
        ("2024-03-31T22:00:00+00:00", date(2024, 4, 1)),
        ("2024-02-01T00:00:00+01:00", date(2024, 2, 1)),
        ("2024-01-31T23:00:00Z", date(2024, 2, 1)),  # winter time: 23:00 UTC
        ("2024-03-30T23:00:00Z", date(2024, 3, 31)),  # the night the clocks go forward (31 Mar 2024)
        ("2024-10-26T22:00:00Z", date(2024, 10, 27)),  # and back (27 Oct 2024)
        ("2024-10-27T23:00:00Z", date(2024, 10, 28)),
        ("2024-09-01T00:00:00Z", date(2024, 9, 1)),  # a day at midnight UTC stays that day
        ("2024-09-01T00:00:00-05:00", date(2024, 9, 1)),
        ("2024-09-01T00:00:00", date(2024, 9, 1)),  # no zone: the written day, as always
        ("2024-09-01T23:30:00", date(2024, 9, 1)),
        ("2024-09-01Z", date(2024, 9, 1)),  # a day without a time is no instant
        ("2024-03-31T23:59:59Z", date(2024, 3, 31)),  # the last minute of a day: an inclusive end
        ("2024-03-31T23:59:59.999+00:00", date(2024, 3, 31)),
        ("2024-06-30T23:59:00-05:00", date(2024, 6, 30)),
        ("2024-03-31T23:58:00Z", date(2024, 4, 1)),  # any other time is an instant
        ("9999-12-31T23:00:00-05:00", date(9999, 12, 31)),  # past date.max: the written day
        ("0001-01-01T00:00:00+05:00", date(1, 1, 1)),
    ],
)
def test_a_timestamp_with_a_zone_is_the_dutch_calendar_day_of_its_instant(text: str, expected: date) -> None:
    """Only the written day was kept: 2024-03-31T22:00:00Z (1 Apr 00:00 in Amsterdam) read 31 Mar."""
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2024-09-01T00:00:00+24:00", "2024-09-01T00:00:00+02:60"])
def test_an_offset_that_is_no_offset_is_not_a_date(text: str) -> None:
    with pytest.raises(InvalidRecord):
        parse_date(text)


_TEXT = st.text(st.sampled_from("ab.é\x00\ud800"), max_size=4)
_JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | _TEXT
_JSON = st.recursive(
    _JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT, _JSON, max_size=4))
def test_check_record_copies_fast_as_it_checks_with_paths(record: dict[str, Any]) -> None:
    """The copy without paths keeps and refuses exactly what the walk naming every path does.

    Text with NUL or a lone surrogate and non-finite floats are drawn as often as good values, so both
    ways are taken: a record the fast copy refuses is walked again for the reason.
    """
    try:
        expected: dict[str, Any] | str = _checked_copy_naming_paths(record, "employee")
    except InvalidRecord as error:
        expected = error.reason
    try:
        got: dict[str, Any] | str = check_record(record, "employee")
    except InvalidRecord as error:
        got = error.reason
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    if isinstance(got, dict):
        assert got == record or json.dumps(got) == json.dumps(record)  # NaN is never == itself
        assert all(got[k] is not v for k, v in record.items() if isinstance(v, dict | list))
