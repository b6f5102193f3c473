"""Run the benchmarks of issue 7 and write docs/benchmarks.md.

    python bench/run.py                      # the default scale (about 40 minutes), then the report
    python bench/run.py --full               # the literal matrix: 5 runs everywhere (many hours)
    python bench/run.py --only ttff,queue    # some benchmarks; the report uses every saved result
    python bench/run.py --report-only        # rewrite docs/benchmarks.md from bench/results/*.json

Each benchmark saves its figures to bench/results/NAME.json as soon as it ends, so a partial run
still reports what it measured, and benchmarks can be run one at a time.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

import report  # noqa: E402
from common import BENCHMARKS, Postgres, Result, log, machine, now_iso, postgres_server  # noqa: E402

ALL = BENCHMARKS


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--full", action="store_true", help="the literal matrix: 5 runs at every size")
    p.add_argument("--runs", type=int, default=5, help="runs of every cheap measurement (default 5)")
    p.add_argument("--ttff-sizes", default="78,1000,5000")
    p.add_argument(
        "--baseline-ttff-runs",
        default="78:5,1000:2,5000:0",
        help="runs of the original design per size; 0 = derived from the largest measured size",
    )
    p.add_argument("--sync-sizes", default="78,1000")
    p.add_argument("--sync-runs", default="78:5,1000:1", help="full-sync runs per size (each worker count)")
    p.add_argument("--workers", default="1,2,4")
    p.add_argument("--throughput-employees", type=int, default=5000)
    p.add_argument("--resync-sizes", default="78,1000")
    p.add_argument("--resync-full-runs", default="78:5,1000:1", help="full re-sync runs per size")
    p.add_argument("--queue-batches", type=int, default=3000)
    p.add_argument("--claimers", default="1,4,16")
    p.add_argument("--memory-employees", type=int, default=5000)
    p.add_argument(
        "--memory-rps",
        type=float,
        default=100.0,
        help="API limit for the memory run (memory does not depend on it; 5/s would take 1,000 s)",
    )
    p.add_argument("--scale-sizes", default="1,50,200", help="resources created at once (issue 15)")
    p.add_argument("--scale-variants", default="inline,jobs")
    p.add_argument("--scale-idle", type=float, default=35.0, help="seconds of idle CPU measured")
    p.add_argument("--scale-triggers", type=int, default=20, help="triggers for the latency, largest size")
    p.add_argument("--scale-capacity", type=int, default=8, help="Job worker processes at once")
    p.add_argument("--failover-employees", type=int, default=150)
    p.add_argument("--failover-runs", type=int, default=3)
    p.add_argument("--priority-background", type=int, default=300)
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--output", type=Path, default=report.DOC)
    return p.parse_args(argv)


def _commit() -> str:
    """The commit under test (plus "+dirty" when operator/ has uncommitted edits)."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+dirty" if git("status", "--porcelain", "operator") else "")


def _per_size(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (part.split(":") for part in text.split(",") if part)}


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    command = "python bench/run.py" + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")
    if args.report_only:
        report.write(args.output, None, command)
        return 0
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - set(ALL)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.full:
        sizes = _ints(args.ttff_sizes)
        args.baseline_ttff_runs = ",".join(f"{s}:{args.runs}" for s in sizes)
        args.sync_runs = ",".join(f"{s}:{args.runs}" for s in _ints(args.sync_sizes))
        args.resync_full_runs = ",".join(f"{s}:{args.runs}" for s in _ints(args.resync_sizes))
        args.memory_rps = 5.0
    with postgres_server() as pg:
        info = machine(pg)
        for name in chosen:
            started, t0, commit = now_iso(), time.monotonic(), _commit()
            log(f"=== {name} ===")
            result = _run_one(name, pg, args)
            if result is None:
                continue
            result.started, result.seconds = started, time.monotonic() - t0
            result.raw["_command"] = command
            result.raw["_commit"] = commit
            result.save()
            log(f"=== {name} done in {result.seconds:.0f} s ===")
    report.write(args.output, info, command)
    return 0


def _run_one(name: str, pg: Postgres, args: argparse.Namespace) -> Result | None:
    if name == "ttff":
        import bench_ttff

        return bench_ttff.run(pg, _ints(args.ttff_sizes), args.runs, _per_size(args.baseline_ttff_runs))
    if name == "fullsync":
        import bench_fullsync

        return bench_fullsync.run(pg, _ints(args.sync_sizes), _ints(args.workers), _per_size(args.sync_runs))
    if name == "throughput":
        import bench_throughput

        return bench_throughput.run(pg, args.throughput_employees, args.runs)
    if name == "resync":
        import bench_resync

        return bench_resync.run(pg, _ints(args.resync_sizes), args.runs, _per_size(args.resync_full_runs))
    if name == "queue":
        import bench_queue

        return bench_queue.run(pg, args.queue_batches, _ints(args.claimers), args.runs)
    if name == "image":
        import bench_image

        return bench_image.run()
    if name == "memory":
        import bench_memory

        return bench_memory.run(pg, args.memory_employees, args.memory_rps)
    if name == "scale":
        import bench_scale

        return bench_scale.run(
            pg, _ints(args.scale_sizes), args.scale_variants.split(","), args.scale_idle,
            args.scale_triggers, args.scale_capacity,
        )  # fmt: skip
    if name == "failover":
        import bench_failover

        return bench_failover.run(pg, args.failover_employees, args.failover_runs)
    if name == "priority":
        import bench_priority

        return bench_priority.run(pg, args.priority_background, args.runs)
    if name == "consumers":
        import bench_consumers

        return bench_consumers.run(pg)
    raise AssertionError(name)


if __name__ == "__main__":
    sys.exit(main())
