"""The rules: an employee's parsed periods -> the events of their timeline.

Each rule writes facts into ``event_data`` (amounts included, so an application can choose to show
them); the wording turns those facts into a title and a description. Nothing here depends on ``as_of``
except which lapsed contracts are reported, whether a contract's end dates the departure of someone
out of service (not while it is still to come), and the ``planned`` mark the collector adds, so the
same input gives the same rows on every machine and every rebuild.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from . import contracts as c
from . import pay
from .events import Collector
from .kinds import (
    CONTRACT_ADDED,
    CONTRACT_ENDED,
    CONTRACT_EXPIRED_UNRENEWED,
    CONTRACT_RENEWED,
    CONTRACT_STARTED,
    EMPLOYEE_ADDED,
    HOURS_CHANGE,
    PAY_BASIS_CHANGE,
    SALARY_DECREASE,
    SALARY_INCREASE,
)
from .records import NEVER, Contract, Employee, Employment, Hours, Salary

EMPLOYMENT_ENDED = "employment_ended"
OUT_OF_SERVICE = "out_of_service"


def derive(person: Employee, out: Collector, as_of: date) -> None:
    _employee_added(person, out)
    chains = c.chains(person.employments)
    left = _left_on(person)
    ends = [_end_of(emp, left) for emp in person.employments]
    covered_until: date | None = None  # the last day any earlier employment runs (date.max: still open)
    for number, emp in enumerate(person.employments):
        # A re-hire starts after a day or more without any earlier employment: one that overlaps an
        # earlier one, or follows it the next day (closed on 31 Dec, opened on 1 Jan), is no re-hire.
        gap = c.gap_days(covered_until, emp.start) if covered_until is not None else 0
        _contract_started(out, emp, gap or None, chains)
        _contract_changes(out, emp, chains)
        # The hours each salary period's wage is paid for: those of its first day, or of the next.
        paid = pay.paid_hours(emp.salaries, emp.hours)
        _salary_changes(out, emp, paid)
        _hours_changes(out, emp, paid)
        left_on = _departure(out, person, emp, ends, number, as_of)
        _lapsed_contracts(out, person, emp, as_of, left_on)
        until = emp.end or NEVER
        if covered_until is None or until > covered_until:
            covered_until = until


def _employee_added(person: Employee, out: Collector) -> None:
    added = person.created or (person.employments[0].start if person.employments else None)
    if added is None:
        return
    out.add(
        EMPLOYEE_ADDED,
        added,
        {
            "name": person.name,
            "source": "dt_create" if person.created else "first_employment",
            # It dates the payroll record, which may be years after the employment began.
            "dates": "record",
        },
        EMPLOYEE_ADDED,
    )


def _wages(salary: Salary | None, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}month_wage": salary.month if salary else None,
        f"{prefix}hour_wage": salary.hour if salary else None,
        f"{prefix}yearly_wage": salary.year if salary else None,
    }


def _chain_data(contract: Contract | None, chains: dict[int, c.Chain]) -> dict[str, Any]:
    chain = chains.get(id(contract)) if contract is not None else None
    return {
        "chain_contracts": chain.position if chain else None,
        "chain_start_date": chain.start if chain else None,
        "chain_reset": chain.reset if chain else False,
        "chain_exceeds_legal_maximum": chain.exceeds_legal_maximum if chain else False,
    }


def _contract_started(out: Collector, emp: Employment, gap: int | None, chains: dict[int, c.Chain]) -> None:
    contract = emp.contracts[0] if emp.contracts else None
    hours = emp.hours[0] if emp.hours else None
    salary = emp.salaries[0] if emp.salaries else None
    # Only the nested current employment known: its terms are today's, from the latest start it states.
    terms_from = emp.terms_from if emp.current_terms else emp.start
    out.add(
        CONTRACT_STARTED,
        emp.start,
        {
            "employment_id": emp.id,
            "start_date": emp.start,
            "rehire": gap is not None,
            "gap_days": gap,
            "terms": "current" if emp.current_terms else "starting",
            "terms_from": terms_from,
            "contract_duration": contract.duration if contract else None,
            "contract_start_date": contract.start if contract else None,
            "contract_end_date": contract.end if contract else None,
            "is_signed": contract.is_signed if contract else None,
            "sign_date": contract.sign_date if contract else None,
            "hours_per_week": hours.hours if hours else None,
            "days_per_week": hours.days if hours else None,
            "employee_type": hours.employee_type if hours else None,
            "pay_basis": pay.pay_basis(salary) if salary else None,
            **_wages(salary),
            "currency": "EUR",
            **_chain_data(contract, chains),
        },
        CONTRACT_STARTED,
        emp.id,
    )


def _contract_changes(out: Collector, emp: Employment, chains: dict[int, c.Chain]) -> None:
    previous: Contract | None = None
    for index, contract in enumerate(emp.contracts):
        inside = c.is_alongside(contract, emp.contracts[:index])
        if inside is not None:
            out.add(
                CONTRACT_ADDED,
                contract.start,
                {
                    "employment_id": emp.id,
                    "contract_duration": contract.duration,
                    "start_date": contract.start,
                    "end_date": contract.end,
                    "is_signed": contract.is_signed,
                    "sign_date": contract.sign_date,
                    "alongside_contract_duration": inside.duration,
                    "alongside_start_date": inside.start,
                    "alongside_end_date": inside.end,
                },
                "contract",
                emp.id,
                contract.start,
            )
            continue
        if previous is not None:
            out.add(
                CONTRACT_RENEWED,
                contract.start,
                {
                    "employment_id": emp.id,
                    "contract_duration": contract.duration,
                    "start_date": contract.start,
                    "end_date": contract.end,
                    "previous_contract_duration": previous.duration,
                    "previous_start_date": previous.start,
                    "previous_end_date": previous.end,
                    "made_permanent": contract.duration == c.PERMANENT and previous.duration != c.PERMANENT,
                    "is_signed": contract.is_signed,
                    "sign_date": contract.sign_date,
                    "gap_days": c.gap_days(previous.end, contract.start),
                    **_chain_data(contract, chains),
                },
                "contract",
                emp.id,
                contract.start,
            )
        previous = contract


def _salary_changes(out: Collector, emp: Employment, paid: list[Decimal | None]) -> None:
    periods = list(zip(emp.salaries, paid, strict=True))
    for index, (prev, cur) in enumerate(pairwise(periods)):
        new_basis = pay.pay_basis(cur[0])
        if pay.pay_basis(prev[0]) != new_basis:
            out.add(
                PAY_BASIS_CHANGE,
                cur[0].start,
                {**_common(emp, prev, cur), "from_basis": pay.pay_basis(prev[0]), "to_basis": new_basis},
                PAY_BASIS_CHANGE,
                emp.id,
                cur[0].start,
            )
        across = False
        if not pay.comparable(prev[0], cur[0], prev[1], cur[1]):
            # No common footing (a new pay basis, hours unknown): compare with the last period paid
            # on the same basis, so 3,000/month, 20/hour, 3,500/month still shows the rise.
            earlier = [p for p in periods[:index] if pay.pay_basis(p[0]) == new_basis]
            if not earlier:
                continue
            prev, across = earlier[-1], True
        _salary_change(out, emp, prev, cur, across)


_Period = tuple[Salary, Decimal | None]


def _common(emp: Employment, prev: _Period, cur: _Period) -> dict[str, Any]:
    return {
        "employment_id": emp.id,
        "previous_start_date": prev[0].start,
        "from_hours_per_week": prev[1],
        "to_hours_per_week": cur[1],
        **_wages(prev[0], "from_"),
        **_wages(cur[0], "to_"),
        "currency": "EUR",
    }


def _salary_change(out: Collector, emp: Employment, prev: _Period, cur: _Period, across: bool) -> None:
    change = pay.compare(prev[0], cur[0], prev[1], cur[1])
    if change is None:
        return
    out.add(
        SALARY_INCREASE if change.amount > 0 else SALARY_DECREASE,
        cur[0].start,
        {
            **_common(emp, prev, cur),
            "basis": change.basis,
            "from": change.old,
            "to": change.new,
            "from_at_new_hours": change.reference if change.hours_adjusted else None,
            "amount": change.amount,
            "percentage": change.percentage,
            "hours_adjusted": change.hours_adjusted,
            "converted": change.converted,
            # Compared with an earlier period on the same pay basis, across a period on another.
            "across_basis_change": across,
        },
        "salary",
        emp.id,
        cur[0].start,
    )


def _hours_changes(out: Collector, emp: Employment, paid: list[Decimal | None]) -> None:
    rows: list[Hours] = emp.hours
    if not rows:
        return
    # A row that leaves a value out keeps the last known one: unknown is not a change.
    hours, days, kind = rows[0].hours, rows[0].days, rows[0].employee_type
    for row in rows[1:]:
        new_hours = row.hours if row.hours is not None else hours
        new_days = row.days if row.days is not None else days
        new_kind = row.employee_type or kind
        hours_changed = hours is not None and new_hours is not None and new_hours != hours
        days_changed = days is not None and new_days is not None and new_days != days
        if hours_changed or days_changed:
            before = pay.salary_before_hours(emp.salaries, paid, emp.hours, row.start)
            effect = pay.monthly_effect_of_hours(before, hours, new_hours) if hours_changed else None
            out.add(
                HOURS_CHANGE,
                row.start,
                {
                    "employment_id": emp.id,
                    "from_hours_per_week": hours,
                    "to_hours_per_week": new_hours,
                    "hours_difference": (new_hours - hours) if hours_changed else Decimal(0),  # type: ignore[operator]
                    "from_days_per_week": days,
                    "to_days_per_week": new_days,
                    "from_employee_type": kind,
                    "to_employee_type": new_kind,
                    # What the hours alone do to monthly pay, at the rate before: why no salary event.
                    "monthly_pay_effect": effect,
                    "currency": "EUR",
                },
                HOURS_CHANGE,
                emp.id,
                row.start,
            )
        hours, days, kind = new_hours, new_days, new_kind


def _runs_until(emp: Employment) -> date:
    """The last day the employment is known to run: its end, else its contracts' last end, else never."""
    if emp.end is not None:
        return emp.end
    ends = [contract.end for contract in emp.contracts]
    if ends and all(e is not None for e in ends):
        return max(e for e in ends if e is not None)
    return NEVER


def _left_on(person: Employee) -> date | None:
    """The day the out-of-service state dates the person's leaving, or None when it dates nothing.

    Left, but an employment was never closed: the last day any employment runs (its contracts' last
    end, for one nobody closed) is the best date there is; the employment that runs until then need not
    be the one that started last (a short one beside it may have started later). Every employment that
    runs until that day ended on it, not only the one sorting last: dated one at a time, the other's
    contract ending the day the person left read "expired, no follow-up registered" beside the departure.
    Unless a wage or hours period starting after that day, in any of them, shows the person was still
    paid then: they left on a day not known.
    """
    if not person.out_of_service:
        return None
    until = max((_runs_until(emp) for emp in person.employments), default=NEVER)
    if until == NEVER or any(
        _paid_after(emp, until) for emp in person.employments if _runs_until(emp) == until
    ):
        return None
    return until


def _end_of(emp: Employment, left: date | None) -> tuple[date, str] | None:
    """The day the employment ends and why, or None while it runs on."""
    if emp.end is not None:
        return emp.end, EMPLOYMENT_ENDED
    if left is not None and _runs_until(emp) == left:
        return left, OUT_OF_SERVICE
    return None


def _paid_after(emp: Employment, day: date) -> bool:
    """Whether a salary or hours period of the employment starts after ``day``."""
    return any(row.start > day for row in emp.salaries) or any(row.start > day for row in emp.hours)


def _tells(found: tuple[date, str], number: int) -> tuple[bool, int]:
    """Which of the ends on one day tells the one departure: the greatest.

    A registered end comes first: it is a fact, shown even while planned, where an end dated by the
    out-of-service state is a last contract's end read as the departure, and not shown while it is still
    to come. Told by the latter, the day read "the employment has no end date" although one is
    registered, and before it came the registered end was not shown at all. Then the one that sorts
    last (of two closed on one day, the one that started last).
    """
    return found[1] == EMPLOYMENT_ENDED, number


def _continued(
    person: Employee, ends: list[tuple[date, str] | None], number: int, mine: tuple[date, str]
) -> bool:
    """Whether another employment of the person runs on from the day after its end ``mine`` (or earlier).

    Such an end is no departure: the person works on under the other one (two ending on one day are
    one departure, told by the one `_tells` puts first). An open employment of someone out of service
    that was already running is no sign of work (nobody closed it), so it continues nothing; one opened
    on this end's day or the next was registered to follow it, so the person did not leave here, and
    when they did is not known.
    """
    end = mine[0]
    for other, (emp, other_end) in enumerate(zip(person.employments, ends, strict=True)):
        # Days, not end + 1 day: an end on date.max has no next day.
        if other == number or (emp.start - end).days > 1:
            continue
        if other_end is None:
            if not person.out_of_service or emp.start >= end:
                return True
        elif other_end[0] > end:
            return True
        elif other_end[0] == end and _tells(other_end, other) > _tells(mine, number):
            return True  # on the same day, and the other one tells it
    return False


def _departure(
    out: Collector,
    person: Employee,
    emp: Employment,
    ends: list[tuple[date, str] | None],
    number: int,
    as_of: date,
) -> date | None:
    """The end of the employment, or the out-of-service state, and nothing else (art. 7:668 lid 4 BW).

    Not when another employment runs on past it. Nor when the out-of-service state is dated by a
    contract end after ``as_of``: the person has already left, before that end, so "Employment ends
    (planned)" would say they are still there, and the day they left is not known (a registered end
    of the employment is a fact, and is shown as planned). Returns the day the employment ended
    either way, so a contract that ran out that day is not reported as lapsed too.

    Several ending on one day are one departure (the person leaves once), told by the one `_tells` puts
    first, under its key, with its start and contract; but it says what every one of those ends says
    (the contracts registered after them, and that the others ended too), since no other event does.
    """
    found = ends[number]
    if found is None:
        return None
    end, reason = found
    if _continued(person, ends, number, found) or (reason == OUT_OF_SERVICE and end > as_of):
        return end
    # The contract running at the end (not a shorter one that ran beside it); else the last one before.
    started = [k for k in emp.contracts if k.start <= end]
    running = [k for k in started if k.end is None or k.end >= end] or started
    contract = running[-1] if running else None
    # Every employment ending this day is folded into this one departure (`_continued`): what their
    # ends say is said here, or it is lost with them.
    same_day = [
        person.employments[n] for n, other in enumerate(ends) if other is not None and other[0] == end
    ]
    out.add(
        CONTRACT_ENDED,
        end,
        {
            "employment_id": emp.id,
            "reason": reason,
            "start_date": emp.start,
            "end_date": end,
            "contract_duration": contract.duration if contract else None,
            **_after_end([k for other in same_day for k in other.contracts_after_end]),
            **_also_ended([other for other in same_day if other is not emp]),
        },
        "departure",
        emp.id,
    )
    return end


def _next_after_end(emp: Employment) -> dict[str, Any]:
    """What a lapse says of the contract registered after the employment's end: its start.

    "No follow-up contract is registered" is not true when one is, from after the registered end (the
    end may be stale); the reader needs that date to see the gap between the lapse and it. Only there,
    as `_after_end`, so that no other stored lapse is rewritten.
    """
    if not emp.contracts_after_end:
        return {}
    return {"next_contract_date": emp.contracts_after_end[0].start}


def _after_end(after: list[Contract]) -> dict[str, Any]:
    """What the end says of the contracts registered after it: how many, and the first one's start.

    The end of an employment with a contract from after it may be stale (HR renewed the contract and
    never moved the end): "Employment ended" must then not stand as plain fact. ``after`` holds those of
    every employment ending that day, since the one departure stands for all of them: the caveat of one
    folded into another's departure went with it, and its end read as plain fact. The keys are there only
    when such a contract is: on every departure they would rewrite every stored one on the next sync
    with nothing to say, and count and announce each as changed.
    """
    if not after:
        return {}
    return {"after_end_contracts": len(after), "after_end_start_date": min(k.start for k in after)}


def _also_ended(folded: list[Employment]) -> dict[str, Any]:
    """What the departure says of the other employments ending the same day: how many, the first start.

    The one departure is told by one of them, with its own start: a permanent main job since 2015 closed
    on the day a side job from March 2024 closed read "Employment ended (started 1 Mar 2024)", the main
    job's end said nowhere, its start standing open as if it ran on. Present only when there is such an
    employment, as `_after_end`'s keys, so that no other stored departure is rewritten.
    """
    if not folded:
        return {}
    return {"also_ended_employments": len(folded), "also_ended_start_date": min(e.start for e in folded)}


def _lapsed_contracts(
    out: Collector, person: Employee, emp: Employment, as_of: date, left_on: date | None
) -> None:
    """Fixed-term contracts that ran out before ``as_of`` while the employment went on, with nothing after.

    Every contract is checked against all the others, so one inside a running permanent contract, or
    followed by a contract that starts later (in this employment or a later one), is not reported.
    """
    elsewhere: list[Contract] | None = None  # gathered for the first lapse only: most have none
    for contract in emp.contracts:
        end = contract.end
        if contract.duration != c.DEFINITE or end is None or end >= as_of:
            continue
        if left_on is not None and left_on <= end:
            continue
        if elsewhere is None:
            # Another employment's contract can follow one of an employment nobody closed; once this
            # one has a registered end, the time between the lapse and that end is what it reports.
            elsewhere = (
                [k for other in person.employments if other is not emp for k in other.contracts]
                if left_on is None
                else []
            )
        if c.has_follow_up(contract, emp.contracts, elsewhere):
            continue
        out.add(
            CONTRACT_EXPIRED_UNRENEWED,
            end,
            {
                "employment_id": emp.id,
                "contract_duration": contract.duration,
                "start_date": contract.start,
                "end_date": end,
                "is_signed": contract.is_signed,
                "employment_end_date": emp.end,
                **_next_after_end(emp),
            },
            CONTRACT_EXPIRED_UNRENEWED,
            emp.id,
            contract.start,
        )
