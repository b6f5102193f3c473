"""How an employee's contracts relate: renewals, contracts alongside another, chains, lapses.

Dutch law decides what the periods mean:
- art. 7:668 lid 4 BW: working on after a fixed-term contract expires continues it, so a contract that
  lapsed with no follow-up registered is something for HR to check, not a departure;
- art. 7:668a BW: fixed-term contracts that follow each other with intervals of at most six months form a
  chain; more than three contracts, or a chain longer than 36 months (intervals included), makes the
  contract that crosses the line permanent by law. These are the statutory defaults; a collective
  agreement (CAO) may allow more, so the flag is a prompt to check, not a verdict.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from .records import Contract, Employment

DEFINITE = "definite"
PERMANENT = "permanent"
#: Statutory chain limits (art. 7:668a BW).
CHAIN_MAX_CONTRACTS = 3
CHAIN_MAX_MONTHS = 36
CHAIN_MAX_INTERVAL_MONTHS = 6


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def whole_months(first: date, last: date) -> int:
    """Whole calendar months from ``first`` up to and including ``last`` (a gap's length)."""
    months = 0
    while months < 1200 and add_months(first, months + 1) <= last + timedelta(days=1):
        months += 1
    return months


def gap_days(end: date | None, start: date) -> int:
    """Days with nothing between a period ending on ``end`` and one starting on ``start``."""
    if end is None:
        return 0
    return max(0, (start - end).days - 1)


def interval_breaks_chain(end: date, start: date) -> bool:
    """More than six months between the two contracts (art. 7:668a lid 1).

    The interval runs from the day after ``end``; counted from ``end`` itself, a month-end would clamp
    (30 Jun + 6 months = 30 Dec) and an interval of exactly six months (1 Jul to 31 Dec) would break.
    """
    return start > add_months(end + timedelta(days=1), CHAIN_MAX_INTERVAL_MONTHS)


@dataclass(frozen=True, slots=True)
class Chain:
    position: int  # this contract's number in its chain of fixed-term contracts
    start: date  # the chain's first day
    reset: bool  # a gap of more than six months before this contract started a new chain
    exceeds_legal_maximum: bool


def is_alongside(contract: Contract, others: list[Contract]) -> Contract | None:
    """The contract this fixed-term one runs entirely inside of, if any: an addition, not a renewal.

    Only one that started earlier counts, so `others` may hold the contract itself and later ones; of
    several, the last listed is named.
    """
    if contract.duration != DEFINITE or contract.end is None:
        return None
    for other in reversed(others):
        if other.start < contract.start and (other.end is None or other.end >= contract.end):
            return other
    return None


def chains(employments: list[Employment]) -> dict[int, Chain]:
    """Each fixed-term contract's place in its chain, across employments (a re-hire can continue one).

    Keyed by ``id()`` of the contract; contracts alongside another are not part of any chain, and the
    nested-only fallback's contract has no known place in one. Alongside is checked across employments:
    a side job's contract inside the main job's runs beside it, not after it, wherever it is registered.
    """
    # Only today's contract is known of the nested fallback, not the ones before it: no place in a chain.
    known = [contract for emp in employments if not emp.current_terms for contract in emp.contracts]
    ordered = [contract for contract in known if is_alongside(contract, known) is None]
    ordered.sort(key=lambda c: c.start)
    result: dict[int, Chain] = {}
    previous: Contract | None = None
    position = 0
    start = date.min
    for contract in ordered:
        if previous is not None and _same_period(previous, contract):
            # The same contract listed twice (a duplicated employment) is one contract of the chain.
            if id(previous) in result:
                result[id(contract)] = result[id(previous)]
            continue
        if contract.duration != DEFINITE:
            previous, position = contract, 0
            continue
        ended = previous.end if previous is not None and previous.duration == DEFINITE else None
        after_fixed_term = ended is not None
        broken = ended is not None and interval_breaks_chain(ended, contract.start)
        if position and after_fixed_term and not broken:
            position += 1
        else:
            position, start = 1, contract.start
        # Only a contract that follows another crosses a limit: a single first contract of more than
        # 36 months is lawful, the chain rule needs contracts that succeed each other.
        exceeds = position > 1 and (
            position > CHAIN_MAX_CONTRACTS
            or (contract.end is not None and contract.end >= add_months(start, CHAIN_MAX_MONTHS))
        )
        result[id(contract)] = Chain(position, start, broken, exceeds)
        previous = contract
    return result


def _same_period(a: Contract, b: Contract) -> bool:
    return (a.start, a.end, a.duration) == (b.start, b.end, b.duration)


def has_follow_up(contract: Contract, contracts: list[Contract], elsewhere: list[Contract]) -> bool:
    """Whether another contract runs on past this one's end (running on the next day, or later).

    ``contracts`` are the employment's own, any of which counts. ``elsewhere`` are the contracts of the
    person's other employments (the caller passes them for an employment nobody closed): one that starts
    after this one does and runs past it is its follow-up (a conversion is often registered as a new
    employment, and the old one left open), while one that was already running beside it (a side
    job's next to a permanent main job) follows nothing.
    """
    end = contract.end
    assert end is not None

    def runs_past(other: Contract) -> bool:
        return other.end is None or other.end > end

    return any(other is not contract and runs_past(other) for other in contracts) or any(
        other.start > contract.start and runs_past(other) for other in elsewhere
    )
