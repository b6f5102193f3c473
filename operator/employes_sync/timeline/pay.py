"""Pay as a rate: when two salary periods differ in pay, and by how much.

A salary event is a change of pay *rate*. A monthly wage that falls because the hours fell is the same
rate; a yearly wage that rises at an unchanged monthly wage (a 13th month added) is a rise; 3,000/month
followed by 20/hour is a change of pay basis, and a rise too once both are put on an hourly footing.
All arithmetic is Decimal; converted or hours-adjusted amounts are rounded to the cent, half up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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
    """Hours per week in effect on ``day`` (rows sorted by start); a row without hours keeps the last."""
    found: Decimal | None = None
    for row in rows:
        if row.start > day:
            break
        if row.hours is not None:
            found = row.hours
    return found


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
    amount = new - reference
    if reference <= 0 or not _significant(reference, amount):
        return None
    adjusted = scale != 1
    rounded = converted or adjusted
    return RateChange(
        basis=basis,
        old=cents(old) if converted else old,
        new=cents(new) if converted else new,
        reference=cents(reference) if rounded else reference,
        amount=cents(amount) if rounded else amount,
        percentage=(amount / reference * 100).quantize(CENT, rounding=ROUND_HALF_UP),
        hours_adjusted=adjusted,
        converted=converted,
    )


def _hourly_equivalent(salary: Salary, hours: Decimal | None) -> Decimal | None:
    if salary.hour:
        return salary.hour
    if salary.month and hours:
        return salary.month / (hours * WEEKS_PER_MONTH)
    return None  # a yearly wage holds allowances an hourly one does not: no honest conversion


def compare(
    prev: Salary, cur: Salary, prev_hours: Decimal | None, cur_hours: Decimal | None
) -> RateChange | None:
    """The change of pay rate from ``prev`` to ``cur``, or None when there is none (or none computable).

    The hourly wage where both periods have one; otherwise the monthly, then the yearly wage, scaled by
    the change in hours. Where the first basis shows no change the yearly wage is still looked at, since
    it holds what the others do not (a 13th month, an allowance). Where the periods share no wage at all,
    both are put on an hourly footing if their hours allow it.
    """
    if prev_hours and cur_hours:
        scale: Decimal | None = cur_hours / prev_hours
    elif prev_hours == cur_hours or prev_hours is None or cur_hours is None:
        scale = Decimal(1)  # the same hours, or hours not known for one side: compare as stated
    else:
        scale = None  # one side works zero hours: a monthly or yearly wage cannot be compared
    candidates: list[tuple[str, Decimal, Decimal, Decimal]] = []
    if prev.hour and cur.hour:
        candidates.append((HOURLY, prev.hour, cur.hour, Decimal(1)))
    if scale is not None:
        if prev.month and cur.month and not candidates:
            candidates.append((MONTHLY, prev.month, cur.month, scale))
        if prev.year and cur.year:
            candidates.append((YEARLY, prev.year, cur.year, scale))
    for basis, old, new, factor in candidates:
        change = _change(basis, old, new, factor)
        if change is not None:
            return change
    if candidates:
        return None
    old_rate = _hourly_equivalent(prev, prev_hours)
    new_rate = _hourly_equivalent(cur, cur_hours)
    if old_rate is None or new_rate is None:
        return None
    return _change(HOURLY, old_rate, new_rate, Decimal(1), converted=True)


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
