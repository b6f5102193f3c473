"""3. Timeline throughput: employees per second turned from stored raw data into timeline events.

Data: the simulator's deterministic company (`fakedata.generate_company`, seed 1), stored once into
`employes_raw_data` with our store (no API involved). Every run starts from an empty timeline table
(TRUNCATE), so every event is written, and both sides run on the same database.

Ours: `processing.rebuild_timelines` (one read of the latest raw data, set-based idempotent writes,
500 employees per statement). Reference: the original `process-timeline` (`baseline_original.
OriginalStore.process_timeline`): per employee a SELECT of its raw data, per event a SELECT then an
INSERT. Both derive events with the same pure `build_timeline`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from baseline_original import OriginalStore
from common import Postgres, Result, Row, log, median, migrated_pool
from employes_sync.employes.fakedata import AS_OF, DEMO_COMPANY_ID, generate_company
from employes_sync.processing import rebuild_timelines
from employes_sync.store import raw as raw_store

SCOPE = f"local/{DEMO_COMPANY_ID}"
TARGET_RATIO = 10.0


async def seed(url: str, employees: int) -> list[str]:
    company = generate_company(employees, 1)
    async with migrated_pool(url) as pool:
        for start in range(0, len(company), 500):
            part = company[start : start + 500]
            await raw_store.store_employees(pool, SCOPE, [sim.employee for sim in part])
            await raw_store.store_employments(pool, SCOPE, {sim.id: sim.employments for sim in part})
    return [sim.id for sim in company]


def _truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE employes_timeline_v2")
        conn.execute("VACUUM ANALYZE employes_timeline_v2")


async def ours_once(url: str) -> dict[str, Any]:
    _truncate(url)
    async with migrated_pool(url) as pool:
        started = time.monotonic()
        result = await rebuild_timelines(pool, SCOPE, as_of=AS_OF)
        seconds = time.monotonic() - started
    return {"seconds": seconds, "employees": result.employees, "events": result.events_created}


def baseline_once(url: str, ids: list[str]) -> dict[str, Any]:
    _truncate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        store = OriginalStore(conn, SCOPE)
        started = time.monotonic()
        events = store.process_timeline(ids)
        seconds = time.monotonic() - started
    return {"seconds": seconds, "employees": len(ids), "events": events, "statements": store.statements}


def run(pg: Postgres, employees: int, runs: int) -> Result:
    result = Result("throughput")
    ours: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    with pg.database("thr") as url:
        ids = asyncio.run(seed(url, employees))
        for i in range(runs):
            ours.append(asyncio.run(ours_once(url)))
            log(f"throughput ours run {i + 1}: {ours[-1]['seconds']:.2f} s, {ours[-1]['events']} events")
            base.append(baseline_once(url, ids))
            log(f"throughput original run {i + 1}: {base[-1]['seconds']:.2f} s, {base[-1]['events']} events")
    result.raw = {"employees": employees, "ours": ours, "baseline": base}
    ours_s = median([r["seconds"] for r in ours])
    base_s = median([r["seconds"] for r in base])
    ratios = [b["seconds"] / o["seconds"] for o, b in zip(ours, base, strict=True)]
    ratio = median(ratios)
    events = ours[0]["events"] if ours else 0
    same = all(r["events"] == events for r in ours + base)
    result.rows.append(
        Row(
            benchmark="3. timeline throughput",
            metric=f"{employees:,} employees from stored raw data ({events:,} events)",
            ours=f"{employees / ours_s:,.0f} employees/s ({ours_s:.2f} s)" if ours_s else "n/a",
            reference=f"{employees / base_s:,.0f} employees/s ({base_s:.2f} s)" if base_s else "n/a",
            ratio=f"{ratio:.1f}x faster" if ratio else "n/a",
            target=f">= {TARGET_RATIO:.0f}x",
            met="yes" if ratio and ratio >= TARGET_RATIO else "no",
            runs=f"{len(ours)} each, alternating",
            note=(
                f"ratio = median of per-pair ratios; original: {base[0]['statements']:,} statements per run"
                if base
                else ""
            )
            + ("" if same else "; CHECK FAILED: event counts differ"),
        )
    )
    return result
