"""Raw Employes.nl employee + employments -> timeline events.

Pure on purpose: no I/O and no clock. ``as_of`` is the day the timeline is built for (the run's date,
the demo data's date, or what ``rebuild --as-of`` names): contracts that lapsed before it are reported,
events after it are marked planned, and someone out of service is not given a departure on a contract
end still to come. The inline part of a run, the batch workers and ``employes-sync
rebuild`` all call :func:`build_timeline` on stored raw data, and the store upserts the result on
``event_key``; so the same input gives the same rows on every machine and every rebuild, whatever order
the API listed periods in.

The package: ``records`` parses, ``rules`` (with ``contracts`` and ``pay``) decides which events there
are, ``wording`` writes their titles in English or Dutch, ``events`` keys and orders them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from .events import Collector, TimelineEvent, sort_key
from .kinds import (
    CONTRACT_ADDED,
    CONTRACT_ENDED,
    CONTRACT_EXPIRED_UNRENEWED,
    CONTRACT_RENEWED,
    CONTRACT_STARTED,
    DEPARTURE_TYPES,
    EMPLOYEE_ADDED,
    EVENT_ORDER,
    EVENT_TYPES,
    HOURS_CHANGE,
    PAY_BASIS_CHANGE,
    SALARY_DECREASE,
    SALARY_INCREASE,
)
from .records import CURRENT_EMPLOYMENT_ID, InvalidRecord, parse_employee
from .rules import derive
from .wording import LOCALES, wording_for

__all__ = [
    "CONTRACT_ADDED",
    "CONTRACT_ENDED",
    "CONTRACT_EXPIRED_UNRENEWED",
    "CONTRACT_RENEWED",
    "CONTRACT_STARTED",
    "CURRENT_EMPLOYMENT_ID",
    "DEFAULT_LOCALE",
    "DEPARTURE_TYPES",
    "EMPLOYEE_ADDED",
    "EVENT_ORDER",
    "EVENT_TYPES",
    "HOURS_CHANGE",
    "LOCALES",
    "PAY_BASIS_CHANGE",
    "SALARY_DECREASE",
    "SALARY_INCREASE",
    "InvalidRecord",
    "TimelineEvent",
    "build_timeline",
    "sort_key",
]

DEFAULT_LOCALE = "en"


def build_timeline(
    employee: dict[str, Any],
    employments: list[dict[str, Any]] | None,
    *,
    as_of: date,
    locale: str = DEFAULT_LOCALE,
) -> list[TimelineEvent]:
    """Derive an employee's timeline events from the raw API records, as of the day ``as_of``.

    ``employments`` is what the employments endpoint returned; ``None`` or ``[]`` (not fetched, 404, or
    an employee without history) falls back to the employee's nested current ``employment``.
    Raises :class:`InvalidRecord` for input that cannot be understood, ``ValueError`` for an unknown
    locale, ``TypeError`` for an ``as_of`` that is not a date.
    """
    # A datetime is a date to isinstance, but compares with none: it would fail deep inside a rule.
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise TypeError(f"as_of must be a date, not {type(as_of).__name__}")
    wording = wording_for(locale)
    person = parse_employee(employee, employments)
    out = Collector(person.id, as_of, wording)
    derive(person, out, as_of)
    return out.result()
