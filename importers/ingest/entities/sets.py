"""How a run's acquisition entities depend on each other.

Sets: a finder returns one item per matching file, so a run's 31 movies are 31 ``frame`` entities and
an IMOD alignment's ``.xf`` and ``.tlt`` are two ``alignment`` entities; yet a run has one
``frames_metadata.json`` and (per deposition) one alignment. The first member to be visited imports
the whole set; the others find it done.

Prerequisites: an entity leaves what others need in its parent's ``outputs`` (the parsed mdoc, the raw
tilt angles). When that input was found but could not be imported, its own failure is the one report;
the entities that needed it are skipped (:class:`NotImported`) rather than failed a second time.
"""

from __future__ import annotations

from typing import Any

from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.tree import Entity


class NotImported(Exception):
    """An entity is not written because an input it needs was not imported (that input's own failure
    is the report; ``standardize`` reports this one as skipped, and the entity as not imported)."""


def claim_set(ingestion: Ingestion, member: Entity) -> list[Entity] | None:
    """Every entity of ``member``'s kind under its parent if ``member`` is the first of them to ask;
    None for the others."""
    parent = member.parent
    if parent is None:
        return [member]
    flag = f"{member.kind}_set_claimed"
    if parent.outputs.get(flag):
        return None
    parent.outputs[flag] = True
    return ingestion.find(member.kind, parent)


def found_source(outputs: dict[str, Any], name: str, path: str) -> None:
    """Record that ``name`` (e.g. ``"mdoc"``) has a source, before it is read; raises for a second one."""
    key = f"{name}_source"
    if key in outputs:
        raise ValueError(f"only one {name} is imported; {outputs[key]} was found first")
    outputs[key] = path


def prerequisite(outputs: dict[str, Any], name: str, what: str, hint: str) -> Any:
    """``outputs[name]``; raises :class:`NotImported` if its source was found but failed, and
    ``ValueError`` if there was no source at all (``hint`` says which config entry provides it)."""
    if name in outputs:
        return outputs[name]
    source = outputs.get(f"{name}_source")
    if source is None:
        raise ValueError(f"{what} needs {hint}")
    raise NotImported(f"{source} could not be imported")
