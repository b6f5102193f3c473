"""1. Time to first feedback: start of a sync -> the first 5 employees' timelines are in PostgreSQL.

Ours: `pipeline.start_run` (exactly what `employes-sync sync` and the operator run), timed from the
call to the moment its "inline" progress event fires (the events are committed by then); the run is
then stopped, since nothing after that point is part of this figure. Checked afterwards: 5 employees
have events in the database.

Reference: `baseline_original.hybrid_sync_first_feedback`, the original's order of work (every
employee, every employment, then the first five), on the same simulator at the same limit.

Each run gets a fresh database and a full rate-limit bucket; ours and the baseline's runs alternate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from baseline_original import hybrid_sync_first_feedback
from common import (
    TOKEN,
    Postgres,
    Result,
    Row,
    fmt,
    fresh_api,
    log,
    median,
    migrated_pool,
    requests_needed,
    settings_for,
    simulator,
)
from employes_sync.pipeline import start_run

TARGET_SECONDS = 1.5


class _FirstFeedback(Exception):
    pass


async def ours_once(pg: Postgres, sim: Any) -> dict[str, Any]:
    with pg.database("ttff") as url:
        async with migrated_pool(url) as pool:
            settings = settings_for(sim)
            seen: dict[str, float] = {}

            def progress(event: str, fields: dict[str, Any]) -> None:
                if event == "inline":
                    seen["at"] = time.monotonic()
                    raise _FirstFeedback

            fresh_api(sim)
            started = time.monotonic()
            try:
                await start_run(settings, pool, TOKEN, progress=progress)
            except _FirstFeedback:
                pass
            seconds = seen["at"] - started
            requests, limited = sim.stats.total, sim.stats.rate_limited
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(DISTINCT employee_id) FROM employes_timeline_v2").fetchone()
    return {
        "seconds": seconds,
        "requests": requests,
        "rate_limited": limited,
        "employees_with_events": row[0],
    }


async def baseline_once(pg: Postgres, sim: Any) -> dict[str, Any]:
    with pg.database("ttffb") as url:
        async with migrated_pool(url):
            pass
        settings = settings_for(sim)
        fresh_api(sim)
        result = await hybrid_sync_first_feedback(
            settings.api_url, settings.company_id, TOKEN, url, settings.scope
        )
        requests, limited = sim.stats.total, sim.stats.rate_limited
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(DISTINCT employee_id) FROM employes_timeline_v2").fetchone()
    return {
        "seconds": result.time_to_first_feedback,
        "requests": requests,
        "rate_limited": limited,
        "employees_with_events": row[0],
        "statements": result.statements,
    }


def run(pg: Postgres, sizes: list[int], runs: int, baseline_runs: dict[int, int]) -> Result:
    """baseline_runs: runs of the baseline per size (0 = derived from the largest measured size)."""
    result = Result("ttff")
    for size in sizes:
        ours: list[dict[str, Any]] = []
        base: list[dict[str, Any]] = []
        with simulator(size) as sim:
            for i in range(max(runs, baseline_runs.get(size, 0))):
                if i < runs:
                    ours.append(asyncio.run(ours_once(pg, sim)))
                    log(f"ttff ours n={size} run {i + 1}: {ours[-1]['seconds']:.2f} s")
                if i < baseline_runs.get(size, 0):
                    base.append(asyncio.run(baseline_once(pg, sim)))
                    log(f"ttff baseline n={size} run {i + 1}: {base[-1]['seconds']:.1f} s")
        result.raw[str(size)] = {"ours": ours, "baseline": base}

    for size in sizes:
        ours = result.raw[str(size)]["ours"]
        base = result.raw[str(size)]["baseline"]
        ours_median = median([r["seconds"] for r in ours])
        base_median = median([r["seconds"] for r in base])
        runs_text = f"ours {len(ours)}, original {len(base)}"
        note = ""
        if base_median is None:
            derived = _derive(result, size)
            if derived is not None:
                base_median, from_size = derived
                runs_text = f"ours {len(ours)}, original derived"
                note = (
                    f"original DERIVED, not measured: its median at {from_size} employees plus "
                    f"{requests_needed(size) - requests_needed(from_size)} more requests at its measured "
                    "seconds per request"
                )
        limited = sum(r["rate_limited"] for r in ours)
        checked = all(r["employees_with_events"] == 5 for r in ours)
        if limited:
            note = (note + "; " if note else "") + f"{limited} x 429 during our runs"
        if not checked:
            note = (note + "; " if note else "") + "CHECK FAILED: not exactly 5 employees with events"
        ratio = f"{base_median / ours_median:,.0f}x faster" if ours_median and base_median else "n/a"
        met = "n/a" if ours_median is None else ("yes" if ours_median < TARGET_SECONDS else "no")
        result.rows.append(
            Row(
                benchmark="1. time to first feedback",
                metric=f"{size:,} employees",
                ours=fmt(ours_median, "s"),
                reference=fmt(base_median, "s", 1) + (" (derived)" if "DERIVED" in note else ""),
                ratio=ratio,
                target=f"< {TARGET_SECONDS} s",
                met=met,
                runs=runs_text,
                note=note,
            )
        )
    return result


def _derive(result: Result, size: int) -> tuple[float, int] | None:
    """The baseline at `size` from the largest size it was measured at: its cost is per request."""
    measured = [
        (int(s), median([r["seconds"] for r in data["baseline"]]), data["baseline"])
        for s, data in result.raw.items()
        if data["baseline"]
    ]
    if not measured:
        return None
    from_size, seconds, _runs = max(measured, key=lambda m: m[0])
    assert seconds is not None
    per_request = seconds / requests_needed(from_size)
    result.notes.append(
        f"original at {size:,} employees derived from its {from_size:,}-employee median: "
        f"{seconds:.1f} s / {requests_needed(from_size)} requests = {per_request * 1000:.1f} ms per request"
    )
    return seconds + (requests_needed(size) - requests_needed(from_size)) * per_request, from_size
