"""The timeline builder on hand-written records shaped like the Employes API's (issue 2)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from employes_sync.employes.models import InvalidRecord as ModelsInvalidRecord
from employes_sync.timeline import (
    CONTRACT_ADDED,
    CONTRACT_ENDED,
    CONTRACT_EXPIRED_UNRENEWED,
    CONTRACT_RENEWED,
    CONTRACT_STARTED,
    EMPLOYEE_ADDED,
    EVENT_TYPES,
    HOURS_CHANGE,
    PAY_BASIS_CHANGE,
    SALARY_DECREASE,
    SALARY_INCREASE,
    InvalidRecord,
    TimelineEvent,
    build_timeline,
)

TODAY = date(2025, 6, 1)


def employee(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "b1bc1ed8-79f3-4f45-9790-2a16953879a1",
        "first_name": "Jan",
        "surname_prefix": "de",
        "surname": "Vries",
        "status": "active",
        "dt_create": "2023-01-10T09:30:00",
    }
    base.update(fields)
    return base


def employment(ident: str = "emp-1", start: str = "2023-02-01T00:00:00", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": ident, "start_date": start, "salary": [], "hours": [], "contracts": []}
    base.update(fields)
    return base


def build(emp: dict[str, Any], employments: list[dict[str, Any]] | None) -> list[TimelineEvent]:
    return build_timeline(emp, employments, as_of=TODAY)


def of_type(events: list[TimelineEvent], event_type: str) -> list[TimelineEvent]:
    return [e for e in events if e.event_type == event_type]


def only(events: list[TimelineEvent], event_type: str) -> TimelineEvent:
    found = of_type(events, event_type)
    assert len(found) == 1, [(e.event_type, e.event_date) for e in events]
    return found[0]


# ---------------------------------------------------------------------------------------------- types


def test_employee_added_dated_by_dt_create_with_the_name_verbatim() -> None:
    events = build(employee(first_name="Zoë", surname="Ünal-Øster 🙂"), [employment()])
    added = only(events, EMPLOYEE_ADDED)
    assert added.event_date == date(2023, 1, 10)
    assert added.event_title == "Added to Employes"
    assert "Zoë de Ünal-Øster 🙂" in added.event_description
    assert added.event_data == {
        "name": "Zoë de Ünal-Øster 🙂",
        "source": "dt_create",
        "dates": "record",
        "planned": False,
    }


def test_employee_added_falls_back_to_the_earliest_employment_start() -> None:
    events = build(employee(dt_create=None), [employment("b", "2021-03-01"), employment("a", "2019-05-01")])
    added = only(events, EMPLOYEE_ADDED)
    assert added.event_date == date(2019, 5, 1)
    assert added.event_data["source"] == "first_employment"


def test_employee_without_any_date_gets_no_events() -> None:
    emp = employee()
    del emp["dt_create"]
    assert build(emp, None) == []


def test_contract_started_describes_the_start() -> None:
    events = build(
        employee(),
        [
            employment(
                salary=[{"start_date": "2023-02-01T00:00:00", "month_wage": "3500.00", "hour_wage": "20.19"}],
                hours=[
                    {
                        "start_date": "2023-02-01",
                        "hours_per_week": 32,
                        "days_per_week": 4,
                        "employee_type": "parttime",
                    }
                ],
                contracts=[
                    {
                        "start_date": "2023-02-01",
                        "end_date": "2024-01-31",
                        "contract_duration": "definite",
                        "is_signed": True,
                    }
                ],
            )
        ],
    )
    started = only(events, CONTRACT_STARTED)
    assert started.event_date == date(2023, 2, 1)
    assert started.event_title == "Contract started"
    assert started.event_description == (
        "Employment started on 1 Feb 2023: fixed-term contract until 31 Jan 2024, 32h/week, 4 days/week."
    )
    assert started.event_data == {
        "employment_id": "emp-1",
        "start_date": "2023-02-01",
        "rehire": False,
        "gap_days": None,
        "terms": "starting",
        "terms_from": "2023-02-01",
        "contract_duration": "definite",
        "contract_start_date": "2023-02-01",
        "contract_end_date": "2024-01-31",
        "is_signed": True,
        "sign_date": None,
        "hours_per_week": 32,
        "days_per_week": 4,
        "employee_type": "parttime",
        "pay_basis": "monthly",
        "month_wage": 3500,
        "hour_wage": 20.19,
        "yearly_wage": None,
        "currency": "EUR",
        "chain_contracts": 1,
        "chain_start_date": "2023-02-01",
        "chain_reset": False,
        "chain_exceeds_legal_maximum": False,
        "planned": False,
    }


def test_salary_increase_has_amount_and_percentage() -> None:
    events = build(
        employee(),
        [
            employment(
                salary=[
                    {
                        "start_date": "2023-02-01T00:00:00",
                        "end_date": "2023-12-31T00:00:00",
                        "month_wage": 3000,
                    },
                    {"start_date": "2024-01-01T00:00:00", "month_wage": "3200.00"},
                ]
            )
        ],
    )
    inc = only(events, SALARY_INCREASE)
    assert inc.event_date == date(2024, 1, 1)
    assert inc.event_title == "Salary increase (+€200.00/month)"
    assert inc.event_description == (
        "Monthly wage changed from €3,000.00 to €3,200.00 (+6.67%) on 1 Jan 2024."
    )
    data = inc.event_data
    assert (data["basis"], data["from"], data["to"], data["amount"], data["percentage"]) == (
        "monthly",
        3000,
        3200,
        200,
        6.67,
    )
    assert data["employment_id"] == "emp-1"
    assert data["previous_start_date"] == "2023-02-01"
    assert not of_type(events, SALARY_DECREASE)


def test_salary_decrease_is_negative() -> None:
    events = build(
        employee(),
        [
            employment(
                salary=[
                    {"start_date": "2023-02-01", "month_wage": "12345.60"},
                    {"start_date": "2023-08-01", "month_wage": "12000.10"},
                ]
            )
        ],
    )
    dec = only(events, SALARY_DECREASE)
    assert dec.event_title == "Salary decrease (-€345.50/month)"
    assert dec.event_data["amount"] == -345.5
    assert dec.event_data["percentage"] == -2.8
    assert "€12,345.60" in dec.event_description
    assert not of_type(events, SALARY_INCREASE)


def test_hourly_wage_is_compared_when_there_is_no_monthly_wage() -> None:
    events = build(
        employee(),
        [
            employment(
                salary=[
                    {"start_date": "2023-02-01", "month_wage": 0, "hour_wage": "14.50"},
                    {"start_date": "2023-07-01", "month_wage": None, "hour_wage": 15},
                ]
            )
        ],
    )
    inc = only(events, SALARY_INCREASE)
    assert inc.event_data["basis"] == "hourly"
    assert inc.event_title == "Salary increase (+€0.50/hour)"
    assert inc.event_description.startswith("Hourly wage changed from €14.50 to €15.00")


@pytest.mark.parametrize("old", [8.39534613239055e-242, 0.004])
def test_a_wage_that_is_noise_gives_no_salary_event_and_no_crash(old: float) -> None:
    """Found by hypothesis: a sub-cent wage overflowed the percentage's quantize."""
    events = build(
        employee(),
        [
            employment(
                salary=[
                    {"start_date": "2023-02-01", "hour_wage": old},
                    {"start_date": "2023-07-01", "hour_wage": "43.05"},
                ]
            )
        ],
    )
    assert not of_type(events, SALARY_INCREASE) and not of_type(events, SALARY_DECREASE)


def test_hours_change_from_to_with_days() -> None:
    events = build(
        employee(),
        [
            employment(
                hours=[
                    {
                        "start_date": "2023-02-01",
                        "hours_per_week": "30.0",
                        "days_per_week": 4,
                        "employee_type": "parttime",
                    },
                    {
                        "start_date": "2024-03-01",
                        "hours_per_week": 40,
                        "days_per_week": "5",
                        "employee_type": "fulltime",
                    },
                ]
            )
        ],
    )
    change = only(events, HOURS_CHANGE)
    assert change.event_date == date(2024, 3, 1)
    assert change.event_title == "Hours change (30→40h/week)"
    assert change.event_description == (
        "Working hours changed (30→40 hours per week, 4→5 days per week) on 1 Mar 2024."
    )
    assert change.event_data == {
        "employment_id": "emp-1",
        "from_hours_per_week": 30,
        "to_hours_per_week": 40,
        "hours_difference": 10,
        "from_days_per_week": 4,
        "to_days_per_week": 5,
        "from_employee_type": "parttime",
        "to_employee_type": "fulltime",
        "monthly_pay_effect": None,  # no salary known to weigh the hours with
        "currency": "EUR",
        "planned": False,
    }


def test_days_only_change_is_an_hours_change_about_days() -> None:
    events = build(
        employee(),
        [
            employment(
                hours=[
                    {"start_date": "2023-02-01", "hours_per_week": 32.5, "days_per_week": 5},
                    {"start_date": "2023-06-01", "hours_per_week": 32.5, "days_per_week": 4},
                ]
            )
        ],
    )
    change = only(events, HOURS_CHANGE)
    assert change.event_title == "Hours change (5→4 days/week)"
    assert change.event_data["hours_difference"] == 0


def test_contract_renewed_fixed_term_then_permanent() -> None:
    events = build(
        employee(),
        [
            employment(
                contracts=[
                    {
                        "start_date": "2024-02-01",
                        "contract_duration": "permanent",
                        "is_signed": True,
                        "sign_date": "2024-01-20T00:00:00",
                    },
                    {"start_date": "2023-02-01", "end_date": "2023-07-31", "contract_duration": "definite"},
                    {"start_date": "2023-08-01", "end_date": "2024-01-31", "contract_duration": "definite"},
                ]
            )
        ],
    )
    renewed = of_type(events, CONTRACT_RENEWED)
    assert [e.event_date for e in renewed] == [date(2023, 8, 1), date(2024, 2, 1)]
    fixed, permanent = renewed
    assert fixed.event_title == "Contract renewed (fixed-term until 31 Jan 2024)"
    assert fixed.event_data["contract_duration"] == "definite"
    assert fixed.event_data["end_date"] == "2024-01-31"
    assert fixed.event_data["previous_end_date"] == "2023-07-31"
    assert fixed.event_data["made_permanent"] is False
    assert permanent.event_title == "Contract renewed (now permanent)"
    assert permanent.event_data["contract_duration"] == "permanent"
    assert permanent.event_data["end_date"] is None
    assert permanent.event_data["previous_end_date"] == "2024-01-31"
    assert permanent.event_data["made_permanent"] is True
    assert permanent.event_data["sign_date"] == "2024-01-20"
    assert permanent.event_data["is_signed"] is True
    # The permanent contract follows the fixed-term ones: nothing ended.
    assert not of_type(events, CONTRACT_ENDED)


def test_contract_ended_when_the_employment_ended_in_the_past() -> None:
    events = build(
        employee(status="out of service"),
        [
            employment(
                end_date="2024-12-31T00:00:00",
                contracts=[{"start_date": "2023-02-01", "contract_duration": "permanent"}],
            )
        ],
    )
    ended = only(events, CONTRACT_ENDED)
    assert ended.event_date == date(2024, 12, 31)
    assert ended.event_title == "Employment ended"
    assert ended.event_data == {
        "employment_id": "emp-1",
        "reason": "employment_ended",
        "start_date": "2023-02-01",
        "end_date": "2024-12-31",
        "contract_duration": "permanent",
        "planned": False,
    }


def test_the_departure_names_the_contract_running_at_the_end_not_a_short_one_beside_it() -> None:
    # A fixed-term project contract in 2021 beside the permanent one: the departure in 2024 said "definite".
    contracts = [
        {"start_date": "2020-01-01", "contract_duration": "permanent"},
        {"start_date": "2021-01-01", "end_date": "2021-06-30", "contract_duration": "definite"},
    ]
    events = build(employee(), [employment(start="2020-01-01", end_date="2024-12-31", contracts=contracts)])
    assert only(events, CONTRACT_ENDED).event_data["contract_duration"] == "permanent"


@pytest.mark.parametrize(("end", "planned"), [("2025-06-01", False), ("2025-12-31T00:00:00", True)])
def test_an_end_today_is_an_end_and_one_after_as_of_is_planned(end: str, planned: bool) -> None:
    ended = only(build(employee(), [employment(end_date=end)]), CONTRACT_ENDED)
    assert ended.event_data["planned"] is planned
    assert ended.event_title == ("Employment ends (planned)" if planned else "Employment ended")


def test_as_of_is_explicit() -> None:
    emp, emps = employee(), [employment(end_date="2025-12-31")]
    before = only(build_timeline(emp, emps, as_of=date(2025, 12, 30)), CONTRACT_ENDED)
    after = only(build_timeline(emp, emps, as_of=date(2025, 12, 31)), CONTRACT_ENDED)
    assert (before.event_data["planned"], after.event_data["planned"]) == (True, False)
    assert before.event_key == after.event_key  # the store updates it in place when the day comes
    with pytest.raises(TypeError):
        build_timeline(emp, emps)  # type: ignore[call-arg]


def test_fixed_term_contract_that_ran_out_without_follow_up_is_no_departure() -> None:
    events = build(
        employee(),
        [
            employment(
                contracts=[
                    {"start_date": "2023-02-01", "end_date": "2024-01-31", "contract_duration": "definite"}
                ]
            )
        ],
    )
    assert not of_type(events, CONTRACT_ENDED)
    lapsed = only(events, CONTRACT_EXPIRED_UNRENEWED)
    assert lapsed.event_date == date(2024, 1, 31)
    assert lapsed.event_title == "Fixed-term contract expired, no follow-up registered"


def test_an_ended_employment_gives_one_contract_ended_not_two() -> None:
    events = build(
        employee(),
        [
            employment(
                end_date="2024-01-31",
                contracts=[
                    {"start_date": "2023-02-01", "end_date": "2024-01-31", "contract_duration": "definite"}
                ],
            )
        ],
    )
    assert only(events, CONTRACT_ENDED).event_data["reason"] == "employment_ended"


def test_fixed_term_running_out_before_the_employment_ends_gives_a_lapse_then_the_end() -> None:
    contracts = [{"start_date": "2023-02-01", "end_date": "2024-01-31", "contract_duration": "definite"}]
    events = build(employee(), [employment(end_date="2024-03-31", contracts=contracts)])
    assert [(e.event_date, e.event_type) for e in events if e.event_type.startswith("contract_e")] == [
        (date(2024, 1, 31), CONTRACT_EXPIRED_UNRENEWED),
        (date(2024, 3, 31), CONTRACT_ENDED),
    ]
    # While the employment still runs, the end shows as planned; later nothing is withdrawn.
    earlier = build_timeline(
        employee(), [employment(end_date="2024-03-31", contracts=contracts)], as_of=date(2024, 3, 1)
    )
    assert only(earlier, CONTRACT_ENDED).event_data["planned"] is True
    assert {e.event_key for e in earlier} <= {e.event_key for e in events}


def test_every_event_type_appears_on_a_full_history() -> None:
    events = build(employee(), full_history())
    # The other two have their own tests in test_timeline_rules.py.
    assert {e.event_type for e in events} == EVENT_TYPES - {CONTRACT_ADDED, PAY_BASIS_CHANGE}


# ----------------------------------------------------------------------------- shapes and edge cases


def full_history() -> list[dict[str, Any]]:
    return [
        {
            "id": "first",
            "start_date": "2020-01-01T00:00:00",
            "end_date": "2021-12-31T00:00:00",
            "salary": [
                {
                    "start_date": "2020-01-01T00:00:00",
                    "end_date": "2020-12-31T00:00:00",
                    "month_wage": "2800.00",
                },
                {
                    "start_date": "2021-01-01T00:00:00",
                    "end_date": "2021-06-30T00:00:00",
                    "month_wage": "4500.00",  # at 36 instead of 24 hours: a higher rate, too
                },
                {"start_date": "2021-07-01T00:00:00", "month_wage": "4400.00"},
            ],
            "hours": [
                {
                    "start_date": "2020-01-01T00:00:00",
                    "end_date": "2020-12-31T00:00:00",
                    "hours_per_week": 24,
                    "days_per_week": 3,
                    "employee_type": "parttime",
                },
                {
                    "start_date": "2021-01-01T00:00:00",
                    "hours_per_week": 36,
                    "days_per_week": 4.5,
                    "employee_type": "parttime",
                },
            ],
            "contracts": [
                {
                    "start_date": "2020-01-01T00:00:00",
                    "end_date": "2020-12-31T00:00:00",
                    "contract_duration": "definite",
                    "is_signed": True,
                    "sign_date": "2019-12-15T00:00:00",
                },
                {"start_date": "2021-01-01T00:00:00", "contract_duration": "permanent", "is_signed": True},
            ],
        },
        {
            "id": "second",
            "start_date": "2023-03-01T00:00:00",
            "salary": [{"start_date": "2023-03-01T00:00:00", "month_wage": "3400.00"}],
            "hours": [{"start_date": "2023-03-01T00:00:00", "hours_per_week": 40, "days_per_week": 5}],
            "contracts": [
                {
                    "start_date": "2023-03-01T00:00:00",
                    "end_date": "2024-02-29T00:00:00",
                    "contract_duration": "definite",
                }
            ],
        },
    ]


def test_rehire_shows_two_contract_starts() -> None:
    events = build(employee(), full_history())
    starts = of_type(events, CONTRACT_STARTED)
    assert [(e.event_date, e.event_data["employment_id"], e.event_data["rehire"]) for e in starts] == [
        (date(2020, 1, 1), "first", False),
        (date(2023, 3, 1), "second", True),
    ]
    assert starts[1].event_title == "Contract started (re-hired)"
    assert starts[1].event_description.startswith("Re-hired on 1 Mar 2023")
    ended = of_type(events, CONTRACT_ENDED)
    assert [(e.event_date, e.event_data["reason"]) for e in ended] == [
        (date(2021, 12, 31), "employment_ended")
    ]
    assert only(events, CONTRACT_EXPIRED_UNRENEWED).event_date == date(2024, 2, 29)


def test_overlapping_employments_are_not_rehires() -> None:
    events = build(employee(), [employment("a", "2020-01-01"), employment("b", "2022-01-01")])
    assert [e.event_data["rehire"] for e in of_type(events, CONTRACT_STARTED)] == [False, False]


def _fixed_term(start: str, end: str) -> list[dict[str, Any]]:
    return [{"start_date": start, "end_date": end, "contract_duration": "definite"}]


def test_back_to_back_employments_are_no_departure_and_no_rehire() -> None:
    # Closed on 31 Dec, the next one opened on 1 Jan: the person never left. It read "Employment
    # ended" (counted as a leaver) and then "Contract started (re-hired)" after a gap of 0 days.
    events = build(
        employee(),
        [
            employment(
                "a", "2023-01-01", end_date="2023-12-31", contracts=_fixed_term("2023-01-01", "2023-12-31")
            ),
            employment("b", "2024-01-01", contracts=_fixed_term("2024-01-01", "2025-12-31")),
        ],
    )
    assert not of_type(events, CONTRACT_ENDED)
    assert not of_type(events, CONTRACT_EXPIRED_UNRENEWED)
    second = of_type(events, CONTRACT_STARTED)[1]
    assert (second.event_data["rehire"], second.event_data["gap_days"]) == (False, None)
    assert second.event_title == "Contract started"
    # A notice with the next employment already registered is no planned departure either.
    planned = build(
        employee(),
        [
            employment("a", "2024-01-01", end_date="2025-08-31"),
            employment("b", "2025-09-01"),
        ],
    )
    assert not of_type(planned, CONTRACT_ENDED)


def test_an_employment_ending_while_another_runs_on_is_no_departure() -> None:
    # A second employment beside the first: ending one of them is not leaving ("Uit dienst").
    inner_ends = build(
        employee(), [employment("a", "2020-01-01"), employment("b", "2021-01-01", end_date="2021-06-30")]
    )
    assert not of_type(inner_ends, CONTRACT_ENDED)
    outer_ends = build(
        employee(), [employment("a", "2020-01-01", end_date="2022-06-30"), employment("b", "2022-01-01")]
    )
    assert not of_type(outer_ends, CONTRACT_ENDED)
    # When both end, the person leaves once, on the later end.
    both = build(
        employee(),
        [
            employment("a", "2020-01-01", end_date="2024-12-31"),
            employment("b", "2022-01-01", end_date="2023-06-30"),
        ],
    )
    assert [(e.event_date, e.event_data["employment_id"]) for e in of_type(both, CONTRACT_ENDED)] == [
        (date(2024, 12, 31), "a")
    ]
    # Both closed on one day: one departure (the person is one leaver), from the one that started last.
    together = build(
        employee(),
        [
            employment("a", "2020-01-01", end_date="2024-12-31"),
            employment("b", "2022-01-01", end_date="2024-12-31"),
        ],
    )
    assert [(e.event_date, e.event_data["employment_id"]) for e in of_type(together, CONTRACT_ENDED)] == [
        (date(2024, 12, 31), "b")
    ]


def test_a_day_between_employments_is_a_departure_and_a_rehire() -> None:
    events = build(
        employee(),
        [employment("a", "2023-01-01", end_date="2023-12-31"), employment("b", "2024-01-02")],
    )
    assert [e.event_date for e in of_type(events, CONTRACT_ENDED)] == [date(2023, 12, 31)]
    second = of_type(events, CONTRACT_STARTED)[1]
    assert (second.event_data["rehire"], second.event_data["gap_days"]) == (True, 1)
    assert second.event_title == "Contract started (re-hired)"


def test_salary_changes_stay_within_one_employment() -> None:
    events = build(employee(), full_history())
    # 2800 -> 4500 -> 4400 in the first employment; the re-hire at 3400 is a start, not an increase.
    assert [(e.event_type, e.event_date) for e in events if e.event_type.startswith("salary")] == [
        (SALARY_INCREASE, date(2021, 1, 1)),
        (SALARY_DECREASE, date(2021, 7, 1)),
    ]


# 9999-12-31: how SAP and many payroll exports write "no end"; it read as a planned departure in 7974.
# 2099-12-31 (and 2100-01-01, 2999-12-31) is how others write it: "Employment ends (planned)" in 2099.
@pytest.mark.parametrize(
    "open_end",
    ["missing", None, "", "9999-12-31", "9999-12-31T00:00:00", "2099-12-31", "2100-01-01", "2999-12-31"],
)
def test_open_periods_may_omit_end_date_or_leave_it_empty(open_end: object) -> None:
    def row(start: str, **fields: Any) -> dict[str, Any]:
        r = {"start_date": start, **fields}
        if open_end != "missing":
            r["end_date"] = open_end
        return r

    emp = employment(
        salary=[row("2023-02-01", month_wage=3000), row("2024-02-01", month_wage=3500)],
        hours=[row("2023-02-01", hours_per_week=32), row("2024-02-01", hours_per_week=36)],
        contracts=[
            row("2023-02-01", contract_duration="definite"),
            row("2024-02-01", contract_duration="permanent"),
        ],
    )
    if open_end != "missing":
        emp["end_date"] = open_end
    events = build(employee(), [emp])
    assert {e.event_type for e in events} == {
        EMPLOYEE_ADDED,
        CONTRACT_STARTED,
        SALARY_INCREASE,
        HOURS_CHANGE,
        CONTRACT_RENEWED,
    }


@pytest.mark.parametrize("sentinel", ["9999-12-31", "2099-12-31"])
def test_a_contract_open_until_9999_is_permanent_not_fixed_term(sentinel: str) -> None:
    # Without contract_duration an end date makes a contract fixed-term; the sentinel is no end.
    contract = {"start_date": "2023-02-01", "end_date": sentinel}
    events = build(employee(), [employment(contracts=[contract])])
    started = only(events, CONTRACT_STARTED)
    assert started.event_data["contract_duration"] == "permanent"
    assert started.event_data.get("contract_end_date") is None
    assert not of_type(events, CONTRACT_ENDED)


def test_the_last_real_day_before_the_sentinels_is_still_an_end() -> None:
    # Only the "end of time" days are read as no end: a notice registered for 2099-12-30 is data.
    emp = employment(end_date="2099-12-30")
    ended = only(build(employee(), [emp]), CONTRACT_ENDED)
    assert (ended.event_date, ended.event_data["planned"]) == (date(2099, 12, 30), True)


def test_periods_in_any_order_give_the_same_events() -> None:
    history = full_history()
    shuffled = [dict(e) for e in reversed(history)]
    for emp in shuffled:
        for key in ("salary", "hours", "contracts"):
            emp[key] = list(reversed(emp[key]))
    assert build(employee(), shuffled) == build(employee(), history)


def test_equal_consecutive_values_are_no_change() -> None:
    events = build(
        employee(),
        [
            employment(
                salary=[
                    {"start_date": "2023-02-01", "end_date": "2023-12-31", "month_wage": "3000.00"},
                    {"start_date": "2024-01-01", "end_date": "2024-06-30", "month_wage": 3000},
                    {"start_date": "2024-07-01", "month_wage": 3000.0},
                ],
                hours=[
                    {"start_date": "2023-02-01", "hours_per_week": "40.00", "days_per_week": 5},
                    {"start_date": "2024-01-01", "hours_per_week": 40, "days_per_week": "5.0"},
                    {"start_date": "2024-02-01", "hours_per_week": None, "days_per_week": None},
                    {"start_date": "2024-03-01", "hours_per_week": 40},
                ],
            )
        ],
    )
    assert {e.event_type for e in events} == {EMPLOYEE_ADDED, CONTRACT_STARTED}


def test_same_day_salary_rows_give_one_deterministic_change() -> None:
    rows = [
        {"start_date": "2023-02-01", "month_wage": 3000},
        {"start_date": "2024-01-01", "end_date": "2024-01-01", "month_wage": 3000},  # a one-day correction
        {"start_date": "2024-01-01", "month_wage": 3300},
    ]
    forward = build(employee(), [employment(salary=rows)])
    backward = build(employee(), [employment(salary=list(reversed(rows)))])
    assert forward == backward
    inc = only(forward, SALARY_INCREASE)
    assert (inc.event_date, inc.event_data["from"], inc.event_data["to"]) == (date(2024, 1, 1), 3000, 3300)


def test_same_day_rows_differing_only_in_zero_versus_missing_resolve_the_same_way() -> None:
    rows = [
        {"start_date": "2023-02-01", "month_wage": 3000},
        {"start_date": "2024-01-01", "month_wage": 3100, "hour_wage": 0},
        {"start_date": "2024-01-01", "month_wage": 3100, "hour_wage": None},
    ]
    hours = [
        {"start_date": "2023-02-01", "hours_per_week": 40, "employee_type": ""},
        {"start_date": "2023-02-01", "hours_per_week": 40},
        {"start_date": "2024-01-01", "hours_per_week": 32},
    ]
    forward = build(employee(), [employment(salary=rows, hours=hours)])
    assert forward == build(employee(), [employment(salary=rows[::-1], hours=hours[::-1])])


def test_same_day_duplicate_rows_are_no_change() -> None:
    rows = [
        {"start_date": "2023-02-01", "month_wage": 3000},
        {"start_date": "2023-02-01", "month_wage": 3000},
        {"start_date": "2023-02-01T00:00:00", "month_wage": "3000.00"},
    ]
    hours = [
        {"start_date": "2023-02-01", "hours_per_week": 40},
        {"start_date": "2023-02-01", "hours_per_week": 32},
    ]
    contracts = [
        {"start_date": "2023-02-01", "contract_duration": "definite", "end_date": "2023-12-31"},
        {"start_date": "2023-02-01", "contract_duration": "permanent"},
    ]
    events = build(employee(), [employment(salary=rows, hours=hours, contracts=contracts)])
    assert {e.event_type for e in events} == {EMPLOYEE_ADDED, CONTRACT_STARTED}
    # The same-day contract rows resolve to the open-ended one, whatever their order.
    started = only(events, CONTRACT_STARTED)
    assert started.event_data["contract_duration"] == "permanent"
    again = build(employee(), [employment(salary=rows, hours=hours[::-1], contracts=contracts[::-1])])
    assert again == events


@pytest.mark.parametrize("employments", [None, []])
def test_no_employments_fall_back_to_the_nested_current_employment(employments: list[Any] | None) -> None:
    emp = employee(
        employment={
            "start_date": "2022-05-01T00:00:00",
            "end_date": None,
            "contract": {
                "start_date": "2022-05-01T00:00:00",
                "end_date": "2023-04-30T00:00:00",
                "hours_per_week": 24,
                "days_per_week": 3,
                "employee_type": "parttime",
            },
            "salary": {"start_date": "2022-05-01T00:00:00", "hour_wage": "16.25", "month_wage": "1690.00"},
            "tax_details": {"start_date": "2022-05-01T00:00:00", "is_reduction_applied": True},
        }
    )
    events = build(emp, employments)
    started = only(events, CONTRACT_STARTED)
    assert started.event_data["employment_id"] == "current"
    assert started.event_data["contract_duration"] == "definite"
    assert started.event_data["hours_per_week"] == 24
    assert started.event_data["month_wage"] == 1690
    assert started.event_data["terms"] == "current"
    assert only(events, CONTRACT_EXPIRED_UNRENEWED).event_date == date(2023, 4, 30)
    assert not of_type(events, CONTRACT_ENDED)


@pytest.mark.parametrize("nested", [None, {}, "missing"])
def test_no_employments_and_no_nested_employment(nested: object) -> None:
    emp = employee()
    if nested != "missing":
        emp["employment"] = nested
    for employments in (None, []):
        events = build(emp, employments)
        assert [e.event_type for e in events] == [EMPLOYEE_ADDED]


def test_employments_list_wins_over_the_nested_employment() -> None:
    emp = employee(employment={"start_date": "2022-05-01"})
    events = build(emp, [employment()])
    assert [e.event_data["employment_id"] for e in of_type(events, CONTRACT_STARTED)] == ["emp-1"]


# ------------------------------------------------------------------------------------ determinism


def test_determinism_sorted_and_repeatable() -> None:
    first = build(employee(), full_history())
    second = build(employee(), json.loads(json.dumps(full_history())))
    assert first == second
    assert [(e.event_date, e.event_order, e.event_key) for e in first] == sorted(
        (e.event_date, e.event_order, e.event_key) for e in first
    )


def test_event_keys_are_short_unique_digests_independent_of_text() -> None:
    events = build(employee(), full_history())
    keys = [e.event_key for e in events]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
    renamed = build(employee(first_name="Johannes"), full_history())
    assert [e.event_key for e in renamed] == keys
    other = build(employee(id="someone-else"), full_history())
    assert not set(keys) & {e.event_key for e in other}


def test_events_are_frozen_and_json_ready() -> None:
    events = build(employee(), full_history())
    with pytest.raises(AttributeError):
        events[0].event_title = "changed"  # type: ignore[misc]
    for event in events:
        json.dumps(event.event_data, allow_nan=False)
        assert event.employee_id == employee()["id"]


def test_the_input_is_not_modified() -> None:
    history = full_history()
    snapshot = json.dumps(history, sort_keys=True)
    build(employee(), history)
    assert json.dumps(history, sort_keys=True) == snapshot


def test_integer_ids_are_accepted_as_text() -> None:
    events = build(employee(id=42), [employment(ident=7)])  # type: ignore[arg-type]
    assert {e.employee_id for e in events} == {"42"}
    assert only(events, CONTRACT_STARTED).event_data["employment_id"] == "7"


# ------------------------------------------------------------------------------------ invalid input


def test_invalid_record_is_the_pipelines_one_class() -> None:
    assert InvalidRecord is ModelsInvalidRecord
    assert issubclass(InvalidRecord, ValueError)


@pytest.mark.parametrize(
    ("emp", "employments", "field"),
    [
        ("not an object", None, "employee"),
        ({"first_name": "No id"}, None, "employee.id"),
        (employee(id=""), None, "employee.id"),
        (employee(id=True), None, "employee.id"),
        (employee(id=["x"]), None, "employee.id"),
        (employee(dt_create="2024-13-01"), None, "employee.dt_create"),
        (employee(dt_create="yesterday"), None, "employee.dt_create"),
        (employee(dt_create=20240101), None, "employee.dt_create"),
        (employee(first_name=5), None, "employee.first_name"),
        (employee(surname="nul\x00byte"), None, "employee.surname"),
        (employee(surname="lone \ud800 surrogate"), None, "employee.surname"),
        (employee(), {"data": []}, "employments"),
        (employee(), ["not an employment"], "employments[0]"),
        (employee(), [{"id": "x"}], "employments[0].start_date"),
        (employee(), [employment(start="2024-02-30")], "employments[0].start_date"),
        (employee(), [employment(end_date="31-12-2024")], "employments[0].end_date"),
        (employee(), [employment(salary={"month_wage": 1})], "employments[0].salary"),
        (employee(), [employment(salary=[3000])], "employments[0].salary[0]"),
        (employee(), [employment(salary=[{"month_wage": 3000}])], "employments[0].salary[0].start_date"),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "month_wage": "lots"}])],
            "employments[0].salary[0].month_wage",
        ),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "month_wage": "NaN"}])],
            "employments[0].salary[0].month_wage",
        ),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "month_wage": "3.500,00"}])],
            "employments[0].salary[0].month_wage",
        ),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "month_wage": -1}])],
            "employments[0].salary[0].month_wage",
        ),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "hour_wage": True}])],
            "employments[0].salary[0].hour_wage",
        ),
        (
            employee(),
            [employment(salary=[{"start_date": "2024-01-01", "yearly_wage": 10**30}])],
            "employments[0].salary[0].yearly_wage",
        ),
        (
            employee(),
            [employment(hours=[{"start_date": "2024-01-01", "hours_per_week": 200}])],
            "employments[0].hours[0].hours_per_week",
        ),
        (
            employee(),
            [employment(hours=[{"start_date": "2024-01-01", "employee_type": 1}])],
            "employments[0].hours[0].employee_type",
        ),
        (
            employee(),
            [employment(contracts=[{"start_date": "2024-01-01", "contract_duration": {}}])],
            "employments[0].contracts[0].contract_duration",
        ),
        (
            employee(),
            [employment(contracts=[{"start_date": "2024-01-01", "sign_date": "soon"}])],
            "employments[0].contracts[0].sign_date",
        ),
        (employee(employment="current"), None, "employee.employment"),
        (
            employee(employment={"start_date": "2024-01-01", "salary": [1]}),
            None,
            "employee.employment.salary",
        ),
    ],
)
def test_invalid_input_is_rejected_with_a_reason_naming_the_field(
    emp: Any, employments: Any, field: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        build_timeline(emp, employments, as_of=TODAY)
    assert caught.value.reason.startswith(field + ":") or caught.value.reason.startswith(field + "."), (
        caught.value.reason
    )
    assert str(caught.value) == caught.value.reason


def test_reasons_do_not_echo_wages() -> None:
    bad = [employment(salary=[{"start_date": "2024-01-01", "month_wage": "4321.99 EUR"}])]
    with pytest.raises(InvalidRecord) as caught:
        build_timeline(employee(), bad, as_of=TODAY)
    assert "4321" not in caught.value.reason


@pytest.mark.parametrize(
    "value",
    ["2024-09-01", "2024-09-01T00:00:00", "2024-09-01T00:00:00.000", "2024-09-01 08:15", "2024-09-01Z"],
)
def test_date_forms_accepted(value: str) -> None:
    started = only(build(employee(), [employment(start=value)]), CONTRACT_STARTED)
    assert started.event_date == date(2024, 9, 1)


def test_event_types_constant_matches_the_contract() -> None:
    assert EVENT_TYPES == {
        "employee_added",
        "contract_started",
        "contract_renewed",
        "contract_added",
        "contract_ended",
        "contract_expired_unrenewed",
        "salary_increase",
        "salary_decrease",
        "pay_basis_change",
        "hours_change",
    }
