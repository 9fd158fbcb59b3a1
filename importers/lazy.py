"""Modules imported when first used, for the heavy libraries only some commands need.

``trimesh = lazy("trimesh")`` at the top of a module reads as an import, but the library (and what it pulls in:
scipy, networkx, shapely) is imported at the first attribute access: validating a bucket or standardizing a
dataset without meshes never pays its second and 100 MB.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()


class LazyModule:
    """Stands for the module ``name``: attribute access imports it (once) and answers from it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            with _LOCK:  # threads checking entities may reach it together
                module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{'' if self._module is None else ' (imported)'}>"


def lazy(name: str) -> Any:
    """The module ``name``, imported at its first use (typed ``Any``: annotate with the real module under
    ``TYPE_CHECKING``)."""
    return LazyModule(name)
