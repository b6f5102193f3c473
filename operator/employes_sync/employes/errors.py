"""Typed failures of the Employes.nl API, so callers decide by class instead of parsing messages.

`transient` tells a caller (the queue, a CLI) whether trying again later can help: a rejected token
will stay rejected, a 503 may not. Messages are one line for a human and never contain the token.
"""

from __future__ import annotations

from typing import ClassVar


class EmployesError(Exception):
    """Base of every error raised by the Employes client."""

    transient: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        #: The reason alone, for a progress line ("connection refused", "server error (503)").
        self.cause = message.partition(" for GET ")[0].removeprefix("Employes API ")

    def __str__(self) -> str:
        return self.message


class AuthenticationError(EmployesError):
    """401: the token is wrong, expired or rotated; only a new Secret fixes it."""


class PermissionDeniedError(EmployesError):
    """403: the token is valid but may not read this (e.g. the history endpoints)."""


class NotFoundError(EmployesError):
    """404: no such company, employee, or (for employments) none recorded."""


class RateLimitedError(EmployesError):
    """429 still answered after every retry, or a Retry-After too long to wait for."""

    transient = True


class ServerError(EmployesError):
    """5xx after every retry."""

    transient = True


class TransportError(EmployesError):
    """Timeouts or connection failures after every retry."""

    transient = True


class MalformedResponseError(EmployesError):
    """A body that is not JSON or not the documented shape.

    Transient by default (a cut-off body from a proxy heals on retry); an instance built for a
    well-formed body holding invalid records sets `transient = False`, since asking again returns
    the same records.
    """

    transient = True

    def __init__(self, message: str, *, status: int | None = None, transient: bool | None = None) -> None:
        super().__init__(message, status=status)
        if transient is not None:
            self.transient = transient  # type: ignore[misc]


class ResponseTooLargeError(EmployesError):
    """A body above `max_response_bytes`: refused rather than risking the worker's memory."""
