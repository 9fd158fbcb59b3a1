"""Who may import whom (docs/architecture.md), read from the source with ``ast``.

The core is ``importers/`` outside ``ingest/`` and ``cli.py``; the ingestion app is ``importers/ingest/``; the
validation suite is ``data_validation/``. Validation and the app import the core, the app may import validation's
public API, the core imports neither, and no module imports itself through others. Every import counts: at module
level, inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("importers", "data_validation")
APP = "importers.ingest"
CLI = "importers.cli"


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the project's packages (a package is its ``__init__.py``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imported_names(name: str, path: Path) -> set[str]:
    """Every dotted name the module imports; ``from a import b`` gives ``a`` and ``a.b`` (b may be a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _project_module(dotted: str) -> str | None:
    """The project module a dotted name lies in (the longest prefix that is one), if any."""
    parts = dotted.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) or None


IMPORTS: dict[str, set[str]] = {
    name: {module for dotted in _imported_names(name, path) if (module := _project_module(dotted)) not in (None, name)}
    for name, path in MODULES.items()
}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _is_core(module: str) -> bool:
    return _under(module, "importers") and not _under(module, APP) and module != CLI


def _violations(importer: Callable[[str], bool], imported: Callable[[str], bool]) -> list[str]:
    """``"a imports b"`` for every import from a module ``importer`` selects of a module ``imported`` selects."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in IMPORTS.items()
        if importer(module)
        for target in targets
        if imported(target)
    )


def test_imports_are_read_at_every_level() -> None:
    """The parser sees function-level and TYPE_CHECKING imports (the preflight plugin has only those)."""
    assert {"importers.ingest.sources", "data_validation.source.session", "importers.storage"} <= IMPORTS[
        "importers.ingest.preflight"
    ]


def test_validation_does_not_import_the_app() -> None:
    assert _violations(lambda module: _under(module, "data_validation"), lambda target: _under(target, APP)) == []


def test_the_core_imports_neither_the_app_nor_validation() -> None:
    assert _violations(_is_core, lambda target: _under(target, APP) or _under(target, "data_validation")) == []


def _cycle_through(module: str) -> list[str] | None:
    """The shortest import chain from ``module`` back to itself, if there is one."""
    came_from: dict[str, str] = {}
    queue = deque([module])
    while queue:
        current = queue.popleft()
        for target in sorted(IMPORTS[current]):
            if target == module:
                chain = [current]
                while chain[-1] != module:
                    chain.append(came_from[chain[-1]])
                return [module, *reversed(chain[:-1]), module]
            if target not in came_from:
                came_from[target] = current
                queue.append(target)
    return None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_on_no_import_cycle(module: str) -> None:
    cycle = _cycle_through(module)
    assert cycle is None, " -> ".join(cycle or [])


#: Libraries only some work needs (meshes, run maps): importing them costs seconds and ~100 MB a process.
HEAVY_LIBRARIES = ("trimesh", "scipy", "networkx", "shapely", "zmesh", "DracoPy", "pyfqmr", "h5py", "pandas")


@pytest.mark.parametrize("module", ["importers.ingest.standardize", "data_validation.checks", "importers.cli"])
def test_heavy_libraries_are_imported_when_used_not_at_start_up(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in {HEAVY_LIBRARIES!r} if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert imported.stdout.strip() == "[]"


def test_a_lazy_module_is_imported_at_its_first_use() -> None:
    probe = (
        "import sys; from importers.lazy import lazy; shapely = lazy('shapely'); "
        "before = 'shapely' in sys.modules; point = shapely.Point(1, 2); "
        "print(before, 'shapely' in sys.modules, point.x)"
    )
    used = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert used.stdout.split() == ["False", "True", "1.0"]
