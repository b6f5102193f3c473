"""Validation of Employes.nl API objects, kept as plain dicts.

The API's JSON is the currency from the client to the database (raw rows are hashed and diffed as
sent), so parsing checks only what the timeline relies on, never drops unknown fields and never
rewrites a value: `"3512.50"` stays the string the API sent, and the timeline reads it as `Decimal`.
Dates, numbers, text and ids are checked by `employes_sync.validation`, the same rules the timeline
applies. A bad record is named, not fatal: one employee with a broken date (or a NaN anywhere) must
not stop a page of 99 good ones. Reasons name the field, never its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from employes_sync.validation import (
    InvalidRecord,
    check_record,
    employee_id,
    optional_date,
    parse_date,
    parse_number,
    record_id,
    required_date,
)

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


@dataclass(frozen=True)
class EmployeePage:
    """One page of the employee list: the usable records, and the rejected ones by index and reason."""

    employees: list[dict[str, Any]]
    invalid: list[tuple[int, str]] = field(default_factory=list)
    page: int = 1
    pages: int = 1
    total: int = 0


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


def parse_employee(obj: Any) -> dict[str, Any]:
    """A validated copy of one employee; raises `InvalidRecord` naming the first bad field."""
    record = check_record(obj, "employee")
    employee_id(record.get("id"), "employee.id")
    for name in _EMPLOYEE_DATES:
        optional_date(record, name, "employee")
    for name in _EMPLOYEE_NUMBERS:
        _check_number(record, name, "employee")
    current = record.get("employment")
    if current is not None:
        if not isinstance(current, dict):
            raise InvalidRecord(f"employee.employment: not an object ({type(current).__name__})")
        optional_date(current, "start_date", "employee.employment")
        optional_date(current, "end_date", "employee.employment")
        for part, (dates, numbers) in _NESTED_EMPLOYMENT_PARTS.items():
            value = current.get(part)
            if value is None:
                continue
            where = f"employee.employment.{part}"
            if not isinstance(value, dict):
                raise InvalidRecord(f"{where}: not an object ({type(value).__name__})")
            for name in dates:
                optional_date(value, name, where)
            for name in numbers:
                _check_number(value, name, where)
    return record


def parse_employment(obj: Any) -> dict[str, Any]:
    """A validated copy of one employment with its salary, hours and contract periods."""
    record = check_record(obj, "employment")
    if record_id(record.get("id"), "employment.id", integers=False) is None:
        raise InvalidRecord("employment.id: missing")
    required_date(record, "start_date", "employment")
    optional_date(record, "end_date", "employment")
    for list_name, (dates, numbers) in _PERIOD_LISTS.items():
        periods = record.get(list_name)
        if periods is None:
            continue
        if not isinstance(periods, list):
            raise InvalidRecord(f"employment.{list_name}: not a list ({type(periods).__name__})")
        for index, period in enumerate(periods):
            where = f"employment.{list_name}[{index}]"
            if not isinstance(period, dict):
                raise InvalidRecord(f"{where}: not an object ({type(period).__name__})")
            required_date(period, "start_date", where)
            for name in dates:
                optional_date(period, name, where)
            for name in numbers:
                _check_number(period, name, where)
    return record


def parse_employee_page(body: Any, *, page: int = 1, per_page: int | None = None) -> EmployeePage:
    """Split one list response into valid employees and named rejects.

    A body without a `data` list raises `InvalidRecord` (the whole response is unusable, so the
    client retries it); single bad records only land in `invalid`. When `pages` is absent it is
    derived from `total` and `per_page`, and failing that a full page means "there may be more".
    """
    if not isinstance(body, dict):
        raise InvalidRecord(f"employee page: not an object ({type(body).__name__})")
    data = body.get("data")
    if not isinstance(data, list):
        raise InvalidRecord("employee page: no 'data' list")
    employees: list[dict[str, Any]] = []
    invalid: list[tuple[int, str]] = []
    for index, item in enumerate(data):
        try:
            employees.append(parse_employee(item))
        except InvalidRecord as error:
            invalid.append((index, f"{_label(item)}{error.reason}"))
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
        raise InvalidRecord(f"employments: not a list ({type(body).__name__})")
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


def _check_number(record: dict[str, Any], name: str, where: str) -> None:
    # Checked, not converted: the raw record is stored (and hashed) as the API sent it.
    parse_number(record.get(name), f"{where}.{name}")


def _optional_count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    wrong = InvalidRecord(f"employee page '{name}': not a whole number")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wrong
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise wrong from None
    if number < 0 or number != float(value):
        raise wrong
    return number


def _label(item: Any) -> str:
    """`id <id>: ` for a rejected record whose id is itself fine, so a person can find it upstream."""
    try:
        return f"id {employee_id(item.get('id'))}: " if isinstance(item, dict) else ""
    except InvalidRecord:
        return ""
