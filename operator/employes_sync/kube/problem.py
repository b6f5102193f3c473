"""`Problem`: something a person must fix (or wait out), raised wherever it is found.

It carries what the resource's status shows: a CamelCase `reason` for the Ready condition and the
Warning event, and a one-line `message` that names what is wrong and never a secret or a record's value.
The Secret reader raises it, the pools raise it, and the reconciler turns it into conditions.
"""

from __future__ import annotations


class Problem(Exception):
    """Shown as Ready=False with this reason and message, then retried with backoff."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
