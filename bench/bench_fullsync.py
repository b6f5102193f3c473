"""2. Full sync wall time against the floor, with 1, 2 and 4 workers; 429s from the simulator's stats.

The floor is the API requests a sync needs (every list page, then employments per employee) divided
by the API's limit (5/s): no client that respects the limit can be faster. Ours is `sync_locally`,
the whole local run (`employes-sync sync`): listing and the inline part in this process, batches in
`employes-sync worker` processes, the rate limit shared through PostgreSQL. Wall time runs from the
call to the finished run summary. The same runs sample the peak RSS of every worker process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
from employes_sync.executors.local import sync_locally
from rss import PeakRss, worker_children

TARGET_OVER_FLOOR = 0.15


async def once(pg: Postgres, sim: Any, workers: int) -> dict[str, Any]:
    with pg.database("full") as url:
        async with migrated_pool(url) as pool:
            settings = settings_for(sim)
            fresh_api(sim)
            with PeakRss(worker_children()) as rss:
                started = time.monotonic()
                summary = await sync_locally(settings, pool, url, TOKEN, workers=workers)
                seconds = time.monotonic() - started
            return {
                "seconds": seconds,
                "status": summary.status,
                "requests": sim.stats.total,
                "rate_limited": sim.stats.rate_limited,
                "by_status": sim.stats.by_status(),
                "events": summary.summary.get("events_created"),
                "worker_peak_rss_mib": rss.max_mib,
                "worker_processes": len(rss.peaks),
            }


def run(pg: Postgres, sizes: list[int], workers: list[int], runs: dict[int, int]) -> Result:
    result = Result("fullsync")
    for size in sizes:
        with simulator(size) as sim:
            data: dict[str, list[dict[str, Any]]] = {str(w): [] for w in workers}
            for i in range(runs[size]):
                for w in workers:  # interleaved: 1, 2, 4, 1, 2, 4, ...
                    one = asyncio.run(once(pg, sim, w))
                    data[str(w)].append(one)
                    log(
                        f"full sync n={size} workers={w} run {i + 1}: {one['seconds']:.1f} s, "
                        f"{one['requests']} requests, {one['rate_limited']} x 429, {one['status']}"
                    )
            result.raw[str(size)] = data
        floor = requests_needed(size) / 5.0
        for w in workers:
            measured = data[str(w)]
            seconds = median([r["seconds"] for r in measured])
            limited = [r["rate_limited"] for r in measured]
            requests = median([r["requests"] for r in measured])
            failed = [r["status"] for r in measured if r["status"] != "succeeded"]
            over = (seconds / floor - 1) if seconds else None
            met = "yes" if over is not None and over <= TARGET_OVER_FLOOR and not any(limited) else "no"
            note = f"429s per run: {limited}; requests per run (median): {requests:.0f}"
            if requests and requests > requests_needed(size):
                actual_floor = requests / 5.0
                note += (
                    f" (the floor counts {requests_needed(size)}; the extra ones tell a 404 'no employments' "
                    f"from a vanished employee; against a floor of the requests actually made, "
                    f"{actual_floor:.1f} s: +{(seconds / actual_floor - 1) * 100:.1f} %)"
                    if seconds
                    else ""
                )
            if failed:
                note += f"; runs not succeeded: {failed}"
            result.rows.append(
                Row(
                    benchmark="2. full sync vs floor",
                    metric=f"{size:,} employees, {w} worker{'s' if w > 1 else ''}",
                    ours=fmt(seconds, "s", 1),
                    reference=f"{floor:.1f} s (floor)",
                    ratio=f"{seconds / floor:.3f}x floor (+{over * 100:.1f} %)"
                    if seconds and over is not None
                    else "n/a",
                    target="<= floor +15 %, 0 x 429",
                    met=met,
                    runs=str(len(measured)),
                    note=note,
                )
            )
    return result
