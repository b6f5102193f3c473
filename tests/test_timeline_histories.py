"""Realistic HR histories, generated: what an HR reader sees must be true whatever the details.

Each property builds histories the way payroll registers them (hours changed on the first of a month,
the salary row dated that day or the last day before it, or split over both; contracts and employments
that follow each other without a day between; dates written with or without a zone; "no end" written
as a sentinel) and checks that nothing false comes out: no salary decrease at an unchanged rate, no
departure or re-hire in a continuous history, no planned end for someone who has left.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from employes_sync.timeline import (
    CONTRACT_ENDED,
    CONTRACT_EXPIRED_UNRENEWED,
    CONTRACT_STARTED,
    DEPARTURE_TYPES,
    HOURS_CHANGE,
    SALARY_DECREASE,
    SALARY_INCREASE,
    TimelineEvent,
    build_timeline,
)

AS_OF = date(2025, 6, 1)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
EMPLOYEE = {"id": "e-1", "first_name": "Sanne", "surname": "Visser", "status": "active"}


def build(employments: list[dict[str, Any]], **employee: Any) -> list[TimelineEvent]:
    return build_timeline({**EMPLOYEE, **employee}, employments, as_of=AS_OF)


def of(events: list[TimelineEvent], *types: str) -> list[TimelineEvent]:
    return [e for e in events if e.event_type in types]


def permanent_job(salary: list[dict[str, Any]], hours: list[dict[str, Any]]) -> dict[str, Any]:
    contracts = [{"start_date": "2020-01-01", "contract_duration": "permanent"}]
    return {"id": "j", "start_date": "2020-01-01", "salary": salary, "hours": hours, "contracts": contracts}


def month_start(index: int) -> date:
    return date(2020 + index // 12, index % 12 + 1, 1)


# ------------------------------------------------- hours changes at one rate, salary rows around them

hours_values = st.sampled_from([16, 20, 24, 28, 32, 36, 38, 40])


@st.composite
def same_rate_history(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hours changed on the first of some months, each with a salary row at one hourly rate.

    The salary row is dated on the day of the hours change, the day before it, or split over both (a
    one-day row and the rest). The wage is the rate at the new hours (monthly = hourly x hours x 52/12).
    """
    rate = Decimal(draw(st.integers(min_value=1500, max_value=6000))) / 100
    months = sorted(draw(st.sets(st.integers(min_value=1, max_value=60), min_size=1, max_size=5)))
    hours = [draw(hours_values)]
    for _ in months:
        hours.append(draw(hours_values.filter(lambda h: h != hours[-1])))

    def wage(at: int) -> float:
        return float((rate * at * 52 / 12).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    hour_rows = [{"start_date": "2020-01-01", "hours_per_week": hours[0]}]
    salary_rows: list[dict[str, Any]] = [{"start_date": "2020-01-01", "month_wage": wage(hours[0])}]
    for month, at in zip(months, hours[1:], strict=True):
        day = month_start(month)
        hour_rows.append({"start_date": day.isoformat(), "hours_per_week": at})
        dated = draw(st.sampled_from(["same day", "day before", "split"]))
        before = (day - timedelta(days=1)).isoformat()
        if dated == "same day":
            salary_rows.append({"start_date": day.isoformat(), "month_wage": wage(at)})
        elif dated == "day before":
            salary_rows.append({"start_date": before, "month_wage": wage(at)})
        else:
            salary_rows.append({"start_date": before, "end_date": before, "month_wage": wage(at)})
            salary_rows.append({"start_date": day.isoformat(), "month_wage": wage(at)})
    return salary_rows, hour_rows


@FAST
@given(same_rate_history())
def test_hours_changes_at_one_rate_tell_no_salary_change(
    history: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    salary, hours = history
    events = build([permanent_job(salary, hours)])
    assert not of(events, SALARY_INCREASE, SALARY_DECREASE), [(e.event_date, e.event_title) for e in events]
    changes = of(events, HOURS_CHANGE)
    assert len(changes) == len(hours) - 1
    for change in changes:
        # What the hours alone do to pay, at the rate before the change: it moves with the hours.
        effect, difference = change.event_data["monthly_pay_effect"], change.event_data["hours_difference"]
        assert effect is not None and (effect > 0) is (difference > 0)


@FAST
@given(same_rate_history(), st.integers(min_value=1, max_value=500))
def test_a_raise_at_an_hours_change_is_never_told_as_a_decrease(
    history: tuple[list[dict[str, Any]], list[dict[str, Any]]], raise_bp: int
) -> None:
    """Every row from some change on pays a higher rate: one rise there, and no decrease anywhere."""
    salary, hours = history
    first = next(n for n, row in enumerate(salary) if row["start_date"] != "2020-01-01")
    factor = 1 + raise_bp / 10000
    raised = [
        {**row, "month_wage": round(row["month_wage"] * factor, 2)} if n >= first else row
        for n, row in enumerate(salary)
    ]
    events = build([permanent_job(raised, hours)])
    assert not of(events, SALARY_DECREASE), [(e.event_date, e.event_title) for e in events]
    assert len(of(events, SALARY_INCREASE)) <= 1


# ---------------------------------------- employments and contracts that follow each other, any zone


def written(day: date, form: str) -> str:
    """``day`` as the API may write it: a date, local midnight, with its offset, or in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)
    if form == "date":
        return day.isoformat()
    if form == "local":
        return midnight.strftime("%Y-%m-%dT%H:%M:%S")
    if form == "offset":
        return midnight.isoformat()
    return midnight.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


forms = st.sampled_from(["date", "local", "offset", "utc"])


@st.composite
def continuous_history(draw: st.DrawFn) -> tuple[list[tuple[date, date | None, bool]], list[str]]:
    """Employments, each (start, end, fixed-term), the next starting on the day after the last ends
    (or that same day); the last open, or ending after AS_OF. Plus a form for each date written."""
    start = date(2016, 1, 1) + timedelta(days=draw(st.integers(min_value=0, max_value=1500)))
    spans = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        end = start + timedelta(days=draw(st.integers(min_value=60, max_value=800)))
        spans.append((start, end, draw(st.booleans())))
        start = end + timedelta(days=draw(st.sampled_from([0, 1])))
    last_end = draw(st.none() | st.just(max(start, AS_OF) + timedelta(days=90)))
    spans.append((start, last_end, last_end is not None))
    return spans, [draw(forms) for _ in range(4 * len(spans))]


def employments_of(spans: list[tuple[date, date | None, bool]], form: list[str]) -> list[dict[str, Any]]:
    out = []
    for number, (start, end, fixed) in enumerate(spans):
        contract: dict[str, Any] = {
            "start_date": written(start, form[4 * number]),
            "contract_duration": "definite" if fixed and end is not None else "permanent",
        }
        emp: dict[str, Any] = {"id": f"emp-{number}", "start_date": written(start, form[4 * number + 1])}
        if end is not None:
            contract["end_date"] = written(end, form[4 * number + 2])
            emp["end_date"] = written(end, form[4 * number + 3])
        out.append({**emp, "salary": [], "hours": [], "contracts": [contract]})
    return out


@FAST
@given(continuous_history())
def test_a_continuous_history_has_no_departure_or_rehire_in_any_zone(
    history: tuple[list[tuple[date, date | None, bool]], list[str]],
) -> None:
    spans, form = history
    events = build(employments_of(spans, form))
    departures = of(events, *DEPARTURE_TYPES)
    # At most the registered end to come, as planned.
    assert all(e.event_data["planned"] for e in departures), [
        (e.event_date, e.event_title) for e in departures
    ]
    assert len(departures) == (spans[-1][1] is not None)
    assert not [e for e in of(events, CONTRACT_STARTED) if e.event_data["rehire"]]
    # However each date was written, the timeline is the one of the plain dates.
    assert events == build(employments_of(spans, ["date"] * len(form)))


# ---------------------------------------------------- several employments ending on one day: one departure


@st.composite
def same_day_ends(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str, list[date], int]:
    """Two or three employments of one person closed on one day (or, out of service, one of them only
    running until then by its fixed-term contract), each with or without contracts registered after the
    end; with the day, the employments' starts and how many contracts are registered after it."""
    day = date(2024, 12, 31)
    status = draw(st.sampled_from(["active", "out_of_service"]))
    jobs, starts, after = [], [], 0
    count = draw(st.integers(min_value=2, max_value=3))
    for number in range(count):
        start = date(2015, 1, 1) + timedelta(days=draw(st.integers(min_value=0, max_value=3000)))
        contracts: list[dict[str, Any]] = [
            {"start_date": start.isoformat(), "end_date": day.isoformat(), "contract_duration": "definite"}
        ]
        job: dict[str, Any] = {"id": f"emp-{number}", "start_date": start.isoformat(), "contracts": contracts}
        if status == "active" or number or draw(st.booleans()):
            job["end_date"] = day.isoformat()
            for later in range(draw(st.integers(min_value=0, max_value=2))):
                begins = day + timedelta(days=1 + 31 * later + draw(st.integers(min_value=0, max_value=20)))
                contracts.append({"start_date": begins.isoformat(), "contract_duration": "permanent"})
                after += 1
        jobs.append(job)
        starts.append(start)
    return jobs, status, starts, after


@FAST
@given(same_day_ends(), st.sampled_from([AS_OF, date(2024, 12, 1)]))
def test_employments_ending_on_one_day_are_one_departure_that_tells_all_of_it(
    case: tuple[list[dict[str, Any]], str, list[date], int], as_of: date
) -> None:
    jobs, status, starts, after = case
    events = build_timeline({**EMPLOYEE, "status": status}, jobs, as_of=as_of)
    (ended,) = of(events, CONTRACT_ENDED)
    data = ended.event_data
    assert ended.event_date == date(2024, 12, 31)
    # A registered end is a fact: it tells the day, and is shown even while planned.
    assert data["reason"] == "employment_ended"
    told = next(j for j in jobs if j["id"] == data["employment_id"])
    others = sorted(start for job, start in zip(jobs, starts, strict=True) if job is not told)
    assert (data["also_ended_employments"], data["also_ended_start_date"]) == (
        len(others),
        others[0].isoformat(),
    )
    assert data.get("after_end_contracts", 0) == after
    assert ("(later contract registered)" in ended.event_title) is bool(after)
    assert not of(events, CONTRACT_EXPIRED_UNRENEWED)  # every contract ran out with the person's leaving


# ------------------------------------------------------------------------ no end, written as a day

sentinels = st.sampled_from(["9999-12-31", "9999-12-31T00:00:00", "2099-12-31", "2100-01-01", "2999-12-31"])


@FAST
@given(continuous_history(), sentinels, st.sets(st.sampled_from(["employment", "contract"]), min_size=1))
def test_an_end_of_time_day_is_no_end(
    history: tuple[list[tuple[date, date | None, bool]], list[str]], sentinel: str, where: set[str]
) -> None:
    spans, form = history
    spans[-1] = (spans[-1][0], None, False)
    open_ended = employments_of(spans, form)
    with_sentinel = [dict(emp, contracts=[dict(c) for c in emp["contracts"]]) for emp in open_ended]
    if "employment" in where:
        with_sentinel[-1]["end_date"] = sentinel
    if "contract" in where:
        with_sentinel[-1]["contracts"][0]["end_date"] = sentinel
    assert build(with_sentinel) == build(open_ended)


# --------------------------------------------------------------------- out of service, still to come


@FAST
@given(continuous_history(), st.integers(min_value=-400, max_value=400))
def test_someone_out_of_service_never_has_a_planned_end_they_did_not_register(
    history: tuple[list[tuple[date, date | None, bool]], list[str]], shift: int
) -> None:
    """Their last contract (the employment left open) may end before or after AS_OF: never planned."""
    spans, form = history
    start = spans[-1][0]
    spans[-1] = (start, max(start, AS_OF + timedelta(days=shift)), True)
    employments = employments_of(spans, form)
    employments[-1].pop("end_date")
    events = build(employments, status="out_of_service")
    for event in of(events, CONTRACT_ENDED):
        assert not (event.event_data["reason"] == "out_of_service" and event.event_data["planned"])
        assert event.event_date <= AS_OF


# ------------------------------------------------------------ parental leave: hours down for a while


@st.composite
def leave_history(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """An open hours period, with leaves registered as periods with an end inside it; salary rows at
    one rate, each leave's and the return's dated on their first day or the day before."""
    rate = Decimal(draw(st.integers(min_value=1500, max_value=6000))) / 100
    base = draw(st.sampled_from([32, 36, 38, 40]))
    firsts = sorted(draw(st.sets(st.integers(min_value=0, max_value=25), min_size=1, max_size=3)))

    def wage(at: int) -> float:
        return float((rate * at * 52 / 12).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    def dated(day: date) -> str:
        return draw(st.sampled_from([day, day - timedelta(days=1)])).isoformat()

    hours = [{"start_date": "2020-01-01", "hours_per_week": base}]
    salary: list[dict[str, Any]] = [{"start_date": "2020-01-01", "month_wage": wage(base)}]
    for first in firsts:
        start, back = month_start(2 * first + 1), month_start(2 * first + 2)  # one month, then back
        reduced = draw(st.sampled_from([h for h in (16, 20, 24, 28, 32) if h < base]))
        last = (back - timedelta(days=1)).isoformat()
        hours.append({"start_date": start.isoformat(), "end_date": last, "hours_per_week": reduced})
        salary.append({"start_date": dated(start), "month_wage": wage(reduced)})
        salary.append({"start_date": dated(back), "month_wage": wage(base)})
    return salary, hours, len(firsts)


@FAST
@given(leave_history())
def test_parental_leave_at_one_rate_is_hours_changes_only(
    history: tuple[list[dict[str, Any]], list[dict[str, Any]], int],
) -> None:
    salary, hours, leaves = history
    events = build([permanent_job(salary, hours)])
    assert not of(events, SALARY_INCREASE, SALARY_DECREASE), [(e.event_date, e.event_title) for e in events]
    changes = of(events, HOURS_CHANGE)
    assert len(changes) == 2 * leaves, [(e.event_date, e.event_title) for e in changes]
    assert [e.event_data["hours_difference"] < 0 for e in changes] == [True, False] * leaves


# --------------------------------------------------------- what an HR reader sees, history by history


def _job(start: str, contracts: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": fields.pop("id", "j"),
        "start_date": start,
        "salary": [],
        "hours": [],
        "contracts": contracts,
        **fields,
    }


def _fixed(start: str, end: str) -> dict[str, Any]:
    return {"start_date": start, "end_date": end, "contract_duration": "definite"}


def _permanent(start: str) -> dict[str, Any]:
    return {"start_date": start, "contract_duration": "permanent"}


READER_CASES: dict[str, tuple[list[dict[str, Any]], dict[str, Any], list[tuple[str, str]]]] = {
    "two fixed-term contracts, then a permanent one": (
        [_job("2022-01-01", [_fixed("2022-01-01", "2022-12-31"), _fixed("2023-01-01", "2023-12-31"),
                             _permanent("2024-01-01")])],
        {},
        [("2022-01-01", "Contract started"),
         ("2023-01-01", "Contract renewed (fixed-term until 31 Dec 2023)"),
         ("2024-01-01", "Contract renewed (now permanent)")],
    ),
    "an employment closed on 31 Dec and the next opened on 1 Jan": (
        [_job("2022-01-01", [_fixed("2022-01-01", "2023-12-31")], id="a", end_date="2023-12-31"),
         _job("2024-01-01", [_permanent("2024-01-01")], id="b")],
        {},
        [("2022-01-01", "Contract started"), ("2024-01-01", "Contract started")],
    ),
    "a contract ending the day the next one starts": (
        [_job("2024-01-01", [_fixed("2024-01-01", "2024-06-30"), _permanent("2024-06-30")])],
        {},
        [("2024-01-01", "Contract started"), ("2024-06-30", "Contract renewed (now permanent)")],
    ),
    "parental leave inside the open hours, salary at one rate": (
        [_job("2022-01-01", [_permanent("2022-01-01")],
              hours=[{"start_date": "2022-01-01", "hours_per_week": 40},
                     {"start_date": "2024-03-01", "end_date": "2024-08-31", "hours_per_week": 32}],
              salary=[{"start_date": "2022-01-01", "month_wage": 4000},
                      {"start_date": "2024-02-29", "month_wage": 3200},
                      {"start_date": "2024-09-01", "month_wage": 4000}])],
        {},
        [("2022-01-01", "Contract started"), ("2024-03-01", "Hours change (40→32h/week)"),
         ("2024-09-01", "Hours change (32→40h/week)")],
    ),
    "out of service, the last contract running past as_of": (
        [_job("2024-01-01", [_fixed("2024-01-01", "2025-12-31")])],
        {"status": "out_of_service"},
        [("2024-01-01", "Contract started")],
    ),
    "no end written as 2099-12-31": (
        [_job("2024-01-01", [{"start_date": "2024-01-01", "end_date": "2099-12-31"}], end_date="2099-12-31")],
        {},
        [("2024-01-01", "Contract started")],
    ),
    "an end in UTC and the next start with its offset": (
        [_job("2023-01-01", [_fixed("2023-01-01", "2024-03-30T23:00:00Z")], id="a",
              end_date="2024-03-30T23:00:00Z"),
         _job("2024-04-01T00:00:00+02:00", [_permanent("2024-04-01T00:00:00+02:00")], id="b")],
        {},
        [("2023-01-01", "Contract started"), ("2024-04-01", "Contract started")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(READER_CASES))
def test_what_an_hr_reader_sees(case: str) -> None:
    employments, employee, expected = READER_CASES[case]
    events = [e for e in build(employments, **employee) if e.event_type != "employee_added"]
    assert [(e.event_date.isoformat(), e.event_title) for e in events] == expected
