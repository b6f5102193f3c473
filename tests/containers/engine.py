"""A real Docker engine for the container tests: found or started, a stand-in base image, the project image.

Where no registry can be reached (this project's machines and CI), ``python:3.11.13-slim-bookworm``
cannot be pulled. The stand-in base is built from Debian's own packages instead, the way the official
image is laid out (``python``, ``python3`` and ``pip`` in ``/usr/local/bin``, no EXTERNALLY-MANAGED
marker), and imported once per machine under :data:`BASE_TAG`; the project's Dockerfile is then built
on it with ``--build-arg BASE_IMAGE``. Every test says the base is a stand-in.

The daemon is shared by every pytest session on the machine. One started here is marked (:data:`MARKER`)
and stopped by the last session that uses it: each session holds a shared lock on :data:`USE_LOCK` while
it runs, and at its end stops a marked daemon only if it can take that lock exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import docker
import docker.errors

from employes_sync.processes import pid_alive

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOCKET = "/var/run/docker.sock"
#: Cached once per machine; bump the suffix when the recipe below changes.
BASE_TAG = "employes-sync-stand-in-base:python3.11-bookworm-1"
BASE_LABEL = "io.employessync.stand-in-base"
SUITE = "bookworm"
BASE_PACKAGES = ["python3.11", "python3.11-venv", "python3-pip", "ca-certificates"]
#: Every container and image the tests make carries this label (value: the session id).
SESSION_LABEL = "io.employessync.test-session"
#: and this one (value: the test that made it), so a test's finalizer removes exactly its own.
TEST_LABEL = "io.employessync.test"

_STATE = Path(tempfile.gettempdir())
USE_LOCK = _STATE / "employes-sync-docker.use.lock"
START_LOCK = _STATE / "employes-sync-docker.start.lock"
BASE_LOCK = _STATE / "employes-sync-docker.base.lock"
MARKER = _STATE / "employes-sync-dockerd.pid"
DOCKERD_LOG = _STATE / "employes-sync-dockerd.log"
DOCKERD_ARGS = ["--iptables=false", "--bridge=none"]
DOCKER_ROOT = Path("/var/lib/docker")


class EngineUnavailable(Exception):
    """No Docker engine here, and none can be started: the one-line reason is the message."""


def _client(base_url: str | None) -> docker.DockerClient:
    if base_url:
        return docker.DockerClient(base_url=base_url, version="auto", timeout=300)
    return docker.from_env(version="auto", timeout=300)


def _ping(base_url: str | None) -> docker.DockerClient | None:
    try:
        client = _client(base_url)
        client.ping()
        return client
    except (docker.errors.DockerException, OSError):
        return None


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[IO[str]]:
    with path.open("a+") as handle:
        fcntl.flock(handle, mode)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _marked_pid() -> int | None:
    try:
        pid = int(MARKER.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def storage_driver() -> str:
    """overlay2 where the kernel mounts overlays on Docker's filesystem, else vfs.

    vfs works everywhere but copies the whole image for every container (about 15 s per container for
    this image on a 2-core machine); overlay2 creates one in a fraction of a second.
    """
    DOCKER_ROOT.mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=DOCKER_ROOT))
    try:
        for part in ("lower", "upper", "work", "merged"):
            (probe / part).mkdir()
        options = f"lowerdir={probe}/lower,upperdir={probe}/upper,workdir={probe}/work"
        mounted = (
            subprocess.run(
                ["mount", "-t", "overlay", "overlay", "-o", options, str(probe / "merged")],
                capture_output=True,
                timeout=30,
                check=False,
            ).returncode
            == 0
        )
        if mounted:
            subprocess.run(["umount", str(probe / "merged")], capture_output=True, timeout=30, check=False)
        return "overlay2" if mounted else "vfs"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def _start_dockerd(timeout: float = 90) -> docker.DockerClient:
    """``dockerd`` in its own session (it must outlive this pytest if another session still uses it)."""
    with DOCKERD_LOG.open("ab") as log:
        process = subprocess.Popen(
            ["dockerd", *DOCKERD_ARGS, f"--storage-driver={storage_driver()}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    MARKER.write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = _ping(None)
        if client is not None:
            return client
        if process.poll() is not None:
            MARKER.unlink(missing_ok=True)
            tail = DOCKERD_LOG.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise EngineUnavailable(f"dockerd exited with {process.returncode}: {tail[0]}")
        time.sleep(0.3)
    _stop_pid(process.pid)
    raise EngineUnavailable(f"dockerd did not answer within {timeout:.0f} s (log: {DOCKERD_LOG})")


def _stop_pid(pid: int, timeout: float = 60) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    MARKER.unlink(missing_ok=True)


@contextlib.contextmanager
def engine_session() -> Iterator[docker.DockerClient]:
    """A client for a working engine for as long as the block runs; raises EngineUnavailable if none.

    ``DOCKER_HOST`` (or the default socket) if it answers. Otherwise, as root with ``dockerd`` installed
    and no ``DOCKER_HOST`` set, a daemon is started as the issue describes, and stopped at the end by
    the last session on this machine that uses it.
    """
    host = os.environ.get("DOCKER_HOST")
    use = USE_LOCK.open("a+")
    try:
        fcntl.flock(use, fcntl.LOCK_SH)  # waits while a finishing session stops the daemon
        with _locked(START_LOCK, fcntl.LOCK_EX):
            client = _ping(host)
            if client is None:
                if host:
                    raise EngineUnavailable(f"no Docker engine answers at DOCKER_HOST={host}")
                if shutil.which("dockerd") is None:
                    raise EngineUnavailable(
                        "no Docker engine: dockerd is not installed (apt-get install docker.io)"
                    )
                if os.geteuid() != 0:
                    raise EngineUnavailable("no Docker engine running, and starting dockerd needs root")
                client = _start_dockerd()
        try:
            yield client
        finally:
            client.close()
    finally:
        fcntl.flock(use, fcntl.LOCK_UN)
        try:
            fcntl.flock(use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another session still uses the daemon: the last one out stops it
        else:
            pid = _marked_pid()
            if pid is not None:
                _stop_pid(pid)
        use.close()


# --- images ---------------------------------------------------------------------------------------------


def pip_ca_bundle() -> Path | None:
    """The CA bundle pip uses on this machine (``pip config list``'s ``cert``), for pip inside builds."""
    found = os.environ.get("PIP_CERT")
    try:
        listed = subprocess.run(
            ["python3", "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except OSError:
        listed = ""
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(".cert") and value.strip("'\""):
            found = value.strip("'\"")
            break
    return Path(found) if found and Path(found).is_file() else None


def _chroot(root: Path, *argv: str) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    subprocess.run(["chroot", str(root), *argv], env=env, check=True, capture_output=True, timeout=900)


def build_stand_in_base(client: docker.DockerClient, tag: str = BASE_TAG) -> str:
    """The stand-in for the official Python slim image, built once per machine and cached by tag."""
    with _locked(BASE_LOCK, fcntl.LOCK_EX):  # two sessions at once build it once
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.get(tag)
            return tag
        for tool in ("debootstrap", "chroot"):
            if shutil.which(tool) is None:
                raise EngineUnavailable(f"cannot build the stand-in base: {tool} is not installed")
        work = Path(tempfile.mkdtemp(prefix="esync-base-", dir="/var/tmp"))
        root = work / "rootfs"
        try:
            subprocess.run(
                ["debootstrap", "--variant=minbase", SUITE, str(root), "http://deb.debian.org/debian"],
                check=True,
                capture_output=True,
                timeout=900,
            )
            shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
            _chroot(root, "apt-get", "update", "-qq")
            _chroot(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *BASE_PACKAGES)
            _chroot(root, "apt-get", "clean")
            shutil.rmtree(root / "var" / "lib" / "apt" / "lists", ignore_errors=True)
            (root / "var" / "lib" / "apt" / "lists" / "partial").mkdir(parents=True)
            (root / "etc" / "resolv.conf").write_text("")
            local_bin = root / "usr" / "local" / "bin"
            for name, target in {
                "python": "/usr/bin/python3.11",
                "python3": "/usr/bin/python3.11",
                "pip": "/usr/bin/pip3",
                "pip3": "/usr/bin/pip3",
            }.items():
                (local_bin / name).unlink(missing_ok=True)
                (local_bin / name).symlink_to(target)
            (root / "usr" / "lib" / "python3.11" / "EXTERNALLY-MANAGED").unlink(missing_ok=True)
            bundle = pip_ca_bundle()
            if bundle is not None:  # pip in a build trusts what pip on this machine trusts
                shutil.copy(bundle, root / "etc" / "ssl" / "certs" / "build-host-ca.crt")
                (root / "etc" / "pip.conf").write_text("[global]\ncert = /etc/ssl/certs/build-host-ca.crt\n")
            archive = work / "rootfs.tar"
            subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, timeout=600)
            repository, _, version = tag.rpartition(":")
            changes = [
                "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                'CMD ["python3"]',
                f"LABEL {BASE_LABEL}=debootstrap-{SUITE}",
            ]
            client.api.import_image_from_file(
                str(archive), repository=repository, tag=version, changes=changes
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        client.images.get(tag)
        return tag


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    base: str
    id: str
    seconds: float
    cached_steps: int = 0  # steps the engine took from its build cache (a rebuild of unchanged layers)


def build_project_image(
    client: docker.DockerClient, base: str, tag: str, labels: dict[str, str], *, no_cache: bool = False
) -> BuiltImage:
    """``docker build --network host --build-arg BASE_IMAGE=<base> -t <tag> .`` of the working tree."""
    started = time.monotonic()
    try:
        image, logs = client.images.build(
            path=str(REPO),
            tag=tag,
            buildargs={"BASE_IMAGE": base},
            network_mode="host",
            rm=True,
            forcerm=True,
            labels=labels,
            pull=False,
            nocache=no_cache,
        )
    except docker.errors.BuildError as exc:
        lines = [str(chunk.get("stream", "")).rstrip() for chunk in exc.build_log if isinstance(chunk, dict)]
        raise AssertionError(f"docker build failed: {exc.msg}\n" + "\n".join(lines[-40:])) from exc
    cached = sum(1 for chunk in logs if "Using cache" in str(chunk.get("stream", "")))
    return BuiltImage(tag, base, str(image.id), time.monotonic() - started, cached)


def image_size(client: docker.DockerClient, ref: str) -> int:
    return int(client.images.get(ref).attrs["Size"])


def remove_containers(client: docker.DockerClient, label: str) -> list[str]:
    """Remove (forcibly) every container carrying ``label`` (``key=value``); the names of those that ran."""
    were_running: list[str] = []
    for container in client.containers.list(all=True, filters={"label": label}):
        if container.status in ("running", "restarting", "paused"):
            were_running.append(container.name)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True)
    return were_running


def image_user(client: docker.DockerClient, image: str) -> str:
    """The USER an image runs as ("" for root by default); ImageNotFound if the engine has no such image."""
    return str(client.images.get(image).attrs["Config"].get("User") or "")
