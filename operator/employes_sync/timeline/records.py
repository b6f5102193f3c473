"""Raw Employes.nl JSON -> small typed records; every value is parsed once here.

Validated only as far as events depend on it: anything that cannot be understood (an employee without an
id, a date that does not parse, a wage that is not a number) raises :class:`InvalidRecord` with a reason
that names the field but never echoes wages, so the reason can be stored and logged without leaking pay.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

# One InvalidRecord and one set of rules for the whole pipeline (validation.py): a caller catches the same
# class, and a field reads the same, whether the API parser or the timeline looks at a record.
from employes_sync.validation import (
    InvalidRecord,
    check_text,
    optional_date,
    parse_number,
    record_id,
    required_date,
)
from employes_sync.validation import employee_id as valid_employee_id

__all__ = [
    "CURRENT_EMPLOYMENT_ID",
    "NEVER",
    "Contract",
    "Employee",
    "Employment",
    "Hours",
    "InvalidRecord",
    "Salary",
    "parse_employee",
]

# Upper bounds that no real record reaches: they turn absurd values into a reason instead of into
# nonsense events (and keep Decimal/float arithmetic far from overflow).
_MAX_WAGE = Decimal(1_000_000_000)
_MAX_HOURS = Decimal(168)
_MAX_DAYS = Decimal(7)

# The synthetic employment id used when only the employee's nested current employment is known.
CURRENT_EMPLOYMENT_ID = "current"


# --------------------------------------------------------------------------------------------------
# Parsing: raw JSON -> small typed records. Every value is parsed once here; event code never re-parses.


@dataclass(slots=True)
class Salary:
    start: date
    end: date | None
    month: Decimal | None
    hour: Decimal | None
    year: Decimal | None


@dataclass(slots=True)
class Hours:
    start: date
    end: date | None
    hours: Decimal | None
    days: Decimal | None
    employee_type: str | None


@dataclass(slots=True)
class Contract:
    start: date
    end: date | None
    duration: str
    is_signed: bool | None
    sign_date: date | None


@dataclass(slots=True)
class Employment:
    id: str
    start: date
    end: date | None
    salaries: list[Salary]
    hours: list[Hours]
    contracts: list[Contract]
    #: Only the employee's nested current employment was known: its terms are today's, not the first ones.
    current_terms: bool = False
    #: With current_terms: the latest start its contract or salary states (None: neither states one).
    terms_from: date | None = None
    #: Contracts that start after the registered end, one per start: not read as contracts of the
    #: employment, but named at its end (the end may be stale, or they may never have taken effect).
    contracts_after_end: list[Contract] = dataclasses.field(default_factory=list)


NEVER = date.max  # sorts an open period after every closed one
_NEG = Decimal(-1)  # sorts a missing number before every real one
_ZERO = Decimal(0)


def _req_date(obj: Mapping[str, Any], key: str, where: str) -> date:
    return required_date(obj, key, where)


def _opt_date(obj: Mapping[str, Any], key: str, where: str) -> date | None:
    # An open period has no end_date key at all; null and "" mean the same.
    return optional_date(obj, key, where)


#: Payroll systems write an open end as an "end of time" day: SAP's 9999-12-31, and 2099-12-31,
#: 2100-01-01 or 2999-12-31 in others. Read as a date it is a contract that "ends" in 2099 or in 8,000
#: years, a fixed-term one at that, and a planned departure. No real end lies that far ahead, so that
#: day and every later one is no end; the day before it (a notice for 30 Dec 2099) is still data.
_OPEN_END_FROM = date(2099, 12, 31)


def _opt_end(obj: Mapping[str, Any], where: str) -> date | None:
    end = _opt_date(obj, "end_date", where)
    return None if end is not None and end >= _OPEN_END_FROM else end


def _opt_number(obj: Mapping[str, Any], key: str, where: str, upper: Decimal) -> Decimal | None:
    # Decimal, not float: wages are money, and "3500.10" - "3500.00" must be exactly 0.10.
    return parse_number(obj.get(key), f"{where}.{key}", lower=_ZERO, upper=upper)


def _checked_text(value: str, where: str) -> str:
    # Carried verbatim into PostgreSQL text and jsonb: a reason here beats a failed INSERT for the batch.
    return check_text(value, where)


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        return _checked_text(value, f"{where}.{key}")
    raise InvalidRecord(f"{where}.{key}: not a string ({type(value).__name__})")


def _opt_ident(value: object, where: str) -> str | None:
    return record_id(value, where)


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


def _parse_salary(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> Salary:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    return Salary(
        start=start,
        end=_opt_end(raw, where),
        month=_opt_number(raw, "month_wage", where, _MAX_WAGE),
        hour=_opt_number(raw, "hour_wage", where, _MAX_WAGE),
        year=_opt_number(raw, "yearly_wage", where, _MAX_WAGE),
    )


def _parse_hours(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> Hours:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    return Hours(
        start=start,
        end=_opt_end(raw, where),
        hours=_opt_number(raw, "hours_per_week", where, _MAX_HOURS),
        days=_opt_number(raw, "days_per_week", where, _MAX_DAYS),
        employee_type=_opt_str(raw, "employee_type", where) or None,
    )


#: Employes writes ``definite`` and ``permanent``; the other spellings mean the same and are read as them.
_DURATIONS = {
    "indefinite": "permanent",
    "onbepaalde_tijd": "permanent",
    "open_ended": "permanent",
    "fixed_term": "definite",
    "fixed": "definite",
    "temporary": "definite",
    "bepaalde_tijd": "definite",
}


def _check_range(start: date, end: date | None, where: str) -> None:
    # An end before the start is no period at all: read as one, it would end a contract or an
    # employment before it began ("ended on 1 Apr, started 1 May"). Ending on the start day is one day.
    if end is not None and end < start:
        raise InvalidRecord(f"{where}.end_date: before start_date")


def _parse_contract(raw: Mapping[str, Any], where: str, default_start: date | None = None) -> Contract:
    start = _opt_date(raw, "start_date", where) or default_start
    if start is None:
        raise InvalidRecord(f"{where}.start_date: missing")
    end = _opt_end(raw, where)
    _check_range(start, end, where)
    duration = (_opt_str(raw, "contract_duration", where) or "").strip().lower()
    duration = _DURATIONS.get(duration.replace("-", "_").replace(" ", "_"), duration)
    if not duration:
        # The nested current contract has no contract_duration: an end date is what makes it fixed-term.
        duration = "definite" if end is not None else "permanent"
    signed = raw.get("is_signed")
    return Contract(
        start=start,
        end=end,
        duration=duration[:40],
        is_signed=signed if isinstance(signed, bool) else None,
        sign_date=_opt_date(raw, "sign_date", where),
    )


def _parse_employment(raw: object, where: str) -> Employment:
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"{where}: not an object ({type(raw).__name__})")
    start = _req_date(raw, "start_date", where)
    # Without an id the start date identifies the employment; it is what the keys need to stay stable.
    ident = _opt_ident(raw.get("id"), f"{where}.id") or f"start:{start.isoformat()}"
    end = _opt_end(raw, where)
    _check_range(start, end, where)
    return Employment(
        id=ident,
        start=start,
        end=end,
        salaries=[
            _parse_salary(r, f"{where}.salary[{i}]") for i, r in enumerate(_rows(raw, "salary", where))
        ],
        hours=[_parse_hours(r, f"{where}.hours[{i}]") for i, r in enumerate(_rows(raw, "hours", where))],
        contracts=[
            _parse_contract(r, f"{where}.contracts[{i}]")
            for i, r in enumerate(_rows(raw, "contracts", where))
        ],
    )


def _parse_current_employment(employee: Mapping[str, Any]) -> Employment | None:
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
    end = _opt_end(raw, where)
    _check_range(start, end, where)
    # Only a start the nested contract or salary states dates the current terms: the employment's own
    # start (their fallback) would present today's terms as those of the first day.
    stated = [
        _opt_date(part, "start_date", f"{where}.{name}")
        for name, part in (("contract", contract), ("salary", salary))
        if part is not None
    ]
    dated = [day for day in stated if day is not None]
    hours: list[Hours] = []
    contracts: list[Contract] = []
    if contract is not None:
        hours.append(_parse_hours(contract, f"{where}.contract", start))
        contracts.append(_parse_contract(contract, f"{where}.contract", start))
    return Employment(
        id=CURRENT_EMPLOYMENT_ID,
        start=start,
        end=end,
        salaries=[_parse_salary(salary, f"{where}.salary", start)] if salary is not None else [],
        hours=hours,
        contracts=contracts,
        current_terms=True,
        terms_from=max(dated) if dated else None,
    )


#: Employee states that mean the person has left (Employes writes ``out_of_service``).
_OUT_OF_SERVICE = frozenset({"out_of_service", "inactive", "uit_dienst"})


@dataclass(slots=True)
class Employee:
    id: str
    name: str
    created: date | None
    out_of_service: bool
    employments: list[Employment]


def _full_name(employee: Mapping[str, Any]) -> str:
    parts = (
        _opt_str(employee, "first_name", "employee"),
        _opt_str(employee, "surname_prefix", "employee"),
        _opt_str(employee, "surname", "employee"),
    )
    return " ".join(p.strip() for p in parts if p and p.strip())


_Row = TypeVar("_Row", Salary, Hours, Contract)


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


def _salary_order(s: Salary) -> tuple[Any, ...]:
    return (s.start, s.end or NEVER, _n(s.month), _n(s.hour), _n(s.year))


def _hours_order(h: Hours) -> tuple[Any, ...]:
    return (h.start, h.end or NEVER, _n(h.hours), _n(h.days), h.employee_type or "")


def _contract_order(c: Contract) -> tuple[Any, ...]:
    signed = -1 if c.is_signed is None else int(c.is_signed)
    return (c.start, c.end or NEVER, c.duration, c.sign_date or date.min, signed)


def _employment_order(e: Employment) -> tuple[Any, ...]:
    # Last, the (normalised) content: two employments alike in start, end and id (the API repeating
    # one, say) must not take their order from the input, or the departure follows the input's order.
    return (e.start, e.end or NEVER, e.id, repr(e))


def _resumed(rows: list[_Row], until: date | None, order: Callable[[_Row], tuple[Any, ...]]) -> list[_Row]:
    """Hours or salary rows (sorted by start, one per start) with the ones that come back after a
    temporary one.

    Parental leave is often registered as a period with an end (32 h from 1 Mar to 31 Aug, or reduced
    pay over the same months) inside the open one it interrupts (40 h, the full wage): on 1 Sep the
    open one is in effect again, though no row starts then. Read by their starts only, the temporary
    row ran on: 4,000/month from 1 Sep was "Salary increase (+25 %)" against 3,200 at 32 h, and a raise
    from 4,000 to 4,100 after pay reduced to 3,000 for the leave read "+1,100". The day after such a
    period ends, the latest earlier row still running then is in effect again, as a row of its own
    from that day; unless a row starts that day, or one that started later is still running (it is
    what is in effect), or the day is after ``until``, the last day the employment is known to run
    (rows that come back after the person left would be an event after the departure, and pay
    "registered after" the last contract).
    """
    starts = {row.start for row in rows}
    back: list[_Row] = []
    for index, row in enumerate(rows):
        if row.end is None or row.end >= NEVER:
            continue
        day = row.end + timedelta(days=1)
        if until is not None and day > until:
            continue
        if day in starts or any(_covers(later, day) for later in rows[index + 1 :]):
            continue
        interrupted = [earlier for earlier in rows[:index] if _covers(earlier, day)]
        if interrupted:
            back.append(dataclasses.replace(interrupted[-1], start=day))
    return sorted(rows + back, key=order) if back else rows


def _covers(row: _Row, day: date) -> bool:
    return row.start <= day and (row.end is None or row.end >= day)


def _normalised(emp: Employment, out_of_service: bool) -> Employment:
    """Periods sorted by start, one per start date; periods that state nothing are dropped, and so are
    periods that start after the employment's registered end.

    A period that starts after the end never took effect in this employment: a collective raise entered
    for everyone on 1 Jul, or a renewal registered before the notice, for someone who leaves on 30 Jun.
    Kept, it read "Salary increase" or "Contract renewed" after "Employment ended", a raise or a contract
    the person never had. Hours and pay that come back after a temporary period do so only while the
    employment runs: until its end, and for someone out of service until its contracts' last end (what
    dates their departure; there a period after it is kept, as the sign they were paid on).

    A contract after the end is kept aside in ``contracts_after_end``, not forgotten: it is also what HR
    registers when it renews a contract and leaves the employment's end where it was. The records cannot
    tell which is true, so it is not read as a renewal, but dropped silently it let "Employment ended" stand
    as plain fact; the end names it instead. Salary and hours rows are entered in bulk and say nothing of
    whether the person stayed, so they are only dropped.
    """
    if emp.end is not None:
        end = emp.end
        emp.salaries = [s for s in emp.salaries if s.start <= end]
        emp.hours = [h for h in emp.hours if h.start <= end]
        after = [k for k in emp.contracts if k.start > end]
        emp.contracts = [k for k in emp.contracts if k.start <= end]
        emp.contracts_after_end = _effective(after, _contract_order)
    contract_ends = [contract.end for contract in emp.contracts]
    until = emp.end
    if until is None and out_of_service and contract_ends and None not in contract_ends:
        until = max(end for end in contract_ends if end is not None)
    emp.salaries = _resumed(
        _effective([s for s in emp.salaries if s.month or s.hour or s.year], _salary_order),
        until,
        _salary_order,
    )
    emp.hours = _resumed(
        _effective([h for h in emp.hours if h.hours is not None or h.days is not None], _hours_order),
        until,
        _hours_order,
    )
    emp.contracts = _effective(emp.contracts, _contract_order)
    return emp


def _distinct(employments: list[Employment]) -> list[Employment]:
    """One employment per ident; two that share one but differ are refused, not both believed.

    The API repeating an employment is harmless and collapses to one copy. Two different versions under
    one ident are not: read side by side, the shorter contract has "expired with no follow-up" although
    the other copy continues it. Which version is true cannot be told, so the record is invalid until the
    API agrees with itself. Only the ident is named: the differences are dates and wages.
    """
    kept: dict[str, Employment] = {}
    for emp in employments:
        seen = kept.get(emp.id)
        if seen is None:
            kept[emp.id] = emp
        elif seen != emp:
            raise InvalidRecord(f"employments: id {_shown_id(emp.id)} is listed twice with different content")
    return [emp for emp in employments if kept[emp.id] is emp]


#: Longest employment id a reason repeats whole; the API's are uuids (36) or ``start:<date>`` (16).
_SHOWN_ID_MAX = 64


def _shown_id(ident: str) -> str:
    # An employment id is only checked to be storable: one with a newline or a megabyte of text would
    # forge or flood the log line and the stored error that carry the reason.
    if ident.isprintable() and len(ident) <= _SHOWN_ID_MAX:
        return ident
    return ascii(ident[:_SHOWN_ID_MAX]) + ("..." if len(ident) > _SHOWN_ID_MAX else "")


def parse_employee(employee: object, employments: object) -> Employee:
    """The employee and its employments, sorted by start; the nested employment if there are none.

    ``employments`` is what the employments endpoint returned; ``None`` or ``[]`` (not fetched, 404, or an
    employee without history) falls back to the employee's nested current ``employment``.
    """
    if not isinstance(employee, Mapping):
        raise InvalidRecord(f"employee: not an object ({type(employee).__name__})")
    raw_id = employee.get("id")
    if raw_id is None or raw_id == "":
        raise InvalidRecord("employee.id: missing")
    # An integer id is the API's too; a string one must be usable as a key and a URL segment.
    is_int = isinstance(raw_id, int) and not isinstance(raw_id, bool)
    employee_id = str(raw_id) if is_int else valid_employee_id(raw_id)
    if employments is not None and not isinstance(employments, list):
        raise InvalidRecord(f"employments: not a list ({type(employments).__name__})")
    if employments:
        parsed = [_parse_employment(raw, f"employments[{i}]") for i, raw in enumerate(employments)]
    else:
        current = _parse_current_employment(employee)
        parsed = [current] if current is not None else []
    # Read leniently: an unknown or odd status only means we do not know the person left.
    raw_status = employee.get("status")
    status = (
        raw_status.strip().lower().replace(" ", "_").replace("-", "_") if isinstance(raw_status, str) else ""
    )
    left = status in _OUT_OF_SERVICE
    parsed = _distinct(sorted((_normalised(e, left) for e in parsed), key=_employment_order))
    return Employee(
        id=employee_id,
        name=_full_name(employee),
        created=_opt_date(employee, "dt_create", "employee"),
        out_of_service=left,
        employments=parsed,
    )
