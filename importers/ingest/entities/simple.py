"""Entities whose output is only their metadata JSON: deposition, dataset, run."""

from __future__ import annotations

from typing import Any

from importers import layout
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.images import dataset_key_photos, deposition_key_photos
from importers.ingest.entities.metadata import compose, write_document
from importers.ingest.entities.tree import Entity
from importers.metadata.computed import ONTOLOGY_DEFAULTS, ONTOLOGY_KEYS


def write_deposition(ingestion: Ingestion, deposition: Entity) -> None:
    """Only a deposition with a metadata block gets a file (annotation-only depositions may not)."""
    if not deposition.metadata:
        return
    key = layout.build("deposition_metadata", deposition_id=deposition.name)
    document = compose(ingestion, deposition.metadata, deposition_key_photos(deposition))
    write_document(ingestion, key, document, deposition.describe())


def dataset_computed(metadata: dict[str, Any]) -> dict[str, Any]:
    """Ontology objects completed with the portal's placeholders."""
    computed: dict[str, Any] = {}
    for key in ONTOLOGY_KEYS:
        placeholder = ONTOLOGY_DEFAULTS.get(key, "not_reported")
        value = metadata.get(key)
        if value is None and key not in ONTOLOGY_DEFAULTS:
            continue
        value = dict(value or {})
        computed[key] = {
            "name": value.get("name") or placeholder,
            "id": value.get("id") or placeholder,
        }
    return computed


def write_dataset(ingestion: Ingestion, dataset: Entity) -> None:
    key = layout.build("dataset_metadata", dataset_id=dataset.name)
    computed = dataset_computed(dataset.metadata) | dataset_key_photos(ingestion, dataset)
    document = compose(ingestion, dataset.metadata, computed)
    write_document(ingestion, key, document, dataset.describe())


def write_run(ingestion: Ingestion, run: Entity) -> None:
    dataset = run.ancestor("dataset")
    key = layout.build("run_metadata", dataset_id=dataset.name, run_name=run.name)
    write_document(ingestion, key, compose(ingestion, {}, {"run_name": run.name}), run.describe())
