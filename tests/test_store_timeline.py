"""Timeline writes: one statement, idempotent, stale events removed, text stored verbatim."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from employes_sync.store import timeline

SCOPE = "default/acme"


@dataclass(frozen=True)
class Event:
    """Shaped like employes_sync.timeline.TimelineEvent, so this test stands on its own."""

    employee_id: str
    event_type: str
    event_date: date
    event_title: str
    event_description: str
    event_data: dict[str, Any] = field(default_factory=dict)
    event_key: str = ""


def events_of(employee_id: str, n: int, title: str = "Salary increase") -> list[Event]:
    start = date(2020, 1, 1)
    return [
        Event(
            employee_id, "salary_increase", start + timedelta(days=30 * i), title, f"+€{i}", {"i": i}, f"k{i}"
        )
        for i in range(n)
    ]


async def test_second_write_inserts_nothing(store_pool: AsyncConnectionPool) -> None:
    events = events_of("a", 5) + events_of("b", 3)
    first = await timeline.write_events(store_pool, SCOPE, ["a", "b"], events)
    assert (first.inserted, first.removed) == (8, 0)
    second = await timeline.write_events(store_pool, SCOPE, ["a", "b"], events)
    assert (second.inserted, second.removed) == (0, 0)
    assert await timeline.employees_with_events(store_pool, SCOPE) == 2


async def test_events_no_longer_derived_are_removed(store_pool: AsyncConnectionPool) -> None:
    await timeline.write_events(store_pool, SCOPE, ["a", "b", "c"], events_of("a", 5) + events_of("b", 3))
    await timeline.write_events(store_pool, "other/scope", ["a"], events_of("a", 5))
    # a lost two events, b lost all of its events; c never had any
    result = await timeline.write_events(store_pool, SCOPE, ["a", "b", "c"], events_of("a", 3))
    assert (result.inserted, result.removed) == (0, 5)
    assert [e["event_key"] for e in await timeline.events_for(store_pool, SCOPE, "a")] == ["k0", "k1", "k2"]
    assert await timeline.events_for(store_pool, SCOPE, "b") == []
    # other scopes and other employees are not touched
    assert len(await timeline.events_for(store_pool, "other/scope", "a")) == 5


async def test_writing_some_employees_leaves_the_others(store_pool: AsyncConnectionPool) -> None:
    await timeline.write_events(store_pool, SCOPE, ["a", "b"], events_of("a", 2) + events_of("b", 2))
    result = await timeline.write_events(store_pool, SCOPE, ["a"], events_of("a", 4))
    assert (result.inserted, result.removed) == (2, 0)
    assert len(await timeline.events_for(store_pool, SCOPE, "b")) == 2


async def test_events_come_back_oldest_first_with_their_data(store_pool: AsyncConnectionPool) -> None:
    events = list(reversed(events_of("a", 4)))
    await timeline.write_events(store_pool, SCOPE, ["a"], events)
    stored = await timeline.events_for(store_pool, SCOPE, "a")
    assert [e["event_date"] for e in stored] == sorted(e.event_date for e in events)
    assert stored[0]["event_data"] == {"i": 0}
    assert stored[0]["event_description"] == "+€0"
    assert stored[0]["change_id"] is None


async def test_mappings_are_accepted_too(store_pool: AsyncConnectionPool) -> None:
    event = {
        "employee_id": "a",
        "event_type": "employee_added",
        "event_date": "2024-05-01",
        "event_title": "Joined",
        "event_description": None,
        "event_data": None,
        "event_key": "added",
    }
    assert (await timeline.write_events(store_pool, SCOPE, ["a"], [event])).inserted == 1
    assert (await timeline.events_for(store_pool, SCOPE, "a"))[0]["event_data"] == {}


async def test_awkward_text_is_stored_verbatim(store_pool: AsyncConnectionPool) -> None:
    titles = [
        "O'Brien's raise",
        "'; DELETE FROM employes_timeline_v2; --",
        "Zoë 🎉 李",
        "%(scope)s {x}",
        "y" * 100_000,
    ]
    events = [
        Event("a", "hours_change", date(2024, 1, i + 1), t, t[::-1], {"note": t}, f"k{i}")
        for i, t in enumerate(titles)
    ]
    await timeline.write_events(store_pool, SCOPE, ["a"], events)
    stored = await timeline.events_for(store_pool, SCOPE, "a")
    assert [e["event_title"] for e in stored] == titles
    assert [e["event_description"] for e in stored] == [t[::-1] for t in titles]
    assert [e["event_data"]["note"] for e in stored] == titles


async def test_five_thousand_employees_in_one_write(store_pool: AsyncConnectionPool) -> None:
    ids = [f"emp-{i}" for i in range(5000)]
    events = [e for i in ids for e in events_of(i, 4)]
    first = await timeline.write_events(store_pool, SCOPE, ids, events)
    assert first.inserted == 20_000
    again = await timeline.write_events(store_pool, SCOPE, ids, events)
    assert (again.inserted, again.removed) == (0, 0)


async def test_changed_content_under_the_same_key_is_updated_and_counted(
    store_pool: AsyncConnectionPool,
) -> None:
    """Issue 12 item 2: ON CONFLICT updates a row whose content differs, and only such a row."""
    events = events_of("a", 3)
    await timeline.write_events(store_pool, SCOPE, ["a"], events)
    corrected = [
        events[0],
        dataclasses.replace(events[1], event_title="Salary increase (+€2.00/month)"),
        dataclasses.replace(events[2], event_data={"i": 2, "planned": False}),
    ]
    result = await timeline.write_events(store_pool, SCOPE, ["a"], corrected)
    assert (result.inserted, result.updated, result.removed) == (0, 2, 0)
    stored = await timeline.events_for(store_pool, SCOPE, "a")
    assert [e["event_title"] for e in stored] == [
        "Salary increase",
        "Salary increase (+€2.00/month)",
        "Salary increase",
    ]
    assert stored[2]["event_data"] == {"i": 2, "planned": False}
    assert [e["updated_at"] is not None for e in stored] == [False, True, True]
    again = await timeline.write_events(store_pool, SCOPE, ["a"], corrected)
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)


async def test_a_moved_date_is_an_update_and_events_of_one_day_sort_by_their_order(
    store_pool: AsyncConnectionPool,
) -> None:
    day = date(2024, 1, 1)
    first = [
        {**_row("a", "added", day, "employee_added"), "event_order": 40},
        {**_row("a", "start", day, "contract_started"), "event_order": 20},
        {**_row("a", "end", day, "contract_ended"), "event_order": 10},
    ]
    await timeline.write_events(store_pool, SCOPE, ["a"], first)
    assert [e["event_type"] for e in await timeline.events_for(store_pool, SCOPE, "a")] == [
        "contract_ended",
        "contract_started",
        "employee_added",
    ]
    moved = [{**first[2], "event_date": date(2024, 3, 31)}, *first[:2]]
    result = await timeline.write_events(store_pool, SCOPE, ["a"], moved)
    assert (result.inserted, result.updated, result.removed) == (0, 1, 0)


def _row(employee_id: str, key: str, day: date, event_type: str) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "event_type": event_type,
        "event_date": day,
        "event_title": event_type,
        "event_description": "",
        "event_data": {},
        "event_key": key,
    }


def _stored(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    fields = ("event_key", "event_type", "event_date", "event_title", "event_description", "event_data")
    return sorted(tuple(row[f] for f in fields) for row in rows)


async def test_builder_rows_follow_corrections_and_time_like_a_new_database(
    store_pool: AsyncConnectionPool,
) -> None:
    """Real builder output: a planned end corrected, a renewal signed, a raise corrected.

    The old rows are updated in place (no duplicates, nothing re-added), and end equal to what a scope
    written from scratch holds; moving as_of past a planned raise, then past the planned end, is an
    update of that one row each time. (The end stays after the raise: a raise from after the end is
    not read, it never took effect.)
    """
    from employes_sync.timeline import build_timeline

    employee = {"id": "e-7", "first_name": "Daan", "surname": "Smit", "status": "active"}

    def employments(end: str, signed: bool, wage: str) -> list[dict[str, Any]]:
        return [
            {
                "id": "job-7",
                "start_date": "2021-03-01",
                "end_date": end,
                "contracts": [
                    {"start_date": "2021-03-01", "end_date": "2022-02-28", "contract_duration": "definite"},
                    {"start_date": "2022-03-01", "contract_duration": "permanent", "is_signed": signed},
                ],
                "salary": [
                    {"start_date": "2021-03-01", "month_wage": "3000.00"},
                    {"start_date": "2025-07-01", "month_wage": wage},
                ],
                "hours": [{"start_date": "2021-03-01", "hours_per_week": 36, "days_per_week": 4.5}],
            }
        ]

    as_of = date(2025, 6, 1)
    before = build_timeline(employee, employments("2025-09-30", False, "3210.50"), as_of=as_of)
    first = await timeline.write_events(store_pool, SCOPE, ["e-7"], before)
    assert (first.inserted, first.updated, first.removed) == (len(before), 0, 0)
    assert sum(e.event_data["planned"] for e in before) == 2  # the end and the raise

    corrected = employments("2025-08-31", True, "3250.00")
    after = build_timeline(employee, corrected, as_of=as_of)
    assert {e.event_key for e in after} == {e.event_key for e in before}
    result = await timeline.write_events(store_pool, SCOPE, ["e-7"], after)
    assert (result.inserted, result.updated, result.removed) == (0, 3, 0)
    fresh = await timeline.write_events(store_pool, "fresh/scope", ["e-7"], after)
    assert fresh.inserted == len(after)
    stored = await timeline.events_for(store_pool, SCOPE, "e-7")
    assert _stored(stored) == _stored(await timeline.events_for(store_pool, "fresh/scope", "e-7"))
    ended = next(e for e in stored if e["event_type"] == "contract_ended")
    assert (ended["event_date"], ended["event_title"]) == (date(2025, 8, 31), "Employment ends (planned)")
    assert ended["event_data"]["planned"] is True
    assert not any("(not yet signed)" in e["event_title"] for e in stored)
    raised = next(e for e in stored if e["event_type"] == "salary_increase")
    assert raised["event_title"] == "Salary increase (+€250.00/month) (planned)"

    unchanged = await timeline.write_events(store_pool, SCOPE, ["e-7"], after)
    assert (unchanged.inserted, unchanged.updated, unchanged.removed) == (0, 0, 0)
    later = build_timeline(employee, corrected, as_of=date(2025, 7, 1))
    came = await timeline.write_events(store_pool, SCOPE, ["e-7"], later)
    assert (came.inserted, came.updated, came.removed) == (0, 1, 0)
    stored = await timeline.events_for(store_pool, SCOPE, "e-7")
    raised = next(e for e in stored if e["event_type"] == "salary_increase")
    assert (raised["event_title"], raised["event_data"]["planned"]) == (
        "Salary increase (+€250.00/month)",
        False,
    )
    gone = build_timeline(employee, corrected, as_of=date(2025, 9, 1))
    left = await timeline.write_events(store_pool, SCOPE, ["e-7"], gone)
    assert (left.inserted, left.updated, left.removed) == (0, 1, 0)
    stored = await timeline.events_for(store_pool, SCOPE, "e-7")
    ended = next(e for e in stored if e["event_type"] == "contract_ended")
    assert (ended["event_title"], ended["event_data"]["planned"]) == ("Employment ended", False)


async def test_a_stored_departure_with_a_contract_after_its_end_is_rewritten_on_the_next_sync(
    store_pool: AsyncConnectionPool,
) -> None:
    """A timeline stored before the end named a later contract gets the new wording on the next sync.

    The builder dropped a contract that starts after the employment's registered end without a word, so
    what it stored equals what it builds from the same employment without that contract. The next
    write updates that one departure in place (its description and event_data differ, which is what
    the store compares), and nothing else: a departure with no contract after it carries no new keys,
    so its row is not touched. Once HR moves the end, the qualifier goes and the renewal is read.
    """
    from employes_sync.timeline import build_timeline

    as_of = date(2025, 6, 1)
    renewed = {"employee": {"id": "e-8", "first_name": "Noor", "surname": "Bakker", "status": "active"}}
    left = {"employee": {"id": "e-9", "first_name": "Ruben", "surname": "Kok", "status": "active"}}
    first = {"start_date": "2023-01-01", "end_date": "2024-06-30", "contract_duration": "definite"}
    renewal = {"start_date": "2024-07-01", "end_date": "2025-06-30", "contract_duration": "definite"}

    def employment(ident: str, end: str, contracts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": ident, "start_date": "2023-01-01", "end_date": end, "contracts": contracts}]

    def build(who: dict[str, Any], employments: list[dict[str, Any]]) -> list[Any]:
        return build_timeline(who["employee"], employments, as_of=as_of)

    stale = employment("job-8", "2024-06-30", [first, renewal])
    plain = build(left, employment("job-9", "2024-06-30", [first]))
    old_rows = build(renewed, employment("job-8", "2024-06-30", [first])) + plain
    await timeline.write_events(store_pool, SCOPE, ["e-8", "e-9"], old_rows)

    result = await timeline.write_events(store_pool, SCOPE, ["e-8", "e-9"], build(renewed, stale) + plain)
    assert (result.inserted, result.updated, result.removed) == (0, 1, 0)
    assert result.changed_ids == ("e-8",)
    ended = next(
        e for e in await timeline.events_for(store_pool, SCOPE, "e-8") if e["event_type"] == "contract_ended"
    )
    assert ended["event_title"] == "Employment ended (later contract registered)"
    assert "A contract from 1 Jul 2024 is registered after this end date" in ended["event_description"]
    assert (ended["event_data"]["after_end_contracts"], ended["event_data"]["after_end_start_date"]) == (
        1,
        "2024-07-01",
    )
    again = await timeline.write_events(store_pool, SCOPE, ["e-8", "e-9"], build(renewed, stale) + plain)
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)

    corrected = build(renewed, employment("job-8", "2025-06-30", [first, renewal]))
    fixed = await timeline.write_events(store_pool, SCOPE, ["e-8"], corrected)
    assert (fixed.inserted, fixed.updated, fixed.removed) == (1, 1, 0)  # the renewal, and the end moved
    stored = await timeline.events_for(store_pool, SCOPE, "e-8")
    ended = next(e for e in stored if e["event_type"] == "contract_ended")
    assert (ended["event_date"], ended["event_title"]) == (date(2025, 6, 30), "Employment ends (planned)")
    assert "after_end_contracts" not in ended["event_data"]
    assert [e["event_date"] for e in stored if e["event_type"] == "contract_renewed"] == [date(2024, 7, 1)]
