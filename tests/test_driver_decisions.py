"""The driver's pure decisions: which batches are due, when a run has a lease to rescue, and how long
it may leave the queue unread."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from employes_sync.executors.driver import due, lease_lapsed, quiet_seconds
from employes_sync.store.queue import Batch

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def batch(n: int, status: str, *, lease: datetime | None = None, priority: int = 0) -> Batch:
    return Batch(
        id=f"b{n}", scope="default/acme", run_id=1, employee_ids=[], status=status, priority=priority,
        attempts=0, max_attempts=3, run_after=NOW - timedelta(seconds=1), error_message=None,
        job_name=None, batch_no=n, lease_expires_at=lease,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("batches", "lapsed"),
    [
        ([], False),
        ([batch(1, "pending"), batch(2, "completed")], False),  # nothing holds a lease
        ([batch(1, "processing", lease=NOW + timedelta(seconds=5))], False),  # renewed, still running
        ([batch(1, "processing", lease=NOW)], True),
        ([batch(1, "completed"), batch(2, "processing", lease=NOW - timedelta(seconds=9))], True),
        # a processing row whose lease is not written yet is a claim in flight, not a lost worker
        ([batch(1, "processing")], False),
        # a lease that ran out on a finished batch is history
        ([batch(1, "failed", lease=NOW - timedelta(seconds=60))], False),
    ],
)
def test_a_run_asks_for_a_rescue_only_when_one_of_its_leases_ran_out(
    batches: list[Batch], lapsed: bool
) -> None:
    assert lease_lapsed(batches, NOW) is lapsed


def test_due_batches_are_pending_not_running_and_highest_priority_first() -> None:
    batches = [
        batch(1, "pending"),
        batch(2, "pending", priority=5),
        batch(3, "processing"),
        batch(4, "pending"),
        batch(5, "completed"),
    ]
    later = dataclasses.replace(batch(6, "pending"), run_after=NOW + timedelta(seconds=10))  # backing off
    assert [b.id for b in due([*batches, later], running={"b4"}, now=NOW)] == ["b2", "b1"]


def claimed(n: int, lease_in: float) -> Batch:
    return batch(n, "processing", lease=NOW + timedelta(seconds=lease_in))


def backing_off(n: int, due_in: float) -> Batch:
    return dataclasses.replace(batch(n, "pending"), run_after=NOW + timedelta(seconds=due_in))


@pytest.mark.parametrize(
    ("batches", "running", "quiet"),
    [
        # an attempt whose claim the read did not show yet: its lease is unknown, read at the poll
        ([batch(1, "pending"), claimed(2, 300)], {"b1", "b2"}, None),
        # every claim seen: nothing to read for until the first lease can have run out
        ([claimed(1, 300), claimed(2, 120), batch(3, "pending")], {"b1", "b2"}, 120.0),
        # a slot free and nothing pending: the same (the lister wakes the driver if it queues one)
        ([claimed(1, 300), batch(2, "completed")], {"b1"}, 300.0),
        # a backoff that ends before the lease does
        ([claimed(1, 300), backing_off(2, 7)], {"b1"}, 7.0),
        # a due batch with a slot free was not started: do not wait on it
        ([claimed(1, 300), batch(2, "pending")], {"b1"}, None),
        # a lease that runs out within a poll was just asked to be rescued: a poll later, not at once
        ([claimed(1, 0.5), claimed(2, 300)], {"b2"}, 2.0),
        # nothing running and nothing timed: read at the poll
        ([batch(1, "completed")], set(), None),
    ],
)
def test_the_driver_reads_again_when_a_claim_is_unseen_or_a_lease_or_backoff_runs_out(
    batches: list[Batch], running: set[str], quiet: float | None
) -> None:
    assert quiet_seconds(batches, running, 2, NOW, poll_seconds=2.0) == quiet
