"""Record validation shared by the API parser (employes/models.py) and the timeline builder (timeline.py).

One grammar for dates, one for numbers (money and hours, as `Decimal`), one check for text and ids,
so a record the parser accepts is never refused by the timeline for reading a field differently.

Every reason names the field and what is wrong with it, never the value: a reason is stored in
`invalid_employees` and batch results, shown in the status and logged, and the value may be a wage,
a name, a date of birth or an address. Reasons read `<where>: <what is wrong>`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "InvalidRecord",
    "check_record",
    "check_text",
    "employee_id",
    "optional_date",
    "parse_date",
    "parse_number",
    "record_id",
    "required_date",
]


class InvalidRecord(ValueError):
    """A record the pipeline cannot use; `reason` is one line naming the field, never its value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Employes sends local calendar dates as midnight timestamps (`2024-09-01T00:00:00`); plain dates and
# fractional seconds are tolerated: nothing downstream needs more than the calendar day. The time, when
# present, must still be a time of day. A timestamp with a zone (`Z`, `+02:00`) is an instant, and its
# day is the Dutch calendar day of that instant (see _dutch_day).
_DATE_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_DATE_FORM = "expected YYYY-MM-DD[THH:MM:SS]"
# Plain decimal notation only: no exponents, no locale separators, no NaN/Infinity, ASCII digits only.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_NUMBER_TEXT = 32
# A field name is shown in a reason only when it looks like one (a hostile key is data, not a name).
_FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# jsonb refuses NUL and unpaired surrogates; one such string would fail the statement storing the
# whole page or batch, so the record holding it is refused alone.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_UNSAFE_ID = re.compile(r"[/\\?#\x00-\x1f\x7f]")


@lru_cache(maxsize=16384)
def _date_from_text(text: str) -> date | None:
    # Cached because a company's records repeat the same few hundred dates thousands of times.
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    if hour is not None and (int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59):
        return None
    try:
        written = date(int(year), int(month), int(day))
    except ValueError:
        return None
    if zone is None or hour is None:
        return written  # a local time, or a day with no time: the day as written
    if (int(hour), int(minute)) == (23, 59):
        # The last minute of a day is how an inclusive end is written (`2024-03-31T23:59:59Z`): it names
        # that day, in whichever zone; read as an instant it would be the next Dutch day.
        return written
    if zone == "Z":
        offset = 0
    else:
        digits = zone[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return None
        offset = (int(digits[:2]) * 60 + int(digits[2:])) * (-1 if zone[0] == "-" else 1)
    at = datetime(written.year, written.month, written.day, int(hour), int(minute), int(second or 0))
    return _dutch_day(at, offset)


def _dutch_day(at: datetime, offset_minutes: int) -> date:
    """The calendar day in the Netherlands of the instant ``at`` written at ``offset_minutes`` from UTC.

    One instant can be written in two zones: 1 Apr 2024 00:00 in Amsterdam is `2024-04-01T00:00:00+02:00`
    and `2024-03-31T22:00:00Z`. Keeping the written day read those as 1 Apr and 31 Mar, so an end and
    the next start written in different zones left a false one-day gap ("Employment ended", then a
    re-hire). Employes is Dutch payroll and its days are Dutch days: Central European Time, UTC+1, and
    summer time, UTC+2, from the last Sunday of March to the last Sunday of October at 01:00 UTC (the
    EU rule since 1996; computed here, not read from a time-zone database, so every machine agrees).
    An instant beyond the calendar's range (year 1 or 9999) keeps its written day.
    """
    try:
        utc = at - timedelta(minutes=offset_minutes)
        summer = _last_sunday_01_utc(utc.year, 3) <= utc < _last_sunday_01_utc(utc.year, 10)
        return (utc + timedelta(hours=2 if summer else 1)).date()
    except OverflowError:
        return at.date()


def _last_sunday_01_utc(year: int, month: int) -> datetime:
    last = datetime(year, month, 31, 1)  # March and October both have 31 days
    return last - timedelta(days=(last.weekday() + 1) % 7)


def parse_date(value: object, where: str = "date") -> date:
    """The calendar day of an API date; a `date` (or datetime) passes as its day."""
    if isinstance(value, str):
        # Long strings are never dates; checking first keeps them out of the cache.
        parsed = _date_from_text(value) if len(value) <= 40 else None
        if parsed is not None:
            return parsed
        raise InvalidRecord(f"{where}: not a date ({_DATE_FORM})")
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    raise InvalidRecord(f"{where}: not a date ({type(value).__name__})")


def optional_date(obj: Mapping[str, Any], key: str, where: str) -> date | None:
    """An open period has no end date: a missing key, null and "" all mean none."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    return parse_date(value, f"{where}.{key}")


def required_date(obj: Mapping[str, Any], key: str, where: str) -> date:
    value = obj.get(key)
    if value is None or value == "":
        raise InvalidRecord(f"{where}.{key}: missing")
    return parse_date(value, f"{where}.{key}")


def parse_number(
    value: object, where: str, *, lower: Decimal | None = None, upper: Decimal | None = None
) -> Decimal | None:
    """A number as `Decimal` (money must subtract exactly), from a JSON number or a plain decimal string.

    None and "" mean absent. Booleans are refused although Python counts them as ints, and so are
    NaN and the infinities (`1e400` parses to inf). `lower`/`upper` bound the value when given.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"{where}: not a number (bool)")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"{where}: not a finite number")
        number = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMBER_TEXT or _NUMBER_RE.fullmatch(text) is None:
            raise InvalidRecord(f"{where}: not a number (str)")
        number = Decimal(text)
    else:
        raise InvalidRecord(f"{where}: not a number ({type(value).__name__})")
    if (lower is not None and number < lower) or (upper is not None and number > upper):
        raise InvalidRecord(f"{where}: out of range")
    return number


def check_text(value: str, where: str) -> str:
    """Text PostgreSQL can store (no NUL, no lone surrogate), returned unchanged."""
    if _UNSTORABLE.search(value):
        raise InvalidRecord(
            f"{where}: contains a NUL character or a lone surrogate, which PostgreSQL cannot store"
        )
    return value


def record_id(value: object, where: str, *, integers: bool = True) -> str | None:
    """The id of a nested record (an employment, a period), or None when absent.

    The API sends string ids; the timeline also takes integers (`integers=True`), as stored data
    written by older versions may hold them.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        return check_text(value, where)
    if integers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidRecord(f"{where}: not an id ({type(value).__name__})")


def employee_id(value: object, where: str = "employee.id") -> str:
    """An employee id, which becomes a path segment of API URLs and a key in every table.

    `.` and `..` would address another endpoint even when quoted, `/` another path; empty ids and
    control characters are no one's id.
    """
    if value is None:
        raise InvalidRecord(f"{where}: missing")
    if not isinstance(value, str):
        raise InvalidRecord(f"{where}: not a string ({type(value).__name__})")
    if not value.strip() or value in (".", "..") or _UNSAFE_ID.search(value):
        raise InvalidRecord(
            f"{where}: not a usable id (empty, a dot segment, or with a slash or a control character)"
        )
    return check_text(value, where)


#: Levels of objects and lists a record may have; a payroll record has four or five.
MAX_DEPTH = 32


def check_record(obj: object, where: str) -> dict[str, Any]:
    """A copy of one JSON object that PostgreSQL will store: every string storable, every number finite.

    A NaN or an infinity anywhere makes this one record invalid instead of failing the statement that
    stores its page. A record nested deeper than MAX_DEPTH is invalid too: the JSON parser reads about
    a thousand levels, and what stores and redacts a record walks it recursively. The copy leaves the
    caller's object untouched.

    Nearly every record is fine, so it is first copied without naming a path for every field: that
    naming was most of this function's cost, about 6 % of the operator's CPU at 200 resources syncing
    at once. Only a record that fails is walked again to say where (`_checked_copy_naming_paths`).
    """
    if not isinstance(obj, Mapping):
        raise InvalidRecord(f"{where}: not an object ({type(obj).__name__})")
    try:
        copy: dict[str, Any] = _checked_copy(obj, 1)
    except _Unfit:
        return _checked_copy_naming_paths(obj, where)  # raises InvalidRecord, naming the field
    return copy


class _Unfit(Exception):
    """Something in a record that `_checked_copy_naming_paths` will refuse, with its reason."""


def _checked_copy(source: Any, depth: int) -> Any:
    """`check_record`'s copy, or _Unfit: recursive, as the depth is bounded (MAX_DEPTH frames)."""
    if depth > MAX_DEPTH:
        raise _Unfit
    unstorable = _UNSTORABLE.search
    if isinstance(source, Mapping):
        items: Any = source.items()
        copy: Any = {}
    else:
        items = enumerate(source)
        copy = [None] * len(source)
    for key, item in items:
        if isinstance(key, str) and unstorable(key):
            raise _Unfit
        if isinstance(item, str):
            if unstorable(item):
                raise _Unfit
        elif isinstance(item, dict | list) or isinstance(item, Mapping):
            item = _checked_copy(item, depth + 1)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _Unfit
        copy[key] = item
    return copy


def _checked_copy_naming_paths(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`check_record` walking with the path of every field, for the reason a failing record gets.

    Without recursion: a record thousands of levels deep must end in "nested too deeply", not in
    RecursionError.
    """
    root: dict[str, Any] = {}
    # (what is copied, its copy, its path, its depth, the path of the record's field it is in)
    stack: list[tuple[Any, Any, str, int, str]] = [(obj, root, where, 1, where)]
    while stack:
        source, target, path, depth, field = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidRecord(f"{field}: nested too deeply (more than {MAX_DEPTH} levels)")
        items = source.items() if isinstance(source, Mapping) else enumerate(source)
        for key, item in items:
            if isinstance(key, str):
                check_text(key, f"{path}: a field name")
                here = f"{path}.{key}" if _FIELD_RE.fullmatch(key) else f"{path}.…"
            else:
                here = f"{path}[{key}]"
            if isinstance(item, Mapping):
                child: Any = {}
                stack.append((item, child, here, depth + 1, field if depth > 1 else here))
            elif isinstance(item, list):
                child = [None] * len(item)
                stack.append((item, child, here, depth + 1, field if depth > 1 else here))
            else:
                if isinstance(item, str):
                    check_text(item, here)
                elif isinstance(item, float) and not math.isfinite(item):
                    raise InvalidRecord(f"{here}: not a finite number")
                child = item
            target[key] = child
    return root
