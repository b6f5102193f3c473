"""`employes-sync operator` refuses a taken port with one line naming the port and its flag, exit 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "employes-sync"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


@pytest.mark.parametrize("flag", ["--metrics-port", "--health-port"])
def test_a_taken_port_is_one_line_and_exit_1(taken_port: int, flag: str, tmp_path: Path) -> None:
    other = "--health-port" if flag == "--metrics-port" else "--metrics-port"
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [str(BIN), "operator", "-n", "default", flag, str(taken_port), other, "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [
        f"employes-sync: error: port {taken_port} is in use: choose another with {flag} (0 turns it off)"
    ], done.stderr
    assert "Traceback" not in done.stderr + done.stdout
