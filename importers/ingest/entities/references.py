"""Entities found in the output (``destination_glob``, ``destination_filter``): already stored, not imported again.

What stands for their import is what their relatives need of them: a tilt series' rawtlt and CTF file go into its
folder, an alignment names its run's tilt series (``tiltseries_path``), tomograms and annotations name the run's
alignment (``alignment_metadata_path``, part of their identity) and take, from the stored document, its
``volume_dimension`` (rescaled masks). The stored metadata document is the one below the found key's entity folder.
"""

from __future__ import annotations

import json

from importers import layout
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.tree import Entity


def _stored_fields(entity: Entity) -> dict[str, str]:
    """The layout fields of the stored entity folder the found key lies in."""
    found = layout.entity_prefix(entity.kind, str(entity.path or ""))
    if found is None:
        raise ValueError(f"{entity.describe()}: {entity.path!r} is no stored {entity.kind.replace('_', ' ')} folder")
    return found.fields


def _stored_metadata(entity: Entity, template: str) -> str:
    """The metadata key (layout ``template``) of the stored entity folder the found key lies in."""
    return layout.build(template, **_stored_fields(entity))


def reference_tiltseries(ingestion: Ingestion, tiltseries: Entity) -> None:
    """The stored tilt series' folder, for its rawtlt and CTF file, and its metadata, for the run's alignment."""
    fields = _stored_fields(tiltseries)
    tiltseries.identifier = int(fields["tiltseries_id"])
    tiltseries.outputs["fields"] = fields
    tiltseries.ancestor("run").outputs["tiltseries_metadata_path"] = layout.build("tiltseries_metadata", **fields)


def reference_alignment(ingestion: Ingestion, alignment: Entity) -> None:
    key = _stored_metadata(alignment, "alignment_metadata")
    run = alignment.ancestor("run")
    run.outputs["alignment_metadata_path"] = key
    try:
        document = json.loads(ingestion.output.read(key))
    except ValueError as error:
        raise ValueError(f"{ingestion.output.url_of(key)}: {error}") from None
    run.outputs["alignment_volume_dimension"] = document.get("volume_dimension") if isinstance(document, dict) else None
