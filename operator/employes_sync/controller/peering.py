"""Which replica works when two or more run: kopf peering, with priorities the replicas derive themselves.

With peering, every replica writes a keep-alive (its priority and when it was last seen) into one
peering object, and only the live replica with the highest priority handles resources; the others
stand by with their watches and daemons stopped. Replicas with equal priorities would all pause, so
each must differ. Pods of one Deployment are identical, so the priority comes from the process's
start time: **the oldest replica ranks highest**. A replica that joins (a rescheduled standby, the
first new pod of a rolling update) never takes over from one that is working; a takeover happens
only when the active replica stops (at once, when it exits cleanly) or dies (when its keep-alive
runs out, `lifetime` seconds after the last one). The pod name breaks a tie between replicas
started in the same 10 ms.
"""

from __future__ import annotations

import zlib

import kopf

#: Priorities count down from here in 10 ms steps (positive until the 2090s), staying far below
#: 2**53 so any JSON reader of the peering object sees the exact number.
_PRIORITY_EPOCH_CENTISECONDS = 4 * 10**11
#: kopf sends keep-alives 5 to 10 s before the lifetime runs out, so shorter lifetimes would send
#: them every second.
MIN_LIFETIME = 5


def auto_priority(started_at: float, pod_name: str) -> int:
    """The priority of a replica started at `started_at` (epoch seconds): older ranks higher."""
    ticks = int(started_at * 100)
    return (_PRIORITY_EPOCH_CENTISECONDS - ticks) * 100 + zlib.crc32(pod_name.encode()) % 100


def peering_settings(*, name: str, lifetime: int, priority: int, clusterwide: bool) -> kopf.OperatorSettings:
    """kopf settings for a replica of a peering group (mandatory: a missing peering object is an error)."""
    if lifetime < MIN_LIFETIME:
        raise ValueError(f"peering lifetime must be at least {MIN_LIFETIME} s, got {lifetime}")
    settings = kopf.OperatorSettings()
    settings.peering.name = name
    settings.peering.priority = priority
    settings.peering.lifetime = lifetime
    settings.peering.mandatory = True
    settings.peering.standalone = False
    settings.peering.clusterwide = clusterwide
    settings.peering.stealth = True  # no log line per keep-alive; pausing and resuming are still logged
    return settings
