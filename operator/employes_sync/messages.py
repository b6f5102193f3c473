"""How an error is told in one line: status fields, run rows, events, batch errors and logs alike."""

from __future__ import annotations

import traceback

import psycopg


def one_line(exc: BaseException) -> str:
    """`Type: message`, its whitespace (newlines included) folded, so a reader sees it whole in a column.

    A PostgreSQL error is told by its SQLSTATE and primary message only: its detail, context and
    hint quote the rows a statement carried (a record's name, city, wage, ...), and this line is
    stored in `sync_runs.error`, the queue, the status, Warning events and the logs.
    """
    text = " ".join(_text(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def said(exc: BaseException) -> str:
    """What `one_line` says after the class name, for a reader of the error's own words (a status
    message, a command's error line): the class name is no news when the message names what failed."""
    return " ".join(_text(exc).split()) or type(exc).__name__


def _text(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error) and exc.sqlstate:
        primary = exc.diag.message_primary or "database error"
        return f"{primary} (SQLSTATE {exc.sqlstate})"
    return str(exc)


def traceback_text(exc: BaseException, limit: int = 8) -> str:
    """Where an error happened (its frames) and `one_line(exc)`: a traceback that is safe to store and log.

    `traceback.format_exc()` ends in `str(exc)`, which for a database error quotes the records.
    """
    frames = "".join(traceback.format_tb(exc.__traceback__, limit=limit))
    return f"Traceback (most recent call last):\n{frames}{one_line(exc)}"
