"""The image, built by a real Docker engine from the working tree on the stand-in base, and run hardened.

The official ``python:3.11.13-slim-bookworm`` cannot be pulled here (no registry): the base is a
stand-in built with debootstrap from Debian's packages (see engine.py), laid out as the official one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import docker
import pytest

from tests.containers.engine import REPO, BuiltImage, image_size

#: The first test to run builds the image (and, once per machine, the stand-in base) in its setup.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

HARDENED = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "tmpfs": {"/tmp": "rw,nosuid,nodev,size=16m"},
    "network_mode": "host",
}
SITE = "/opt/venv/lib/python3.11/site-packages"


def run(
    client: docker.DockerClient,
    image: BuiltImage,
    labels: dict[str, str],
    *argv: str,
    entrypoint: list[str] | None = None,
) -> str:
    """The output of one hardened container (exit code 0 required), removed afterwards."""
    container = client.containers.run(
        image.tag, list(argv), entrypoint=entrypoint, detach=True, labels=labels, **HARDENED
    )
    try:
        result = container.wait(timeout=120)
        output = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert result["StatusCode"] == 0, f"{argv} exited {result['StatusCode']}:\n{output}"
    return output


def test_the_image_runs_as_uid_10001(
    docker_engine: docker.DockerClient, project_image: BuiltImage, container_labels: dict[str, str]
) -> None:
    assert docker_engine.images.get(project_image.tag).attrs["Config"]["User"] == "10001:10001"
    ids = run(
        docker_engine,
        project_image,
        container_labels,
        "-c",
        "import os; print(os.getuid(), os.getgid(), os.getgroups())",
        entrypoint=["python"],
    )
    assert ids.split()[:2] == ["10001", "10001"]


@pytest.mark.parametrize("command", [[], ["worker"], ["operator"]], ids=["top", "worker", "operator"])
def test_help_works_read_only_with_every_capability_dropped(
    docker_engine: docker.DockerClient,
    project_image: BuiltImage,
    container_labels: dict[str, str],
    command: list[str],
) -> None:
    output = run(docker_engine, project_image, container_labels, *command, "--help")
    assert output.startswith("Usage: employes-sync"), output
    if command:
        assert f"employes-sync {command[0]}" in output.splitlines()[0]


def test_the_root_filesystem_is_read_only_and_tmp_is_not(
    docker_engine: docker.DockerClient, project_image: BuiltImage, container_labels: dict[str, str]
) -> None:
    script = (
        "import pathlib\n"
        "pathlib.Path('/tmp/ok').write_text('x')\n"
        "try:\n    pathlib.Path('/opt/venv/x').write_text('x')\nexcept OSError as e:\n    print(e.errno)\n"
    )
    assert (
        run(docker_engine, project_image, container_labels, "-c", script, entrypoint=["python"]).strip()
        == "30"
    )


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_installed_package_is_the_working_tree(
    docker_engine: docker.DockerClient, project_image: BuiltImage, container_labels: dict[str, str]
) -> None:
    script = (  # the same function, run inside the image on the installed package
        "import hashlib, json, importlib.metadata as md, employes_sync\nfrom pathlib import Path\n"
        + inspect.getsource(_tree_hashes)
        + "root = Path(employes_sync.__file__).parent\n"
        "print(json.dumps({'version': md.version('employes-sync'), 'root': str(root),"
        " 'files': _tree_hashes(root)}))\n"
    )
    found = json.loads(
        run(docker_engine, project_image, container_labels, "-c", script, entrypoint=["python"])
    )
    assert found["root"] == f"{SITE}/employes_sync"  # installed from the wheel, not a source checkout
    expected = _tree_hashes(REPO / "operator" / "employes_sync")
    assert found["files"] == expected
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'version = "{found["version"]}"' in pyproject


def test_the_venv_carries_no_pip_or_setuptools(
    docker_engine: docker.DockerClient, project_image: BuiltImage, container_labels: dict[str, str]
) -> None:
    script = (
        "import json, pathlib\n"
        f"print(json.dumps([sorted(p.name for p in pathlib.Path('{SITE}').iterdir()),"
        " sorted(p.name for p in pathlib.Path('/opt/venv/bin').iterdir())]))\n"
    )
    site, scripts = json.loads(
        run(docker_engine, project_image, container_labels, "-c", script, entrypoint=["python"])
    )
    assert "employes_sync" in site and "kopf" in site
    unwanted = ("pip", "setuptools", "_distutils_hack", "distutils-precedence.pth", "pkg_resources", "wheel")
    assert [n for n in site if n.lower().startswith(unwanted)] == []
    assert "employes-sync" in scripts and not [n for n in scripts if n.startswith(("pip", "easy_install"))]


def test_the_image_says_its_base_is_a_stand_in(
    docker_engine: docker.DockerClient, project_image: BuiltImage, stand_in_base: str
) -> None:
    base = docker_engine.images.get(stand_in_base)
    assert base.labels.get("io.employessync.stand-in-base", "").startswith("debootstrap-")
    assert project_image.base == stand_in_base
    # The image is its base plus our layers: it is larger than its base, by what the venv adds.
    assert image_size(docker_engine, project_image.tag) > image_size(docker_engine, stand_in_base)
