"""The store's SQL, loaded by name from ``queries.sql`` so every statement lives in one catalogue.

``Q.store_employees`` is the text under ``-- name: store_employees``. Values always travel as named
parameters; this module never builds SQL.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import LiteralString

_HEADER = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_catalogue(text: str) -> dict[str, tuple[str, str]]:
    """Split a catalogue into {name: (description, sql)}; a header without a comment line is an error."""
    found: dict[str, tuple[str, str]] = {}
    headers = list(_HEADER.finditer(text))
    for header, following in zip(headers, [*headers[1:], None], strict=True):
        name = header.group("name")
        body = text[header.end() : following.start() if following else len(text)]
        lines = body.strip("\n").splitlines()
        if not lines or not lines[0].startswith("-- "):
            raise ValueError(f"query {name!r} has no one-line description")
        description = lines[0][3:].strip()
        sql_lines = list(lines[1:])
        # Trailing section banners belong to the next query, not this one.
        while sql_lines and (not sql_lines[-1].strip() or sql_lines[-1].lstrip().startswith("--")):
            sql_lines.pop()
        sql = "\n".join(sql_lines).strip()
        if not sql:
            raise ValueError(f"query {name!r} is empty")
        if name in found:
            raise ValueError(f"query {name!r} is defined twice")
        found[name] = (description, sql)
    return found


class Queries:
    """Attribute access to the catalogue: ``Q.name`` is the SQL, ``Q.describe(name)`` its comment."""

    def __init__(self, catalogue: dict[str, tuple[str, str]]) -> None:
        self._catalogue = catalogue

    def __getattr__(self, name: str) -> LiteralString:
        try:
            # The text comes from our packaged file, never from input: it is a literal in all but syntax.
            return self._catalogue[name][1]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in queries.sql") from None

    def describe(self, name: str) -> str:
        return self._catalogue[name][0]

    def names(self) -> list[str]:
        return sorted(self._catalogue)


Q = Queries(parse_catalogue(resources.files(__package__).joinpath("queries.sql").read_text("utf-8")))
