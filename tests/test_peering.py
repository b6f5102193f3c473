"""Peering priorities and settings (pure), and the kopf release that peering needs."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from employes_sync.controller.peering import auto_priority, peering_settings

ROOT = Path(__file__).resolve().parent.parent
#: kopf 1.44.1 fixed daemons spawned after a replica paused (nolar/kopf#1266, PR #1272): before it, a
#: standby could keep running the reconciler daemon of a resource the active replica also runs.
KOPF_PEERING_FIXED = (1, 44, 1)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_an_older_replica_ranks_higher_so_a_joining_one_never_takes_over() -> None:
    started = 1_790_000_000.0
    assert auto_priority(started, "op-a") > auto_priority(started + 1, "op-a")
    assert auto_priority(started, "op-b") > auto_priority(started + 0.02, "op-a")


def test_replicas_started_in_the_same_instant_still_differ() -> None:
    started = 1_790_000_000.0
    priorities = {auto_priority(started, f"esync-employes-sync-7d9f-{suffix}") for suffix in "abcdefgh"}
    assert len(priorities) > 1
    assert auto_priority(started, "op-a") == auto_priority(started, "op-a"), "deterministic"


def test_priorities_stay_exact_in_json_for_decades() -> None:
    for year_offset in (0, 30, 60):
        priority = auto_priority(1_790_000_000.0 + year_offset * 365 * 86400, "op")
        assert 0 < priority < 2**53


def test_peering_settings_are_mandatory_and_quiet() -> None:
    settings = peering_settings(name="esync", lifetime=15, priority=7, clusterwide=True)
    assert settings.peering.name == "esync"
    assert settings.peering.lifetime == 15 and settings.peering.priority == 7
    assert settings.peering.mandatory and not settings.peering.standalone
    assert settings.peering.clusterwide and settings.peering.stealth
    with pytest.raises(ValueError, match="at least 5"):
        peering_settings(name="esync", lifetime=2, priority=7, clusterwide=True)


def test_the_kopf_release_has_the_peering_fixes() -> None:
    assert _version_tuple(version("kopf")) >= KOPF_PEERING_FIXED
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (kopf,) = [d for d in project["dependencies"] if d.startswith("kopf")]
    minimum = re.search(r">=\s*([\d.]+)", kopf)
    assert minimum is not None and _version_tuple(minimum.group(1)) >= KOPF_PEERING_FIXED, kopf


def test_a_standby_looks_again_when_the_dead_owners_lease_ends() -> None:
    from datetime import UTC, datetime, timedelta

    from employes_sync.controller.ownership import until_lease_ends

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert until_lease_ends(now + timedelta(seconds=3), 20, now) == 3.5, "not a whole lease later"
    assert until_lease_ends(now - timedelta(seconds=3), 20, now) == 0.5, "expired: look again at once"
    assert until_lease_ends(now + timedelta(seconds=90), 20, now) == 20, "never longer than one lease"
    assert until_lease_ends(None, 20, now) == 20
