"""Imports point one way: cli → controller → kube → executors → pipeline → … → store, employes.

Every module of the package is parsed with `ast` (imports inside functions and under TYPE_CHECKING
count too) and each import of our own code is checked against the layer order below. A module may
import its own package, any layer below its own, and, within its layer, only the peers listed in
`PEERS`. A new top-level module must be given a layer here, so its place is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "employes_sync"
ROOT = Path(__file__).resolve().parents[1] / "operator" / PACKAGE

#: Top to bottom. The first name of a module's path inside the package gives its layer.
LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"controller"},
    {"kube"},  # the Job launcher implements the driver's Launcher: kube → executors
    {"executors", "worker"},
    {"pipeline"},
    {"processing", "webhooks"},
    {"metrics"},
    {"store", "employes", "timeline", "localdb", "allowlist"},
    {"validation", "settings", "messages", "processes", "dsn", "cancelling", "__init__"},
]
#: Imports allowed between different packages of one layer (importer, imported).
PEERS: set[tuple[str, str]] = {("timeline", "employes")}


def _layer_of(part: str) -> int:
    for index, names in enumerate(LAYERS):
        if part in names:
            return index
    raise AssertionError(f"{PACKAGE}.{part} has no layer in tests/test_layers.py: give it one")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _top(module: str, root: Path) -> str:
    """`employes_sync.kube.jobs` → `kube`; the package itself → `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import of our package in one file, relative ones resolved."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == PACKAGE:  # `from employes_sync import metrics` imports the submodule
                for alias in node.names:
                    sub = root / alias.name
                    is_module = sub.is_dir() or sub.with_suffix(".py").exists()
                    found.append((node.lineno, f"{PACKAGE}.{alias.name}" if is_module else PACKAGE))
            else:
                found.append((node.lineno, module))
    return [(line, m) for line, m in found if m == PACKAGE or m.startswith(PACKAGE + ".")]


def violations(root: Path) -> tuple[list[str], int]:
    """Every import against the layer order under `root`, and how many imports were checked."""
    bad: list[str] = []
    checked = 0
    for path in sorted(root.rglob("*.py")):
        importer = _top(_module_name(path, root), root)
        for line, module in _imports(path, root):
            checked += 1
            imported = _top(module, root)
            if imported == importer:
                continue
            above, below = _layer_of(importer), _layer_of(imported)
            if below > above or (below == above and (importer, imported) in PEERS):
                continue
            where = path.relative_to(root.parent)
            bad.append(f"{where}:{line}: {importer} imports {module} ({imported} is not below {importer})")
    return bad, checked


def test_every_import_points_down_the_layers() -> None:
    bad, checked = violations(ROOT)
    assert checked > 100, f"only {checked} imports found: is {ROOT} the package?"
    assert not bad, "imports against the direction:\n" + "\n".join(bad)


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The checker itself: a store module importing the controller, and kube importing it relatively."""
    root = tmp_path / PACKAGE
    for folder in ("store", "controller", "kube"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "store" / "db.py").write_text("def f():\n    from employes_sync.controller import reconciler\n")
    (root / "kube" / "jobs.py").write_text("from ..controller import reconciler\nfrom . import spec\n")
    (root / "controller" / "reconciler.py").write_text("from employes_sync.kube import jobs\n")
    bad, checked = violations(root)
    assert checked == 4
    assert [b.split(":")[0] for b in bad] == [
        f"{PACKAGE}/kube/jobs.py",
        f"{PACKAGE}/store/db.py",
    ]


def test_a_module_without_a_layer_is_refused(tmp_path: Path) -> None:
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "newthing.py").write_text("from employes_sync import settings\n")
    with pytest.raises(AssertionError, match="newthing has no layer"):
        violations(root)


#: Inside controller/, top to bottom: the loop, then the parts it calls, then what they share. A module
#: imports only modules of a lower row (none of its own row), so the reconciler's split stays one-way.
CONTROLLER: list[set[str]] = [
    {"registration"},
    {"reconciler"},
    {"runs"},
    {"ownership", "connection"},
    {"resource"},
    {"outcomes"},
    {"reasons", "context", "peering"},
    {"listener", "pools", "webhooks"},
]


def _controller_imports(path: Path) -> list[tuple[int, str]]:
    """(line, name) of every controller module one controller file imports, `from . import x` too."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "employes_sync.controller" if node.level == 1 else (node.module or "")
            if node.level == 1 and node.module:
                base += "." + node.module
            names = [base] if base.count(".") > 1 else [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, n.split(".")[2]) for n in names if n.startswith(f"{PACKAGE}.controller.")]
    return found


def test_controller_modules_import_one_way() -> None:
    folder = ROOT / "controller"
    rows = {name: index for index, names in enumerate(CONTROLLER) for name in names}
    bad: list[str] = []
    checked = 0
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        assert path.stem in rows, f"controller/{path.name} has no row in CONTROLLER: give it one"
        for line, name in _controller_imports(path):
            checked += 1
            if rows[name] <= rows[path.stem]:
                bad.append(f"controller/{path.name}:{line}: imports controller.{name}")
    assert checked > 15, f"only {checked} imports inside controller/ found"
    assert not bad, "controller imports against its order:\n" + "\n".join(bad)


#: The aim is about 350 lines for a module of the operator layer; past this one it has outgrown one concern.
MAX_LINES = 400


@pytest.mark.parametrize("folder", ["controller", "kube"])
def test_no_operator_module_outgrows_one_concern(folder: str) -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in (ROOT / folder).glob("*.py")}
    assert len(sizes) > 3, f"{folder}/ has {len(sizes)} modules: is {ROOT} the package?"
    too_big = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not too_big, f"split these {folder}/ modules by concern (over {MAX_LINES} lines): {too_big}"
