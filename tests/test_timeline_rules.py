"""Issue 12, item by item: hand-made periods an HR reviewer would check, one test (or a few) per item.

Every test here failed on the builder before issue 12. The rules are Dutch payroll practice: a lapsed
fixed-term contract is not a departure (art. 7:668 lid 4 BW), chains of fixed-term contracts (art.
7:668a BW), and pay compared as a rate, not as a monthly amount.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest

from employes_sync.timeline import (
    CONTRACT_ADDED,
    CONTRACT_ENDED,
    CONTRACT_EXPIRED_UNRENEWED,
    CONTRACT_RENEWED,
    CONTRACT_STARTED,
    DEPARTURE_TYPES,
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

AS_OF = date(2025, 6, 1)
SALARY_TYPES = {SALARY_INCREASE, SALARY_DECREASE}


def person(**fields: Any) -> dict[str, Any]:
    return {"id": "e-1", "first_name": "Sanne", "surname": "Visser", "status": "active", **fields}


def job(start: str, *, ident: str = "job-1", end: str | None = None, **periods: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ident, "start_date": start, "salary": [], "hours": [], "contracts": []}
    if end is not None:
        out["end_date"] = end
    out.update(periods)
    return out


def fixed(start: str, end: str, **fields: Any) -> dict[str, Any]:
    return {"start_date": start, "end_date": end, "contract_duration": "definite", **fields}


def permanent(start: str, **fields: Any) -> dict[str, Any]:
    return {"start_date": start, "contract_duration": "permanent", **fields}


def build(employments: list[dict[str, Any]], as_of: date = AS_OF, **employee: Any) -> list[TimelineEvent]:
    return build_timeline(person(**employee), employments, as_of=as_of)


def of(events: list[TimelineEvent], *types: str) -> list[TimelineEvent]:
    return [e for e in events if e.event_type in types]


def one(events: list[TimelineEvent], event_type: str) -> TimelineEvent:
    found = of(events, event_type)
    assert len(found) == 1, [(e.event_type, e.event_date, e.event_title) for e in events]
    return found[0]


# ------------------------------------------------------------- 1. a lapsed contract is no departure


def test_1_a_lapsed_fixed_term_contract_of_an_open_employment_is_no_departure() -> None:
    events = build([job("2024-01-01", contracts=[fixed("2024-01-01", "2025-03-31")])])
    assert not of(events, *DEPARTURE_TYPES)
    lapsed = one(events, CONTRACT_EXPIRED_UNRENEWED)
    assert lapsed.event_date == date(2025, 3, 31)
    assert lapsed.event_title == "Fixed-term contract expired, no follow-up registered"
    assert "7:668" in lapsed.event_description
    assert lapsed.event_data["end_date"] == "2025-03-31"


def test_1_only_the_end_of_the_employment_or_out_of_service_is_a_departure() -> None:
    ended = build([job("2024-01-01", end="2025-03-31", contracts=[fixed("2024-01-01", "2025-03-31")])])
    assert [(e.event_type, e.event_data["reason"]) for e in of(ended, CONTRACT_ENDED)] == [
        (CONTRACT_ENDED, "employment_ended")
    ]
    assert not of(ended, CONTRACT_EXPIRED_UNRENEWED)  # the end covers the contract's end
    left = build([job("2024-01-01", contracts=[fixed("2024-01-01", "2025-03-31")])], status="out_of_service")
    departure = one(left, CONTRACT_ENDED)
    assert (departure.event_date, departure.event_data["reason"]) == (date(2025, 3, 31), "out_of_service")
    assert not of(left, CONTRACT_EXPIRED_UNRENEWED)


def test_1_out_of_service_dates_the_departure_by_the_employment_that_ran_last() -> None:
    # A short second employment in 2021 beside the main one: the departure read 30 Jun 2021 (its end),
    # and the main contract, which ran to 2024, "expired, no follow-up registered".
    events = build(
        [
            job("2020-01-01", ident="main", contracts=[fixed("2020-01-01", "2024-06-30")]),
            job("2021-01-01", ident="side", end="2021-06-30", contracts=[fixed("2021-01-01", "2021-06-30")]),
        ],
        status="out_of_service",
    )
    departure = one(events, CONTRACT_ENDED)
    assert (departure.event_date, departure.event_data["employment_id"], departure.event_data["reason"]) == (
        date(2024, 6, 30),
        "main",
        "out_of_service",
    )
    assert not of(events, CONTRACT_EXPIRED_UNRENEWED)
    # An old employment nobody closed, whose contract ran out years before the last one ended, is
    # not where the person left: the last registered end is.
    stale = build(
        [
            job("2015-01-01", ident="old", contracts=[fixed("2015-01-01", "2016-12-31")]),
            job("2018-01-01", ident="new", end="2020-12-31", contracts=[fixed("2018-01-01", "2020-12-31")]),
        ],
        status="out_of_service",
    )
    assert [(e.event_date, e.event_data["employment_id"]) for e in of(stale, CONTRACT_ENDED)] == [
        (date(2020, 12, 31), "new")
    ]


def test_1_an_employment_or_contract_that_ends_before_it_starts_is_refused_not_a_departure() -> None:
    # Read as a period it gave "Employment ended on 1 Apr 2024 (started 1 May 2024)", dated before the start.
    with pytest.raises(InvalidRecord) as caught:
        build([job("2024-05-01", end="2024-04-01", contracts=[fixed("2024-05-01", "2024-12-31")])])
    assert caught.value.reason == "employments[0].end_date: before start_date"
    with pytest.raises(InvalidRecord) as caught:
        build(
            [
                job(
                    "2024-01-01",
                    contracts=[fixed("2024-01-01", "2024-12-31"), fixed("2025-03-01", "2025-02-01")],
                )
            ]
        )
    assert caught.value.reason == "employments[0].contracts[1].end_date: before start_date"
    nested = {"start_date": "2020-02-01", "end_date": "2020-01-31"}
    with pytest.raises(InvalidRecord):
        build_timeline(person(employment=nested), None, as_of=AS_OF)
    # Ending on the start day is a one-day employment, and a departure.
    one_day = build([job("2024-05-01", end="2024-05-01", contracts=[fixed("2024-05-01", "2024-05-01")])])
    assert one(one_day, CONTRACT_ENDED).event_date == date(2024, 5, 1)


# ---------------------------------------------------------- 2. corrections keep the key, change the row


@pytest.mark.parametrize(
    ("before", "after", "event_type"),
    [
        (  # the contract's end date corrected
            {"contracts": [fixed("2025-01-01", "2025-12-31")]},
            {"contracts": [fixed("2025-01-01", "2026-12-31")]},
            CONTRACT_STARTED,
        ),
        (  # the renewal gets signed
            {
                "contracts": [
                    fixed("2024-01-01", "2024-12-31"),
                    fixed("2025-01-01", "2025-12-31", is_signed=False),
                ]
            },
            {
                "contracts": [
                    fixed("2024-01-01", "2024-12-31"),
                    fixed("2025-01-01", "2025-12-31", is_signed=True),
                ]
            },
            CONTRACT_RENEWED,
        ),
        (  # a back-dated wage correction
            {
                "salary": [
                    {"start_date": "2024-01-01", "month_wage": 3000},
                    {"start_date": "2025-01-01", "month_wage": 3100},
                ]
            },
            {
                "salary": [
                    {"start_date": "2024-01-01", "month_wage": 3000},
                    {"start_date": "2025-01-01", "month_wage": 3150},
                ]
            },
            SALARY_INCREASE,
        ),
    ],
)
def test_2_a_correction_changes_the_event_under_the_same_key(
    before: dict[str, Any], after: dict[str, Any], event_type: str
) -> None:
    old = one(build([job("2024-01-01", **before)]), event_type)
    new = one(build([job("2024-01-01", **after)]), event_type)
    assert old.event_key == new.event_key
    assert (old.event_title, old.event_description, old.event_data) != (
        new.event_title,
        new.event_description,
        new.event_data,
    )


def test_2_the_started_event_shows_the_corrected_end() -> None:
    started = one(build([job("2025-01-01", contracts=[fixed("2025-01-01", "2026-12-31")])]), CONTRACT_STARTED)
    assert "until 31 Dec 2026" in started.event_description
    assert started.event_data["contract_end_date"] == "2026-12-31"


def test_2_keys_do_not_depend_on_the_locale() -> None:
    history = [job("2024-01-01", contracts=[fixed("2024-01-01", "2024-12-31"), permanent("2025-01-01")])]
    english = build_timeline(person(), history, as_of=AS_OF)
    dutch = build_timeline(person(), history, as_of=AS_OF, locale="nl")
    assert [e.event_key for e in english] == [e.event_key for e in dutch]
    assert [e.event_title for e in english] != [e.event_title for e in dutch]


# ------------------------------------------------------------------------------ 3. no clock


def test_3_the_same_input_and_as_of_give_the_same_rows_whatever_the_clock() -> None:
    history = [job("2024-01-01", contracts=[fixed("2024-01-01", "2025-12-31")])]
    assert build(history, date(2025, 6, 1)) == build(history, date(2025, 6, 1))
    assert not of(build(history, date(2025, 6, 1)), CONTRACT_EXPIRED_UNRENEWED)
    assert of(build(history, date(2026, 1, 1)), CONTRACT_EXPIRED_UNRENEWED)


def test_3_as_of_is_required() -> None:
    with pytest.raises(TypeError):
        build_timeline(person(), [], as_of="2025-06-01")  # type: ignore[arg-type]
    # A datetime passes isinstance(date) but compares with no date: refused up front, not deep in a rule.
    history = [job("2024-01-01", contracts=[fixed("2024-01-01", "2025-03-31")])]
    with pytest.raises(TypeError, match="as_of must be a date, not datetime"):
        build_timeline(person(), history, as_of=datetime(2025, 6, 1, 12, 0))


# ---------------------------------------------------------------------- 4. planned changes marked


def test_4_events_after_as_of_are_planned_and_turn_plain_when_the_day_comes() -> None:
    history = [
        job(
            "2020-01-01",
            end="2025-07-31",  # notice given: the end is registered ahead
            salary=[
                {"start_date": "2020-01-01", "month_wage": 3000},
                {"start_date": "2025-07-01", "month_wage": 3200},
            ],
            contracts=[fixed("2020-01-01", "2020-12-31"), permanent("2025-07-01")],
        )
    ]
    events = build(history, date(2025, 6, 1))
    later = {(e.event_type, e.event_date) for e in events if e.event_date > date(2025, 6, 1)}
    assert later == {
        (SALARY_INCREASE, date(2025, 7, 1)),
        (CONTRACT_RENEWED, date(2025, 7, 1)),
        (CONTRACT_ENDED, date(2025, 7, 31)),
    }
    for event in events:
        planned = event.event_date > date(2025, 6, 1)
        assert event.event_data["planned"] is planned
        assert event.event_title.endswith("(planned)") is planned
    end = one(events, CONTRACT_ENDED)
    assert end.event_title == "Employment ends (planned)"
    after = build(history, date(2025, 8, 1))
    assert [e.event_key for e in after] == [e.event_key for e in events]
    assert not any(e.event_data["planned"] for e in after)
    assert one(after, CONTRACT_ENDED).event_title == "Employment ended"


# ------------------------------------------------------------ 4b. planned events are still to come

CHANGE = "2025-07-01"  # after AS_OF; LATER is the day the same histories are built again, once it passed
LATER = date(2025, 8, 1)


def weeks(hours: int, days: int, start: str = "2024-01-01") -> dict[str, Any]:
    return {"start_date": start, "hours_per_week": hours, "days_per_week": days}


def monthly(start: str, wage: int) -> dict[str, Any]:
    return {"start_date": start, "month_wage": wage}


def hourly(start: str, wage: int) -> dict[str, Any]:
    return {"start_date": start, "hour_wage": wage}


# The past-tense verbs of the wording; "will be renewed" and a Dutch "wordt ... verlengd" are not.
_PAST_TENSE = {
    "en": re.compile(r"\b(?<!will be )(changed|renewed|turned|started|ended|ran|began|was)\b"),
    "nl": re.compile(
        r"\b(gewijzigd|liep|begon|beëindigd|getreden)\b|^(?!.*\bwordt\b).*\b(verlengd|omgezet)\b"
    ),
}

# Each: the history, the event, then its description planned (en, nl) and once it happened (en, nl).
PLANNED_WORDING = [
    pytest.param(
        job("2024-01-01", salary=[monthly("2024-01-01", 3000), monthly(CHANGE, 3200)]),
        SALARY_INCREASE,
        "Monthly wage changes from €3,000.00 to €3,200.00 (+6.67%) on 1 Jul 2025.",
        "Maandloon wijzigt van € 3.000,00 naar € 3.200,00 (+6,67%) per 1 juli 2025.",
        "Monthly wage changed from €3,000.00 to €3,200.00 (+6.67%) on 1 Jul 2025.",
        "Maandloon gewijzigd van € 3.000,00 naar € 3.200,00 (+6,67%) op 1 juli 2025.",
        id="salary",
    ),
    pytest.param(
        job(
            "2024-01-01",
            salary=[monthly("2024-01-01", 4000), monthly(CHANGE, 3500)],
            hours=[weeks(40, 5), weeks(32, 4, CHANGE)],
        ),
        SALARY_INCREASE,
        (
            "Monthly wage changes from €4,000.00 at 40h/week to €3,500.00 at 32h/week on 1 Jul 2025: "
            "+€300.00/month (+9.38%) beyond what the change in hours explains."
        ),
        (
            "Maandloon wijzigt van € 4.000,00 bij 40 u/week naar € 3.500,00 bij 32 u/week per 1 juli "
            "2025: +€ 300,00/maand (+9,38%) meer dan de urenwijziging verklaart."
        ),
        (
            "Monthly wage changed from €4,000.00 at 40h/week to €3,500.00 at 32h/week on 1 Jul 2025: "
            "+€300.00/month (+9.38%) beyond what the change in hours explains."
        ),
        (
            "Maandloon gewijzigd van € 4.000,00 bij 40 u/week naar € 3.500,00 bij 32 u/week op 1 juli "
            "2025: +€ 300,00/maand (+9,38%) meer dan de urenwijziging verklaart."
        ),
        id="salary_beyond_hours",
    ),
    pytest.param(
        job("2024-01-01", salary=[monthly("2024-01-01", 3000), hourly(CHANGE, 20)], hours=[weeks(40, 5)]),
        SALARY_INCREASE,
        (
            "Pay changes from €3,000.00/month to €20.00/hour on 1 Jul 2025: as hourly wages, €17.31 to"
            " €20.00 (+15.54%)."
        ),
        (
            "Loon wijzigt van € 3.000,00/maand naar € 20,00/uur per 1 juli 2025: als uurloon € 17,31 "
            "naar € 20,00 (+15,54%)."
        ),
        (
            "Pay changed from €3,000.00/month to €20.00/hour on 1 Jul 2025: as hourly wages, €17.31 to"
            " €20.00 (+15.54%)."
        ),
        (
            "Loon gewijzigd van € 3.000,00/maand naar € 20,00/uur op 1 juli 2025: als uurloon € 17,31 "
            "naar € 20,00 (+15,54%)."
        ),
        id="salary_converted",
    ),
    pytest.param(
        job(
            "2024-01-01",
            salary=[monthly("2024-01-01", 3000), hourly("2024-06-01", 20), monthly(CHANGE, 2800)],
        ),
        SALARY_DECREASE,
        (
            "Monthly wage changes from €3,000.00 (from 1 Jan 2024) to €2,800.00 (-6.67%) on 1 Jul "
            "2025, across a period paid on another basis."
        ),
        (
            "Maandloon wijzigt van € 3.000,00 (vanaf 1 januari 2024) naar € 2.800,00 (-6,67%) per 1 "
            "juli 2025, over een periode op een andere loonbasis heen."
        ),
        (
            "Monthly wage changed from €3,000.00 (from 1 Jan 2024) to €2,800.00 (-6.67%) on 1 Jul "
            "2025, across a period paid on another basis."
        ),
        (
            "Maandloon gewijzigd van € 3.000,00 (vanaf 1 januari 2024) naar € 2.800,00 (-6,67%) op 1 "
            "juli 2025, over een periode op een andere loonbasis heen."
        ),
        id="salary_across_a_basis",
    ),
    pytest.param(
        job("2024-01-01", salary=[monthly("2024-01-01", 3000), hourly(CHANGE, 20)], hours=[weeks(40, 5)]),
        PAY_BASIS_CHANGE,
        "Pay basis changes from monthly wage to hourly wage on 1 Jul 2025.",
        "Loonbasis wijzigt van maandloon naar uurloon per 1 juli 2025.",
        "Pay basis changed from monthly wage to hourly wage on 1 Jul 2025.",
        "Loonbasis gewijzigd van maandloon naar uurloon op 1 juli 2025.",
        id="pay_basis",
    ),
    pytest.param(
        job("2024-01-01", hours=[weeks(40, 5), weeks(32, 4, CHANGE)]),
        HOURS_CHANGE,
        "Working hours change (40→32 hours per week, 5→4 days per week) on 1 Jul 2025.",
        "Arbeidsuren wijzigen (40→32 uur per week, 5→4 dagen per week) per 1 juli 2025.",
        "Working hours changed (40→32 hours per week, 5→4 days per week) on 1 Jul 2025.",
        "Arbeidsuren gewijzigd (40→32 uur per week, 5→4 dagen per week) op 1 juli 2025.",
        id="hours",
    ),
    pytest.param(
        job("2024-01-01", hours=[weeks(32, 5), weeks(32, 4, CHANGE)]),
        HOURS_CHANGE,
        "Working days change (5→4 days per week) on 1 Jul 2025.",
        "Werkdagen wijzigen (5→4 dagen per week) per 1 juli 2025.",
        "Working days changed (5→4 days per week) on 1 Jul 2025.",
        "Werkdagen gewijzigd (5→4 dagen per week) op 1 juli 2025.",
        id="days_only",
    ),
    pytest.param(
        job("2024-07-01", contracts=[fixed("2024-07-01", "2025-06-30"), permanent(CHANGE)]),
        CONTRACT_RENEWED,
        "Contract becomes permanent on 1 Jul 2025 (previous contract until 30 Jun 2025).",
        "Contract wordt per 1 juli 2025 omgezet naar onbepaalde tijd (vorig contract tot 30 juni 2025).",
        "Contract turned permanent on 1 Jul 2025 (previous contract ran until 30 Jun 2025).",
        "Contract omgezet naar onbepaalde tijd op 1 juli 2025 (vorig contract liep tot 30 juni 2025).",
        id="made_permanent",
    ),
    pytest.param(
        job("2024-07-01", contracts=[fixed("2024-07-01", "2025-06-30"), fixed(CHANGE, "2026-06-30")]),
        CONTRACT_RENEWED,
        (
            "Fixed-term contract will be renewed from 1 Jul 2025 until 30 Jun 2026 (previous contract "
            "until 30 Jun 2025)."
        ),
        (
            "Contract voor bepaalde tijd wordt per 1 juli 2025 verlengd tot 30 juni 2026 (vorig "
            "contract tot 30 juni 2025)."
        ),
        (
            "Fixed-term contract renewed on 1 Jul 2025 until 30 Jun 2026 (previous contract ran until "
            "30 Jun 2025)."
        ),
        (
            "Contract voor bepaalde tijd verlengd op 1 juli 2025 tot 30 juni 2026 (vorig contract liep"
            " tot 30 juni 2025)."
        ),
        id="renewed_fixed_term",
    ),
    pytest.param(
        job("2024-01-01", contracts=[fixed("2024-01-01", "2024-10-31"), fixed(CHANGE, "2026-06-30")]),
        CONTRACT_RENEWED,
        (
            "Fixed-term contract will be renewed from 1 Jul 2025 until 30 Jun 2026 after a gap of 8 "
            "months (previous contract until 31 Oct 2024). The gap of more than six months starts a "
            "new chain of fixed-term contracts (art. 7:668a BW)."
        ),
        (
            "Contract voor bepaalde tijd wordt per 1 juli 2025 verlengd tot 30 juni 2026 na een "
            "onderbreking van 8 maanden (vorig contract tot 31 oktober 2024). Door de onderbreking van"
            " meer dan zes maanden begint een nieuwe keten van tijdelijke contracten (art. 7:668a BW)."
        ),
        (
            "Fixed-term contract renewed on 1 Jul 2025 until 30 Jun 2026 after a gap of 8 months "
            "(previous contract ran until 31 Oct 2024). The gap of more than six months starts a new "
            "chain of fixed-term contracts (art. 7:668a BW)."
        ),
        (
            "Contract voor bepaalde tijd verlengd op 1 juli 2025 tot 30 juni 2026 na een onderbreking "
            "van 8 maanden (vorig contract liep tot 31 oktober 2024). Door de onderbreking van meer "
            "dan zes maanden begint een nieuwe keten van tijdelijke contracten (art. 7:668a BW)."
        ),
        id="renewed_after_a_gap",
    ),
    pytest.param(
        job(
            "2024-07-01",
            contracts=[
                fixed("2024-07-01", "2025-06-30"),
                {"start_date": CHANGE, "contract_duration": "definite"},
            ],
        ),
        CONTRACT_RENEWED,
        "Fixed-term contract will be renewed from 1 Jul 2025 (previous contract until 30 Jun 2025).",
        "Contract voor bepaalde tijd wordt per 1 juli 2025 verlengd (vorig contract tot 30 juni 2025).",
        "Fixed-term contract renewed on 1 Jul 2025 (previous contract ran until 30 Jun 2025).",
        "Contract voor bepaalde tijd verlengd op 1 juli 2025 (vorig contract liep tot 30 juni 2025).",
        id="renewed_fixed_term_without_end",
    ),
    pytest.param(
        job("2024-07-01", contracts=[permanent("2024-07-01", end_date="2025-06-30"), permanent(CHANGE)]),
        CONTRACT_RENEWED,
        "New permanent contract starts on 1 Jul 2025 (previous contract until 30 Jun 2025).",
        "Nieuw contract (onbepaalde tijd) gaat in op 1 juli 2025 (vorig contract tot 30 juni 2025).",
        "New permanent contract from 1 Jul 2025 (previous contract ran until 30 Jun 2025).",
        "Nieuw contract (onbepaalde tijd) vanaf 1 juli 2025 (vorig contract liep tot 30 juni 2025).",
        id="renewed_permanent",
    ),
    pytest.param(
        job(
            "2023-01-01",
            contracts=[
                fixed("2023-01-01", "2023-06-30"),
                fixed("2023-07-01", "2023-12-31"),
                fixed("2024-01-01", "2025-06-30"),
                fixed(CHANGE, "2025-12-31"),
            ],
        ),
        CONTRACT_RENEWED,
        (
            "Fixed-term contract will be renewed from 1 Jul 2025 until 31 Dec 2025 (previous contract "
            "until 30 Jun 2025). This will be fixed-term contract 4 of a chain from 1 Jan 2023: past "
            "the legal maximum of 3 contracts or 36 months (art. 7:668a BW), so by law it will count "
            "as permanent unless a collective agreement allows more."
        ),
        (
            "Contract voor bepaalde tijd wordt per 1 juli 2025 verlengd tot 31 december 2025 (vorig "
            "contract tot 30 juni 2025). Dit wordt tijdelijk contract 4 in een keten vanaf 1 januari "
            "2023: voorbij het wettelijke maximum van 3 contracten of 36 maanden (art. 7:668a BW), dus"
            " geldt het wettelijk als contract voor onbepaalde tijd, tenzij de cao meer toestaat."
        ),
        (
            "Fixed-term contract renewed on 1 Jul 2025 until 31 Dec 2025 (previous contract ran until "
            "30 Jun 2025). This is fixed-term contract 4 of a chain that began on 1 Jan 2023: past the"
            " legal maximum of 3 contracts or 36 months (art. 7:668a BW), so by law it counts as "
            "permanent unless a collective agreement allows more."
        ),
        (
            "Contract voor bepaalde tijd verlengd op 1 juli 2025 tot 31 december 2025 (vorig contract "
            "liep tot 30 juni 2025). Dit is tijdelijk contract 4 in een keten vanaf 1 januari 2023: "
            "voorbij het wettelijke maximum van 3 contracten of 36 maanden (art. 7:668a BW), dus geldt"
            " het wettelijk als contract voor onbepaalde tijd, tenzij de cao meer toestaat."
        ),
        id="renewed_past_the_chain_maximum",
    ),
    pytest.param(
        job("2020-01-01", contracts=[permanent("2020-01-01"), fixed(CHANGE, "2025-12-31")]),
        CONTRACT_ADDED,
        (
            "Fixed-term contract starts on 1 Jul 2025 and runs until 31 Dec 2025, alongside the "
            "permanent contract from 1 Jan 2020."
        ),
        (
            "Contract voor bepaalde tijd gaat in op 1 juli 2025 en loopt tot 31 december 2025, naast "
            "het contract voor onbepaalde tijd vanaf 1 januari 2020."
        ),
        (
            "Fixed-term contract from 1 Jul 2025 until 31 Dec 2025, alongside the permanent contract "
            "that started on 1 Jan 2020."
        ),
        (
            "Contract voor bepaalde tijd van 1 juli 2025 tot 31 december 2025, naast het contract voor"
            " onbepaalde tijd dat begon op 1 januari 2020."
        ),
        id="additional_contract",
    ),
]


@pytest.mark.parametrize(
    ("history", "event_type", "planned_en", "planned_nl", "past_en", "past_nl"), PLANNED_WORDING
)
def test_4_a_planned_change_is_worded_as_to_come_and_keeps_its_past_wording_once_it_happened(
    history: dict[str, Any], event_type: str, planned_en: str, planned_nl: str, past_en: str, past_nl: str
) -> None:
    """An HR reader must not read a raise, a renewal or an hours change that is still to come as done."""
    expected = {
        (AS_OF, "en"): planned_en,
        (AS_OF, "nl"): planned_nl,
        (LATER, "en"): past_en,
        (LATER, "nl"): past_nl,
    }
    for (as_of, locale), description in expected.items():
        event = _on_the_change_day(history, event_type, as_of, locale)
        assert event.event_description == description, (as_of, locale)
        marker = "(planned)" if locale == "en" else "(gepland)"
        if as_of == AS_OF:
            # Future words and one marker at the end, as "Employment ends (planned)".
            assert event.event_data["planned"] is True
            assert event.event_title.endswith(" " + marker) and event.event_title.count(marker) == 1
            assert not _PAST_TENSE[locale].search(f"{event.event_title} || {description}"), event.event_title
        else:
            # The same event once its day came: the words stored before planned forms existed, unchanged.
            assert event.event_data["planned"] is False and marker not in event.event_title
            assert _PAST_TENSE[locale].search(description)


def _on_the_change_day(history: dict[str, Any], event_type: str, as_of: date, locale: str) -> TimelineEvent:
    events = build_timeline(person(), [history], as_of=as_of, locale=locale)
    return one([e for e in events if e.event_date == date.fromisoformat(CHANGE)], event_type)


_TITLED = {param.id: param.values[:2] for param in PLANNED_WORDING}


@pytest.mark.parametrize(
    ("case", "planned_en", "planned_nl", "past_en", "past_nl"),
    [
        (
            "made_permanent",
            "Contract renewal (becomes permanent) (planned)",
            "Contractverlenging (wordt onbepaalde tijd) (gepland)",
            "Contract renewed (now permanent)",
            "Contract verlengd (nu onbepaalde tijd)",
        ),
        (
            "renewed_fixed_term",
            "Contract renewal (fixed-term until 30 Jun 2026) (planned)",
            "Contractverlenging (bepaalde tijd tot 30 juni 2026) (gepland)",
            "Contract renewed (fixed-term until 30 Jun 2026)",
            "Contract verlengd (bepaalde tijd tot 30 juni 2026)",
        ),
        (
            "renewed_fixed_term_without_end",
            "Contract renewal (fixed-term) (planned)",
            "Contractverlenging (bepaalde tijd) (gepland)",
            "Contract renewed (fixed-term)",
            "Contract verlengd (bepaalde tijd)",
        ),
        (
            "renewed_permanent",
            "Contract renewal (permanent) (planned)",
            "Contractverlenging (onbepaalde tijd) (gepland)",
            "Contract renewed (permanent)",
            "Contract verlengd (onbepaalde tijd)",
        ),
        (
            "pay_basis",
            "Pay basis change (monthly → hourly) (planned)",
            "Loonbasiswijziging (maandloon → uurloon) (gepland)",
            "Pay basis changed (monthly → hourly)",
            "Loonbasis gewijzigd (maandloon → uurloon)",
        ),
    ],
)
def test_4_a_planned_renewal_or_basis_change_is_titled_as_to_come(
    case: str, planned_en: str, planned_nl: str, past_en: str, past_nl: str
) -> None:
    history, event_type = _TITLED[case]
    expected = {
        (AS_OF, "en"): planned_en,
        (AS_OF, "nl"): planned_nl,
        (LATER, "en"): past_en,
        (LATER, "nl"): past_nl,
    }
    for (as_of, locale), title in expected.items():
        assert _on_the_change_day(history, event_type, as_of, locale).event_title == title, (as_of, locale)


# -------------------------------------------------------------------------------- 5. unsigned


def test_5_an_unsigned_renewal_and_start_say_so() -> None:
    events = build(
        [
            job(
                "2024-06-01",
                contracts=[
                    fixed("2024-06-01", "2025-05-31", is_signed=False),
                    fixed("2025-06-01", "2026-05-31", is_signed=False),
                ],
            )
        ]
    )
    started, renewed = one(events, CONTRACT_STARTED), one(events, CONTRACT_RENEWED)
    assert renewed.event_title == "Contract renewed (fixed-term until 31 May 2026) (not yet signed)"
    assert started.event_title == "Contract started (not yet signed)"
    assert started.event_data["is_signed"] is False and renewed.event_data["is_signed"] is False
    signed = build([job("2024-06-01", contracts=[fixed("2024-06-01", "2025-05-31", is_signed=True)])])
    assert one(signed, CONTRACT_STARTED).event_title == "Contract started"
    assert one(signed, CONTRACT_STARTED).event_data["is_signed"] is True


# -------------------------------------------------------------------------- 6. pay basis changes


def test_6_monthly_to_hourly_to_monthly_gives_basis_changes_and_rate_changes() -> None:
    events = build(
        [
            job(
                "2024-01-01",
                salary=[
                    {"start_date": "2024-01-01", "month_wage": 3000},
                    {"start_date": "2024-06-01", "hour_wage": 20},
                    {"start_date": "2025-01-01", "month_wage": 3500},
                ],
                hours=[{"start_date": "2024-01-01", "hours_per_week": 40}],
            )
        ]
    )
    basis = of(events, PAY_BASIS_CHANGE)
    assert [(e.event_date, e.event_data["from_basis"], e.event_data["to_basis"]) for e in basis] == [
        (date(2024, 6, 1), "monthly", "hourly"),
        (date(2025, 1, 1), "hourly", "monthly"),
    ]
    assert basis[0].event_title == "Pay basis changed (monthly → hourly)"
    rises = of(events, SALARY_INCREASE)
    assert [(e.event_date, e.event_data["basis"], e.event_data["converted"]) for e in rises] == [
        (date(2024, 6, 1), "hourly", True),  # 3000/month at 40 h/week is 17.31/hour
        (date(2025, 1, 1), "hourly", True),  # 3500/month at 40 h/week is 20.19/hour
    ]
    assert rises[0].event_data["from"] == 17.31 and rises[0].event_data["to"] == 20


@pytest.mark.parametrize(
    ("salary", "kind", "title", "shown"),
    [
        # 2,249.65/month at 30 h/week is 17.305/hour exactly: shown as 17.31, and 20.00 - 17.305 = 2.695
        # would round (half up) to 2.70, a cent more than the 20.00 - 17.31 the reader sees.
        (
            [
                {"start_date": "2024-01-01", "month_wage": 2249.65},
                {"start_date": "2025-01-01", "hour_wage": 20},
            ],
            SALARY_INCREASE,
            "Salary increase (+€2.69/hour)",
            "€17.31 to €20.00 (+15.54%)",
        ),
        (
            [
                {"start_date": "2024-01-01", "hour_wage": 20},
                {"start_date": "2025-01-01", "month_wage": 2249.65},
            ],
            SALARY_DECREASE,
            "Salary decrease (-€2.69/hour)",
            "€20.00 to €17.31 (-13.45%)",
        ),
    ],
    ids=["up", "down"],
)
def test_6_a_converted_change_adds_up_in_the_cents_it_shows(
    salary: list[dict[str, Any]], kind: str, title: str, shown: str
) -> None:
    """The amount and percentage of a change between converted wages are those of the wages shown."""
    events = build(
        [job("2024-01-01", salary=salary, hours=[{"start_date": "2024-01-01", "hours_per_week": 30}])]
    )
    change = one(events, kind)
    assert change.event_data["converted"] is True
    assert change.event_title == title
    assert shown in change.event_description


def test_6_a_yearly_rise_at_an_unchanged_monthly_wage_is_a_rise() -> None:
    events = build(
        [
            job(
                "2024-01-01",
                salary=[
                    {"start_date": "2024-01-01", "month_wage": 3000, "yearly_wage": 38880},
                    {"start_date": "2025-01-01", "month_wage": 3000, "yearly_wage": 41880},  # a 13th month
                ],
            )
        ]
    )
    rise = one(events, SALARY_INCREASE)
    assert (rise.event_data["basis"], rise.event_data["amount"]) == ("yearly", 3000)
    assert rise.event_title == "Salary increase (+€3,000.00/year)"


def test_6_no_common_basis_and_no_hours_still_reports_the_basis_change() -> None:
    events = build(
        [
            job(
                "2024-01-01",
                salary=[
                    {"start_date": "2024-01-01", "month_wage": 3000},
                    {"start_date": "2025-01-01", "hour_wage": 20},
                ],
            )
        ]
    )
    assert one(events, PAY_BASIS_CHANGE).event_date == date(2025, 1, 1)
    assert not of(events, *SALARY_TYPES)


# ------------------------------------------------------------------ 7. an hours cut is no pay cut


def test_7_a_monthly_wage_that_the_hours_explain_is_no_salary_event() -> None:
    events = build(
        [
            job(
                "2023-01-01",
                salary=[
                    {"start_date": "2023-01-01", "hour_wage": 42.02, "month_wage": 6555.12},
                    {"start_date": "2025-01-01", "hour_wage": 42.02, "month_wage": 3641.73},
                ],
                hours=[
                    {"start_date": "2023-01-01", "hours_per_week": 36},
                    {"start_date": "2025-01-01", "hours_per_week": 20},
                ],
            )
        ]
    )
    assert not of(events, *SALARY_TYPES)
    change = one(events, HOURS_CHANGE)
    assert change.event_data["monthly_pay_effect"] == pytest.approx(-2913.39, abs=0.01)


def test_7_without_an_hourly_wage_the_monthly_wage_is_compared_per_hour() -> None:
    salary = [
        {"start_date": "2023-01-01", "month_wage": 4000},
        {"start_date": "2025-01-01", "month_wage": 3300},
    ]
    hours = [
        {"start_date": "2023-01-01", "hours_per_week": 40},
        {"start_date": "2025-01-01", "hours_per_week": 32},
    ]
    events = build([job("2023-01-01", salary=salary, hours=hours)])
    rise = one(events, SALARY_INCREASE)  # 4000 at 40 h is 3200 at 32 h: 3300 is a rise of the rate
    assert rise.event_data["hours_adjusted"] is True
    assert rise.event_data["from_at_new_hours"] == 3200
    assert rise.event_data["amount"] == 100
    assert rise.event_title == "Salary increase (+€100.00/month)"
    assert one(events, HOURS_CHANGE).event_data["monthly_pay_effect"] == -800


def test_7_hours_registered_after_the_first_salary_still_explain_a_monthly_change() -> None:
    # The hours period starts a month after the salary (the start shows "36h/week" all the same): the
    # first salary had no hours "in effect", so the cut from 36 to 20 h read as "Salary decrease (-44 %)".
    salary = [
        {"start_date": "2019-01-01", "month_wage": 6555.12},
        {"start_date": "2025-01-01", "month_wage": 3641.73},
    ]
    hours = [
        {"start_date": "2019-02-01", "hours_per_week": 36},
        {"start_date": "2025-01-01", "hours_per_week": 20},
    ]
    events = build([job("2019-01-01", salary=salary, hours=hours)])
    assert one(events, CONTRACT_STARTED).event_data["hours_per_week"] == 36
    assert not of(events, *SALARY_TYPES)
    assert one(events, HOURS_CHANGE).event_data["from_hours_per_week"] == 36


# --------------------------------------------------------------------------------- 8. rounding


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"hour_wage": 20, "month_wage": 3466.67}, {"hour_wage": 20, "month_wage": 3466.66}),
        ({"month_wage": 3466.67}, {"month_wage": 3466.66}),  # one cent, 0.0003 %
        ({"month_wage": 100000.00}, {"month_wage": 100040.00}),  # 0.04 %
        ({"hour_wage": 0.10}, {"hour_wage": 0.105}),  # 5 % but half a cent
    ],
)
def test_8_differences_at_rounding_level_are_no_change(old: dict[str, Any], new: dict[str, Any]) -> None:
    salary = [{"start_date": "2024-01-01", **old}, {"start_date": "2025-01-01", **new}]
    assert not of(build([job("2024-01-01", salary=salary)]), *SALARY_TYPES)


# ----------------------------------------------------------------------------------- 9. units


@pytest.mark.parametrize(
    ("field", "old", "new", "title"),
    [
        ("hour_wage", 20.00, 20.59, "Salary increase (+€0.59/hour)"),
        ("month_wage", 3000, 3150, "Salary increase (+€150.00/month)"),
        ("yearly_wage", 40000, 42000, "Salary increase (+€2,000.00/year)"),
        ("month_wage", 3150, 3000, "Salary decrease (-€150.00/month)"),
    ],
)
def test_9_titles_carry_their_unit(field: str, old: float, new: float, title: str) -> None:
    salary = [{"start_date": "2024-01-01", field: old}, {"start_date": "2025-01-01", field: new}]
    (event,) = of(build([job("2024-01-01", salary=salary)]), *SALARY_TYPES)
    assert event.event_title == title


# ------------------------------------------------------------------ 10. current terms are current


def test_10_the_nested_fallback_labels_its_terms_as_current() -> None:
    employee = person(
        employment={
            "start_date": "2015-01-01",
            "contract": {"start_date": "2024-03-01", "hours_per_week": 32},
            "salary": {"start_date": "2025-01-01", "month_wage": 4200},
        }
    )
    started = one(build_timeline(employee, None, as_of=AS_OF), CONTRACT_STARTED)
    assert started.event_date == date(2015, 1, 1)
    assert started.event_data["terms"] == "current"
    assert started.event_data["terms_from"] == "2025-01-01"
    assert started.event_description == (
        "Employment started on 1 Jan 2015. Current terms (from 1 Jan 2025): permanent contract, 32h/week."
    )


def test_10_current_terms_that_state_no_start_are_not_dated_by_the_employment_start() -> None:
    # Neither the nested contract nor the salary says since when: "from 1 Apr 2012" would present
    # today's terms as the first day's again.
    employee = person(
        employment={
            "start_date": "2012-04-01",
            "contract": {"hours_per_week": 24, "days_per_week": 3},
            "salary": {"hour_wage": "21.50"},
        }
    )
    started = one(build_timeline(employee, None, as_of=AS_OF), CONTRACT_STARTED)
    assert (started.event_data["terms"], started.event_data["terms_from"]) == ("current", None)
    assert started.event_description == (
        "Employment started on 1 Apr 2012. Current terms: permanent contract, 24h/week, 3 days/week."
    )
    dutch = one(build_timeline(employee, None, as_of=AS_OF, locale="nl"), CONTRACT_STARTED)
    assert "Huidige voorwaarden: contract voor onbepaalde tijd" in dutch.event_description
    # One dated part dates them.
    employee["employment"]["salary"]["start_date"] = "2024-07-01"
    dated = one(build_timeline(employee, None, as_of=AS_OF), CONTRACT_STARTED)
    assert dated.event_data["terms_from"] == "2024-07-01"
    assert "Current terms (from 1 Jul 2024)" in dated.event_description
    # Today's fixed-term contract of someone employed since 2012: its place in a chain is unknown.
    employee["employment"]["contract"].update(start_date="2023-04-01", end_date="2026-03-31")
    fixed_now = one(build_timeline(employee, None, as_of=AS_OF), CONTRACT_STARTED)
    assert fixed_now.event_data["contract_duration"] == "definite"
    assert (fixed_now.event_data["chain_contracts"], fixed_now.event_data["chain_start_date"]) == (None, None)


# -------------------------------------------------------------------------- 11. overlaps and gaps


def test_11_a_fixed_term_contract_inside_a_running_permanent_one_neither_renews_nor_lapses() -> None:
    events = build(
        [job("2020-01-01", contracts=[permanent("2020-01-01"), fixed("2023-01-01", "2023-06-30")])]
    )
    assert not of(events, CONTRACT_RENEWED, CONTRACT_EXPIRED_UNRENEWED, CONTRACT_ENDED)
    added = one(events, CONTRACT_ADDED)
    assert added.event_data["alongside_contract_duration"] == "permanent"
    assert added.event_title == "Additional fixed-term contract (until 30 Jun 2023)"


def test_11_every_running_contract_is_checked_not_only_the_latest() -> None:
    # The longer contract started first; the later, shorter one lapses while the first still runs.
    contracts = [fixed("2024-01-01", "2026-12-31"), fixed("2024-06-01", "2024-12-31")]
    events = build([job("2024-01-01", contracts=contracts)])
    assert not of(events, CONTRACT_EXPIRED_UNRENEWED, CONTRACT_ENDED)


def test_11_a_gap_of_more_than_six_months_resets_the_chain_and_is_shown() -> None:
    contracts = [fixed("2023-01-01", "2023-12-31"), fixed("2024-09-01", "2025-08-31")]
    renewed = one(build([job("2023-01-01", contracts=contracts)]), CONTRACT_RENEWED)
    assert renewed.event_data["gap_days"] == 244
    assert renewed.event_data["chain_reset"] is True
    assert renewed.event_data["chain_contracts"] == 1
    assert "after a gap of 8 months" in renewed.event_description
    short = [fixed("2023-01-01", "2023-12-31"), fixed("2024-03-01", "2025-02-28")]
    kept = one(build([job("2023-01-01", contracts=short)]), CONTRACT_RENEWED)
    assert (kept.event_data["chain_reset"], kept.event_data["chain_contracts"]) == (False, 2)
    assert "after a gap of 2 months" in kept.event_description


def test_11_exactly_six_months_between_contracts_continues_the_chain() -> None:
    contracts = [fixed("2023-01-01", "2023-12-31"), fixed("2024-07-01", "2024-12-31")]
    renewed = one(build([job("2023-01-01", contracts=contracts)]), CONTRACT_RENEWED)
    assert (renewed.event_data["chain_reset"], renewed.event_data["chain_contracts"]) == (False, 2)


def test_11_six_months_after_a_month_end_that_clamps_continues_the_chain() -> None:
    # 30 Jun + 6 months clamps to 30 Dec; the interval 1 Jul..31 Dec is exactly six months, not more.
    exact = [fixed("2022-07-01", "2023-06-30"), fixed("2024-01-01", "2024-12-31")]
    kept = one(build([job("2022-07-01", contracts=exact)]), CONTRACT_RENEWED)
    assert (kept.event_data["chain_reset"], kept.event_data["chain_contracts"]) == (False, 2)
    assert "after a gap of 6 months (" in kept.event_description
    assert "new chain" not in kept.event_description
    longer = [fixed("2022-07-01", "2023-06-30"), fixed("2024-01-02", "2024-12-31")]
    reset = one(build([job("2022-07-01", contracts=longer)]), CONTRACT_RENEWED)
    assert (reset.event_data["chain_reset"], reset.event_data["chain_contracts"]) == (True, 1)
    assert "after a gap of 6 months and 1 day" in reset.event_description
    # The same across a re-hire: two employments, exactly six months apart.
    rehired = build(
        [
            job("2022-07-01", ident="a", end="2023-06-30", contracts=[fixed("2022-07-01", "2023-06-30")]),
            job("2024-01-01", ident="b", contracts=[fixed("2024-01-01", "2024-12-31")]),
        ]
    )
    second = of(rehired, CONTRACT_STARTED)[1]
    assert (second.event_data["chain_reset"], second.event_data["chain_contracts"]) == (False, 2)


def test_11_a_single_first_contract_longer_than_36_months_is_lawful() -> None:
    # The chain rule needs contracts that follow each other; one long first contract crosses nothing.
    events = build([job("2020-03-01", contracts=[fixed("2020-03-01", "2025-02-28")])])
    started = one(events, CONTRACT_STARTED)
    assert started.event_data["chain_exceeds_legal_maximum"] is False
    assert "7:668a" not in started.event_description
    # Its follow-up does cross the 36 months.
    longer = [fixed("2020-03-01", "2025-02-28"), fixed("2025-03-01", "2025-08-31")]
    renewed = one(build([job("2020-03-01", contracts=longer)]), CONTRACT_RENEWED)
    assert renewed.event_data["chain_exceeds_legal_maximum"] is True


def test_11_a_fourth_fixed_term_contract_or_one_past_36_months_exceeds_the_legal_chain() -> None:
    four = [
        fixed("2022-01-01", "2022-06-30"),
        fixed("2022-07-01", "2022-12-31"),
        fixed("2023-01-01", "2023-06-30"),
        fixed("2023-07-01", "2023-12-31"),
    ]
    renewals = of(build([job("2022-01-01", contracts=four)]), CONTRACT_RENEWED)
    assert [e.event_data["chain_exceeds_legal_maximum"] for e in renewals] == [False, False, True]
    assert "7:668a" in renewals[-1].event_description
    long = [fixed("2021-01-01", "2022-12-31"), fixed("2023-01-01", "2024-01-31")]  # 37 months
    (renewal,) = of(build([job("2021-01-01", contracts=long)]), CONTRACT_RENEWED)
    assert renewal.event_data["chain_exceeds_legal_maximum"] is True


def test_11_a_rehire_within_six_months_continues_the_chain() -> None:
    events = build(
        [
            job("2023-01-01", ident="a", end="2023-12-31", contracts=[fixed("2023-01-01", "2023-12-31")]),
            job("2024-04-01", ident="b", contracts=[fixed("2024-04-01", "2025-03-31")]),
        ],
        as_of=date(2025, 3, 1),
    )
    rehire = of(events, CONTRACT_STARTED)[1]
    assert rehire.event_data["rehire"] is True
    assert rehire.event_data["chain_contracts"] == 2
    assert rehire.event_data["gap_days"] == 91
    assert "after a gap of 3 months" in rehire.event_description


# ------------------------------------------------------------------- 12. no pay in general text


def test_12_only_salary_events_speak_of_money_in_their_text() -> None:
    events = build(
        [
            job(
                "2023-01-01",
                salary=[
                    {"start_date": "2023-01-01", "month_wage": 3500},
                    {"start_date": "2024-01-01", "hour_wage": 25},
                ],
                hours=[
                    {"start_date": "2023-01-01", "hours_per_week": 32},
                    {"start_date": "2024-06-01", "hours_per_week": 24},
                ],
                contracts=[fixed("2023-01-01", "2023-12-31"), permanent("2024-01-01")],
            )
        ]
    )
    assert {e.event_type for e in events} >= {
        CONTRACT_STARTED,
        PAY_BASIS_CHANGE,
        HOURS_CHANGE,
        CONTRACT_RENEWED,
    }
    for event in events:
        if event.event_type not in SALARY_TYPES:
            assert "€" not in event.event_title + event.event_description, event
    assert one(events, CONTRACT_STARTED).event_data["month_wage"] == 3500  # the amount is in the data


# ----------------------------------------------------------------------- 13. order and the record


def test_13_added_to_employes_dates_the_record_and_a_day_reads_ended_started_changed() -> None:
    events = build(
        [
            job("2019-01-01", ident="a", end="2022-12-31"),
            job(
                "2023-01-01",
                ident="b",
                salary=[{"start_date": "2023-01-01", "month_wage": 3000}],
                hours=[{"start_date": "2023-01-01", "hours_per_week": 40}],
            ),
        ],
        dt_create="2023-01-01T10:00:00",
    )
    added = one(events, EMPLOYEE_ADDED)
    assert added.event_title == "Added to Employes"
    assert added.event_data["dates"] == "record"
    on_the_day = [e.event_type for e in events if e.event_date == date(2023, 1, 1)]
    assert on_the_day == [CONTRACT_STARTED, EMPLOYEE_ADDED]
    # One employment ending on the day the next starts is no departure: the person works on.
    continued = build(
        [job("2019-01-01", ident="a", end="2023-01-01"), job("2023-01-01", ident="b")], dt_create="2023-01-01"
    )
    assert [e.event_type for e in continued if e.event_date == date(2023, 1, 1)] == [
        CONTRACT_STARTED,
        EMPLOYEE_ADDED,
    ]
    same_day = build(
        [
            job(
                "2023-01-01",
                ident="b",
                end="2023-01-01",
                hours=[{"start_date": "2023-01-01", "hours_per_week": 40}],
            ),
        ],
        dt_create="2023-01-01",
    )
    assert [e.event_type for e in same_day if e.event_date == date(2023, 1, 1)] == [
        CONTRACT_ENDED,
        CONTRACT_STARTED,
        EMPLOYEE_ADDED,
    ]


# ---------------------------------------------------------------------------------------- locale


def test_dutch_titles_use_dutch_words_numbers_and_dates() -> None:
    history = [
        job(
            "2025-01-01",
            salary=[
                {"start_date": "2025-01-01", "month_wage": 3000},
                {"start_date": "2025-03-01", "month_wage": 3150},
            ],
            contracts=[fixed("2025-01-01", "2025-12-31", is_signed=False)],
        )
    ]
    events = build_timeline(person(), history, as_of=AS_OF, locale="nl")
    assert one(events, SALARY_INCREASE).event_title == "Salarisverhoging (+€ 150,00/maand)"
    assert "€ 3.000,00" in one(events, SALARY_INCREASE).event_description
    started = one(events, CONTRACT_STARTED)
    assert started.event_title == "Contract gestart (nog niet getekend)"
    assert "1 januari 2025" in started.event_description and "31 december 2025" in started.event_description
    with pytest.raises(ValueError, match="locale"):
        build_timeline(person(), history, as_of=AS_OF, locale="fr")


_ENGLISH = re.compile(
    r"\b(Contract start|Employment|Salary|Hours|Added|renewed|[Ff]ixed|planned|months?|days?|hour|year"
    r"|after|gap|ended|ends|wage|Pay|basis|until|from|on|the|and|Current|terms|signed|permanent|Out of"
    r"|Additional|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
)


def test_every_event_type_reads_dutch_in_locale_nl() -> None:
    first = job(
        "2015-03-01",
        ident="a",
        end="2018-02-28",
        contracts=[fixed("2015-03-01", "2016-02-29"), fixed("2016-03-01", "2018-02-28")],
        salary=[
            {"start_date": "2015-03-01", "month_wage": 2500},
            {"start_date": "2016-03-01", "month_wage": 2600},
        ],
        hours=[{"start_date": "2015-03-01", "hours_per_week": 40, "days_per_week": 5}],
    )
    second = job(
        "2019-01-01",
        ident="b",
        end="2025-12-31",
        contracts=[
            fixed("2019-01-01", "2019-12-31", is_signed=False),
            fixed("2020-03-01", "2020-12-31"),
            fixed("2021-01-01", "2021-12-31"),
            fixed("2022-01-01", "2022-12-31"),
            permanent("2023-01-01"),
            fixed("2023-03-01", "2023-06-30"),
        ],
        salary=[
            {"start_date": "2019-01-01", "month_wage": "3000.00"},
            {"start_date": "2021-01-01", "hour_wage": "20.00"},
            {"start_date": "2022-01-01", "month_wage": "3600.00"},
            {"start_date": "2023-01-01", "month_wage": "2700.00"},
            {"start_date": "2025-07-01", "month_wage": "2600.00"},
        ],
        hours=[
            {"start_date": "2019-01-01", "hours_per_week": 40, "days_per_week": 5},
            {"start_date": "2023-01-01", "hours_per_week": 30, "days_per_week": 4},
            {"start_date": "2024-01-01", "hours_per_week": 30, "days_per_week": 3},
        ],
    )
    lapsed = [job("2019-01-01", ident="x", contracts=[fixed("2019-01-01", "2019-12-31")])]
    left = [job("2019-01-01", ident="y", contracts=[fixed("2019-01-01", "2020-12-31")])]
    nested = {"start_date": "2012-04-01", "contract": {"hours_per_week": 24}, "salary": {"hour_wage": 21.5}}
    events = [
        *build_timeline(person(dt_create="2019-01-01"), [first, second], as_of=AS_OF, locale="nl"),
        *build_timeline(person(), lapsed, as_of=AS_OF, locale="nl"),
        *build_timeline(person(status="out_of_service"), left, as_of=AS_OF, locale="nl"),
        *build_timeline(person(employment=nested), None, as_of=AS_OF, locale="nl"),
    ]
    assert {e.event_type for e in events} == EVENT_TYPES
    assert any(e.event_data["planned"] for e in events)
    for event in events:
        text = f"{event.event_title} || {event.event_description}".replace("Employes", "")
        assert not _ENGLISH.findall(text), (event.event_type, text)


def test_6_without_hours_a_return_to_monthly_pay_is_compared_with_the_last_monthly_wage() -> None:
    salary = [
        {"start_date": "2024-01-01", "month_wage": 3000},
        {"start_date": "2024-06-01", "hour_wage": 20},
        {"start_date": "2025-01-01", "month_wage": 3500},
    ]
    events = build([job("2024-01-01", salary=salary)])
    assert len(of(events, PAY_BASIS_CHANGE)) == 2
    rise = one(events, SALARY_INCREASE)
    assert (rise.event_date, rise.event_data["amount"], rise.event_data["percentage"]) == (
        date(2025, 1, 1),
        500,
        16.67,
    )
    assert rise.event_data["across_basis_change"] is True
    assert rise.event_data["previous_start_date"] == "2024-01-01"
    assert rise.event_title == "Salary increase (+€500.00/month)"


def test_7_a_yearly_wage_that_moves_with_an_hours_explained_monthly_wage_is_no_rise() -> None:
    # No hours periods at all: the same hourly wage says the rate held; the yearly wage follows the month.
    salary = [
        {"start_date": "2023-01-01", "hour_wage": 42.02, "month_wage": 6555.12, "yearly_wage": 84954.36},
        {"start_date": "2025-01-01", "hour_wage": 42.02, "month_wage": 3641.73, "yearly_wage": 47196.82},
    ]
    assert not of(build([job("2023-01-01", salary=salary)]), *SALARY_TYPES)


def test_run_settings_carry_a_valid_as_of_and_locale() -> None:
    from employes_sync.settings import TIMELINE_LOCALES, SettingsError, SyncSettings
    from employes_sync.timeline import LOCALES

    assert TIMELINE_LOCALES == LOCALES
    company = "00000000-0000-4000-8000-000000000001"
    settings = SyncSettings(scope="local/x", company_id=company, as_of="2025-06-01", locale="nl")
    assert SyncSettings.from_json(settings.to_json()).as_of_date == date(2025, 6, 1)
    assert date.fromisoformat(SyncSettings(scope="local/x", company_id=company).as_of)  # the run's day
    with pytest.raises(SettingsError, match="as-of"):
        SyncSettings(scope="local/x", company_id=company, as_of="1 June")
    with pytest.raises(SettingsError, match="locale"):
        SyncSettings(scope="local/x", company_id=company, locale="de")


@pytest.mark.parametrize(("spelling", "meaning"), [("indefinite", "permanent"), ("fixed-term", "definite")])
def test_other_spellings_of_a_contract_duration_mean_the_same(spelling: str, meaning: str) -> None:
    contracts = [{"start_date": "2024-01-01", "end_date": "2024-12-31", "contract_duration": spelling}]
    started = one(build([job("2024-01-01", contracts=contracts)]), CONTRACT_STARTED)
    assert started.event_data["contract_duration"] == meaning


def test_11_an_employment_listed_twice_does_not_lengthen_the_chain() -> None:
    contracts = [fixed("2023-01-01", "2023-12-31"), fixed("2024-01-01", "2024-12-31")]
    twice = [job("2023-01-01", contracts=contracts), job("2023-01-01", contracts=contracts)]
    renewed = one(build(twice), CONTRACT_RENEWED)
    assert renewed.event_data["chain_contracts"] == 2
    assert one(build(twice[:1]), CONTRACT_RENEWED) == renewed


# ------------------------------------------------- an employment id listed twice, alike or not


def test_an_employment_repeated_word_for_word_gives_the_events_of_one_copy() -> None:
    contracts = [fixed("2020-01-01", "2020-12-31")]
    salary = [
        {"start_date": "2020-01-01", "month_wage": "3000.00"},
        {"start_date": "2020-07-01", "month_wage": "3100.00"},
    ]
    single = job("2020-01-01", ident="E1", contracts=contracts, salary=salary)
    # The copy's periods in another order and another date spelling: the same content once parsed.
    copy = job("2020-01-01T00:00:00", ident="E1", contracts=contracts, salary=salary[::-1])
    assert build([single, copy]) == build([single])
    assert build([copy, single, single]) == build([single])
    assert one(build([single, copy]), CONTRACT_EXPIRED_UNRENEWED).event_date == date(2020, 12, 31)


def test_an_employment_id_listed_twice_with_different_content_is_an_invalid_record() -> None:
    """Read side by side, the shorter copy's contract "expired with no follow-up": a false ending."""
    short = job("2020-01-01", ident="E1", contracts=[fixed("2020-01-01", "2020-12-31")])
    longer = job("2020-01-01", ident="E1", contracts=[fixed("2020-01-01", "2021-12-31")])
    for employments in ([short, longer], [longer, short]):
        with pytest.raises(InvalidRecord) as caught:
            build(employments)
        assert caught.value.reason == "employments: id E1 is listed twice with different content"
    # A wage is never part of the reason, only the id.
    paid = job("2020-01-01", ident="E1", salary=[{"start_date": "2020-01-01", "month_wage": "4321.00"}])
    with pytest.raises(InvalidRecord) as caught:
        build([job("2020-01-01", ident="E1"), paid])
    assert "4321" not in caught.value.reason


def test_two_employments_without_an_id_on_one_start_day_that_differ_are_an_invalid_record() -> None:
    bare = {"start_date": "2020-01-01", "contracts": [fixed("2020-01-01", "2020-12-31")]}
    other = {"start_date": "2020-01-01", "contracts": [fixed("2020-01-01", "2021-12-31")]}
    with pytest.raises(InvalidRecord) as caught:
        build([bare, other])
    assert caught.value.reason == "employments: id start:2020-01-01 is listed twice with different content"
    assert build([bare, dict(bare)]) == build([bare])


def test_an_unprintable_or_huge_employment_id_is_not_repeated_verbatim_in_the_reason() -> None:
    for ident in ("E1\nemployee 7 skipped: forged", "x" * 10_000):
        twice = [job("2020-01-01", ident=ident), job("2020-01-01", ident=ident, end="2020-06-30")]
        with pytest.raises(InvalidRecord) as caught:
            build(twice)
        assert "\n" not in caught.value.reason and len(caught.value.reason) < 200


# --------------------------------------------------- 14. adversarial review: what an HR reader must trust


def test_14_a_lapse_before_a_registered_employment_end_does_not_say_no_end_is_registered() -> None:
    # The contract ran out on 31 Mar, the employment is registered to end on 30 Apr (or, planned, on 31
    # Dec): the lapse said "no follow-up contract or end of employment is registered", which is false.
    for end, shown in (("2025-04-30", "30 Apr 2025"), ("2025-12-31", "31 Dec 2025")):
        events = build([job("2024-01-01", end=end, contracts=[fixed("2024-01-01", "2025-03-31")])])
        lapsed = one(events, CONTRACT_EXPIRED_UNRENEWED)
        assert "or end of employment" not in lapsed.event_description
        assert "no follow-up contract is registered" in lapsed.event_description
        assert shown in lapsed.event_description
        assert "7:668" in lapsed.event_description
        dutch = build_timeline(
            person(),
            [job("2024-01-01", end=end, contracts=[fixed("2024-01-01", "2025-03-31")])],
            as_of=AS_OF,
            locale="nl",
        )
        text = one(dutch, CONTRACT_EXPIRED_UNRENEWED).event_description
        assert "einde dienstverband" not in text and shown.split()[0] in text
    # Without a registered end the wording is the one it always was.
    open_ended = one(
        build([job("2024-01-01", contracts=[fixed("2024-01-01", "2025-03-31")])]), CONTRACT_EXPIRED_UNRENEWED
    )
    assert "no follow-up contract or end of employment is registered" in open_ended.event_description


def test_14_a_follow_up_contract_in_a_later_employment_is_a_follow_up() -> None:
    # The fixed-term contract of A ran out on 31 Dec; the permanent contract came as a new employment B
    # from 1 Jan, and nobody closed A. It read "expired, no follow-up registered": B is the follow-up.
    for start in ("2025-01-01", "2025-03-01", "2025-07-01"):  # next day, after a gap, planned
        events = build(
            [
                job("2024-01-01", ident="A", contracts=[fixed("2024-01-01", "2024-12-31")]),
                job(start, ident="B", contracts=[permanent(start)]),
            ]
        )
        assert not of(events, CONTRACT_EXPIRED_UNRENEWED, *DEPARTURE_TYPES), start
    # A contract of another employment that was already running is no follow-up: the side job's
    # contract beside a permanent main job did lapse with nothing after it.
    side = build(
        [
            job("2020-01-01", ident="main", contracts=[permanent("2020-01-01")]),
            job("2024-01-01", ident="side", contracts=[fixed("2024-01-01", "2024-12-31")]),
        ]
    )
    assert one(side, CONTRACT_EXPIRED_UNRENEWED).event_data["employment_id"] == "side"
    # Nor is a later contract elsewhere that ended before this one did.
    short = build(
        [
            job("2024-01-01", ident="A", contracts=[fixed("2024-01-01", "2024-12-31")]),
            job("2024-03-01", ident="B", end="2024-06-30", contracts=[fixed("2024-03-01", "2024-06-30")]),
        ]
    )
    assert one(short, CONTRACT_EXPIRED_UNRENEWED).event_data["employment_id"] == "A"
    # A closed on 31 Dec after its contract ran out on 30 Jun: the half year in A without a contract is
    # still reported, though B follows A; B's contract follows A, not the lapsed contract.
    closed = build(
        [
            job("2024-01-01", ident="A", end="2024-12-31", contracts=[fixed("2024-01-01", "2024-06-30")]),
            job("2025-01-01", ident="B", contracts=[permanent("2025-01-01")]),
        ]
    )
    lapsed = one(closed, CONTRACT_EXPIRED_UNRENEWED)
    assert (lapsed.event_date, lapsed.event_data["employment_end_date"]) == (date(2024, 6, 30), "2024-12-31")


def test_14_out_of_service_does_not_date_the_departure_before_an_employment_that_followed() -> None:
    # A closed on 31 Dec, B opened to follow it (on 1 Jan, or on A's last day), and B has no end the
    # out-of-service state can be dated by. It read "Employment ended 31 Dec 2024", although the person
    # was registered to work on under B from the next day: when they left is not known.
    for start in ("2025-01-01", "2024-12-31"):
        events = build(
            [
                job("2023-01-01", ident="A", end="2024-12-31", contracts=[fixed("2023-01-01", "2024-12-31")]),
                job(start, ident="B", contracts=[permanent(start)]),
            ],
            status="out_of_service",
        )
        assert not of(events, *DEPARTURE_TYPES, CONTRACT_EXPIRED_UNRENEWED), start
    # An old employment nobody closed, opened before A, still continues nothing: A's end is the departure.
    stale = build(
        [
            job("2015-01-01", ident="old", contracts=[permanent("2015-01-01")]),
            job("2018-01-01", ident="A", end="2024-12-31", contracts=[fixed("2018-01-01", "2024-12-31")]),
        ],
        status="out_of_service",
    )
    assert [(e.event_date, e.event_data["employment_id"]) for e in of(stale, CONTRACT_ENDED)] == [
        (date(2024, 12, 31), "A")
    ]
    # A follower whose contract ran out dates the departure itself, as before.
    dated = build(
        [
            job("2023-01-01", ident="A", end="2024-12-31"),
            job("2025-01-01", ident="B", contracts=[fixed("2025-01-01", "2025-03-31")]),
        ],
        status="out_of_service",
    )
    assert [(e.event_date, e.event_data["employment_id"]) for e in of(dated, CONTRACT_ENDED)] == [
        (date(2025, 3, 31), "B")
    ]


def test_14_out_of_service_is_not_dated_by_a_contract_end_that_pay_registered_later_contradicts() -> None:
    # Only a 2018 contract registered, but wages paid on into 2021: the out-of-service departure read
    # "Employment ended 31 Dec 2018", followed by two salary increases. The person left, on a day not known.
    salary = [
        {"start_date": "2018-01-01", "month_wage": 3000},
        {"start_date": "2020-01-01", "month_wage": 3200},
        {"start_date": "2021-01-01", "month_wage": 3300},
    ]
    paid_on = build(
        [job("2018-01-01", contracts=[fixed("2018-01-01", "2018-12-31")], salary=salary)],
        status="out_of_service",
    )
    assert not of(paid_on, *DEPARTURE_TYPES)
    assert len(of(paid_on, SALARY_INCREASE)) == 2
    # The lapse it is (worked on after the contract expired, nothing registered), not a departure.
    assert one(paid_on, CONTRACT_EXPIRED_UNRENEWED).event_date == date(2018, 12, 31)
    hours = [weeks(40, 5, "2018-01-01"), weeks(32, 4, "2019-06-01")]
    worked_on = build(
        [job("2018-01-01", contracts=[fixed("2018-01-01", "2018-12-31")], hours=hours)],
        status="out_of_service",
    )
    assert not of(worked_on, *DEPARTURE_TYPES)
    # Periods that start by the contract's end leave it the date of the departure, as before.
    within = build(
        [job("2018-01-01", contracts=[fixed("2018-01-01", "2018-12-31")], salary=salary[:1])],
        status="out_of_service",
    )
    assert one(within, CONTRACT_ENDED).event_date == date(2018, 12, 31)


def test_14_a_contract_inside_one_of_another_employment_does_not_lengthen_the_chain() -> None:
    # A side job from March to June 2023 beside the main job's second contract: counted as a link of the
    # chain, it made the 2024 renewal "fixed-term contract 4 ... by law it counts as permanent", while the
    # same contracts in one employment give contract 3 (the side contract runs alongside, not after).
    main = [
        fixed("2022-01-01", "2022-12-31"),
        fixed("2023-01-01", "2023-12-31"),
        fixed("2024-01-01", "2024-12-31"),
    ]
    events = build(
        [
            job("2022-01-01", ident="main", contracts=main),
            job("2023-03-01", ident="side", end="2023-06-30", contracts=[fixed("2023-03-01", "2023-06-30")]),
        ]
    )
    last = of(events, CONTRACT_RENEWED)[-1]
    assert (last.event_data["chain_contracts"], last.event_data["chain_exceeds_legal_maximum"]) == (3, False)
    assert "7:668a" not in last.event_description
    side = [e for e in of(events, CONTRACT_STARTED) if e.event_data["employment_id"] == "side"]
    assert side[0].event_data["chain_contracts"] is None
    together = build([job("2022-01-01", contracts=[*main, fixed("2023-03-01", "2023-06-30")])])
    assert of(together, CONTRACT_RENEWED)[-1].event_data["chain_contracts"] == 3
    # A contract in another employment that runs on past the one before it is a link, as before.
    rehired = build(
        [
            job("2022-01-01", ident="a", end="2022-12-31", contracts=main[:1]),
            job("2023-01-01", ident="b", contracts=main[1:]),
        ]
    )
    assert of(rehired, CONTRACT_RENEWED)[-1].event_data["chain_contracts"] == 3


def test_a_fixed_term_contract_after_a_permanent_one_is_not_called_a_renewed_fixed_term() -> None:
    # A permanent contract that ended, then a fixed-term one: "Fixed-term contract renewed" said the
    # previous contract was fixed-term too. It is a new fixed-term contract after a permanent one.
    events = build(
        [
            job(
                "2020-01-01",
                contracts=[permanent("2020-01-01", end_date="2024-12-31"), fixed("2025-01-01", "2025-12-31")],
            )
        ]
    )
    renewed = one(events, CONTRACT_RENEWED)
    assert "Fixed-term contract renewed" not in renewed.event_description
    assert renewed.event_description.startswith("New fixed-term contract from 1 Jan 2025")
    assert "previous contract ran until 31 Dec 2024" in renewed.event_description
    # Fixed-term after fixed-term keeps its wording.
    chain = build(
        [job("2024-01-01", contracts=[fixed("2024-01-01", "2024-12-31"), fixed("2025-01-01", "2025-12-31")])]
    )
    assert one(chain, CONTRACT_RENEWED).event_description.startswith(
        "Fixed-term contract renewed on 1 Jan 2025"
    )


# -------------------------------------------- 15. second review: salary dated a day before the hours


def _hours(*rows: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"start_date": day, "hours_per_week": hours} for day, hours in rows]


def _monthly(*rows: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"start_date": day, "month_wage": wage} for day, wage in rows]


def _one_day_row_between(old: float, one_day: float, new: float) -> list[dict[str, Any]]:
    """A wage from 2023, a one-day row on 31 Mar 2024, and the wage from 1 Apr 2024."""
    return [
        {"start_date": "2023-01-01", "month_wage": old},
        {"start_date": "2024-03-31", "end_date": "2024-03-31", "month_wage": one_day},
        {"start_date": "2024-04-01", "month_wage": new},
    ]


def test_15_a_salary_dated_the_day_before_an_hours_cut_at_the_same_rate_is_no_decrease() -> None:
    # 36 h at 3,600/month cut to 32 h at 3,200/month: the salary row is dated 31 Mar, the hours row
    # 1 Apr. Compared at the 36 h still in effect on 31 Mar, the new wage read "Salary decrease (-11 %)".
    salary = _monthly(("2023-01-01", 3600), ("2024-03-31", 3200))
    hours = _hours(("2023-01-01", 36), ("2024-04-01", 32))
    events = build([job("2023-01-01", salary=salary, hours=hours)])
    assert not of(events, *SALARY_TYPES), [(e.event_date, e.event_title) for e in events]
    change = one(events, HOURS_CHANGE)
    # What the cut does at the rate before it: 3,600 at 36 h, not the 3,200 already at 32 h.
    assert change.event_data["monthly_pay_effect"] == -400


def test_15_a_raise_dated_the_day_before_more_hours_is_told_at_the_new_hours() -> None:
    # 3,200 at 32 h, then 3,700 (31 Mar) for 36 h (1 Apr): at 36 h the old wage is 3,600, a rise of 100.
    salary = _monthly(("2023-01-01", 3200), ("2024-03-31", 3700))
    hours = _hours(("2023-01-01", 32), ("2024-04-01", 36))
    events = build([job("2023-01-01", salary=salary, hours=hours)])
    rise = one(events, SALARY_INCREASE)
    assert rise.event_data["from_at_new_hours"] == 3600
    assert rise.event_data["amount"] == 100
    assert rise.event_title == "Salary increase (+€100.00/month)"


def test_15_one_raise_split_over_two_adjacent_rows_reads_as_one_rise() -> None:
    # The API splits the change: a one-day row on 31 Mar at the new hours' wage, the raise from 1 Apr.
    # Read at the hours of each row's own first day this was a decrease and an increase ("-11 %", then
    # "+16 %" beyond the hours) for what is one cut in hours and one rise of 100 at the new hours.
    salary = _one_day_row_between(3600, 3200, 3300)
    hours = _hours(("2023-01-01", 36), ("2024-04-01", 32))
    events = build([job("2023-01-01", salary=salary, hours=hours)])
    assert not of(events, SALARY_DECREASE), [(e.event_date, e.event_title) for e in events]
    rise = one(events, SALARY_INCREASE)
    assert (rise.event_date, rise.event_data["amount"]) == (date(2024, 4, 1), 100)
    # The same split with more hours: 3,200 at 32 h, 3,600 (31 Mar), 3,700 (1 Apr) at 36 h.
    more = _one_day_row_between(3200, 3600, 3700)
    events = build([job("2023-01-01", salary=more, hours=_hours(("2023-01-01", 32), ("2024-04-01", 36)))])
    assert not of(events, SALARY_DECREASE)
    rise = one(events, SALARY_INCREASE)
    assert (rise.event_date, rise.event_data["amount"]) == (date(2024, 4, 1), 100)


def test_15_a_real_cut_dated_the_day_before_the_hours_is_still_a_decrease_at_the_new_hours() -> None:
    # 3,600 at 36 h, then 3,000 (31 Mar) for 32 h (1 Apr): at 32 h the old wage is 3,200, a cut of 200.
    salary = _monthly(("2023-01-01", 3600), ("2024-03-31", 3000))
    hours = _hours(("2023-01-01", 36), ("2024-04-01", 32))
    cut = one(build([job("2023-01-01", salary=salary, hours=hours)]), SALARY_DECREASE)
    assert cut.event_data["amount"] == -200
    assert cut.event_data["to_hours_per_week"] == 32


# ------------------------------------------------ 16. second review: out of service, contract runs on


def test_16_out_of_service_with_a_contract_running_past_as_of_shows_no_planned_end() -> None:
    # The API says the person has left; their last contract would run until 31 Dec 2025. "Employment
    # ends (planned)" on 31 Dec said they are still there, and "ended" on 31 Dec would be a day to come.
    # The day they left is not known: no departure, as when pay registered after the contract says so.
    contracts = [fixed("2024-01-01", "2025-12-31")]
    events = build([job("2024-01-01", contracts=contracts)], status="out_of_service")
    assert not of(events, *DEPARTURE_TYPES), [(e.event_date, e.event_title) for e in events]
    assert not [e for e in events if "(planned)" in e.event_title]
    # Once that end has passed, it dates the departure as before (reason out_of_service).
    later = build([job("2024-01-01", contracts=contracts)], as_of=date(2026, 1, 5), status="out_of_service")
    departure = one(later, CONTRACT_ENDED)
    assert (departure.event_date, departure.event_data["reason"]) == (date(2025, 12, 31), "out_of_service")
    # A registered end of the employment is a fact, not a guess: still shown as planned.
    noticed = build([job("2024-01-01", end="2025-12-31", contracts=contracts)], status="out_of_service")
    planned = one(noticed, CONTRACT_ENDED)
    assert (planned.event_data["reason"], planned.event_data["planned"]) == ("employment_ended", True)
    # Someone active with the same contract has no departure at all.
    assert not of(build([job("2024-01-01", contracts=contracts)]), *DEPARTURE_TYPES)
    # Nor does an employment closed while that one ran on beside it become the departure.
    beside = [
        job("2023-01-01", ident="main", contracts=[fixed("2023-01-01", "2025-12-31")]),
        job("2024-01-01", ident="side", end="2024-12-31", contracts=[fixed("2024-01-01", "2024-12-31")]),
    ]
    assert not of(build(beside, status="out_of_service"), *DEPARTURE_TYPES)


# ------------------------------------------- 17. second review: one instant written in two zones


def test_17_a_local_midnight_written_in_utc_is_no_one_day_gap() -> None:
    # 31 Mar 2024 00:00 in Amsterdam is 2024-03-30T23:00:00Z (winter time until 02:00 that night).
    # Keeping only the written day made the employment end on 30 Mar and the next start on 1 Apr: a
    # false "Employment ended" and "Contract started (re-hired) after a gap of 1 day".
    events = build(
        [
            job("2023-04-01T00:00:00+02:00", ident="a", end="2024-03-30T23:00:00Z"),
            job("2024-04-01T00:00:00+02:00", ident="b"),
        ]
    )
    assert not of(events, *DEPARTURE_TYPES), [(e.event_date, e.event_title) for e in events]
    assert [(e.event_date, e.event_data["rehire"]) for e in of(events, CONTRACT_STARTED)] == [
        (date(2023, 4, 1), False),
        (date(2024, 4, 1), False),
    ]
    # A contract renewed the next day, the end written in UTC and the start with an offset (winter).
    contracts = [
        fixed("2023-02-01T00:00:00+01:00", "2024-01-30T23:00:00Z"),
        fixed("2024-01-31T23:00:00Z", "2025-01-31T00:00:00+01:00"),
    ]
    renewed = one(build([job("2023-02-01", contracts=contracts)]), CONTRACT_RENEWED)
    assert (renewed.event_date, renewed.event_data["gap_days"]) == (date(2024, 2, 1), 0)
    assert renewed.event_data["previous_end_date"] == "2024-01-31"


def test_15_a_raise_the_day_before_an_hours_cut_with_its_own_row_for_the_new_hours_is_one_rise() -> None:
    # A raise on 31 Mar at 36 h (3,600 -> 3,708), the cut to 32 h from 1 Apr with its own salary row at
    # the same rate (3,296). Read at the new hours the one-day row was "+508" and the next "-412".
    salary = _one_day_row_between(3600, 3708, 3296)
    hours = _hours(("2023-01-01", 36), ("2024-04-01", 32))
    events = build([job("2023-01-01", salary=salary, hours=hours)])
    rise = one(events, SALARY_INCREASE)
    assert (rise.event_date, rise.event_data["amount"], rise.event_data["hours_adjusted"]) == (
        date(2024, 3, 31),
        108,
        False,
    )
    assert not of(events, SALARY_DECREASE)
    assert one(events, HOURS_CHANGE).event_data["monthly_pay_effect"] == -412


# ------------------------------------------ 18. second review: hours reduced for a while, then back


def test_18_a_temporary_hours_period_hands_back_to_the_one_it_interrupted() -> None:
    # Parental leave registered as 32 h from 1 Mar to 31 Aug 2024 inside the open 40 h period. The
    # return to 40 h was never seen: 4,000/month from 1 Sep read "Salary increase (+€800.00/month,
    # +25 %)" against 3,200 at the 32 h, for a rate that never changed, and no hours change back.
    hours = [
        {"start_date": "2022-01-01", "hours_per_week": 40, "days_per_week": 5},
        {"start_date": "2024-03-01", "end_date": "2024-08-31", "hours_per_week": 32, "days_per_week": 4},
    ]
    salary = [
        {"start_date": "2022-01-01", "end_date": "2024-02-29", "month_wage": 4000},
        {"start_date": "2024-03-01", "end_date": "2024-08-31", "month_wage": 3200},
        {"start_date": "2024-09-01", "month_wage": 4000},
    ]
    events = build([job("2022-01-01", contracts=[permanent("2022-01-01")], salary=salary, hours=hours)])
    assert not of(events, *SALARY_TYPES), [(e.event_date, e.event_title) for e in events]
    assert [(e.event_date, e.event_title) for e in of(events, HOURS_CHANGE)] == [
        (date(2024, 3, 1), "Hours change (40→32h/week)"),
        (date(2024, 9, 1), "Hours change (32→40h/week)"),
    ]
    back = of(events, HOURS_CHANGE)[1].event_data
    assert (back["from_days_per_week"], back["to_days_per_week"], back["monthly_pay_effect"]) == (4, 5, 800)
    # A raise on return is still told, at the 40 h: 4,100 against 4,000.
    raised = [*salary[:2], {"start_date": "2024-09-01", "month_wage": 4100}]
    events = build([job("2022-01-01", contracts=[permanent("2022-01-01")], salary=raised, hours=hours)])
    assert one(events, SALARY_INCREASE).event_data["amount"] == 100
    # A period that ends where the next one starts hands back to nothing: the next one is in effect.
    rows = [
        {"start_date": "2022-01-01", "end_date": "2024-02-29", "hours_per_week": 40},
        {"start_date": "2024-03-01", "hours_per_week": 32},
    ]
    events = build([job("2022-01-01", hours=rows)])
    assert [e.event_date for e in of(events, HOURS_CHANGE)] == [date(2024, 3, 1)]


def test_18_a_temporary_salary_period_hands_back_to_the_one_it_interrupted() -> None:
    # Pay reduced to 3,000 for a leave from 1 Mar to 31 Aug 2024, inside the open 4,000. Read by starts
    # only, the 3,000 ran on: no return to 4,000 was shown, and the raise to 4,100 on 1 Jan 2025 read
    # "Salary increase (+€1,100.00/month)". A one-month 4,400 (December) read as a lasting rise.
    hours = [{"start_date": "2022-01-01", "hours_per_week": 40, "days_per_week": 5}]
    salary = [
        {"start_date": "2022-01-01", "month_wage": 4000},
        {"start_date": "2024-03-01", "end_date": "2024-08-31", "month_wage": 3000},
        {"start_date": "2025-01-01", "month_wage": 4100},
    ]
    events = build([job("2022-01-01", contracts=[permanent("2022-01-01")], salary=salary, hours=hours)])
    changes = [(e.event_date, e.event_type, e.event_data["amount"]) for e in of(events, *SALARY_TYPES)]
    assert changes == [
        (date(2024, 3, 1), SALARY_DECREASE, -1000),
        (date(2024, 9, 1), SALARY_INCREASE, 1000),
        (date(2025, 1, 1), SALARY_INCREASE, 100),
    ]
    december = [{"start_date": "2022-01-01", "month_wage": 4000},
                {"start_date": "2024-12-01", "end_date": "2024-12-31", "month_wage": 4400}]  # fmt: skip
    events = build([job("2022-01-01", contracts=[permanent("2022-01-01")], salary=december, hours=hours)])
    changes = [(e.event_date, e.event_type, e.event_data["amount"]) for e in of(events, *SALARY_TYPES)]
    assert changes == [(date(2024, 12, 1), SALARY_INCREASE, 400), (date(2025, 1, 1), SALARY_DECREASE, -400)]
    # Nothing comes back after the employment ended with the reduced period.
    contracts = [permanent("2022-01-01")]
    ended = build([job("2022-01-01", end="2024-08-31", contracts=contracts, salary=salary[:2])])
    assert [e.event_date for e in of(ended, *SALARY_TYPES)] == [date(2024, 3, 1)]


def test_18_hours_do_not_come_back_after_the_employment_ended() -> None:
    # The reduced period ends with the employment (or, out of service, with the last contract): an
    # "Hours change (32→40h/week)" the day after would be after the person left, and a period that
    # starts after the last contract's end would say they were paid on, hiding the departure.
    hours = [
        {"start_date": "2022-01-01", "hours_per_week": 40},
        {"start_date": "2024-03-01", "end_date": "2024-12-31", "hours_per_week": 32},
    ]
    contracts = [fixed("2022-01-01", "2024-12-31")]
    ended = build([job("2022-01-01", end="2024-12-31", contracts=contracts, hours=hours)])
    assert [e.event_date for e in of(ended, HOURS_CHANGE)] == [date(2024, 3, 1)]
    left = build([job("2022-01-01", contracts=contracts, hours=hours)], status="out_of_service")
    assert [e.event_date for e in of(left, HOURS_CHANGE)] == [date(2024, 3, 1)]
    assert one(left, CONTRACT_ENDED).event_date == date(2024, 12, 31)
    # Someone active works on in the open employment after the contract lapsed: the 40 h come back.
    working_on = build([job("2022-01-01", contracts=contracts, hours=hours)])
    assert [e.event_date for e in of(working_on, HOURS_CHANGE)] == [date(2024, 3, 1), date(2025, 1, 1)]


def test_18_a_period_that_starts_after_the_employment_ended_is_not_shown() -> None:
    # Notice given for 30 Jun 2025; a collective raise from 1 Jul was entered for everyone, and a
    # renewal from 1 Jul had been registered before the notice. Kept, the timeline read "Salary increase
    # (+€100.00/month) (planned)", "Hours change" and "Contract renewal" after "Employment ends (planned)":
    # a raise, hours and a contract the person never has.
    contracts = [fixed("2024-07-01", "2025-06-30"), fixed("2025-07-01", "2026-06-30")]
    salary = [monthly("2024-07-01", 3000), monthly("2025-07-01", 3100)]
    hours = [weeks(40, 5, "2024-07-01"), weeks(32, 4, "2025-07-01")]
    employment = job("2024-07-01", end="2025-06-30", contracts=contracts, salary=salary, hours=hours)
    for as_of in (AS_OF, LATER):
        events = build([employment], as_of=as_of)
        assert [(e.event_type, e.event_date) for e in events if e.event_date > date(2025, 6, 30)] == []
        assert one(events, CONTRACT_ENDED).event_date == date(2025, 6, 30)
        assert of(events, CONTRACT_RENEWED, HOURS_CHANGE, *SALARY_TYPES) == []
    # A row from the last day is still in effect on it, and a raise before the end is still a raise.
    salary = [monthly("2024-07-01", 3000), monthly("2025-06-30", 3100)]
    events = build([job("2024-07-01", end="2025-06-30", contracts=contracts[:1], salary=salary)])
    assert one(events, SALARY_INCREASE).event_date == date(2025, 6, 30)
    # Someone out of service with an open employment keeps the later pay: it shows they were paid on
    # past the contract, so the contract's end does not date a departure.
    open_job = job("2024-07-01", contracts=contracts[:1], salary=[monthly("2024-07-01", 3000),
                                                                  monthly("2025-07-01", 3100)])  # fmt: skip
    left = build([open_job], as_of=LATER, status="out_of_service")
    assert of(left, CONTRACT_ENDED) == []
    assert one(left, SALARY_INCREASE).event_date == date(2025, 7, 1)


@pytest.mark.parametrize(
    ("as_of", "locale", "description"),
    [
        (
            date(2024, 9, 1),
            "en",
            "Contract turned permanent on 1 Jul 2024 (replaces the previous contract, registered until"
            " 31 Dec 2024).",
        ),
        (
            date(2024, 9, 1),
            "nl",
            "Contract omgezet naar onbepaalde tijd op 1 juli 2024 (vervangt het vorige contract,"
            " geregistreerd tot 31 december 2024).",
        ),
        (
            date(2024, 6, 1),
            "en",
            "Contract becomes permanent on 1 Jul 2024 (replaces the previous contract, registered until"
            " 31 Dec 2024).",
        ),
    ],
)
def test_a_contract_replaced_before_its_end_is_not_said_to_have_run_until_it(
    as_of: date, locale: str, description: str
) -> None:
    # A fixed-term contract to 31 Dec 2024 turned permanent early, from 1 Jul. Built on 1 Sep it read
    # "(previous contract ran until 31 Dec 2024)": a day still to come, in the past tense, for a
    # contract that was replaced on 30 Jun.
    contracts = [fixed("2024-01-01", "2024-12-31"), permanent("2024-07-01")]
    events = build_timeline(person(), [job("2024-01-01", contracts=contracts)], as_of=as_of, locale=locale)
    renewed = one(events, CONTRACT_RENEWED)
    assert renewed.event_description == description
    assert renewed.event_data["previous_end_date"] == "2024-12-31"
    # A renewal the day after the previous end still names the end it ran until.
    follows = [fixed("2024-01-01", "2024-06-30"), permanent("2024-07-01")]
    events = build_timeline(person(), [job("2024-01-01", contracts=follows)], as_of=as_of, locale=locale)
    after = one(events, CONTRACT_RENEWED).event_description
    assert "replaces" not in after and "vervangt" not in after
    assert after.endswith(("until 30 Jun 2024).", "tot 30 juni 2024)."))


# ------------------------------------- 19. a contract registered after the employment's registered end

# HR renewed the contract from 1 Jul 2024 but never moved the employment's end (30 Jun 2024). Which
# record is true cannot be told, so the renewal stays out of the contracts as be7d174 decided; but the
# departure read "Employment ended on 30 Jun 2024 (started 1 Jan 2023)." as plain fact, the renewal gone
# without a word: the false "contract ended" an HR reader must never be shown unqualified.
STALE_END = "2024-06-30"
STALE_CONTRACTS = [fixed("2023-01-01", "2024-06-30"), fixed("2024-07-01", "2025-06-30")]


def test_19_a_contract_registered_after_the_end_is_named_at_the_end() -> None:
    events = build([job("2023-01-01", end=STALE_END, contracts=STALE_CONTRACTS)])
    ended = one(events, CONTRACT_ENDED)
    assert ended.event_date == date(2024, 6, 30)
    assert ended.event_title == "Employment ended (later contract registered)"
    assert ended.event_description == (
        "Employment ended on 30 Jun 2024 (started 1 Jan 2023). A contract from 1 Jul 2024 is registered"
        " after this end date: if the employment continued, its end date needs correcting."
    )
    assert (ended.event_data["after_end_contracts"], ended.event_data["after_end_start_date"]) == (
        1,
        "2024-07-01",
    )
    # Still out of the contracts: no renewal, and nothing at all after the registered end.
    assert of(events, CONTRACT_RENEWED, CONTRACT_EXPIRED_UNRENEWED) == []
    assert [e for e in events if e.event_date > date(2024, 6, 30)] == []


@pytest.mark.parametrize(
    ("contracts", "as_of", "locale", "title", "description"),
    [
        (
            STALE_CONTRACTS,
            AS_OF,
            "nl",
            "Uit dienst (later contract geregistreerd)",
            "Dienstverband beëindigd op 30 juni 2024 (begonnen 1 januari 2023). Er is een contract vanaf"
            " 1 juli 2024 geregistreerd na deze einddatum: als het dienstverband is voortgezet, moet de"
            " einddatum worden gecorrigeerd.",
        ),
        (
            STALE_CONTRACTS,
            date(2024, 5, 1),
            "en",
            "Employment ends (later contract registered) (planned)",
            "Employment ends on 30 Jun 2024 (started 1 Jan 2023); the end date is registered. A contract"
            " from 1 Jul 2024 is registered after this end date: if the employment continues, its end date"
            " needs correcting.",
        ),
        (
            STALE_CONTRACTS,
            date(2024, 5, 1),
            "nl",
            "Gaat uit dienst (later contract geregistreerd) (gepland)",
            "Dienstverband eindigt op 30 juni 2024 (begonnen 1 januari 2023); de einddatum is geregistreerd."
            " Er is een contract vanaf 1 juli 2024 geregistreerd na deze einddatum: als het dienstverband"
            " wordt voortgezet, moet de einddatum worden gecorrigeerd.",
        ),
        # Several: the first is named and the number said, whatever order the API listed them in; one
        # listed twice (a correction on the same start) is one contract.
        (
            [permanent("2025-07-01"), *STALE_CONTRACTS, fixed("2024-07-01", "2025-06-30")],
            AS_OF,
            "en",
            "Employment ended (later contract registered)",
            "Employment ended on 30 Jun 2024 (started 1 Jan 2023). 2 contracts are registered after this"
            " end date, the first from 1 Jul 2024: if the employment continued, its end date needs"
            " correcting.",
        ),
        (
            [*STALE_CONTRACTS, permanent("2025-07-01")],
            date(2024, 5, 1),
            "nl",
            "Gaat uit dienst (later contract geregistreerd) (gepland)",
            "Dienstverband eindigt op 30 juni 2024 (begonnen 1 januari 2023); de einddatum is geregistreerd."
            " Er zijn 2 contracten geregistreerd na deze einddatum, het eerste vanaf 1 juli 2024: als het"
            " dienstverband wordt voortgezet, moet de einddatum worden gecorrigeerd.",
        ),
    ],
)
def test_19_the_end_names_a_later_contract_in_english_and_dutch_past_and_planned(
    contracts: list[dict[str, Any]],
    as_of: date,
    locale: str,
    title: str,
    description: str,
) -> None:
    employments = [job("2023-01-01", end=STALE_END, contracts=contracts)]
    events = build_timeline(person(), employments, as_of=as_of, locale=locale)
    ended = one(events, CONTRACT_ENDED)
    assert (ended.event_title, ended.event_description) == (title, description)
    assert ended.event_data["planned"] is (as_of < date(2024, 6, 30))
    if locale == "nl":
        assert not _ENGLISH.findall(f"{ended.event_title} || {ended.event_description}")


@pytest.mark.parametrize(
    ("locale", "description"),
    [
        (
            "en",
            "The fixed-term contract from 1 Jan 2023 ran until 31 Mar 2024 and no follow-up contract is"
            " registered before the employment's registered end date, 30 Jun 2024; the next contract"
            " registered starts on 1 Jul 2024, after that end. Working on after it expired continues the"
            " contract on the same terms (art. 7:668 lid 4 BW): register the follow-up contract, or correct"
            " the end date of the employment.",
        ),
        (
            "nl",
            "Het contract voor bepaalde tijd vanaf 1 januari 2023 liep tot 31 maart 2024 en er is geen"
            " vervolgcontract geregistreerd vóór de geregistreerde einddatum van het dienstverband, 30 juni"
            " 2024; het volgende geregistreerde contract begint op 1 juli 2024, na die einddatum. Doorwerken"
            " na afloop zet het contract voort onder dezelfde voorwaarden (art. 7:668 lid 4 BW): registreer"
            " het vervolgcontract, of corrigeer de einddatum van het dienstverband.",
        ),
    ],
)
def test_19_a_lapse_before_a_stale_end_names_the_contract_registered_after_it(
    locale: str, description: str
) -> None:
    # The contract ran out on 31 Mar, the end is 30 Jun, the renewal is from 1 Jul: the lapse read "no
    # follow-up contract is registered", though one is, from after the end that may be stale.
    contracts = [fixed("2023-01-01", "2024-03-31"), fixed("2024-07-01", "2025-06-30")]
    employment = job("2023-01-01", end=STALE_END, contracts=contracts)
    events = build_timeline(person(), [employment], as_of=AS_OF, locale=locale)
    lapse = one(events, CONTRACT_EXPIRED_UNRENEWED)
    assert lapse.event_date == date(2024, 3, 31)
    assert lapse.event_description == description
    assert lapse.event_data["next_contract_date"] == "2024-07-01"
    # without a contract after the end the lapse reads as before, and carries no such key
    plain = build_timeline(
        person(), [job("2023-01-01", end=STALE_END, contracts=contracts[:1])], as_of=AS_OF, locale=locale
    )
    before = one(plain, CONTRACT_EXPIRED_UNRENEWED)
    assert "next_contract_date" not in before.event_data
    assert before.event_description.startswith(description.split(" en er is ")[0].split(" and no ")[0])
    assert "30 Jun 2024." in before.event_description or "30 juni 2024." in before.event_description


def test_19_a_contract_from_the_last_day_is_read_as_before() -> None:
    # From the last day, the contract was in effect while the employment ran: it is read (be7d174), and
    # its renewal stands beside the end on that day, so nothing is hidden and the end says no more. (One
    # from the next day is the case above: out of the contracts, named at the end.)
    on_the_day = [fixed("2023-01-01", "2024-06-29"), fixed("2024-06-30", "2025-06-30")]
    events = build([job("2023-01-01", end=STALE_END, contracts=on_the_day)])
    ended = one(events, CONTRACT_ENDED)
    assert ended.event_title == "Employment ended"
    assert ended.event_description == "Employment ended on 30 Jun 2024 (started 1 Jan 2023)."
    assert "after_end_contracts" not in ended.event_data
    assert one(events, CONTRACT_RENEWED).event_date == date(2024, 6, 30)


def test_19_what_is_no_contract_after_the_end_leaves_the_end_as_it_was() -> None:
    plain = "Employment ended on 30 Jun 2024 (started 1 Jan 2023)."

    def departure(events: list[TimelineEvent]) -> TimelineEvent:
        ended = one(events, CONTRACT_ENDED)
        assert (
            "after_end_contracts" not in ended.event_data and "after_end_start_date" not in ended.event_data
        )
        return ended

    # Pay and hours after the end are entered in bulk (a collective raise for everyone from 1 Jul):
    # no sign the person stayed. Still dropped, and still without a word (be7d174).
    bulk = job(
        "2023-01-01",
        end=STALE_END,
        contracts=STALE_CONTRACTS[:1],
        salary=[
            {"start_date": "2023-01-01", "month_wage": 3000},
            {"start_date": "2024-07-01", "month_wage": 3100},
        ],
        hours=[
            {"start_date": "2023-01-01", "hours_per_week": 40},
            {"start_date": "2024-07-01", "hours_per_week": 36},
        ],
    )
    events = build([bulk])
    assert departure(events).event_description == plain
    assert of(events, HOURS_CHANGE, *SALARY_TYPES) == []
    # A re-hire is a new employment, not a contract of the old one: the old one's end is a plain end.
    rehired = build(
        [
            job("2023-01-01", ident="old", end=STALE_END, contracts=STALE_CONTRACTS[:1]),
            job("2024-09-01", ident="new", contracts=[fixed("2024-09-01", "2025-08-31")]),
        ]
    )
    assert departure(rehired).event_description == plain
    assert of(rehired, CONTRACT_STARTED)[-1].event_data["rehire"] is True
    # Out of service with no end date: nothing is dropped, so nothing is named; the last contract's
    # end dates the departure as before.
    left = build([job("2023-01-01", contracts=STALE_CONTRACTS)], as_of=LATER, status="out_of_service")
    gone = departure(left)
    assert (gone.event_date, gone.event_data["reason"]) == (date(2025, 6, 30), "out_of_service")
    assert one(left, CONTRACT_RENEWED).event_date == date(2024, 7, 1)


# ---------------------------------------- 20. two employments ending on one day: one departure, all of it
# Two employments of one person that end on the same day are one departure (the person leaves once),
# told by the one that sorts last. What the other one's end says must not be lost in the fold.

MAIN_STALE = job("2023-01-01", ident="main", end=STALE_END, contracts=STALE_CONTRACTS)
SIDE = job("2024-01-01", ident="side", end=STALE_END, contracts=[fixed("2024-01-01", STALE_END)])


@pytest.mark.parametrize(
    ("as_of", "locale", "title", "caveat"),
    [
        (
            AS_OF,
            "en",
            "Employment ended (later contract registered)",
            " A contract from 1 Jul 2024 is registered after this end date: if the employment continued, its"
            " end date needs correcting.",
        ),
        (
            AS_OF,
            "nl",
            "Uit dienst (later contract geregistreerd)",
            " Er is een contract vanaf 1 juli 2024 geregistreerd na deze einddatum: als het dienstverband is"
            " voortgezet, moet de einddatum worden gecorrigeerd.",
        ),
        (
            date(2024, 5, 1),
            "en",
            "Employment ends (later contract registered) (planned)",
            " A contract from 1 Jul 2024 is registered after this end date: if the employment continues, its"
            " end date needs correcting.",
        ),
        (
            date(2024, 5, 1),
            "nl",
            "Gaat uit dienst (later contract geregistreerd) (gepland)",
            " Er is een contract vanaf 1 juli 2024 geregistreerd na deze einddatum: als het dienstverband"
            " wordt voortgezet, moet de einddatum worden gecorrigeerd.",
        ),
    ],
)
def test_20_a_contract_after_the_end_of_the_employment_folded_into_the_departure_is_named(
    as_of: date, locale: str, title: str, caveat: str
) -> None:
    # The main job's end may be stale (a renewal from 1 Jul 2024 is registered after it); a side job ends
    # on the same day and, starting later, tells the one departure. It read "Employment ended" as plain
    # fact, the caveat of the main job gone with its folded end.
    events = build_timeline(person(), [MAIN_STALE, SIDE], as_of=as_of, locale=locale)
    ended = one(events, CONTRACT_ENDED)
    assert ended.event_data["employment_id"] == "side"  # the same event (key) as before: only its words
    assert ended.event_title == title
    assert caveat in ended.event_description
    assert (ended.event_data["after_end_contracts"], ended.event_data["after_end_start_date"]) == (
        1,
        "2024-07-01",
    )
    if locale == "nl":
        assert not _ENGLISH.findall(f"{ended.event_title} || {ended.event_description}")


def test_20_every_contract_after_a_same_day_end_is_counted_and_the_first_named() -> None:
    # Both ends may be stale: the count is of every contract registered after that day's ends, the date
    # the earliest start among them, whichever employment it belongs to and whichever tells the day.
    side = job(
        "2024-01-01",
        ident="side",
        end=STALE_END,
        contracts=[fixed("2024-01-01", STALE_END), fixed("2024-09-01", "2025-08-31")],
    )
    for employments in ([MAIN_STALE, side], [side, MAIN_STALE]):
        ended = one(build(employments), CONTRACT_ENDED)
        assert ended.event_data["employment_id"] == "side"
        assert (ended.event_data["after_end_contracts"], ended.event_data["after_end_start_date"]) == (
            2,
            "2024-07-01",
        )
        assert "2 contracts are registered after this end date, the first from 1 Jul 2024" in (
            ended.event_description
        )
    # The one that tells the day had the caveat already: it is as it was.
    later = job("2024-01-01", ident="side", end=STALE_END, contracts=[fixed("2024-01-01", STALE_END)])
    main = job("2023-01-01", ident="main", end=STALE_END, contracts=STALE_CONTRACTS[:1])
    stale_side = {**later, "contracts": [*later["contracts"], fixed("2024-07-01", "2025-06-30")]}
    ended = one(build([main, stale_side]), CONTRACT_ENDED)
    assert (ended.event_data["after_end_contracts"], ended.event_data["after_end_start_date"]) == (
        1,
        "2024-07-01",
    )
    # Neither has one: the keys stay absent, so a stored departure is not rewritten.
    plain = one(build([main, later]), CONTRACT_ENDED)
    assert "after_end_contracts" not in plain.event_data and "after_end_start_date" not in plain.event_data
    assert plain.event_title == "Employment ended"


def test_20_a_registered_end_tells_the_day_before_an_end_dated_by_the_out_of_service_state() -> None:
    # Out of service: the main job's end is registered (31 Dec 2024); a later job nobody closed has its
    # last contract end the same day, so it dates its end too, and sorting last it told the departure:
    # "Out of service; the employment has no end date, so the end of the last contract dates the
    # departure", false of the day, whose end is registered. Before that day it was worse: an end dated by
    # the out-of-service state after as_of is not shown, and the registered end folded into it went with
    # it, so the notice given (shown as planned when alone) was not shown at all.
    employments = [
        job("2023-01-01", ident="main", end="2024-12-31", contracts=[permanent("2023-01-01")]),
        job("2024-03-01", ident="side", contracts=[fixed("2024-03-01", "2024-12-31")]),
    ]
    for as_of, title, description in (
        (AS_OF, "Employment ended", "Employment ended on 31 Dec 2024 (started 1 Jan 2023)."),
        (
            date(2024, 12, 1),
            "Employment ends (planned)",
            "Employment ends on 31 Dec 2024 (started 1 Jan 2023); the end date is registered.",
        ),
    ):
        events = build(employments, as_of, status="out_of_service")
        ended = one(events, CONTRACT_ENDED)
        assert (ended.event_date, ended.event_data["employment_id"]) == (date(2024, 12, 31), "main")
        assert ended.event_data["reason"] == "employment_ended"
        assert ended.event_data["contract_duration"] == "permanent"
        assert ended.event_title == title
        assert ended.event_description.startswith(description)
        # Neither the side job's last contract nor the main job's is a lapse: both ended with the person.
        assert not of(events, CONTRACT_EXPIRED_UNRENEWED)
    # The out-of-service state still dates a departure on its own day, as before.
    alone = build([employments[1]], status="out_of_service")
    assert one(alone, CONTRACT_ENDED).event_data["reason"] == "out_of_service"


@pytest.mark.parametrize(
    ("as_of", "locale", "description"),
    [
        (
            AS_OF,
            "en",
            "Employment ended on 31 Dec 2024 (started 1 Mar 2024). Another employment, started 1 Jan 2015,"
            " ended on the same day.",
        ),
        (
            AS_OF,
            "nl",
            "Dienstverband beëindigd op 31 december 2024 (begonnen 1 maart 2024). Een ander dienstverband,"
            " begonnen 1 januari 2015, is op dezelfde dag beëindigd.",
        ),
        (
            date(2024, 12, 1),
            "en",
            "Employment ends on 31 Dec 2024 (started 1 Mar 2024); the end date is registered. Another"
            " employment, started 1 Jan 2015, ends on the same day.",
        ),
        (
            date(2024, 12, 1),
            "nl",
            "Dienstverband eindigt op 31 december 2024 (begonnen 1 maart 2024); de einddatum is"
            " geregistreerd. Een ander dienstverband, begonnen 1 januari 2015, eindigt op dezelfde dag.",
        ),
    ],
)
def test_20_the_departure_says_that_another_employment_ended_the_same_day(
    as_of: date, locale: str, description: str
) -> None:
    # A permanent main job since 2015 and a side job from March 2024 both closed on 31 Dec 2024. The one
    # departure, told by the side job, read "Employment ended on 31 Dec 2024 (started 1 Mar 2024)": the
    # main job's end was said nowhere, so its 2015 start stood open in the timeline as if it ran on, and
    # the person's departure read as that of someone employed since March 2024.
    employments = [
        job("2015-01-01", ident="main", end="2024-12-31", contracts=[permanent("2015-01-01")]),
        job("2024-03-01", ident="side", end="2024-12-31", contracts=[fixed("2024-03-01", "2024-12-31")]),
    ]
    events = build_timeline(person(), employments, as_of=as_of, locale=locale)
    ended = one(events, CONTRACT_ENDED)
    assert ended.event_data["employment_id"] == "side"  # the same event (key) as before
    assert ended.event_key == one(build([employments[1]], as_of), CONTRACT_ENDED).event_key
    assert ended.event_description == description
    assert (ended.event_data["also_ended_employments"], ended.event_data["also_ended_start_date"]) == (
        1,
        "2015-01-01",
    )
    if locale == "nl":
        assert not _ENGLISH.findall(f"{ended.event_title} || {ended.event_description}")


def test_20_several_employments_ending_with_the_departure_are_counted_and_the_first_start_named() -> None:
    employments = [
        job("2018-05-01", ident="b", end="2024-12-31"),
        job("2015-01-01", ident="a", end="2024-12-31"),
        job("2024-03-01", ident="c", end="2024-12-31", contracts=[fixed("2024-03-01", "2024-12-31")]),
    ]
    for locale, sentence in (
        ("en", " 2 other employments, the first started 1 Jan 2015, ended on the same day."),
        ("nl", " Nog 2 dienstverbanden, het eerste begonnen 1 januari 2015, zijn op dezelfde dag beëindigd."),
    ):
        ended = one(build_timeline(person(), employments, as_of=AS_OF, locale=locale), CONTRACT_ENDED)
        assert ended.event_data["employment_id"] == "c"
        assert ended.event_description.endswith(sentence)
        assert (ended.event_data["also_ended_employments"], ended.event_data["also_ended_start_date"]) == (
            2,
            "2015-01-01",
        )
    planned = one(build_timeline(person(), employments, as_of=date(2024, 12, 1), locale="nl"), CONTRACT_ENDED)
    assert planned.event_description.endswith(
        " Nog 2 dienstverbanden, het eerste begonnen 1 januari 2015, eindigen op dezelfde dag."
    )
    english = one(build(employments, date(2024, 12, 1)), CONTRACT_ENDED)
    assert english.event_description.endswith(
        " 2 other employments, the first started 1 Jan 2015, end on the same day."
    )


def test_20_an_end_that_is_not_on_the_departure_day_adds_nothing_to_it() -> None:
    # An end on another day is no fold: one that the later end continues (a job closed before the last),
    # or one a day apart (closed on 30 Dec, the other on 31 Dec), leaves the departure as it was, without
    # the new keys, so a stored one is not rewritten.
    for earlier in ("2024-06-30", "2024-12-30"):
        events = build(
            [
                job("2015-01-01", ident="main", end=earlier),
                job("2024-03-01", ident="side", end="2024-12-31"),
            ]
        )
        ended = one(events, CONTRACT_ENDED)
        assert ended.event_description == "Employment ended on 31 Dec 2024 (started 1 Mar 2024)."
        assert not {"also_ended_employments", "also_ended_start_date"} & set(ended.event_data)


def test_20_the_employment_folded_into_the_departure_reports_no_lapse_at_its_end() -> None:
    # The folded end still dates that employment's leaving: its fixed-term contract that ran out on the
    # day is no lapse; one that ran out earlier, before its registered end, still is, naming that end.
    employments = [
        job("2023-01-01", ident="main", end="2024-12-31", contracts=[fixed("2023-01-01", "2024-12-31")]),
        job("2024-03-01", ident="side", end="2024-12-31", contracts=[fixed("2024-03-01", "2024-12-31")]),
    ]
    assert not of(build(employments), CONTRACT_EXPIRED_UNRENEWED)
    employments[0]["contracts"] = [fixed("2023-01-01", "2024-06-30")]
    lapse = one(build(employments), CONTRACT_EXPIRED_UNRENEWED)
    assert (lapse.event_data["employment_id"], lapse.event_data["employment_end_date"]) == (
        "main",
        "2024-12-31",
    )


def test_every_phrase_of_the_wording_has_an_english_and_a_dutch_form() -> None:
    from employes_sync.timeline.wording import _EN, _NL

    assert set(_EN.phrases) == set(_NL.phrases)
    # Every planned form is the future of a phrase that exists (a typo in the key would fall back to none).
    for key in _EN.phrases:
        if key.endswith(".planned"):
            assert key.removesuffix(".planned") in _EN.phrases, key


def test_20_out_of_service_dates_every_employment_that_ran_until_the_last_day_not_only_one() -> None:
    # Out of service: an open job's fixed-term contract ran until 31 Dec 2024, the day a later job closed
    # (or, nobody having closed either, the day the later job's contract ran until too). Only the one
    # sorting last was dated by the out-of-service state, so the other's contract, ending the day the
    # person left, read "Fixed-term contract expired, no follow-up registered ... Working on after it
    # expired continues the contract", beside "Employment ended" on that same day.
    open_job = job("2023-01-01", ident="open", contracts=[fixed("2023-01-01", "2024-12-31")])
    for later_end in ("2024-12-31", None):
        later = job("2024-03-01", ident="later", end=later_end, contracts=[fixed("2024-03-01", "2024-12-31")])
        events = build([open_job, later], status="out_of_service")
        assert not of(events, CONTRACT_EXPIRED_UNRENEWED), later_end
        ended = one(events, CONTRACT_ENDED)
        assert (ended.event_date, ended.event_data["employment_id"]) == (date(2024, 12, 31), "later")
        assert ended.event_data["reason"] == ("employment_ended" if later_end else "out_of_service")
        assert (ended.event_data["also_ended_employments"], ended.event_data["also_ended_start_date"]) == (
            1,
            "2023-01-01",
        )
        # In either order: the open job sorting last is dated by the state, the registered end tells it.
        swapped = build(
            [
                {**open_job, "start_date": "2024-06-01", "contracts": [fixed("2024-06-01", "2024-12-31")]},
                later,
            ],
            status="out_of_service",
        )
        assert not of(swapped, CONTRACT_EXPIRED_UNRENEWED), later_end
        assert len(of(swapped, CONTRACT_ENDED)) == 1
    # Still at work in either (paid after that day): they left on a day not known, so no departure, and
    # what ran out is the lapse for HR to check, as for one employment alone.
    paid_on = {**open_job, "salary": [monthly("2023-01-01", 3000), monthly("2025-01-01", 3100)]}
    later = job("2024-03-01", ident="later", contracts=[fixed("2024-03-01", "2024-12-31")])
    events = build([paid_on, later], status="out_of_service")
    assert not of(events, CONTRACT_ENDED)
    assert {e.event_data["employment_id"] for e in of(events, CONTRACT_EXPIRED_UNRENEWED)} == {
        "open",
        "later",
    }
