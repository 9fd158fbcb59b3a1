"""The ingestion tree (config.md §2): its shape, which kinds are found below which, and its nodes.

Kept free of imports beyond the standard library: the source-check pytest plugin reads ``NAME_FILTERED`` at every
pytest start-up to add its ``--filter-<kind>-name`` options.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: The entity tree (config.md §2): which kinds are found below which, in the order they are
#: ingested (frames before tilt series, which count them; tilt series before alignments, which
#: point at them; alignments before voxel spacings, whose tomograms and annotations point at them).
CHILDREN: dict[str, tuple[str, ...]] = {
    "deposition": ("dataset", "deposition_keyphoto"),
    "dataset": ("run", "dataset_keyphoto"),
    "run": (
        "gain",
        "collection_metadata",
        "frame",
        "tiltseries",
        "alignment",
        "identified_object",
        "voxel_spacing",
    ),
    "tiltseries": ("rawtilt", "ctf"),
    "voxel_spacing": ("tomogram", "annotation"),
    "tomogram": ("key_image",),
}

#: Kinds that --filter-<kind>-name / --exclude-<kind>-name narrow.
NAME_FILTERED = ("dataset", "run", "tiltseries", "alignment", "voxel_spacing", "tomogram", "annotation")


@dataclass
class Entity:
    """One found entity: a node of the ingestion tree (deposition → dataset → run → …)."""

    kind: str
    name: str
    path: str | None
    metadata: dict[str, Any]
    parent: Entity | None = None
    identifier: int | None = None
    output_path: str | None = None
    #: Found in the output (``destination_glob``, ``destination_filter``): an entity already stored, which the
    #: walk passes through to its children but does not import again (config.md §3 "Imports?").
    reference: bool = False
    #: What this entity's import produced that relatives need (ids, output keys, counts).
    outputs: dict[str, Any] = field(default_factory=dict)

    def lineage(self) -> Iterator[Entity]:
        """This entity and its ancestors, nearest first."""
        entity: Entity | None = self
        while entity is not None:
            yield entity
            entity = entity.parent

    def ancestor(self, kind: str) -> Entity:
        for entity in self.lineage():
            if entity.kind == kind:
                return entity
        raise KeyError(f"{self.describe()} has no {kind} ancestor")

    def glob_variables(self) -> dict[str, Any]:
        """Template variables of this entity and its ancestors (config.md §5)."""
        variables: dict[str, Any] = {}
        for entity in reversed(list(self.lineage())):
            variables[f"{entity.kind}_name"] = entity.name
            if entity.name.isdigit():
                variables[f"int_{entity.kind}_name"] = int(entity.name)
            variables[f"{entity.kind}_path"] = entity.path or ""
            if entity.identifier is not None:
                variables[f"{entity.kind}_id"] = entity.identifier
            if entity.output_path is not None:
                variables[f"{entity.kind}_output_path"] = entity.output_path
        return variables

    def describe(self) -> str:
        return " / ".join(f"{e.kind} {e.name}" for e in reversed(list(self.lineage())))
