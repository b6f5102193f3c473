"""The summary's words: counts of each outcome, and plurals that agree with them."""

from __future__ import annotations

from typing import Any

import pytest

from employes_sync.cli.common import plural
from employes_sync.cli.sync import _print_summary, headline
from employes_sync.pipeline import RunSummary


def summary(status: str, **fields: Any) -> RunSummary:
    base: dict[str, Any] = {
        "employees_processed": 78, "employees_synced": 78, "employees_failed": 0, "employees_unfinished": 0,
        "immediately_processed": 5, "queued_for_processing": 73, "history_processed": 83,
        "events_created": 712, "employees_with_timelines": 78,
        "raw_records": {"new": 0, "changed": 0, "unchanged": 156},
        "batches": {"total": 3, "completed": 3}, "failed_batches": [], "employee_errors": {},
    }  # fmt: skip
    return RunSummary(run_id=7, status=status, summary={**base, **fields}, error=None)


def test_a_failed_run_counts_what_succeeded_and_what_failed() -> None:
    failed = summary(
        "failed", employees_synced=53, employees_failed=25,
        batches={"total": 3, "completed": 2, "failed": 1},
        failed_batches=[{"id": "b", "batch_no": 3, "employees": 25, "attempts": 1, "error": "boom"}],
    )  # fmt: skip
    assert headline(failed) == "Sync FAILED (run 7): 53 of 78 employees synced, 25 failed"


def test_an_interrupted_run_says_what_is_left(capsys: pytest.CaptureFixture[str]) -> None:
    stopped = summary(
        "interrupted", employees_synced=5, employees_unfinished=73, batches={"total": 3, "closed": 3}
    )
    assert headline(stopped) == (
        "Sync INTERRUPTED (run 7): 5 of 78 employees synced, 73 not done; the next sync does the rest"
    )
    _print_summary(stopped, as_json=False)
    assert "0 completed, 0 failed, 3 closed unfinished of 3" in capsys.readouterr().out


def test_plurals_agree(capsys: pytest.CaptureFixture[str]) -> None:
    assert (plural(1, "employee"), plural(2, "employee"), plural(1, "batch", "batches")) == (
        "1 employee", "2 employees", "1 batch"
    )  # fmt: skip
    one = summary(
        "failed", employees_processed=1, employees_synced=0, employees_failed=1,
        batches={"total": 1, "failed": 1},
        failed_batches=[{"id": "b", "batch_no": 1, "employees": 1, "attempts": 1, "error": "boom"}],
    )  # fmt: skip
    assert headline(one) == "Sync FAILED (run 7): 0 of 1 employee synced, 1 failed"
    _print_summary(one, as_json=False)
    assert "failed batch 1 after 1 attempt: boom" in capsys.readouterr().out
