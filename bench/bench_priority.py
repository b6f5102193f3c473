"""9. Interactive first feedback while a background run of another resource spends the same token.

One accountant's token reads two companies (the simulator's `shared_token`, 5 requests/second for the
token, 80 ms latency). A background run of company A (`--priority-background` employees, batches by
two local worker processes) keeps the token busy; meanwhile interactive runs of company B (inline 5)
start one after the other, and each one's time to first feedback is taken. The same interactive runs
alone, on an idle token, give the reference. Both go through the real limiter in PostgreSQL, keyed by
the token's SHA-256: the background run's requests take only slots that are due, the interactive ones
queue ahead of them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from common import Postgres, Result, Row, log, migrated_pool
from employes_sync.employes.simulator import SimulatorConfig, serve_in_thread
from employes_sync.settings import SyncSettings

TARGET_SECONDS = 1.5


def _settings(url: str, company_id: str, scope: str, mode: str) -> SyncSettings:
    return SyncSettings(
        scope=scope,
        company_id=company_id,
        api_url=url,
        requests_per_second=5.0,
        inline_count=5,
        batch_size=25,
        trigger="bench",
        mode=mode,  # type: ignore[arg-type]
    )


async def _interactive(pool: Any, url: str, company_id: str, token: str) -> float:
    from employes_sync import pipeline

    started = await pipeline.start_run(
        _settings(url, company_id, "bench/interactive", "interactive"), pool, token
    )
    assert started.time_to_first_feedback is not None
    # the rest of the run (its batches) is not needed for the measure; close it so the next one starts
    from employes_sync.store import queue as queue_store
    from employes_sync.store import runs as runs_store

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM processing_queue WHERE run_id = %s", (started.run_id,))
    await runs_store.finish_run(pool, started.run_id, "succeeded", {}, None)
    del queue_store
    return started.time_to_first_feedback


async def measure(pg: Postgres, background_employees: int, runs: int) -> dict[str, Any]:
    from employes_sync.executors.local import sync_locally

    config = SimulatorConfig(employees=background_employees, companies=2, shared_token=True,
                             requests_per_second=5.0, latency_ms=80.0)  # fmt: skip
    with serve_in_thread(config) as sim, pg.database("prio") as dsn:
        assert sim.url is not None
        bg_company, fg_company = sim.companies[0].company_id, sim.companies[1].company_id
        token = sim.config.token
        async with migrated_pool(dsn, max_size=10) as pool:
            alone = []
            for _ in range(runs):
                await asyncio.sleep(1.2)  # the token's budget idles, as when nobody else uses it
                alone.append(await _interactive(pool, sim.url, fg_company, token))
            background = asyncio.create_task(
                sync_locally(
                    _settings(sim.url, bg_company, "bench/background", "background"), pool, dsn, token
                )
            )
            await asyncio.sleep(6.0)  # the background run's workers are fetching
            shared = []
            requests_before = sim.stats.total
            t0 = time.monotonic()
            for _ in range(runs):
                if background.done():
                    break
                shared.append(await _interactive(pool, sim.url, fg_company, token))
                await asyncio.sleep(1.0)
            rate = (sim.stats.total - requests_before) / (time.monotonic() - t0)
            still_running = not background.done()
            background.cancel()
            try:
                await background
            except (asyncio.CancelledError, Exception):
                pass
            return {
                "alone": alone,
                "shared": shared,
                "background_still_running": still_running,
                "rate_while_shared": rate,
                "rate_limited": sim.stats.rate_limited,
            }


def run(pg: Postgres, background_employees: int, runs: int) -> Result:
    result = Result("priority")
    log(f"priority: {runs} interactive runs alone, then {runs} beside a background run")
    m = asyncio.run(measure(pg, background_employees, runs))
    result.raw.update(m)
    alone, shared = statistics.median(m["alone"]), statistics.median(m["shared"])
    worst = max(m["shared"])
    result.rows.append(
        Row(
            "9. interactive beside background (one token)",
            f"time to first feedback, inline 5, while a {background_employees}-employee background run of "
            "another company uses the same token",
            f"{shared:.2f} s (median; worst {worst:.2f} s)",
            f"alone: {alone:.2f} s",
            f"{shared / alone:.2f}x alone",
            f"<= {TARGET_SECONDS:g} s (alone about 1.15 s)",
            "yes" if worst <= TARGET_SECONDS and m["rate_limited"] == 0 else "no",
            f"{len(m['alone'])} alone, {len(m['shared'])} shared",
            f"alone: {', '.join(f'{x:.2f}' for x in m['alone'])}; shared: "
            f"{', '.join(f'{x:.2f}' for x in m['shared'])}; the token's rate while shared "
            f"{m['rate_while_shared']:.2f} requests/s; {m['rate_limited']} x 429",
        )
    )
    return result


if __name__ == "__main__":
    import argparse

    from common import postgres_server

    p = argparse.ArgumentParser()
    p.add_argument("--background-employees", type=int, default=300)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    with postgres_server() as pg:
        res = run(pg, args.background_employees, args.runs)
        res.save()
        for row in res.rows:
            print(row)
