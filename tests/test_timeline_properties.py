"""Property tests: whatever JSON arrives, the builder returns events or raises InvalidRecord.

Three kinds of input: arbitrary JSON (almost always the wrong shape), records of the right shape with
a few fields replaced by arbitrary JSON, and well-formed records (which must never be rejected).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from employes_sync.timeline import (
    CONTRACT_EXPIRED_UNRENEWED,
    DEPARTURE_TYPES,
    EVENT_TYPES,
    SALARY_DECREASE,
    SALARY_INCREASE,
    InvalidRecord,
    TimelineEvent,
    build_timeline,
)

TODAY = date(2025, 6, 1)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

# ------------------------------------------------------------------------------ well-formed records

# A few popular days make same-day rows and equal consecutive values common, not a rarity.
days = st.one_of(
    st.sampled_from([date(2023, 1, 1), date(2023, 7, 1), date(2024, 1, 1)]),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31)),
)


@st.composite
def api_dates(draw: st.DrawFn) -> str:
    day = draw(days)
    return day.isoformat() + draw(st.sampled_from(["", "T00:00:00", "T00:00:00.000"]))


def numbers(low: int, high: int) -> st.SearchStrategy[Any]:
    cents = st.integers(min_value=low * 100, max_value=high * 100)
    return st.one_of(
        st.sampled_from([0, "0.00", high, f"{high}.00", float(high)]),
        st.integers(min_value=low, max_value=high),
        cents.map(lambda c: c / 100),
        cents.map(lambda c: f"{c // 100}.{c % 100:02d}"),
    )


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, or one of the ways the API leaves a field out."""
    return st.one_of(strategy, st.sampled_from(["<missing>", None]))


@st.composite
def record(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, strategy in fields.items():
        value = draw(strategy)
        if value != "<missing>":
            out[key] = value
    return out


def ordered(row: dict[str, Any]) -> dict[str, Any]:
    """A period that ends on or after its start: one that ends before it is refused (not well-formed)."""
    start, end = row.get("start_date"), row.get("end_date")
    if isinstance(start, str) and isinstance(end, str) and end and end[:10] < start[:10]:
        row["start_date"], row["end_date"] = end, start
    return row


salary_rows = record(
    {
        "start_date": api_dates(),
        "end_date": maybe(api_dates()) | st.just(""),
        "month_wage": maybe(numbers(0, 9000)),
        "hour_wage": maybe(numbers(0, 60)),
        "yearly_wage": maybe(numbers(0, 120000)),
    }
)
hours_rows = record(
    {
        "start_date": api_dates(),
        "end_date": maybe(api_dates()),
        "hours_per_week": maybe(numbers(0, 40)),
        "days_per_week": maybe(st.integers(min_value=0, max_value=7)),
        "employee_type": maybe(st.sampled_from(["parttime", "fulltime"])),
    }
).map(ordered)
contract_rows = record(
    {
        "start_date": api_dates(),
        "end_date": maybe(api_dates()),
        "contract_duration": maybe(st.sampled_from(["permanent", "definite"])),
        "is_signed": maybe(st.booleans()),
        "sign_date": maybe(api_dates()),
    }
).map(ordered)
employment_records = record(
    {
        "id": st.one_of(st.uuids().map(str), st.sampled_from(["e1", "e2", "e3"]), st.just("<missing>")),
        "start_date": api_dates(),
        "end_date": maybe(api_dates()),
        "salary": st.lists(salary_rows, max_size=5),
        "hours": st.lists(hours_rows, max_size=4),
        "contracts": st.lists(contract_rows, max_size=4),
    }
).map(ordered)
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
nested_employment = record(
    {
        "start_date": api_dates(),
        "end_date": maybe(api_dates()),
        "contract": maybe(hours_rows),
        "salary": maybe(salary_rows),
    }
).map(ordered)
employee_records = record(
    {
        "id": st.uuids().map(str),
        "first_name": maybe(names),
        "surname_prefix": maybe(st.sampled_from(["van", "de", "van der", ""])),
        "surname": maybe(names),
        "status": st.sampled_from(["active", "out of service"]),
        "dt_create": maybe(api_dates()),
        "employment": maybe(nested_employment),
    }
)


def ident(employment: dict[str, Any]) -> str:
    """What the builder keys an employment by: its id, else its start day."""
    return employment.get("id") or f"start:{employment['start_date'][:10]}"


def distinct_employments(min_size: int = 0, max_size: int = 3) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Employments with an ident each: two that differ under one ident are an invalid record."""
    return st.lists(employment_records, min_size=min_size, max_size=max_size, unique_by=ident)


employment_lists = st.none() | distinct_employments()


def check_result(events: list[TimelineEvent], employee: dict[str, Any]) -> None:
    keys = [e.event_key for e in events]
    assert len(keys) == len(set(keys)), "event keys must be unique within one employee"
    assert [(e.event_date, e.event_order, e.event_key) for e in events] == sorted(
        (e.event_date, e.event_order, e.event_key) for e in events
    )
    for event in events:
        assert event.event_type in EVENT_TYPES
        assert isinstance(event.event_date, date)
        assert event.event_title and isinstance(event.event_description, str)
        assert event.employee_id == str(employee["id"])
        json.dumps(event.event_data, allow_nan=False)
        if event.event_type == SALARY_INCREASE:
            assert event.event_data["amount"] > 0
        if event.event_type == SALARY_DECREASE:
            assert event.event_data["amount"] < 0
    assert sum(e.event_type == "employee_added" for e in events) <= 1


# --------------------------------------------------------------------------------------- properties


@FAST
@given(json_values, json_values)
def test_arbitrary_json_gives_events_or_invalid_record(employee: Any, employments: Any) -> None:
    try:
        events = build_timeline(employee, employments, as_of=TODAY)
    except InvalidRecord as error:
        assert error.reason and isinstance(error.reason, str)
    else:
        assert isinstance(events, list)
        check_result(events, employee)


@st.composite
def damaged(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any] | None]:
    """A well-formed record with a few values, anywhere in it, replaced by arbitrary JSON."""
    employee = draw(employee_records)
    employments = draw(distinct_employments(min_size=1))
    containers: list[dict[str, Any]] = [employee]
    for emp in employments:
        containers.append(emp)
        for key in ("salary", "hours", "contracts"):
            containers.extend(emp[key])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(containers))
        key = draw(st.sampled_from(sorted(target) or ["id"]))
        target[key] = draw(json_values)
    return employee, employments


@FAST
@given(damaged())
def test_right_shape_wrong_values_gives_events_or_invalid_record(case: tuple[dict[str, Any], Any]) -> None:
    employee, employments = case
    try:
        events = build_timeline(employee, employments, as_of=TODAY)
    except InvalidRecord as error:
        assert error.reason
    else:
        check_result(events, employee)


@FAST
@given(employee_records, employment_lists)
def test_well_formed_records_always_build(employee: dict[str, Any], employments: Any) -> None:
    events = build_timeline(employee, employments, as_of=TODAY)
    check_result(events, employee)
    assert build_timeline(employee, employments, as_of=TODAY) == events


@FAST
@given(employee_records, distinct_employments(), days, st.randoms(use_true_random=False))
def test_order_of_employments_and_periods_does_not_matter(
    employee: dict[str, Any], employments: list[dict[str, Any]], as_of: date, rnd: random.Random
) -> None:
    """Building twice, or after any reordering, gives identical rows (for any as_of)."""
    expected = build_timeline(employee, employments, as_of=as_of)
    assert build_timeline(employee, employments, as_of=as_of) == expected
    shuffled = [dict(e) for e in employments]
    rnd.shuffle(shuffled)
    for emp in shuffled:
        for key in ("salary", "hours", "contracts"):
            rows = list(emp[key])
            rnd.shuffle(rows)
            emp[key] = rows
    assert build_timeline(employee, shuffled, as_of=as_of) == expected


@FAST
@given(employee_records, distinct_employments(min_size=1))
def test_a_json_round_trip_changes_nothing(
    employee: dict[str, Any], employments: list[dict[str, Any]]
) -> None:
    # What the store hands back from jsonb must rebuild exactly what the API response built.
    again = json.loads(json.dumps([employee, employments]))
    assert build_timeline(*again, as_of=TODAY) == build_timeline(employee, employments, as_of=TODAY)


@FAST
@given(employee_records, distinct_employments(), days, st.integers(min_value=1, max_value=400))
def test_time_only_adds_lapses_and_plain_events(
    employee: dict[str, Any], employments: list[dict[str, Any]], today: date, later: int
) -> None:
    """Moving as_of on never withdraws an event: planned ones turn plain, lapsed contracts appear.

    So does the departure of someone out of service whose last contract's end has now passed: before
    it, they had left on a day not known, and no departure was shown.
    """
    before = build_timeline(employee, employments, as_of=today)
    after = build_timeline(employee, employments, as_of=today + timedelta(days=later))
    before_keys = {e.event_key for e in before}
    new = [e for e in after if e.event_key not in before_keys]
    dated = [e for e in new if e.event_type in DEPARTURE_TYPES]
    assert all(e.event_data["reason"] == "out_of_service" and e.event_date > today for e in dated)
    assert all(e.event_type == CONTRACT_EXPIRED_UNRENEWED for e in new if e not in dated)
    assert before_keys <= {e.event_key for e in after}


# ----------------------------------------------------------------------------- issue 12 properties


def _ends(employments: list[dict[str, Any]] | None) -> set[str]:
    return {str(e.get("end_date")) for e in employments or [] if e.get("end_date")}


@FAST
@given(employee_records, employment_lists, days)
def test_an_active_employee_without_an_end_date_never_departs(
    employee: dict[str, Any], employments: list[dict[str, Any]] | None, as_of: date
) -> None:
    employee = {**employee, "status": "active"}
    if employments:
        employments = [{k: v for k, v in e.items() if k != "end_date"} for e in employments]
    nested = employee.get("employment")
    if isinstance(nested, dict):
        employee["employment"] = {k: v for k, v in nested.items() if k != "end_date"}
    events = build_timeline(employee, employments, as_of=as_of)
    assert not [e for e in events if e.event_type in DEPARTURE_TYPES]


@FAST
@given(employee_records, employment_lists, days)
def test_every_departure_is_an_employment_end_or_the_out_of_service_state(
    employee: dict[str, Any], employments: list[dict[str, Any]] | None, as_of: date
) -> None:
    events = build_timeline(employee, employments, as_of=as_of)
    for event in events:
        if event.event_type in DEPARTURE_TYPES:
            if event.event_data["reason"] == "out_of_service":
                assert employee["status"] != "active"
            else:
                assert event.event_data["reason"] == "employment_ended"


@FAST
@given(employee_records, employment_lists, days, st.sampled_from(["en", "nl"]))
def test_events_after_as_of_are_all_planned_and_only_they(
    employee: dict[str, Any], employments: list[dict[str, Any]] | None, as_of: date, locale: str
) -> None:
    for event in build_timeline(employee, employments, as_of=as_of, locale=locale):
        assert event.event_data["planned"] is (event.event_date > as_of)
        marker = "(planned)" if locale == "en" else "(gepland)"
        assert (marker in event.event_title) is (event.event_date > as_of)


_CORRECTIONS = {
    "salary": ("month_wage", "hour_wage", "yearly_wage", "end_date"),
    "hours": ("hours_per_week", "days_per_week", "end_date"),
    "contracts": ("end_date", "is_signed", "contract_duration"),
}


@FAST
@given(employee_records, distinct_employments(min_size=1), days, st.data())
def test_a_correction_to_any_period_is_reflected_after_a_rebuild(
    employee: dict[str, Any], employments: list[dict[str, Any]], as_of: date, data: st.DataObject
) -> None:
    """Whatever a correction changes, the rows rebuilt from it equal a build from scratch.

    The store writes exactly the rebuilt rows (new keys inserted, changed ones updated, the rest
    removed): so a store that started from the old rows ends where a new database would.
    """
    before = build_timeline(employee, employments, as_of=as_of)
    corrected = json.loads(json.dumps(employments))
    emp = data.draw(st.sampled_from(corrected))
    kind = data.draw(st.sampled_from(sorted(_CORRECTIONS)))
    if not emp[kind]:
        return
    row = data.draw(st.sampled_from(emp[kind]))
    field = data.draw(st.sampled_from(_CORRECTIONS[kind]))
    strategies = {
        "month_wage": numbers(1, 9000),
        "hour_wage": numbers(1, 60),
        "yearly_wage": numbers(1, 120000),
        "hours_per_week": numbers(1, 40),
        "days_per_week": st.integers(min_value=1, max_value=7),
        "end_date": api_dates(),
        "is_signed": st.booleans(),
        "contract_duration": st.sampled_from(["permanent", "definite"]),
    }
    row[field] = data.draw(strategies[field])
    ordered(row)
    after = build_timeline(employee, corrected, as_of=as_of)
    stored = _upsert({e.event_key: e for e in before}, after)
    assert stored == {e.event_key: e for e in after}


def _upsert(stored: dict[str, TimelineEvent], rows: list[TimelineEvent]) -> dict[str, TimelineEvent]:
    """What write_events does, in memory: insert new keys, update changed rows, delete the rest."""
    keys = {e.event_key for e in rows}
    result = {k: v for k, v in stored.items() if k in keys}
    for row in rows:
        if result.get(row.event_key) != row:
            result[row.event_key] = row
    return result


def test_two_employments_alike_but_for_their_contracts_are_refused_in_either_order() -> None:
    """Found by the property above: the API repeating an employment id, one copy with a contract."""
    employee = {"id": "e-1", "first_name": "", "surname_prefix": "van", "surname": "",
                "status": "out of service", "dt_create": "2023-01-01"}  # fmt: skip
    bare = {"id": "e1", "start_date": "2023-01-01", "salary": [], "hours": [], "contracts": []}
    contract = {"start_date": "2023-01-01", "end_date": "2023-01-01", "contract_duration": "permanent",
                "is_signed": False, "sign_date": "2023-01-01"}  # fmt: skip
    with_contract = {**bare, "contracts": [contract]}
    as_of = date(2023, 1, 1)
    cases: list[list[dict[str, Any]]] = [[bare, with_contract], [with_contract, bare]]
    for employments in cases:
        with pytest.raises(InvalidRecord) as caught:
            build_timeline(employee, employments, as_of=as_of)
        assert caught.value.reason == "employments: id e1 is listed twice with different content"


@FAST
@given(employee_records, distinct_employments(min_size=1), days, st.data())
def test_an_employment_repeated_word_for_word_changes_nothing(
    employee: dict[str, Any], employments: list[dict[str, Any]], as_of: date, data: st.DataObject
) -> None:
    expected = build_timeline(employee, employments, as_of=as_of)
    copy = json.loads(json.dumps(data.draw(st.sampled_from(employments))))
    repeated = [*employments]
    repeated.insert(data.draw(st.integers(min_value=0, max_value=len(repeated))), copy)
    assert build_timeline(employee, repeated, as_of=as_of) == expected
