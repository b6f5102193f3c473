"""Issue 12's "done when" on the demo data: the simulator's company as an HR reader sees it.

The demo's 78 employees (and larger companies, whose first 78 are the same) show no false departure and
no salary event explained by hours, and every case the timeline handles comes up at least once.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from employes_sync.employes.fakedata import AS_OF, SimEmployee, generate_company
from employes_sync.timeline import (
    CONTRACT_ENDED,
    EVENT_TYPES,
    HOURS_CHANGE,
    SALARY_DECREASE,
    SALARY_INCREASE,
    TimelineEvent,
    build_timeline,
)

DEMO = 78


def timeline(person: SimEmployee, locale: str = "en") -> list[TimelineEvent]:
    return build_timeline(person.employee, person.employments or None, as_of=AS_OF, locale=locale)


@pytest.fixture(scope="module")
def demo() -> list[tuple[SimEmployee, list[TimelineEvent]]]:
    return [(person, timeline(person)) for person in generate_company(DEMO)]


def _ends(person: SimEmployee) -> set[str]:
    return {e["end_date"][:10] for e in person.employments if e.get("end_date")}


def test_no_false_departures(demo: list[tuple[SimEmployee, list[TimelineEvent]]]) -> None:
    for person, events in demo:
        for event in events:
            if event.event_type != CONTRACT_ENDED:
                continue
            # A departure is the end of an employment, or the employee being out of service.
            assert event.event_data["end_date"] in _ends(person) or person.employee["status"] != "active"
        if person.employee["status"] == "active" and not any(
            date.fromisoformat(end) <= AS_OF for end in _ends(person)
        ):
            assert not [e for e in events if e.event_type == CONTRACT_ENDED and not e.event_data["planned"]]


def test_no_salary_event_is_explained_by_hours(demo: list[tuple[SimEmployee, list[TimelineEvent]]]) -> None:
    for _, events in demo:
        for event in events:
            if event.event_type not in (SALARY_INCREASE, SALARY_DECREASE):
                continue
            data = event.event_data
            if data["from_hour_wage"] and data["to_hour_wage"]:
                assert data["from_hour_wage"] != data["to_hour_wage"], event
            assert abs(data["percentage"]) >= 0.05, event


def test_every_case_comes_up(demo: list[tuple[SimEmployee, list[TimelineEvent]]]) -> None:
    seen: Counter[str] = Counter()
    for _, events in demo:
        for event in events:
            data = event.event_data
            seen[event.event_type] += 1
            seen["planned " + event.event_type] += bool(data["planned"])
            seen["unsigned"] += data.get("is_signed") is False
            seen["chain reset"] += bool(data.get("chain_reset"))
            seen["chain past the maximum"] += bool(data.get("chain_exceeds_legal_maximum"))
            seen["converted pay"] += bool(data.get("converted"))
            if event.event_type == HOURS_CHANGE:
                seen["days only"] += data["from_hours_per_week"] == data["to_hours_per_week"]
    assert EVENT_TYPES <= set(seen)
    for case in (
        "planned salary_increase",
        "planned contract_renewed",
        "planned contract_ended",
        "unsigned",
        "chain reset",
        "chain past the maximum",
        "converted pay",
        "days only",
    ):
        assert seen[case] >= 1, case


def test_every_chain_past_the_legal_maximum_is_the_one_kept_on_purpose(
    demo: list[tuple[SimEmployee, list[TimelineEvent]]],
) -> None:
    for person, events in demo:
        flagged = [e for e in events if e.event_data.get("chain_exceeds_legal_maximum")]
        if flagged:
            contracts = [c for e in person.employments for c in e["contracts"]]
            assert sum(c["contract_duration"] == "definite" for c in contracts) == 4, person.id


def test_the_dutch_demo_reads_dutch(demo: list[tuple[SimEmployee, list[TimelineEvent]]]) -> None:
    person = next(p for p, events in demo if any(e.event_type == SALARY_INCREASE for e in events))
    dutch = timeline(person, "nl")
    assert [e.event_key for e in dutch] == [e.event_key for e in timeline(person)]
    assert any(e.event_title.startswith("Salarisverhoging (+€ ") for e in dutch)
