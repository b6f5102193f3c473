"""What starts a run: creation, a new generation, a new value of the sync-requested-at annotation.

Triggers are level-based: the status records the generation and the request value the latest run
started from, and a run is wanted whenever the object has moved past them. Any number of changes
during a run therefore add up to one follow-up run, and a restarted operator reaches the same
conclusion from the object alone.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from employes_sync.settings import Mode

REQUESTED_AT = "employessync.io/sync-requested-at"
REQUESTED_MODE = "employessync.io/sync-mode"
MODES: tuple[Mode, ...] = ("interactive", "background")


@dataclass(frozen=True)
class Trigger:
    reason: str  # created | spec-changed | requested | sql-requested
    mode: Mode
    generation: int
    requested_at: str | None

    def extra(self) -> dict[str, Any]:
        """Stored with the run, so a resumed run can mark its own trigger as handled."""
        return {"generation": self.generation, "requested_at": self.requested_at}


def wanted(meta: Mapping[str, Any], status: Mapping[str, Any]) -> Trigger | None:
    """The run the object asks for, or None when the latest run already covers it."""
    generation = int(meta.get("generation") or 1)
    annotations = meta.get("annotations") or {}
    requested = annotations.get(REQUESTED_AT) or None
    synced_generation = status.get("syncedGeneration")
    synced_request = status.get("syncedRequest") or None
    mode_value = annotations.get(REQUESTED_MODE)
    mode: Mode = mode_value if mode_value in MODES else "interactive"
    if synced_generation is None:
        return Trigger("created", "interactive", generation, requested)
    if generation > int(synced_generation):
        return Trigger("spec-changed", "interactive", generation, requested)
    if requested is not None and requested != synced_request:
        return Trigger("requested", mode, generation, requested)
    return None


def watched(obj: Mapping[str, Any]) -> Hashable:
    """What of an EmployesSync its reconciler acts on: all of it but the status (and the version).

    The reconciler writes the status itself, at least twice a run, and each write comes back as a
    watch event; waking on those made it look at the database again after every run for nothing. Anything
    else moving (the spec, an annotation, a label, the deletion) still wakes it, also when a
    re-listing watch delivers only the latest version of several changes.
    """
    meta = obj.get("metadata") or {}
    return (
        meta.get("generation"),
        json.dumps(obj.get("spec"), sort_keys=True, default=str),
        tuple(sorted((meta.get("annotations") or {}).items())),
        tuple(sorted((meta.get("labels") or {}).items())),
        meta.get("deletionTimestamp"),
    )


def sql_requested(
    meta: Mapping[str, Any], status: Mapping[str, Any], open_requests: int, interactive: bool
) -> Trigger | None:
    """The run open ``request_sync()`` rows ask for (checked after `wanted`, which goes first).

    It leaves the annotation's request as it was synced, so only the rows count; the run's start
    serves them all (in SQL), which is what makes requests made during a run one follow-up run.
    """
    if open_requests <= 0:
        return None
    mode: Mode = "interactive" if interactive else "background"
    return Trigger(
        "sql-requested", mode, int(meta.get("generation") or 1), status.get("syncedRequest") or None
    )


def request_patch(mode: Mode = "interactive", now: datetime | None = None) -> dict[str, Any]:
    """The merge patch `employes-sync trigger` sends (what `kubectl annotate` would do)."""
    stamp = (now or datetime.now(UTC)).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"metadata": {"annotations": {REQUESTED_AT: stamp, REQUESTED_MODE: mode}}}
