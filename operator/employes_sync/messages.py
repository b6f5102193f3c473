"""How an error is told in one line: status fields, run rows, events, batch errors and logs alike."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """`Type: message`, its whitespace (newlines included) folded, so a reader sees it whole in a column."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
