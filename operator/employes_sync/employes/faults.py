"""Misbehaviour the simulator can be told to show, so every client failure path is tested over HTTP.

Called from test code (any thread) while the simulator's loop reads it, hence the lock. Random
choices come from a generator seeded by the simulator's seed, so a run with the same requests in the
same order sees the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "Faults"]

MiB = 1024 * 1024
Endpoint = Literal["employees", "employee", "employments", "other"]
FaultKind = Literal["status", "malformed", "truncated", "slow", "drop", "oversized"]


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour for one request."""

    kind: FaultKind
    status: int = 200
    retry_after: int = 1
    seconds: float = 0.0
    size: int = 11 * MiB
    declare_length: bool = False


@dataclass
class _Rule:
    fault: Fault
    endpoint: str | None
    remaining: int | None = None  # next-N rule; None for a fraction rule
    fraction: float = 0.0
    statuses: tuple[int, ...] = ()


class Faults:
    """Fault controls; every method returns quickly and takes effect for the next request.

    Next-N faults apply to the next N requests (of one endpoint kind if `endpoint` is given) that
    pass the token and rate-limit checks, in the order they were added; fraction faults apply at
    random. Data faults (rotated token, removed employees, corrupt records) last until `reset()`.
    """

    def __init__(self, seed: int = 1) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._rules: list[_Rule] = []
            self._rng = random.Random(f"esync-faults:{self._seed}")
            self._token: str | None = None
            # Replaced, never mutated, so readers on the server's thread need no lock.
            self._removed: frozenset[str] = frozenset()
            self._corrupt: frozenset[int] = frozenset()
            self._malformed_employments: dict[str, str] = {}

    # -- next-N and fractions -----------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, endpoint: Endpoint | None = None) -> None:
        """Answer the next `n` requests with `status` (500, 503, or any other)."""
        self._add(_Rule(Fault("status", status=status), endpoint, remaining=n))

    def fail_fraction(
        self, fraction: float, statuses: tuple[int, ...] = (500, 503), *, endpoint: Endpoint | None = None
    ) -> None:
        """Answer about `fraction` of requests with one of `statuses`, until reset."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be between 0 and 1")
        self._add(_Rule(Fault("status"), endpoint, fraction=fraction, statuses=statuses))

    def rate_limit_next(self, n: int = 1, retry_after: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """A 429 storm: the next `n` requests get 429 with `Retry-After: retry_after`."""
        self._add(_Rule(Fault("status", status=429, retry_after=retry_after), endpoint, remaining=n))

    def slow_next(self, n: int = 1, seconds: float = 5.0, *, endpoint: Endpoint | None = None) -> None:
        """Delay the next `n` responses by `seconds` (beyond a client's timeout)."""
        self._add(_Rule(Fault("slow", seconds=seconds), endpoint, remaining=n))

    def malformed_next(self, n: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """A 200 whose body is not JSON (an HTML error page glued into JSON)."""
        self._add(_Rule(Fault("malformed"), endpoint, remaining=n))

    def truncated_next(self, n: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """A 200 whose JSON is cut in half (with a matching Content-Length, as a proxy might send)."""
        self._add(_Rule(Fault("truncated"), endpoint, remaining=n))

    def drop_next(self, n: int = 1, *, endpoint: Endpoint | None = None) -> None:
        """Close the connection without answering."""
        self._add(_Rule(Fault("drop"), endpoint, remaining=n))

    def oversized_next(
        self,
        n: int = 1,
        size: int = 11 * MiB,
        *,
        endpoint: Endpoint | None = None,
        declare_length: bool = False,
    ) -> None:
        """A 200 of `size` bytes of valid JSON, chunked unless `declare_length`."""
        self._add(_Rule(Fault("oversized", size=size, declare_length=declare_length), endpoint, remaining=n))

    def pending(self) -> int:
        """Next-N faults not yet delivered."""
        with self._lock:
            return sum(rule.remaining or 0 for rule in self._rules)

    # -- lasting data faults ------------------------------------------------------------------

    def rotate_token(self, new_token: str | None = None) -> str:
        """From now on only `new_token` is accepted (the configured one gets 401); returns it."""
        token = new_token or f"rotated-{self._rng.getrandbits(64):016x}"
        with self._lock:
            self._token = token
        return token

    def remove_employee(self, employee_id: str) -> None:
        """The employee disappears from the list, and its detail and employments answer 404."""
        with self._lock:
            self._removed = self._removed | {employee_id}

    def restore_employee(self, employee_id: str) -> None:
        """A removed employee is listed and answered again (someone re-hired, or a mistake undone)."""
        with self._lock:
            self._removed = self._removed - {employee_id}

    def corrupt_employees(self, indices: list[int] | range) -> None:
        """Break the employees at these list positions (missing id, bad date, wrong type, ...)."""
        with self._lock:
            self._corrupt = self._corrupt | frozenset(indices)

    def corrupt_page(self, page: int, count: int = 3, *, per_page: int = 100) -> list[int]:
        """Break the first `count` employees of a page; returns their list positions."""
        start = (page - 1) * per_page
        indices = list(range(start, start + count))
        self.corrupt_employees(indices)
        return indices

    def malformed_employments(self, employee_id: str, how: Literal["invalid", "json"] = "invalid") -> None:
        """This employee's employments come back as invalid records (`invalid`) or non-JSON (`json`)."""
        with self._lock:
            self._malformed_employments = {**self._malformed_employments, employee_id: how}

    # -- read by the simulator ----------------------------------------------------------------

    def take(self, endpoint: str, *, default_fault_rate: float = 0.0) -> Fault | None:
        """The fault for this request, if any (consumes a next-N rule)."""
        with self._lock:
            for rule in self._rules:
                if rule.endpoint is not None and rule.endpoint != endpoint:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule.fault
                if self._rng.random() < rule.fraction:
                    return Fault("status", status=self._rng.choice(rule.statuses))
            if default_fault_rate > 0 and self._rng.random() < default_fault_rate:
                return Fault("status", status=self._rng.choice((500, 503)))
        return None

    def accepted_token(self, configured: str) -> str:
        token = self._token
        return configured if token is None else token

    def removed_ids(self) -> frozenset[str]:
        return self._removed

    def corrupt_indices(self) -> frozenset[int]:
        return self._corrupt

    def malformed_employments_for(self, employee_id: str) -> str | None:
        return self._malformed_employments.get(employee_id)

    def _add(self, rule: _Rule) -> None:
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._rules.append(rule)
