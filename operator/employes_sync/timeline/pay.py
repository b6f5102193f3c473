"""Pay as a rate: when two salary periods differ in pay, and by how much.

A salary event is a change of pay *rate*. A monthly wage that falls because the hours fell is the same
rate; a yearly wage that rises at an unchanged monthly wage (a 13th month added) is a rise; 3,000/month
followed by 20/hour is a change of pay basis, and a rise too once both are put on an hourly footing.
All arithmetic is Decimal; converted or hours-adjusted amounts are rounded to the cent, half up. A change
between converted wages is the change between the rounded wages it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .records import Hours, Salary

HOURLY = "hourly"
MONTHLY = "monthly"
YEARLY = "yearly"

#: Weeks per month: Dutch payroll converts with 52 weeks / 12 months (4.33 weeks a month).
WEEKS_PER_MONTH = Decimal(52) / Decimal(12)
CENT = Decimal("0.01")
#: Below these a difference is rounding, not a change: one cent on the compared basis, 0.05 % of the rate.
MIN_AMOUNT = CENT
MIN_FRACTION = Decimal("0.0005")
#: No wage is a billion a period: past that (or below a cent) a value is noise, not pay, and its
#: arithmetic would overflow the decimal context. Such a pair yields no salary event.
MAX_RATE = Decimal(10) ** 9


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def pay_basis(salary: Salary) -> str | None:
    """What the period is paid on: a monthly wage if it states one, else hourly, else yearly.

    A zero wage counts as absent: hourly-paid employees often carry ``month_wage: 0``.
    """
    if salary.month:
        return MONTHLY
    if salary.hour:
        return HOURLY
    if salary.year:
        return YEARLY
    return None


def hours_on(rows: list[Hours], day: date) -> Decimal | None:
    """Hours per week in effect on ``day`` (rows sorted by start); a row without hours keeps the last.

    Before the first row that states hours, that row's: the start of the employment shows them as
    its hours, and "unknown" would compare a wage at 36 h with one at 20 h as if the hours were equal.
    """
    found: Decimal | None = None
    for row in rows:
        if row.hours is None:
            continue
        if row.start > day:
            return row.hours if found is None else found
        found = row.hours
    return found


def paid_hours(salaries: list[Salary], hours: list[Hours]) -> list[Decimal | None]:
    """Hours per week each salary period (sorted by start) pays for: those of its first day, or the next's.

    When the hours change the very next day, a salary row is often one change written on two days: a
    row dated the last day of a month beside an hours row from the first of the next, or a raise the
    API splits into a one-day row and the rest. Read at the hours of its own first day, 3,200/month
    for a cut from 36 to 32 h was a "Salary decrease (-11 %)" at an unchanged rate. A real raise can be
    dated the day before an hours change too (3,708 at 36 h on 31 Mar, 3,296 at 32 h from 1 Apr), so
    such a row is read at the hours that tell fewer changes of rate with its neighbours (the period
    before it, and one that starts on the change's day); on a tie, at the new hours.
    """
    result: list[Decimal | None] = []
    for index, salary in enumerate(salaries):
        own = hours_on(hours, salary.start)
        next_day = salary.start + timedelta(days=1)
        if not any(row.start == next_day and row.hours is not None for row in hours):
            result.append(own)
            continue
        new = hours_on(hours, next_day)
        before = (salaries[index - 1], result[index - 1]) if index else None
        after = salaries[index + 1] if index + 1 < len(salaries) else None
        following = (after, new) if after is not None and after.start == next_day else None
        told_at_own = _changes_told(before, salary, own, following)
        result.append(own if told_at_own < _changes_told(before, salary, new, following) else new)
    return result


_Paid = tuple[Salary, Decimal | None]


def _changes_told(before: _Paid | None, salary: Salary, at: Decimal | None, after: _Paid | None) -> int:
    """How many changes of rate ``salary``, read at ``at`` hours, tells with the periods around it."""
    told = 0
    if before is not None:
        told += compare(before[0], salary, before[1], at) is not None
    if after is not None:
        told += compare(salary, after[0], at, after[1]) is not None
    return told


def salary_before_hours(
    salaries: list[Salary], paid: list[Decimal | None], hours: list[Hours], change: date
) -> Salary | None:
    """The salary an hours change on ``change`` is measured at: the one in effect the day before.

    Except one that starts that very day and :func:`paid_hours` read at the new hours: it pays for
    them already, so the rate before the change is the period before it.
    """
    day_before = change - timedelta(days=1)
    index = max((n for n, row in enumerate(salaries) if row.start <= day_before), default=None)
    if index is None:
        return None
    if salaries[index].start == day_before and paid[index] == hours_on(hours, change):
        return salaries[index - 1] if index else None
    return salaries[index]


def salary_on(rows: list[Salary], day: date) -> Salary | None:
    """The salary period in effect on ``day`` (rows sorted by start)."""
    found: Salary | None = None
    for row in rows:
        if row.start > day:
            break
        found = row
    return found


@dataclass(frozen=True, slots=True)
class RateChange:
    basis: str  # the unit of from/to/amount: hourly, monthly or yearly
    old: Decimal  # the old wage on that basis (for a converted basis: its hourly equivalent, in cents)
    new: Decimal
    reference: Decimal  # the old wage at the new hours: what the new one is compared with
    amount: Decimal  # new - reference
    percentage: Decimal  # amount / reference, in percent, two decimals
    hours_adjusted: bool  # monthly/yearly compared per hour worked because the hours changed
    converted: bool  # the two periods state no common wage; compared as hourly equivalents


def _significant(reference: Decimal, amount: Decimal) -> bool:
    return abs(amount) >= MIN_AMOUNT and abs(amount) >= reference * MIN_FRACTION


def _change(
    basis: str, old: Decimal, new: Decimal, scale: Decimal, *, converted: bool = False
) -> RateChange | None:
    reference = old * scale
    if not (MIN_AMOUNT <= reference <= MAX_RATE and MIN_AMOUNT <= new <= MAX_RATE):
        return None
    amount = new - reference
    if not _significant(reference, amount):
        return None
    adjusted = scale != 1
    if converted:
        # Both wages are shown in cents, so the change is told between those: computed from the exact
        # equivalents, a wage at a half cent (17.305 shown as 17.31) made it a cent off what the reader
        # can check. The difference keeps its sign: half up moves both sides alike.
        old, new = cents(old), cents(new)
        reference, amount = old, new - old
    percentage = (amount / reference * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if adjusted:  # the old wage at the new hours is not shown: only the result is rounded
        reference, amount = cents(reference), cents(amount)
    return RateChange(
        basis=basis,
        old=old,
        new=new,
        reference=reference,
        amount=amount,
        percentage=percentage,
        hours_adjusted=adjusted,
        converted=converted,
    )


def _hourly_equivalent(salary: Salary, hours: Decimal | None) -> Decimal | None:
    if salary.hour:
        return salary.hour
    if salary.month and hours:
        return salary.month / (hours * WEEKS_PER_MONTH)
    return None  # a yearly wage holds allowances an hourly one does not: no honest conversion


def _hours_scale(prev_hours: Decimal | None, cur_hours: Decimal | None) -> Decimal | None:
    """How much the hours grew; 1 when they are the same or not known; None when one side works none."""
    if prev_hours and cur_hours:
        return cur_hours / prev_hours
    if prev_hours == cur_hours or prev_hours is None or cur_hours is None:
        return Decimal(1)
    return None


def compare(
    prev: Salary, cur: Salary, prev_hours: Decimal | None, cur_hours: Decimal | None
) -> RateChange | None:
    """The change of pay rate from ``prev`` to ``cur``, or None when there is none (or none computable).

    The hourly wage where both periods have one; otherwise the monthly, then the yearly wage, scaled by
    the change in hours. Where that shows no change the yearly wage is still looked at, since it holds
    what the others do not (a 13th month, an allowance): it is expected to move with the monthly wage
    (or, without one, with the hours). Where the periods share no wage at all, both are put on an
    hourly footing if their hours allow it.
    """
    scale = _hours_scale(prev_hours, cur_hours)
    if prev.hour and cur.hour:
        primary: tuple[str, Decimal, Decimal, Decimal] | None = (HOURLY, prev.hour, cur.hour, Decimal(1))
    elif prev.month and cur.month:
        primary = (MONTHLY, prev.month, cur.month, scale) if scale is not None else None
    elif prev.year and cur.year:
        primary = (YEARLY, prev.year, cur.year, scale) if scale is not None else None
    else:
        primary = None
    if primary is not None:
        basis, old, new, factor = primary
        change = _change(basis, old, new, factor)
        if change is not None or basis == YEARLY or not (prev.year and cur.year):
            return change
        # The yearly wage follows the monthly one (same allowances), else the hours; unknown: no claim.
        if prev.month and cur.month:
            yearly_scale: Decimal | None = cur.month / prev.month
        elif prev_hours and cur_hours:
            yearly_scale = cur_hours / prev_hours
        else:
            yearly_scale = None
        return _change(YEARLY, prev.year, cur.year, yearly_scale) if yearly_scale else None
    if (prev.hour and cur.hour) or (prev.month and cur.month) or (prev.year and cur.year):
        return None  # a shared wage, but the hours make it incomparable (one side works none)
    old_rate = _hourly_equivalent(prev, prev_hours)
    new_rate = _hourly_equivalent(cur, cur_hours)
    if old_rate is None or new_rate is None:
        return None
    return _change(HOURLY, old_rate, new_rate, Decimal(1), converted=True)


def comparable(prev: Salary, cur: Salary, prev_hours: Decimal | None, cur_hours: Decimal | None) -> bool:
    """Whether ``compare`` has a basis for these two periods at all (a change or not)."""
    if prev.hour and cur.hour:
        return True
    if (prev.month and cur.month) or (prev.year and cur.year):
        return _hours_scale(prev_hours, cur_hours) is not None
    return _hourly_equivalent(prev, prev_hours) is not None and _hourly_equivalent(cur, cur_hours) is not None


def monthly_effect_of_hours(
    salary: Salary | None, old_hours: Decimal | None, new_hours: Decimal | None
) -> Decimal | None:
    """What an hours change alone does to monthly pay, at the rate in effect before it."""
    if salary is None or old_hours is None or new_hours is None or old_hours == new_hours:
        return None
    if salary.hour:
        return cents((new_hours - old_hours) * salary.hour * WEEKS_PER_MONTH)
    if salary.month and old_hours:
        return cents(salary.month * (new_hours - old_hours) / old_hours)
    return None
