"""Entities found in a bucket, as the validation suite parametrizes over them."""

from __future__ import annotations

from dataclasses import dataclass

from data_validation.registry import EntityKind
from importers import layout


@dataclass(frozen=True, order=True)
class Entity:
    """One discovered entity: its kind and the layout fields of its directory."""

    kind: EntityKind
    fields: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, kind: EntityKind, **fields: str) -> Entity:
        return cls(kind, tuple(sorted(fields.items())))

    def __getitem__(self, name: str) -> str:
        return dict(self.fields)[name]

    @property
    def path(self) -> str:
        """The entity's directory key (not validated: a bad id dir must still be nameable)."""
        # Kept in the instance's __dict__ by hand: functools.cached_property takes one lock for every
        # instance (Python 3.11), which the engine's threads queue on.
        path = self.__dict__.get("_path")
        if path is None:
            path = layout.ENTITY_DIRS[self.kind.value].format(**dict(self.fields))
            object.__setattr__(self, "_path", path)
        return path

    def key(self, name: str) -> str:
        """A key inside the entity directory."""
        return f"{self.path}/{name}"

    @property
    def voxel_spacing(self) -> float:
        return layout.voxel_spacing_from_name(self["voxel_spacing"])
