"""5. Queue: batches claimed per second with 1, 4 and 16 concurrent claimers, zero double claims.

Ours: `SELECT id FROM claim_next_job()` (the original's call, no argument; `FOR UPDATE SKIP LOCKED`)
on `processing_queue`, filled with N pending batches. Reference: procrastinate's job fetch, its own
`procrastinate_fetch_job_v2(queues, worker_id)` (the SQL its `fetch_job` query runs) on its own schema
(`procrastinate/sql/schema.sql` as shipped) in a second database of the same server, filled with N
`todo` jobs, each claimer registered as a procrastinate worker first.

Each claimer is a separate process with its own autocommit connection, connected before the clock
starts; all start together and claim until the queue is empty. Claims/s = N / (last claim - start).
Double claims = claims - distinct ids (across all claimers); every id must be claimed once.
Runs alternate: ours, procrastinate, for each claimer count.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from importlib import resources
from multiprocessing.synchronize import Event
from typing import Any

import psycopg

from common import Postgres, Result, Row, log, median, migrated_pool

SEED_OURS = """
INSERT INTO processing_queue (scope, payload, batch_no)
SELECT 'bench', jsonb_build_object('employee_ids', jsonb_build_array(g::text)), g
  FROM generate_series(1, %(n)s) g
"""
SEED_PROCRASTINATE = """
INSERT INTO procrastinate_jobs (queue_name, task_name, args)
SELECT 'default', 'bench', jsonb_build_object('batch', g) FROM generate_series(1, %(n)s) g
"""
CLAIM_OURS = "SELECT id FROM claim_next_job()"
REGISTER = "SELECT worker_id FROM procrastinate_register_worker_v1()"
CLAIM_PROCRASTINATE = "SELECT id FROM procrastinate_fetch_job_v2(%(queues)s::varchar[], %(worker_id)s)"


def _claimer(kind: str, url: str, go: Event, out: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        worker_id = None
        if kind == "procrastinate":
            row = conn.execute(REGISTER).fetchone()
            worker_id = row[0] if row else None
        out.put(("ready", None))
        go.wait()
        claimed: list[str] = []
        while True:
            if kind == "ours":
                row = conn.execute(CLAIM_OURS).fetchone()
            else:
                row = conn.execute(CLAIM_PROCRASTINATE, {"queues": None, "worker_id": worker_id}).fetchone()
            if row is None or row[0] is None:
                break
            claimed.append(str(row[0]))
        out.put(("done", (time.time(), claimed)))


def once(kind: str, url: str, batches: int, claimers: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        if kind == "ours":
            conn.execute("TRUNCATE processing_queue CASCADE")
            conn.execute(SEED_OURS, {"n": batches})
            conn.execute("VACUUM ANALYZE processing_queue")
        else:
            conn.execute("TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_workers CASCADE")
            conn.execute(SEED_PROCRASTINATE, {"n": batches})
            conn.execute("VACUUM ANALYZE procrastinate_jobs")
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    processes = [ctx.Process(target=_claimer, args=(kind, url, go, out)) for _ in range(claimers)]
    for p in processes:
        p.start()
    for _ in processes:
        assert out.get(timeout=60)[0] == "ready"
    started = time.time()
    go.set()
    ends: list[float] = []
    ids: list[str] = []
    for _ in processes:
        _tag, (end, claimed) = out.get(timeout=600)
        ends.append(end)
        ids.extend(claimed)
    for p in processes:
        p.join()
    seconds = max(ends) - started
    return {
        "seconds": seconds,
        "claims": len(ids),
        "distinct": len(set(ids)),
        "double_claims": len(ids) - len(set(ids)),
        "per_second": len(ids) / seconds,
    }


async def _migrate(url: str) -> None:
    async with migrated_pool(url):
        pass


def run(pg: Postgres, batches: int, claimer_counts: list[int], runs: int) -> Result:
    import asyncio

    result = Result("queue")
    schema = resources.files("procrastinate").joinpath("sql/schema.sql").read_text()
    with pg.database("queue") as ours_url, pg.database("procrastinate") as theirs_url:
        asyncio.run(_migrate(ours_url))
        with psycopg.connect(theirs_url, autocommit=True) as conn:
            conn.execute(schema)  # type: ignore[arg-type]
        for claimers in claimer_counts:
            data: dict[str, list[dict[str, Any]]] = {"ours": [], "procrastinate": []}
            for i in range(runs):
                for kind, url in (("ours", ours_url), ("procrastinate", theirs_url)):
                    one = once(kind, url, batches, claimers)
                    data[kind].append(one)
                    log(
                        f"queue {kind} claimers={claimers} run {i + 1}: {one['per_second']:,.0f}/s, "
                        f"{one['claims']} claims, {one['double_claims']} double"
                    )
            result.raw[str(claimers)] = data
            ours = median([r["per_second"] for r in data["ours"]])
            theirs = median([r["per_second"] for r in data["procrastinate"]])
            ratios = [
                o["per_second"] / t["per_second"]
                for o, t in zip(data["ours"], data["procrastinate"], strict=True)
            ]
            ratio = median(ratios)
            doubles = sum(r["double_claims"] for r in data["ours"])
            missing = sum(batches - r["distinct"] for r in data["ours"])
            their_doubles = sum(r["double_claims"] for r in data["procrastinate"])
            result.rows.append(
                Row(
                    benchmark="5. queue claims",
                    metric=f"{claimers} concurrent claimer{'s' if claimers > 1 else ''}, {batches:,} batches",
                    ours=f"{ours:,.0f} claims/s, {doubles} double" if ours else "n/a",
                    reference=f"procrastinate fetch_job: {theirs:,.0f}/s, {their_doubles} double"
                    if theirs
                    else "n/a",
                    ratio=f"{ratio:.2f}x procrastinate" if ratio else "n/a",
                    target="0 double claims",
                    met="yes" if doubles == 0 and missing == 0 else "no",
                    runs=f"{runs} each, alternating",
                    note="ratio = median of per-pair ratios"
                    + (f"; {missing} batches never claimed" if missing else ""),
                )
            )
    result.notes.append(
        "2 CPU cores: with 4 and 16 claimers the processes (and PostgreSQL's backends) share two cores, "
        "so claims/s measures contention on this machine rather than what more cores would give"
    )
    return result
