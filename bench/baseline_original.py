"""The original design (`shared/reference/original-hybrid-sync.md`), rebuilt faithfully for comparison.

`employes-simple-sync-hybrid` did, in this order:

1. fetch all employees from the API (every page);
2. fetch all employments for each employee, one request after the other;
3. store each response in `employes_raw_data` with SHA-256 de-duplication (a SELECT of the latest
   row's hash, then an UPDATE of `last_verified_at` or a retire-and-INSERT), one record at a time;
4. then, "IF user waiting", invoke `process-timeline` for the first 5 employees and wait for it;
5. queue the rest.

`process-timeline` reads `employes_raw_data` for each employee, derives the events, and for every
event SELECTs whether it already exists before INSERTing it ("check for duplicates").

Two deliberate choices, both in the baseline's favour:

- The original ignored the API's 5 requests/second limit and had no backoff; against an API that
  enforces the limit it would have lost employees to 429s. The baseline paces its sequential requests
  at the limit (a token bucket) so that it gets complete data without a single 429, which makes it as
  fast as a sequential fetch-everything design can legally be.
- Event derivation is the same pure `build_timeline` our code uses, so only the I/O pattern (fetch
  order, per-record and per-event statements) differs between the two.

Statements go through one autocommit connection, as each Supabase client call was its own request
and transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from employes_sync.employes.client import EmployesClient
from employes_sync.employes.errors import NotFoundError
from employes_sync.employes.fakedata import AS_OF
from employes_sync.employes.ratelimit import TokenBucket
from employes_sync.store.raw import DEFAULT_REDACT, canonical_json, data_hash, redact
from employes_sync.timeline import InvalidRecord, TimelineEvent, build_timeline

# -- SQL of the original (per record, per event), against the same tables ------------------------

SELECT_LATEST_HASH = """
SELECT id, data_hash FROM employes_raw_data
 WHERE scope = %(scope)s AND employee_id = %(employee_id)s AND endpoint = %(endpoint)s AND is_latest
"""
TOUCH_VERIFIED = "UPDATE employes_raw_data SET last_verified_at = now() WHERE id = %(id)s"
RETIRE_LATEST = "UPDATE employes_raw_data SET is_latest = false WHERE id = %(id)s"
INSERT_RAW = """
INSERT INTO employes_raw_data (scope, employee_id, endpoint, api_response, data_hash, dt_update)
VALUES (%(scope)s, %(employee_id)s, %(endpoint)s, %(api_response)s::jsonb, %(data_hash)s, %(dt_update)s)
"""
SELECT_RAW_FOR_EMPLOYEE = """
SELECT endpoint, api_response FROM employes_raw_data
 WHERE scope = %(scope)s AND employee_id = %(employee_id)s AND is_latest
"""
SELECT_EVENT_EXISTS = """
SELECT id FROM employes_timeline_v2
 WHERE scope = %(scope)s AND employee_id = %(employee_id)s AND event_type = %(event_type)s
   AND event_date = %(event_date)s AND event_key = %(event_key)s
 LIMIT 1
"""
INSERT_EVENT = """
INSERT INTO employes_timeline_v2
       (scope, employee_id, event_type, event_date, event_title, event_description, event_data, event_key)
VALUES (%(scope)s, %(employee_id)s, %(event_type)s, %(event_date)s, %(event_title)s,
        %(event_description)s, %(event_data)s::jsonb, %(event_key)s)
"""


@dataclass
class BaselineResult:
    employees: int = 0
    requests: int = 0
    events_created: int = 0
    statements: int = 0
    seconds_fetching: float = 0.0
    time_to_first_feedback: float | None = None


class OriginalStore:
    """The original's per-record raw store and per-event timeline writer on one autocommit connection."""

    def __init__(self, conn: psycopg.Connection[Any], scope: str) -> None:
        self.conn = conn
        self.scope = scope
        self.statements = 0

    def _execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        self.statements += 1
        cur = self.conn.execute(sql, params)
        return cur.fetchall() if cur.description else []

    def store_raw(self, employee_id: str, endpoint: str, response: Any, dt_update: str | None = None) -> str:
        clean = redact(response, DEFAULT_REDACT)
        digest = data_hash(clean)
        key = {"scope": self.scope, "employee_id": employee_id, "endpoint": endpoint}
        rows = self._execute(SELECT_LATEST_HASH, key)
        if rows and rows[0][1] == digest:
            self._execute(TOUCH_VERIFIED, {"id": rows[0][0]})
            return "unchanged"
        if rows:
            self._execute(RETIRE_LATEST, {"id": rows[0][0]})
        self._execute(
            INSERT_RAW,
            {**key, "api_response": canonical_json(clean), "data_hash": digest, "dt_update": dt_update},
        )
        return "changed" if rows else "new"

    def process_timeline(
        self, employee_ids: Sequence[str], loaded: dict[str, tuple[Any, Any]] | None = None
    ) -> int:
        """`process-timeline`: per employee read its raw data, per event SELECT, then INSERT if absent."""
        created = 0
        for employee_id in employee_ids:
            if loaded is not None and employee_id in loaded:
                employee, employments = loaded[employee_id]
            else:
                rows = self._execute(
                    SELECT_RAW_FOR_EMPLOYEE, {"scope": self.scope, "employee_id": employee_id}
                )
                found = {endpoint: body for endpoint, body in rows}
                employee, employments = found.get("/employee"), found.get("/employments")
            if employee is None:
                continue
            try:
                events = build_timeline(employee, employments, as_of=AS_OF)
            except InvalidRecord:
                continue
            for event in events:
                created += self.insert_event(event)
        return created

    def insert_event(self, event: TimelineEvent) -> int:
        params = {
            "scope": self.scope,
            "employee_id": event.employee_id,
            "event_type": event.event_type,
            "event_date": event.event_date,
            "event_title": event.event_title,
            "event_description": event.event_description,
            "event_data": canonical_json(event.event_data),
            "event_key": event.event_key,
        }
        if self._execute(SELECT_EVENT_EXISTS, params):
            return 0
        self._execute(INSERT_EVENT, params)
        return 1


async def hybrid_sync_first_feedback(
    api_url: str,
    company_id: str,
    token: str,
    dsn: str,
    scope: str,
    *,
    requests_per_second: float = 5.0,
    inline_count: int = 5,
    on_request: Callable[[], None] | None = None,
) -> BaselineResult:
    """`employes-simple-sync-hybrid` up to the moment its first 5 timelines are in PostgreSQL.

    The queueing of the rest (step 5) comes after first feedback, so it is not part of the figure.
    """
    result = BaselineResult()
    started = time.monotonic()
    limiter = TokenBucket(requests_per_second)
    with psycopg.connect(dsn, autocommit=True) as conn:
        store = OriginalStore(conn, scope)
        async with EmployesClient(api_url, company_id, token, limiter=limiter) as client:
            # 1. every employee
            employees: list[dict[str, Any]] = []
            async for page in client.iter_employee_pages():
                result.requests += 1
                employees.extend(page.employees)
            # 2. + 3. every employment, sequentially, each response stored as it arrives
            for employee in employees:
                store.store_raw(employee["id"], "/employee", employee, employee.get("dt_update"))
            for employee in employees:
                try:
                    employments: list[dict[str, Any]] = await client.get_employments(employee["id"])
                except NotFoundError:
                    employments = []
                result.requests += 1
                store.store_raw(employee["id"], "/employments", employments)
        result.seconds_fetching = time.monotonic() - started
        result.employees = len(employees)
        # 4. the first five, inline, reading back what was stored (as process-timeline did)
        first = [employee["id"] for employee in employees[:inline_count]]
        result.events_created = store.process_timeline(first)
        result.time_to_first_feedback = time.monotonic() - started
        result.statements = store.statements
    return result
