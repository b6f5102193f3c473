"""Raw Employes.nl employee + employments -> timeline events.

Pure on purpose: no I/O, no clock unless the caller does not pass ``today``. The inline part of a run, the
batch workers and ``employes-sync rebuild`` all call :func:`build_timeline` on stored raw data, and the
store writes the result with ``ON CONFLICT DO NOTHING`` on ``event_key``; so the same input must give the
same events with the same keys on every machine and every rebuild, whatever order the API listed
periods in.

Input is the API's own JSON (see issue 2). It is validated only as far as events depend on it; anything
that cannot be understood (an employee without an id, a date that does not parse, a wage that is not a
number) raises :class:`InvalidRecord` with a reason that names the field but never echoes wages, so the
reason can be stored and logged without leaking pay data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from typing import Any, TypeVar

# One InvalidRecord for the whole pipeline: a caller catches the same class whether the API parser or
# the timeline rejected a record.
from employes_sync.employes.models import InvalidRecord

__all__ = [
    "CONTRACT_ENDED",
    "CONTRACT_RENEWED",
    "CONTRACT_STARTED",
    "EMPLOYEE_ADDED",
    "EVENT_TYPES",
    "HOURS_CHANGE",
    "SALARY_DECREASE",
    "SALARY_INCREASE",
    "InvalidRecord",
    "TimelineEvent",
    "build_timeline",
]

EMPLOYEE_ADDED = "employee_added"
CONTRACT_STARTED = "contract_started"
CONTRACT_RENEWED = "contract_renewed"
CONTRACT_ENDED = "contract_ended"
SALARY_INCREASE = "salary_increase"
SALARY_DECREASE = "salary_decrease"
HOURS_CHANGE = "hours_change"

EVENT_TYPES: frozenset[str] = frozenset(
    {
        EMPLOYEE_ADDED,
        CONTRACT_STARTED,
        CONTRACT_RENEWED,
        CONTRACT_ENDED,
        SALARY_INCREASE,
        SALARY_DECREASE,
        HOURS_CHANGE,
    }
)

# Upper bounds that no real record reaches: they turn absurd values into a reason instead of into
# nonsense events (and keep Decimal/float arithmetic far from overflow).
_MAX_WAGE = Decimal(1_000_000_000)
_MAX_HOURS = Decimal(168)
_MAX_DAYS = Decimal(7)

# The synthetic employment id used when only the employee's nested current employment is known.
CURRENT_EMPLOYMENT_ID = "current"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One row of ``employes_timeline_v2``; ``event_key`` is what the store de-duplicates on."""

    employee_id: str
    event_type: str
    event_date: date
    event_title: str
    event_description: str
    event_data: dict[str, Any]
    event_key: str


# --------------------------------------------------------------------------------------------------
# Parsing: raw JSON -> small typed records. Every value is parsed once here; event code never re-parses.


@dataclass(slots=True)
class _Salary:
    start: date
    end: date | None
    month: Decimal | None
    hour: Decimal | None
    year: Decimal | None


@dataclass(slots=True)
class _Hours:
    start: date
    end: date | None
    hours: Decimal | None
    days: Decimal | None
    employee_type: str | None


@dataclass(slots=True)
class _Contract:
    start: date
    end: date | None
    duration: str
    is_signed: bool | None
    sign_date: date | None


@dataclass(slots=True)
class _Employment:
    id: str
    start: date
    end: date | None
    salaries: list[_Salary]
    hours: list[_Hours]
    contracts: list[_Contract]


# Time and zone are accepted and ignored: Employes sends local calendar dates as midnight timestamps.
_DATE_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
# Plain decimal notation only: no exponents, no locale separators, no NaN/Infinity, ASCII digits only.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_NEVER = date.max  # sorts an open period after every closed one
_NEG = Decimal(-1)  # sorts a missing number before every real one


@lru_cache(maxsize=16384)
def _date_from_text(text: str) -> date | None:
    # Cached because a company's records repeat the same few hundred dates thousands of times.
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _to_date(value: object, where: str) -> date:
    if isinstance(value, str):
        # Long strings are never dates; checking first keeps them out of the cache.
        parsed = _date_from_text(value) if len(value) <= 40 else None
        if parsed is not None:
            return parsed
        raise InvalidRecord(f"{where}: not a date (expected YYYY-MM-DD[THH:MM:SS])")
    if isinstance(value, date):  # already parsed by a caller (a datetime is a date too)
        return date(value.year, value.month, value.day)
    raise InvalidRecord(f"{where}: not a date ({type(value).__name__})")


def _req_date(obj: Mapping[str, Any], key: str, where: str) -> date:
    value = obj.get(key)
    if value is None or value == "":
        raise InvalidRecord(f"{where}.{key}: missing")
    return _to_date(value, f"{where}.{key}")


def _opt_date(obj: Mapping[str, Any], key: str, where: str) -> date | None:
    # An open period has no end_date key at all; null and "" mean the same.
    value = obj.get(key)
    if value is None or value == "":
        return None
    return _to_date(value, f"{where}.{key}")


def _opt_number(obj: Mapping[str, Any], key: str, where: str, upper: Decimal) -> Decimal | None:
    # Decimal, not float: wages are money, and "3500.10" - "3500.00" must be exactly 0.10.
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{where}.{key}: not a number (bool)")
    if isinstance(value, int):
        if not 0 <= value <= upper:
            raise InvalidRecord(f"{where}.{key}: out of range")
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"{where}.{key}: not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 32 or _NUMBER_RE.fullmatch(text) is None:
            raise InvalidRecord(f"{where}.{key}: not a number (str)")
        number = Decimal(text)
    else:
        raise InvalidRecord(f"{where}.{key}: not a number ({type(value).__name__})")
    if not 0 <= number <= upper:
        raise InvalidRecord(f"{where}.{key}: out of range")
    return number


def _checked_text(value: str, where: str) -> str:
    # Carried verbatim into PostgreSQL text and jsonb, which refuse NUL and lone surrogates: a reason
    # here beats a failed INSERT for the whole batch.
    if "\x00" in value:
        raise InvalidRecord(f"{where}: contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRecord(f"{where}: not valid Unicode text") from None
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return _checked_text(value, f"{where}.{key}")
    raise InvalidRecord(f"{where}.{key}: not a string ({type(value).__name__})")


def _opt_ident(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _checked_text(value, where)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidRecord(f"{where}: not an id ({type(value).__name__})")


def _rows(obj: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRecord(f"{where}.{key}: not a list ({type(value).__name__})")
    for index, row in enumerate(value):
        if not isinstance(row, Mapping):
            raise InvalidRecord(f"{where}.{key}[{index}]: not an object ({type(row).__name__})")
    return value


def _mapping_or_none(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None or value == "" or value == []:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRecord(f"{where}.{key}: not an object ({type(value).__name__})")
    return value


def _parse_salary(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> _Salary:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    return _Salary(
        start=start,
        end=_opt_date(raw, "end_date", where),
        month=_opt_number(raw, "month_wage", where, _MAX_WAGE),
        hour=_opt_number(raw, "hour_wage", where, _MAX_WAGE),
        year=_opt_number(raw, "yearly_wage", where, _MAX_WAGE),
    )


def _parse_hours(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> _Hours:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    return _Hours(
        start=start,
        end=_opt_date(raw, "end_date", where),
        hours=_opt_number(raw, "hours_per_week", where, _MAX_HOURS),
        days=_opt_number(raw, "days_per_week", where, _MAX_DAYS),
        employee_type=_opt_str(raw, "employee_type", where) or None,
    )


def _parse_contract(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> _Contract:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    end = _opt_date(raw, "end_date", where)
    duration = (_opt_str(raw, "contract_duration", where) or "").strip().lower()
    if not duration:
        # The nested current contract has no contract_duration: an end date is what makes it fixed-term.
        duration = "definite" if end is not None else "permanent"
    signed = raw.get("is_signed")
    return _Contract(
        start=start,
        end=end,
        duration=duration[:40],
        is_signed=signed if isinstance(signed, bool) else None,
        sign_date=_opt_date(raw, "sign_date", where),
    )


def _parse_employment(raw: object, where: str) -> _Employment:
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"{where}: not an object ({type(raw).__name__})")
    start = _req_date(raw, "start_date", where)
    # Without an id the start date identifies the employment; it is what the keys need to stay stable.
    ident = _opt_ident(raw.get("id"), f"{where}.id") or f"start:{start.isoformat()}"
    return _Employment(
        id=ident,
        start=start,
        end=_opt_date(raw, "end_date", where),
        salaries=[
            _parse_salary(r, f"{where}.salary[{i}]") for i, r in enumerate(_rows(raw, "salary", where))
        ],
        hours=[_parse_hours(r, f"{where}.hours[{i}]") for i, r in enumerate(_rows(raw, "hours", where))],
        contracts=[
            _parse_contract(r, f"{where}.contracts[{i}]")
            for i, r in enumerate(_rows(raw, "contracts", where))
        ],
    )


def _parse_current_employment(employee: Mapping[str, Any]) -> _Employment | None:
    """The employee's nested ``employment``: one salary and one contract (which also carries the hours).

    Used only when the employments endpoint gave nothing, so an employee whose history could not be
    fetched still gets a contract_started; an employment we cannot even date is no employment.
    """
    where = "employee.employment"
    raw = _mapping_or_none(employee, "employment", "employee")
    if not raw:
        return None
    contract = _mapping_or_none(raw, "contract", where)
    salary = _mapping_or_none(raw, "salary", where)
    start = _opt_date(raw, "start_date", where)
    if start is None and contract is not None:
        start = _opt_date(contract, "start_date", f"{where}.contract")
    if start is None:
        return None
    hours: list[_Hours] = []
    contracts: list[_Contract] = []
    if contract is not None:
        hours.append(_parse_hours(contract, f"{where}.contract", start))
        contracts.append(_parse_contract(contract, f"{where}.contract", start))
    return _Employment(
        id=CURRENT_EMPLOYMENT_ID,
        start=start,
        end=_opt_date(raw, "end_date", where),
        salaries=[_parse_salary(salary, f"{where}.salary", start)] if salary is not None else [],
        hours=hours,
        contracts=contracts,
    )


# --------------------------------------------------------------------------------------------------
# Text and JSON helpers.

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day(value: date) -> str:
    # Spelled out, not ISO or numeric: 01-02 reads as 2 January to some readers and 1 February to others.
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _eur(amount: Decimal) -> str:
    return f"€{amount:,.2f}"


def _signed_eur(amount: Decimal) -> str:
    return f"+{_eur(amount)}" if amount >= 0 else f"-{_eur(-amount)}"


def _num(value: Decimal) -> str:
    """32.50 -> '32.5', 40.00 -> '40': hours read naturally and compare canonically in keys."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _jnum(value: Decimal | None) -> float | int | None:
    # JSON numbers, so SQL can do (event_data->>'amount')::numeric; whole values stay integers.
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _jdate(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _key_part(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return _num(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _duration_label(duration: str) -> str:
    return {"definite": "fixed-term", "permanent": "permanent"}.get(duration, duration)


# --------------------------------------------------------------------------------------------------
# Event derivation.

_Row = TypeVar("_Row", _Salary, _Hours, _Contract)


def _effective(rows: list[_Row], sort_key: Callable[[_Row], Any]) -> list[_Row]:
    """Sort by start and keep one row per start date.

    Two rows starting on the same day are a correction, not a change: the one that sorts last (the
    longest-running, then the larger values) wins, so the outcome never depends on the API's order.
    """
    rows = sorted(rows, key=sort_key)
    kept: list[_Row] = []
    for row in rows:
        if kept and kept[-1].start == row.start:
            kept[-1] = row
        else:
            kept.append(row)
    return kept


def _n(value: Decimal | None) -> Decimal:
    # 0 and missing sort apart: both show in event_data, so a tie would let the input order choose.
    return _NEG if value is None else value


def _salary_order(s: _Salary) -> tuple[Any, ...]:
    return (s.start, s.end or _NEVER, _n(s.month), _n(s.hour), _n(s.year))


def _hours_order(h: _Hours) -> tuple[Any, ...]:
    return (h.start, h.end or _NEVER, _n(h.hours), _n(h.days), h.employee_type or "")


def _contract_order(c: _Contract) -> tuple[Any, ...]:
    signed = -1 if c.is_signed is None else int(c.is_signed)
    return (c.start, c.end or _NEVER, c.duration, c.sign_date or date.min, signed)


def _employment_order(e: _Employment) -> tuple[Any, ...]:
    return (e.start, e.end or _NEVER, e.id)


_BASES = (("monthly", "month"), ("hourly", "hour"), ("yearly", "year"))


def _wage_basis(a: _Salary, b: _Salary) -> tuple[str, Decimal, Decimal] | None:
    """The wage both periods state: monthly if both have one, else hourly, else yearly.

    A zero wage counts as absent because hourly-paid employees often carry month_wage 0.
    """
    for basis, attr in _BASES:
        old, new = getattr(a, attr), getattr(b, attr)
        if old and new:
            return basis, old, new
    return None


# JSON of a list of strings is unambiguous whatever the strings contain; one encoder, built once.
_encode_key = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _Events:
    """Collects one employee's events, keyed and de-duplicated."""

    __slots__ = ("by_key", "employee_id")

    def __init__(self, employee_id: str) -> None:
        self.employee_id = employee_id
        self.by_key: dict[str, TimelineEvent] = {}

    def add(
        self,
        event_type: str,
        event_date: date,
        title: str,
        description: str,
        data: dict[str, Any],
        *identity: object,
    ) -> None:
        # The key is what identifies the event, not its text: retitling events later must not duplicate them.
        parts = [self.employee_id, event_type, event_date.isoformat(), *map(_key_part, identity)]
        digest = hashlib.sha256(_encode_key(parts).encode()).hexdigest()[:32]
        event = TimelineEvent(self.employee_id, event_type, event_date, title, description, data, digest)
        existing = self.by_key.get(digest)
        # Only duplicated input (the same employment twice) collides; pick a winner independent of order.
        if existing is None or _tiebreak(event) < _tiebreak(existing):
            self.by_key[digest] = event

    def result(self) -> list[TimelineEvent]:
        return sorted(self.by_key.values(), key=lambda e: (e.event_date, e.event_type, e.event_key))


def _tiebreak(event: TimelineEvent) -> tuple[str, str, str]:
    return (event.event_title, event.event_description, json.dumps(event.event_data, sort_keys=True))


def _full_name(employee: Mapping[str, Any]) -> str:
    parts = (
        _opt_str(employee, "first_name", "employee"),
        _opt_str(employee, "surname_prefix", "employee"),
        _opt_str(employee, "surname", "employee"),
    )
    return " ".join(p.strip() for p in parts if p and p.strip())


def _contract_started(
    out: _Events,
    emp: _Employment,
    rehire: bool,
    salaries: list[_Salary],
    hours: list[_Hours],
    contracts: list[_Contract],
) -> None:
    # Only what was true at the start goes into the data: the stored row is never updated, so a later
    # end date would leave it stale (contract_ended reports that).
    contract = contracts[0] if contracts else None
    first_hours = hours[0] if hours else None
    salary = salaries[0] if salaries else None
    details: list[str] = []
    if contract is not None:
        label = f"{_duration_label(contract.duration)} contract"
        if contract.duration == "definite" and contract.end is not None:
            label += f" until {_day(contract.end)}"
        details.append(label)
    if first_hours is not None and first_hours.hours is not None:
        details.append(f"{_num(first_hours.hours)}h/week")
    if salary is not None:
        if salary.month:
            details.append(f"{_eur(salary.month)}/month")
        elif salary.hour:
            details.append(f"{_eur(salary.hour)}/hour")
    verb = "Re-hired" if rehire else "Employment started"
    description = f"{verb} on {_day(emp.start)}" + (f": {', '.join(details)}." if details else ".")
    out.add(
        CONTRACT_STARTED,
        emp.start,
        "Contract started (re-hired)" if rehire else "Contract started",
        description,
        {
            "employment_id": emp.id,
            "start_date": emp.start.isoformat(),
            "rehire": rehire,
            "contract_duration": contract.duration if contract else None,
            "contract_end_date": _jdate(contract.end) if contract else None,
            "hours_per_week": _jnum(first_hours.hours) if first_hours else None,
            "days_per_week": _jnum(first_hours.days) if first_hours else None,
            "employee_type": first_hours.employee_type if first_hours else None,
            "month_wage": _jnum(salary.month) if salary else None,
            "hour_wage": _jnum(salary.hour) if salary else None,
            "yearly_wage": _jnum(salary.year) if salary else None,
        },
        emp.id,
    )


def _salary_changes(out: _Events, emp: _Employment, salaries: list[_Salary]) -> None:
    for prev, cur in pairwise(salaries):
        basis = _wage_basis(prev, cur)
        if basis is None:
            continue
        name, old, new = basis
        amount = new - old
        if amount == 0:
            continue
        event_type = SALARY_INCREASE if amount > 0 else SALARY_DECREASE
        percentage = round(float(amount) / float(old) * 100, 2)
        word = "increase" if amount > 0 else "decrease"
        out.add(
            event_type,
            cur.start,
            f"Salary {word} ({_signed_eur(amount)})",
            f"{name.capitalize()} wage changed from {_eur(old)} to {_eur(new)} "
            f"({percentage:+.2f}%) on {_day(cur.start)}.",
            {
                "employment_id": emp.id,
                "basis": name,
                "from": _jnum(old),
                "to": _jnum(new),
                "amount": _jnum(amount),
                "percentage": percentage,
                "currency": "EUR",
                "previous_start_date": prev.start.isoformat(),
                "from_month_wage": _jnum(prev.month),
                "to_month_wage": _jnum(cur.month),
                "from_hour_wage": _jnum(prev.hour),
                "to_hour_wage": _jnum(cur.hour),
                "from_yearly_wage": _jnum(prev.year),
                "to_yearly_wage": _jnum(cur.year),
            },
            emp.id,
            name,
            old,
            new,
        )


def _hours_changes(out: _Events, emp: _Employment, rows: list[_Hours]) -> None:
    if not rows:
        return
    # A row that leaves a value out keeps the last known one: unknown is not a change.
    hours, days, kind = rows[0].hours, rows[0].days, rows[0].employee_type
    for row in rows[1:]:
        new_hours = row.hours if row.hours is not None else hours
        new_days = row.days if row.days is not None else days
        new_kind = row.employee_type or kind
        hours_delta = new_hours - hours if hours is not None and new_hours is not None else None
        days_changed = days is not None and new_days is not None and new_days != days
        if hours_delta or days_changed:
            hours_text = f"{_num(hours)}→{_num(new_hours)}" if hours_delta else ""  # type: ignore[arg-type]
            days_text = f"{_num(days)}→{_num(new_days)}" if days_changed else ""  # type: ignore[arg-type]
            if hours_text:
                title = f"Hours change ({hours_text}h/week)"
                description = f"Working hours changed ({hours_text} hours per week"
                description += f", {days_text} days per week)" if days_text else ")"
            else:
                title = f"Hours change ({days_text} days/week)"
                description = f"Working days changed ({days_text} days per week)"
            out.add(
                HOURS_CHANGE,
                row.start,
                title,
                f"{description} on {_day(row.start)}.",
                {
                    "employment_id": emp.id,
                    "from_hours_per_week": _jnum(hours),
                    "to_hours_per_week": _jnum(new_hours),
                    "hours_difference": _jnum(hours_delta) if hours_delta else 0,
                    "from_days_per_week": _jnum(days),
                    "to_days_per_week": _jnum(new_days),
                    "from_employee_type": kind,
                    "to_employee_type": new_kind,
                },
                emp.id,
                hours,
                new_hours,
                days,
                new_days,
            )
        hours, days, kind = new_hours, new_days, new_kind


def _contract_renewals(out: _Events, emp: _Employment, contracts: list[_Contract]) -> None:
    for prev, cur in pairwise(contracts):
        made_permanent = cur.duration == "permanent" and prev.duration != "permanent"
        if made_permanent:
            title = "Contract renewed (now permanent)"
            description = f"Contract turned permanent on {_day(cur.start)}"
        elif cur.duration == "definite":
            until = f" until {_day(cur.end)}" if cur.end is not None else ""
            title = f"Contract renewed (fixed-term{until})"
            description = f"Fixed-term contract renewed on {_day(cur.start)}{until}"
        else:
            title = f"Contract renewed ({_duration_label(cur.duration)})"
            description = f"New {_duration_label(cur.duration)} contract from {_day(cur.start)}"
        if prev.end is not None:
            description += f" (previous contract ran until {_day(prev.end)})"
        out.add(
            CONTRACT_RENEWED,
            cur.start,
            title,
            description + ".",
            {
                "employment_id": emp.id,
                "contract_duration": cur.duration,
                "start_date": cur.start.isoformat(),
                "end_date": _jdate(cur.end),
                "previous_contract_duration": prev.duration,
                "previous_start_date": prev.start.isoformat(),
                "previous_end_date": _jdate(prev.end),
                "made_permanent": made_permanent,
                "is_signed": cur.is_signed,
                "sign_date": _jdate(cur.sign_date),
            },
            emp.id,
            cur.duration,
            cur.end,
            prev.end,
        )


def _contract_ends(out: _Events, emp: _Employment, contracts: list[_Contract], today: date) -> None:
    """The employment ending, and a fixed-term contract running out before it.

    Each is judged on its own so that time only ever adds events (a stored event never has to be
    withdrawn because today moved on); a contract that ends with the employment is reported once.
    """
    last = contracts[-1] if contracts else None
    duration = last.duration if last else None
    ends: list[tuple[str, date, str]] = []
    if (
        last is not None
        and last.duration == "definite"
        and last.end is not None
        and last.end < today
        and (emp.end is None or last.end < emp.end)
    ):
        ends.append(
            (
                "contract_expired",
                last.end,
                f"Fixed-term contract ended on {_day(last.end)} without a follow-up contract.",
            )
        )
    if emp.end is not None and emp.end < today:
        ends.append(
            ("employment_ended", emp.end, f"Employment ended on {_day(emp.end)} (started {_day(emp.start)}).")
        )
    for reason, end, description in ends:
        out.add(
            CONTRACT_ENDED,
            end,
            "Contract ended",
            description,
            {
                "employment_id": emp.id,
                "reason": reason,
                "start_date": emp.start.isoformat(),
                "end_date": end.isoformat(),
                "contract_duration": duration,
            },
            emp.id,
            reason,
        )


def build_timeline(
    employee: dict[str, Any],
    employments: list[dict[str, Any]] | None,
    *,
    today: date | None = None,
) -> list[TimelineEvent]:
    """Derive an employee's timeline events from the raw API records.

    ``employments`` is what the employments endpoint returned; ``None`` or ``[]`` (not fetched, 404, or
    an employee without history) falls back to the employee's nested current ``employment``.
    ``today`` decides which end dates are in the past; tests pin it, callers normally leave it.
    Raises :class:`InvalidRecord` for input that cannot be understood, and nothing else.
    """
    if not isinstance(employee, Mapping):
        raise InvalidRecord(f"employee: not an object ({type(employee).__name__})")
    employee_id = _opt_ident(employee.get("id"), "employee.id")
    if employee_id is None:
        raise InvalidRecord("employee.id: missing")
    if employments is not None and not isinstance(employments, list):
        raise InvalidRecord(f"employments: not a list ({type(employments).__name__})")
    today = today if today is not None else date.today()

    if employments:
        parsed = [_parse_employment(raw, f"employments[{i}]") for i, raw in enumerate(employments)]
    else:
        current = _parse_current_employment(employee)
        parsed = [current] if current is not None else []
    parsed.sort(key=_employment_order)
    name = _full_name(employee)
    created = _opt_date(employee, "dt_create", "employee")

    out = _Events(employee_id)
    added = created or (parsed[0].start if parsed else None)
    if added is not None:
        out.add(
            EMPLOYEE_ADDED,
            added,
            "Employee added",
            f"{name or 'Employee'} was added to the payroll administration.",
            {"name": name, "source": "dt_create" if created else "first_employment"},
        )

    covered_until: date | None = None  # the last day any earlier employment runs (date.max: still open)
    for emp in parsed:
        # A re-hire starts after every earlier employment ended; overlapping ones are not re-hires.
        rehire = covered_until is not None and covered_until < emp.start
        salaries = _effective([s for s in emp.salaries if s.month or s.hour or s.year], _salary_order)
        hours = _effective([h for h in emp.hours if h.hours is not None or h.days is not None], _hours_order)
        contracts = _effective(emp.contracts, _contract_order)
        _contract_started(out, emp, rehire, salaries, hours, contracts)
        _salary_changes(out, emp, salaries)
        _hours_changes(out, emp, hours)
        _contract_renewals(out, emp, contracts)
        _contract_ends(out, emp, contracts, today)
        emp_until = emp.end or _NEVER
        if covered_until is None or emp_until > covered_until:
            covered_until = emp_until
    return out.result()
