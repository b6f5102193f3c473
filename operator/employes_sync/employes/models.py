"""Validation of Employes.nl API objects, kept as plain dicts.

The API's JSON is the currency from the client to the database (raw rows are hashed and diffed as
sent), so parsing checks only what the timeline relies on and never drops unknown fields. A bad
record is named, not fatal: one employee with a broken date must not stop a page of 99 good ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "EmployeePage",
    "InvalidRecord",
    "parse_date",
    "parse_employee",
    "parse_employee_page",
    "parse_employment",
    "parse_employments",
    "unwrap_employee",
]


class InvalidRecord(ValueError):
    """A record the pipeline cannot use; `reason` is one line naming the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EmployeePage:
    """One page of the employee list: the usable records, and the rejected ones by index and reason."""

    employees: list[dict[str, Any]]
    invalid: list[tuple[int, str]] = field(default_factory=list)
    page: int = 1
    pages: int = 1
    total: int = 0


# The API sends `2024-09-01T00:00:00` without a zone; plain dates and fractional seconds are
# tolerated because nothing downstream needs more than the calendar day.
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

_EMPLOYEE_DATES = ("date_of_birth", "dt_create", "dt_update")
_EMPLOYEE_NUMBERS = ("yearly_wage",)
_NESTED_EMPLOYMENT_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # part: (date fields, number fields)
    "contract": (
        ("start_date", "end_date"),
        ("hours_per_week", "min_hours", "max_hours", "days_per_week"),
    ),
    "salary": (("start_date", "end_date"), ("hour_wage", "month_wage", "yearly_wage")),
    "tax_details": (("start_date", "end_date"), ()),
}
_PERIOD_LISTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "salary": (("end_date",), ("hour_wage", "month_wage", "yearly_wage")),
    "hours": (("end_date",), ("hours_per_week", "days_per_week")),
    "contracts": (("end_date", "sign_date"), ()),
}


def parse_date(value: str) -> date:
    """The calendar day of an API date string; raises `InvalidRecord` for anything else."""
    if not isinstance(value, str):
        raise InvalidRecord(f"expected a date string, got {type(value).__name__}")
    match = _DATE_RE.match(value)
    if not match:
        raise InvalidRecord(f"{_clip(value)!r} is not a YYYY-MM-DD[THH:MM:SS] date")
    year, month, day, hour, minute, second = match.groups()
    try:
        day_value = date(int(year), int(month), int(day))
        if hour is not None:
            datetime(2000, 1, 1, int(hour), int(minute), int(second or 0))
    except ValueError:
        raise InvalidRecord(f"{_clip(value)!r} is not a valid date") from None
    return day_value


def parse_employee(obj: Any) -> dict[str, Any]:
    """A validated copy of one employee; raises `InvalidRecord` naming the first bad field."""
    record = _require_object(obj, "employee")
    _require_id(record, "employee")
    for name in _EMPLOYEE_DATES:
        _check_date(record, name, "employee")
    for name in _EMPLOYEE_NUMBERS:
        _normalise_number(record, name, "employee")
    current = record.get("employment")
    if current is not None:
        if not isinstance(current, dict):
            raise InvalidRecord(f"employee.employment must be an object, got {type(current).__name__}")
        _check_date(current, "start_date", "employee.employment")
        _check_date(current, "end_date", "employee.employment")
        for part, (dates, numbers) in _NESTED_EMPLOYMENT_PARTS.items():
            value = current.get(part)
            if value is None:
                continue
            where = f"employee.employment.{part}"
            if not isinstance(value, dict):
                raise InvalidRecord(f"{where} must be an object, got {type(value).__name__}")
            for name in dates:
                _check_date(value, name, where)
            for name in numbers:
                _normalise_number(value, name, where)
    return record


def parse_employment(obj: Any) -> dict[str, Any]:
    """A validated copy of one employment with its salary, hours and contract periods."""
    record = _require_object(obj, "employment")
    _require_id(record, "employment")
    if record.get("start_date") is None:
        raise InvalidRecord("employment.start_date is missing")
    _check_date(record, "start_date", "employment")
    _check_date(record, "end_date", "employment")
    for list_name, (dates, numbers) in _PERIOD_LISTS.items():
        periods = record.get(list_name)
        if periods is None:
            continue
        if not isinstance(periods, list):
            raise InvalidRecord(f"employment.{list_name} must be a list, got {type(periods).__name__}")
        for index, period in enumerate(periods):
            where = f"employment.{list_name}[{index}]"
            if not isinstance(period, dict):
                raise InvalidRecord(f"{where} must be an object, got {type(period).__name__}")
            if period.get("start_date") is None:
                raise InvalidRecord(f"{where}.start_date is missing")
            _check_date(period, "start_date", where)
            for name in dates:
                _check_date(period, name, where)
            for name in numbers:
                _normalise_number(period, name, where)
    return record


def parse_employee_page(body: Any, *, page: int = 1, per_page: int | None = None) -> EmployeePage:
    """Split one list response into valid employees and named rejects.

    A body without a `data` list raises `InvalidRecord` (the whole response is unusable, so the
    client retries it); single bad records only land in `invalid`. When `pages` is absent it is
    derived from `total` and `per_page`, and failing that a full page means "there may be more".
    """
    if not isinstance(body, dict):
        raise InvalidRecord(f"employee page must be an object, got {type(body).__name__}")
    data = body.get("data")
    if not isinstance(data, list):
        raise InvalidRecord("employee page has no 'data' list")
    employees: list[dict[str, Any]] = []
    invalid: list[tuple[int, str]] = []
    for index, item in enumerate(data):
        try:
            employees.append(parse_employee(item))
        except InvalidRecord as error:
            ident = item.get("id") if isinstance(item, dict) else None
            label = f"id {_clip(str(ident))}: " if isinstance(ident, str | int) and ident != "" else ""
            invalid.append((index, f"{label}{error.reason}"))
    total = _optional_count(body, "total")
    pages = _optional_count(body, "pages")
    if pages is None:
        if total is not None and per_page:
            pages = math.ceil(total / per_page)
        elif per_page and len(data) >= per_page:
            pages = page + 1
        else:
            pages = page
    if total is None:
        total = (page - 1) * (per_page or len(data)) + len(data)
    return EmployeePage(employees=employees, invalid=invalid, page=page, pages=pages, total=total)


def parse_employments(body: Any) -> list[dict[str, Any]]:
    """Every employment of an employee from `{data: [...]}` or a bare list; any bad one raises."""
    if isinstance(body, dict) and "data" in body:
        body = body["data"]
    if body is None:
        return []
    if not isinstance(body, list):
        raise InvalidRecord(f"employments must be a list, got {type(body).__name__}")
    out = []
    for index, item in enumerate(body):
        try:
            out.append(parse_employment(item))
        except InvalidRecord as error:
            raise InvalidRecord(f"employments[{index}]: {error.reason}") from None
    return out


def unwrap_employee(body: Any) -> Any:
    """The single-employee endpoint answers either the object or `{data: object}`."""
    if isinstance(body, dict) and "id" not in body and isinstance(body.get("data"), dict):
        return body["data"]
    return body


def _require_object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, Mapping):
        raise InvalidRecord(f"{what} must be an object, got {type(obj).__name__}")
    try:
        copied: dict[str, Any] = _copy(obj)
        return copied
    except _Unstorable:
        raise InvalidRecord(
            f"{what} holds text with a NUL character or a lone surrogate, which PostgreSQL cannot store"
        ) from None


# JSON may carry "\u0000" and unpaired "\ud800"; jsonb refuses both, and one such record would make
# the statement storing its whole page or batch fail.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class _Unstorable(Exception):
    pass


def _copy(value: Any) -> Any:
    # Cheaper than deepcopy for JSON trees, and leaves the caller's object untouched.
    if isinstance(value, Mapping):
        return {_storable(key): _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return _storable(value)


def _storable(value: Any) -> Any:
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise _Unstorable
    return value


def _require_id(record: dict[str, Any], what: str) -> None:
    ident = record.get("id")
    if ident is None:
        raise InvalidRecord(f"{what}.id is missing")
    if not isinstance(ident, str) or not ident.strip():
        raise InvalidRecord(f"{what}.id must be a non-empty string, got {_describe(ident)}")


def _check_date(record: dict[str, Any], name: str, where: str) -> None:
    value = record.get(name)
    if value is None:
        return
    try:
        parse_date(value)
    except InvalidRecord as error:
        raise InvalidRecord(f"{where}.{name}: {error.reason}") from None


def _normalise_number(record: dict[str, Any], name: str, where: str) -> None:
    # Decimal strings ("3512.50") are accepted and turned into numbers so comparisons downstream
    # are numeric; booleans are rejected even though Python counts them as ints.
    value = record.get(name)
    if value is None:
        return
    if isinstance(value, bool):
        raise InvalidRecord(f"{where}.{name} must be a number, got {_describe(value)}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRecord(f"{where}.{name} must be a finite number")
        return
    if isinstance(value, str) and _NUMBER_RE.match(value.strip()):
        text = value.strip()
        record[name] = float(text) if "." in text else int(text)
        return
    raise InvalidRecord(f"{where}.{name} must be a number, got {_describe(value)}")


def _optional_count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRecord(f"employee page '{name}' must be a whole number, got {_describe(value)}")
    try:
        number = int(value)
    except ValueError:
        raise InvalidRecord(
            f"employee page '{name}' must be a whole number, got {_describe(value)}"
        ) from None
    if number < 0 or number != float(value):
        raise InvalidRecord(f"employee page '{name}' must be a whole number, got {_describe(value)}")
    return number


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"string {_clip(value)!r}"
    return type(value).__name__


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
