"""`employes-sync operator` refuses a taken port with one line naming the port and its flag, exit 1."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability import rows

BIN = Path(sys.executable).parent / "employes-sync"


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


@pytest.mark.fault(*rows.OPERATOR_PORT_TAKEN_IS_ONE_LINE)
@pytest.mark.parametrize("flag", ["--metrics-port", "--health-port"])
def test_a_taken_port_is_one_line_and_exit_1(taken_port: int, flag: str, tmp_path: Path) -> None:
    other = "--health-port" if flag == "--metrics-port" else "--metrics-port"
    env = _env(tmp_path, tmp_path / "none")
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


@pytest.mark.fault(*rows.OPERATOR_PORT_TAKEN_IS_ONE_LINE)
def test_a_health_port_taken_after_the_check_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """The port passes the operator's check, and is then taken before kopf binds it.

    The other socket shares the port as the reservation does (SO_REUSEADDR, not listening) and only
    listens once the operator has logged its start, after the check: kopf's bind then fails inside its
    loop, which must still end in the same one line, not kopf's traceback.
    """
    env = _env(tmp_path, _unreachable_kubeconfig(tmp_path))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as late:
        late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        late.bind(("0.0.0.0", 0))
        port = late.getsockname()[1]
        proc = subprocess.Popen(
            [str(BIN), "operator", "-n", "default", "--health-port", str(port), "--metrics-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:
                seen.append(line)
                if "watching default" in line:
                    late.listen()
                    break
            rest, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = "".join(seen) + rest
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1] == (
        f"employes-sync: error: port {port} is in use: choose another with --health-port (0 turns it off)"
    ), output


def test_the_reserved_health_port_is_free_for_kopf_and_closed_to_others() -> None:
    from aiohttp import web

    from employes_sync.cli.operator import _reserve_port

    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port = probe.getsockname()[1]
    reserved = _reserve_port(port, "--health-port")

    async def kopf_binds() -> None:
        runner = web.AppRunner(web.Application())
        await runner.setup()
        try:
            await web.TCPSite(runner, "0.0.0.0", port).start()  # as kopf's health reporter binds it
        finally:
            await runner.cleanup()

    try:
        with socket.socket() as other:
            with pytest.raises(OSError, match="in use"):
                other.bind(("0.0.0.0", port))
        asyncio.run(kopf_binds())
    finally:
        reserved.close()


def _env(tmp_path: Path, kubeconfig: Path) -> dict[str, str]:
    """The operator's environment: this kubeconfig, and a data folder of the test's own."""
    return {**os.environ, "KUBECONFIG": str(kubeconfig), "EMPLOYES_SYNC_DATA_DIR": str(tmp_path)}


def _unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A valid kubeconfig whose server nobody answers: kopf starts, and its requests are retried."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    return path


@pytest.mark.fault(*rows.OPERATOR_WITHOUT_A_KUBECONFIG_IS_ONE_LINE)
@pytest.mark.parametrize("kubeconfig", ["", "garbage: [", "apiVersion: v1\nclusters: []\n"])
def test_no_usable_kubeconfig_is_one_line_and_exit_1(kubeconfig: str, tmp_path: Path) -> None:
    """Before, kopf retried its startup every minute with a traceback and never said what was missing."""
    path = tmp_path / "kubeconfig"
    if kubeconfig:
        path.write_text(kubeconfig)
    env = _env(tmp_path, path)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    done = subprocess.run(
        [str(BIN), "operator", "-n", "default", "--health-port", "0", "--metrics-port", "0"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        f"employes-sync: error: no Kubernetes cluster to talk to: not in a pod, and the kubeconfig {path}: "
    ), line


@pytest.mark.parametrize("kubeconfig", ["", "garbage: [", "apiVersion: v1\nclusters: []\n"])
def test_trigger_without_a_usable_kubeconfig_says_the_operators_line(kubeconfig: str, tmp_path: Path) -> None:
    """`employes-sync trigger` (a CronJob's command, or a person's) said `cannot reach Kubernetes:
    Invalid kube-config file. No configuration found.` with exit 2, naming no file."""
    path = tmp_path / "kubeconfig"
    if kubeconfig:
        path.write_text(kubeconfig)
    env = _env(tmp_path, path)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    done = subprocess.run(
        [str(BIN), "trigger", "demo", "-n", "payroll"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        f"employes-sync: error: no Kubernetes cluster to talk to: not in a pod, and the kubeconfig {path}: "
    ), line
