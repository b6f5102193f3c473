"""4. Re-sync of unchanged data, full and --incremental: statements, requests and time per employee.

Setup (not measured): one full sync of the company into a fresh database. To save wall time it runs
with the simulator's limit switched off (it is only the starting state); every measured run is at the
real limit, 5 requests/second. Measured runs alternate full and incremental re-syncs of the same,
unchanged company with `sync_locally` (the whole `employes-sync sync`, 2 workers).

Statements: `pg_stat_statements` (preloaded on the benchmark's server, `track = top`), reset before
each run; the sum of `calls` in this database over the run, from every process (this one, the
workers). Statements inside SQL functions (`claim_next_job()`) are not counted separately: the
client sends one. The headline figure leaves out BEGIN/COMMIT (psycopg opens a transaction around each
pooled statement); the figure with them is in the notes. New rows: `employes_raw_data` and
`employes_timeline_v2` counted before and after; updated rows: timeline events whose `updated_at`
falls in the run (an upsert rewriting unchanged content would show there). Each run also adds its
bookkeeping rows (one `sync_runs` row, its batches in `processing_queue`); those are reported
separately.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from baseline_original import OriginalStore
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

TARGET_STATEMENTS = 2.0

UPDATED_SINCE = "SELECT count(*) FROM employes_timeline_v2 WHERE updated_at >= %s"
COUNT_ROWS = """
SELECT (SELECT count(*) FROM employes_raw_data),
       (SELECT count(*) FROM employes_timeline_v2),
       (SELECT count(*) FROM processing_queue),
       (SELECT count(*) FROM sync_runs)
"""
STATEMENTS = """
SELECT coalesce(sum(calls), 0)::bigint,
       coalesce(sum(calls) FILTER (WHERE query NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')), 0)::bigint
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT ILIKE '%%pg_stat_statements%%'
"""
TOP_STATEMENTS = """
SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT ILIKE '%%pg_stat_statements%%'
   AND query NOT IN ('BEGIN', 'COMMIT', 'ROLLBACK')
 ORDER BY calls DESC LIMIT 8
"""


async def _sync(url: str, sim: Any, *, incremental: bool, rps: float = 5.0) -> tuple[float, str]:
    async with migrated_pool(url) as pool:
        settings = settings_for(sim, incremental=incremental, rps=rps)
        started = time.monotonic()
        summary = await sync_locally(settings, pool, url, TOKEN, workers=2)
        return time.monotonic() - started, summary.status


def measured(url: str, sim: Any, size: int, incremental: bool) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute(COUNT_ROWS).fetchone()
        since = conn.execute("SELECT now()").fetchone()
        fresh_api(sim)
        conn.execute("SELECT pg_stat_statements_reset()")
    seconds, status = asyncio.run(_sync(url, sim, incremental=incremental))
    requests, limited = sim.stats.total, sim.stats.rate_limited
    with psycopg.connect(url, autocommit=True) as conn:
        after = conn.execute(COUNT_ROWS).fetchone()
        counted = conn.execute(STATEMENTS).fetchone()
        top = conn.execute(TOP_STATEMENTS).fetchall()
        assert since is not None
        updated = conn.execute(UPDATED_SINCE, (since[0],)).fetchone()
    assert before is not None and after is not None and counted is not None and updated is not None
    return {
        "seconds": seconds,
        "status": status,
        "requests": requests,
        "rate_limited": limited,
        "statements": int(counted[1]),
        "statements_with_transaction_control": int(counted[0]),
        "new_raw_rows": after[0] - before[0],
        "new_timeline_rows": after[1] - before[1],
        "updated_timeline_rows": int(updated[0]),
        "new_queue_rows": after[2] - before[2],
        "new_run_rows": after[3] - before[3],
        "top_statements": [[int(calls), text] for calls, text in top],
    }


def original_resync(pg: Postgres, sim: Any) -> dict[str, Any]:
    """The original design's database work for a re-sync of unchanged data, in a database of its own.

    A first pass stores the company and builds its timelines (not counted); the second pass, counted,
    is what the original did again on every sync: per record a hash SELECT and a `last_verified_at`
    UPDATE, then `process-timeline` for everyone (per employee a raw-data SELECT, per event a SELECT;
    nothing new to INSERT). Its API requests are the same as a full sync's (pages + employees), and
    it had no incremental mode. The data is the simulator's own company, as the API would serve it.
    """
    scope = settings_for(sim).scope
    with pg.database("resyncb") as url:
        asyncio.run(_migrate(url))
        with psycopg.connect(url, autocommit=True) as conn:
            counted: dict[str, Any] = {}
            for counting in (False, True):
                store = OriginalStore(conn, scope)
                before = conn.execute(COUNT_ROWS).fetchone()
                started = time.monotonic()
                for employee in sim.company:
                    store.store_raw(
                        employee.id, "/employee", employee.employee, employee.employee.get("dt_update")
                    )
                    store.store_raw(employee.id, "/employments", employee.employments)
                store.process_timeline([employee.id for employee in sim.company])
                after = conn.execute(COUNT_ROWS).fetchone()
                assert before is not None and after is not None
                if counting:
                    counted = {
                        "statements": store.statements,
                        "db_seconds": time.monotonic() - started,
                        "new_raw_rows": after[0] - before[0],
                        "new_timeline_rows": after[1] - before[1],
                    }
    return counted


async def _migrate(url: str) -> None:
    async with migrated_pool(url):
        pass


def run(pg: Postgres, sizes: list[int], runs: int, full_runs: dict[int, int]) -> Result:
    result = Result("resync")
    for size in sizes:
        with simulator(size) as sim, pg.database("resync") as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            sim.config.requests_per_second = 0  # setup only: the starting state, not measured
            seconds, status = asyncio.run(_sync(url, sim, incremental=False, rps=1000.0))
            sim.config.requests_per_second = 5.0
            log(f"resync n={size}: initial sync (unlimited API) {seconds:.1f} s, {status}")
            data: dict[str, list[dict[str, Any]]] = {"full": [], "incremental": []}
            for i in range(max(runs, full_runs.get(size, runs))):
                if i < full_runs.get(size, runs):
                    data["full"].append(measured(url, sim, size, incremental=False))
                    _log(size, "full", i, data["full"][-1])
                if i < runs:
                    data["incremental"].append(measured(url, sim, size, incremental=True))
                    _log(size, "incremental", i, data["incremental"][-1])
            original = original_resync(pg, sim)
            log(f"resync n={size} original (database work only): {original}")
        result.raw[f"{size}-original"] = original
        result.raw[str(size)] = data
        full_s = median([r["seconds"] for r in data["full"]])
        for mode in ("full", "incremental"):
            rows = data[mode]
            if not rows:
                continue
            seconds = median([r["seconds"] for r in rows])
            statements = median([r["statements"] for r in rows])
            with_tx = median([r["statements_with_transaction_control"] for r in rows])
            requests = median([r["requests"] for r in rows])
            new_data = max(
                r["new_raw_rows"] + r["new_timeline_rows"] + r.get("updated_timeline_rows", 0) for r in rows
            )
            per_employee = statements / size if statements is not None else None
            met = (
                "yes"
                if per_employee is not None and per_employee <= TARGET_STATEMENTS and not new_data
                else "no"
            )
            target = f"0 new or updated rows, <= {TARGET_STATEMENTS:.0f} statements/employee"
            if mode == "incremental":
                pages = -(-size // 100)
                target += f", {pages} requests"
                if requests != pages:
                    met = "no"
            bookkeeping = rows[0]["new_queue_rows"], rows[0]["new_run_rows"]
            result.rows.append(
                Row(
                    benchmark=f"4. re-sync unchanged ({mode})",
                    metric=f"{size:,} employees",
                    ours=(
                        f"{per_employee:.2f} statements/employee ({statements:,.0f}); "
                        f"{requests:,.0f} requests ({requests / size:.2f}/employee); "
                        f"{fmt(seconds, 's', 1)} ({seconds / size * 1000:.1f} ms/employee); "
                        f"{new_data} new or updated data rows"
                        if per_employee is not None and requests is not None and seconds is not None
                        else "n/a"
                    ),
                    reference=(
                        f"our full re-sync: {fmt(full_s, 's', 1)} (the original had no incremental mode)"
                        if mode == "incremental"
                        else f"original: {original['statements'] / size:.2f} statements/employee "
                        f"({original['statements']:,}, database work only), "
                        f"{requests_needed(size):,} requests"
                    ),
                    ratio=(
                        f"{full_s / seconds:,.0f}x faster than full"
                        if mode == "incremental" and full_s and seconds
                        else f"{original['statements'] / statements:.1f}x fewer statements than the original"
                        if statements
                        else "n/a"
                    ),
                    target=target,
                    met=met,
                    runs=str(len(rows)),
                    note=(
                        f"statements exclude BEGIN/COMMIT; with them: {with_tx:,.0f} "
                        f"({(with_tx or 0) / size:.2f}/employee); "
                        f"bookkeeping rows per run: {bookkeeping[0]} batches, {bookkeeping[1]} run; "
                        f"429s: {[r['rate_limited'] for r in rows]}; most frequent statements (calls, "
                        f"first run): " + "; ".join(f"{c}x {t}" for c, t in rows[0]["top_statements"][:4])
                    ),
                )
            )
    return result


def _log(size: int, mode: str, i: int, r: dict[str, Any]) -> None:
    log(
        f"resync n={size} {mode} run {i + 1}: {r['seconds']:.1f} s, {r['requests']} requests, "
        f"{r['statements']} statements ({r['statements_with_transaction_control']} with BEGIN/COMMIT), "
        f"+{r['new_raw_rows']} raw, +{r['new_timeline_rows']} events"
    )
