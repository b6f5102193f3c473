"""The Job launcher lists a run's Jobs when the watch reports a change, and otherwise only at a resync.

Listing at every look of the driver made each running resource ask the API server for its Jobs
every poll (at 200 resources in the scale benchmark: 100 lists a second, all of them answering
"no change"). The Jobs here are real objects in the test cluster; the watch's events are the
`JobChanges.mark` calls that `registration.job_changed` makes for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from employes_sync.kube import jobs
from employes_sync.kube.launcher import JobChanges, KubernetesLauncher, must_list
from tests.fixtures.kube import *  # noqa: F403
from tests.fixtures.kube import JOBS, Cluster
from tests.test_secrets import api_for

NS = "default"
RESOURCE = "acme"
RUN = 3


@pytest.mark.parametrize(
    ("changed", "since", "expected"),
    [
        (False, None, True),  # never listed: a resumed run finds its Jobs first
        (True, 0.1, True),  # the watch reported a change
        (False, 29.9, False),  # nothing reported, the resync not due
        (False, 30.0, True),  # the resync: an event the watch missed costs at most this
    ],
)
def test_when_the_jobs_are_listed(changed: bool, since: float | None, expected: bool) -> None:
    assert must_list(changed, since, 30.0) is expected


def test_changes_are_taken_once_and_wake_the_driver() -> None:
    changes = JobChanges()
    assert changes.take() is True  # a new one lists first
    assert changes.take() is False
    assert not changes.event.is_set()
    changes.mark()
    assert changes.event.is_set()
    assert changes.take() is True and changes.take() is False


def job(batch_id: str, attempt: int) -> dict[str, Any]:
    labels = {**jobs.selector_labels(RESOURCE), jobs.RUN_LABEL: str(RUN), jobs.ATTEMPT_LABEL: str(attempt)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{RESOURCE}-r{RUN}-b1-a{attempt}",
            "namespace": NS,
            "labels": labels,
            "annotations": {jobs.BATCH_ID_ANNOTATION: batch_id},
        },
        "spec": {"template": {"spec": {"containers": []}}},
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def launched(cluster: Cluster) -> Iterator[tuple[Cluster, KubernetesLauncher, JobChanges, Clock]]:
    api = api_for(cluster)
    changes, clock = JobChanges(), Clock()
    launcher = KubernetesLauncher(
        api, None, NS, RESOURCE, RUN, lambda b, a: {},  # type: ignore[arg-type]  # launch() is not called
        changes=changes, resync_seconds=30.0, clock=clock,
    )  # fmt: skip
    try:
        yield cluster, launcher, changes, clock
    finally:
        api.close()


def run_lists(cluster: Cluster) -> int:
    return sum(1 for selector in cluster.lists(JOBS, NS) if f"{jobs.RUN_LABEL}={RUN}" in selector)


async def test_a_run_lists_its_jobs_after_a_change_and_at_the_resync_only(
    launched: tuple[Cluster, KubernetesLauncher, JobChanges, Clock],
) -> None:
    cluster, launcher, changes, clock = launched
    cluster.apply(job("batch-1", 1))
    assert await launcher.ended() == [] and launcher.running() == {"batch-1"}  # found by the first list
    assert run_lists(cluster) == 1

    # The Job completes; until the watch says so, no look lists (and none reports it).
    done = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    cluster.patch(f"/apis/batch/v1/namespaces/{NS}/jobs/{RESOURCE}-r{RUN}-b1-a1/status", {"status": done})
    clock.now += 5
    assert await launcher.ended() == []
    assert run_lists(cluster) == 1

    changes.mark()  # the watch's event for that Job
    ended = await launcher.ended()
    assert [(e.batch_id, e.attempt, e.succeeded) for e in ended] == [("batch-1", 1, True)]
    assert run_lists(cluster) == 2 and launcher.running() == set()

    # A second attempt's Job that the watch never reports is still found, at the resync.
    cluster.apply(job("batch-2", 2))
    clock.now += 29
    assert await launcher.ended() == [] and run_lists(cluster) == 2
    clock.now += 1
    assert await launcher.ended() == [] and launcher.running() == {"batch-2"}
    assert run_lists(cluster) == 3


async def test_a_job_deleted_while_it_runs_is_reported_on_the_deletion_event(
    launched: tuple[Cluster, KubernetesLauncher, JobChanges, Clock],
) -> None:
    cluster, launcher, changes, _ = launched
    created = cluster.apply(job("batch-1", 1))
    assert await launcher.ended() == [] and launcher.running() == {"batch-1"}
    assert cluster.delete(created) < 300
    changes.mark()
    ended = await launcher.ended()
    assert [(e.batch_id, e.succeeded) for e in ended] == [("batch-1", False)]
    assert "was deleted before it finished" in ended[0].reason


async def test_without_a_watch_every_look_lists(cluster: Cluster) -> None:
    api = api_for(cluster)
    try:
        launcher = KubernetesLauncher(api, None, NS, RESOURCE, RUN, lambda b, a: {})  # type: ignore[arg-type]
        for _ in range(3):
            assert await launcher.ended() == []
    finally:
        api.close()
    assert run_lists(cluster) == 3
