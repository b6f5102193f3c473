"""Raw API responses: redacted, hashed, de-duplicated, and stored one statement per page or batch.

The hash is over the redacted canonical JSON, so redaction never makes unchanged data look changed,
and a response that only gets re-read bumps ``last_verified_at`` instead of adding a row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from ._employee_locks import lock_employees
from ._retry import retry_races
from .queries import Q

# Personal data that has no place in a payroll timeline: the BSN and the bank account.
DEFAULT_REDACT: tuple[str, ...] = ("personal_identification_number", "iban")


@dataclass(frozen=True)
class RawResult:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    updated_ids: list[str] = field(default_factory=list)

    def __add__(self, other: RawResult) -> RawResult:
        return RawResult(
            self.new + other.new,
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            [*self.updated_ids, *other.updated_ids],
        )


def canonical_json(obj: Any) -> str:
    """One text per value: sorted keys, no whitespace, UTF-8 kept, so equal data hashes equally."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def data_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def redact(obj: Any, fields: Iterable[str]) -> Any:
    """A copy without the listed keys at any depth (inside nested objects and lists too).

    With no keys to drop, the value itself: nothing here or in its callers changes a record, and a
    caller that has redacted already (processing.py, which builds timelines from the redacted
    records it stores) passes none instead of paying for a second copy.
    """
    drop = frozenset(fields)
    if not drop:
        return obj

    def walk(value: Any) -> Any:
        # dict and list first: nearly every value is one, and the ABC check is slow.
        if isinstance(value, dict) or isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(obj)


def _dt_update(employee: Mapping[str, Any]) -> str | None:
    value = employee.get("dt_update")
    return None if value is None else str(value)


# Advisory-lock namespaces of the writers of employes_raw_data, one per endpoint.
_LOCKS = {"/employee": 0x52415745, "/employments": 0x5241574D}


@dataclass(frozen=True)
class _Row:
    """One record for a store statement: its columns, and its response as the canonical JSON it is
    hashed from. That text goes into the statement as it is: encoding the response a second time
    (psycopg's Jsonb) was about half of what storing a page cost in the operator."""

    employee_id: str
    response: str
    columns: dict[str, Any]

    @classmethod
    def of(cls, employee_id: str, clean: Any, **columns: Any) -> _Row:
        response = canonical_json(clean)
        digest = hashlib.sha256(response.encode("utf-8")).hexdigest()
        return cls(employee_id, response, {"employee_id": employee_id, "data_hash": digest, **columns})

    def json(self) -> str:
        head = json.dumps(self.columns, ensure_ascii=False)
        return f'{head[:-1]}, "api_response": {self.response}}}'


async def _store(
    pool: AsyncConnectionPool, query: str, endpoint: str, scope: str, rows: list[_Row]
) -> RawResult:
    if not rows:
        return RawResult()
    ids = [r.employee_id for r in rows]
    text = "[" + ",".join(r.json() for r in rows) + "]"  # cast to jsonb by the statement

    async def attempt() -> RawResult:
        async with pool.connection() as conn, conn.transaction():
            await lock_employees(conn, _LOCKS[endpoint], scope, ids)
            cur = await conn.execute(query, {"scope": scope, "rows": text})
            row = await cur.fetchone()
        assert row is not None
        return RawResult(int(row[0]), int(row[1]), int(row[2]), list(row[3]))

    return await retry_races(attempt)


async def store_employees(
    pool: AsyncConnectionPool,
    scope: str,
    employees: Sequence[Mapping[str, Any]],
    redact_fields: Iterable[str] = DEFAULT_REDACT,
) -> RawResult:
    """Store one page of employees in one statement (a repeated id keeps its last occurrence)."""
    fields = tuple(redact_fields)
    by_id: dict[str, _Row] = {}
    for employee in employees:
        employee_id = str(employee["id"])
        by_id[employee_id] = _Row.of(employee_id, redact(employee, fields), dt_update=_dt_update(employee))
    return await _store(pool, Q.store_employees, "/employee", scope, list(by_id.values()))


async def store_employments(
    pool: AsyncConnectionPool,
    scope: str,
    employments: Mapping[str, Sequence[Mapping[str, Any]]],
    redact_fields: Iterable[str] = DEFAULT_REDACT,
) -> RawResult:
    """Store each employee's employment list (an empty list too: "fetched, none") in one statement."""
    fields = tuple(redact_fields)
    rows = [
        _Row.of(str(employee_id), redact(list(items), fields)) for employee_id, items in employments.items()
    ]
    return await _store(pool, Q.store_employments, "/employments", scope, rows)


async def load_latest(
    pool: AsyncConnectionPool, scope: str, employee_ids: Sequence[str] | None = None
) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]] | None]]:
    """The stored employee and employments (None when never fetched) per employee, for timeline builds."""
    ids = None if employee_ids is None else [str(i) for i in employee_ids]
    async with pool.connection() as conn:
        cur = await conn.execute(Q.load_latest, {"scope": scope, "employee_ids": ids})
        rows = await cur.fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}
