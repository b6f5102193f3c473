"""The operator on a real cluster (kind): image, chart, demo simulator, examples, Ready.

Skipped unless docker, kind, kubectl and helm are on PATH and the Docker daemon answers; CI here has
no Docker. Run it by hand with `pytest -m e2e tests/e2e` or `tests/e2e/kind.sh`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).with_name("kind.sh")


def _missing() -> str | None:
    for tool in ("docker", "kind", "kubectl", "helm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    if probe.returncode != 0:
        return "the Docker daemon does not answer"
    return None


def test_kind_install_and_sync_to_ready() -> None:
    reason = _missing()
    if reason:
        pytest.skip(f"needs a kind cluster: {reason}")
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "e2e: OK" in result.stdout
