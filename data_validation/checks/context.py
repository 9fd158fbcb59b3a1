"""What a check receives besides its entity: the reader, and helpers to locate entity files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_validation.entities import Entity
from data_validation.reader import ObjectReader
from data_validation.registry import skip


@dataclass
class CheckContext:
    reader: ObjectReader

    def metadata(self, key: str) -> dict[str, Any]:
        """A metadata JSON (missing or broken -> Unreadable, reported as the check's failure)."""
        return self.reader.json(key)

    def files_with_suffix(self, entity: Entity, suffix: str) -> list[str]:
        """Keys directly in the entity directory ending with ``suffix`` (``.zarr`` stores included)."""
        return [entity.key(name) for name in self.reader.children(entity.path) if name.endswith(suffix)]

    def single_file(self, entity: Entity, suffix: str, preferred: str) -> str:
        """The entity's ``{run}{suffix}`` (or its only ``*{suffix}``); skips when there is none,
        since the existence checks of the entity report that."""
        if self.reader.exists(entity.key(preferred)):
            return entity.key(preferred)
        candidates = self.files_with_suffix(entity, suffix)
        if len(candidates) == 1:
            return candidates[0]
        skip(f"no single *{suffix} in {entity.path} (reported by the file checks)")
