"""Timeline events: their types, their order within a day, their keys, and the collector rules write to.

A key names *which* event it is (the salary change of employment E on day D), never *what it says*: a
correction upstream (a later end date, a signature, a back-dated wage) or another locale changes the
row's content under the same key, and the store updates it instead of adding a second event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from .kinds import EVENT_ORDER
from .wording import Wording


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One row of ``employes_timeline_v2``; ``event_key`` is what the store upserts on."""

    employee_id: str
    event_type: str
    event_date: date
    event_title: str
    event_description: str
    event_data: dict[str, Any]
    event_key: str
    #: Position of the type within a day (``EVENT_ORDER``); the store sorts by (event_date, event_order).
    event_order: int = 0


def to_json(data: dict[str, Any]) -> dict[str, Any]:
    """Rule data (flat: Decimal, date, str, bool, int, None) as JSON-ready values.

    Numbers stay JSON numbers, so SQL can do ``(event_data->>'amount')::numeric``; whole ones are
    integers. One loop without calls: it runs for every value of every event.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        kind = type(value)
        if kind is Decimal:
            number = float(value)
            out[key] = int(number) if number.is_integer() else number
        elif kind is date:
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _key_part(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# JSON of a list of strings is unambiguous whatever the strings contain; one encoder, built once.
_encode_key = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Collector:
    """One employee's events: planned-marked, worded, keyed and de-duplicated."""

    __slots__ = ("as_of", "by_key", "employee_id", "wording")

    def __init__(self, employee_id: str, as_of: date, wording: Wording) -> None:
        self.employee_id = employee_id
        self.as_of = as_of
        self.wording = wording
        self.by_key: dict[str, TimelineEvent] = {}

    def add(
        self, event_type: str, event_date: date, data: dict[str, Any], family: str, *identity: object
    ) -> None:
        """``family`` and ``identity`` name the event; they must not contain anything a correction changes."""
        data["planned"] = event_date > self.as_of
        title, description = self.wording.render(event_type, event_date, data)
        parts = [self.employee_id, family, *map(_key_part, identity)]
        digest = hashlib.sha256(_encode_key(parts).encode()).hexdigest()[:32]
        event = TimelineEvent(
            self.employee_id,
            event_type,
            event_date,
            title,
            description,
            to_json(data),
            digest,
            EVENT_ORDER[event_type],
        )
        existing = self.by_key.get(digest)
        # parse_employee keeps one copy of a repeated employment, so a collision is a defence only; its
        # winner must still not depend on the input's order.
        if existing is None or _tiebreak(event) < _tiebreak(existing):
            self.by_key[digest] = event

    def result(self) -> list[TimelineEvent]:
        return sorted(self.by_key.values(), key=sort_key)


def sort_key(event: TimelineEvent) -> tuple[date, int, str]:
    return (event.event_date, event.event_order, event.event_key)


def _tiebreak(event: TimelineEvent) -> tuple[str, str, str, str]:
    return (
        event.event_date.isoformat(),
        event.event_title,
        event.event_description,
        json.dumps(event.event_data, sort_keys=True),
    )
