"""Tomograms: MRC + OME-Zarr + tomogram_metadata.json under their voxel spacing (layout.md §2)."""

from __future__ import annotations

from typing import Any

from importers import layout
from importers.formats.omezarr import VolumeKind
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.ids import IdAllocator
from importers.ingest.entities.metadata import compose, is_current, write_document
from importers.ingest.entities.templating import run_templated_metadata
from importers.ingest.entities.tree import Entity
from importers.ingest.volumes import DensityVolume, open_source_volume
from importers.metadata.identity import tomogram_identity


def _allocator(ingestion: Ingestion, dataset: str, run: str) -> IdAllocator:
    container = layout.build("run", dataset_id=dataset, run_name=run) + "/Reconstructions"
    return ingestion.allocator(container, "tomogram_metadata", tomogram_identity)


def prepare_tomogram(ingestion: Ingestion, tomogram: Entity) -> None:
    """Allocate the tomogram's id, compose its metadata and write its MRC + OME-Zarr (unless an
    identical complete tomogram is already there)."""
    tomogram.metadata = run_templated_metadata(ingestion, tomogram)
    run = tomogram.ancestor("run")
    dataset = run.ancestor("dataset").name
    spacing = layout.voxel_spacing_from_name(tomogram.ancestor("voxel_spacing").name)
    if tomogram.path is None:
        raise ValueError("a tomogram source needs a path (use source_glob)")
    with open_source_volume(ingestion.source, tomogram.path) as source:
        shape = source.shape
        computed: dict[str, Any] = {"voxel_spacing": spacing}
        computed["alignment_metadata_path"] = run.outputs.get("alignment_metadata_path")
        tomogram.identifier = _allocator(ingestion, dataset, run.name).allocate(
            compose(ingestion, tomogram.metadata, computed)
        )
        fields = {
            "dataset_id": dataset,
            "run_name": run.name,
            "voxel_spacing": spacing,
            "tomogram_id": tomogram.identifier,
        }
        volume = DensityVolume.of(VolumeKind.TOMOGRAM, shape, **fields)
        computed |= {
            **volume.described(run.name),
            "key_photo": {
                name: layout.build("key_image", **fields, key_image=name) for name in ("snapshot", "thumbnail")
            },
            "neuroglancer_config_path": layout.build("neuroglancer_config", **fields),
        }
        document = compose(ingestion, tomogram.metadata, computed)
        metadata_key = layout.build("tomogram_metadata", **fields)
        what = f"{tomogram.describe()} -> Tomograms/{tomogram.identifier}"
        tomogram.outputs.update(document=document, metadata_key=metadata_key, what=what, fields=fields)
        if ingestion.options.dry_run:
            ingestion.report.planned(what, f"{tomogram.path}, {shape[2]}x{shape[1]}x{shape[0]}")
            return
        if is_current(ingestion, metadata_key, document):
            tomogram.outputs["complete"] = True
            return
        volume.write(ingestion.output, source, spacing)


def write_tomogram(ingestion: Ingestion, tomogram: Entity) -> None:
    """Leave the tomogram to its voxel spacing: ``tomogram_metadata.json`` names the key images and the
    viewer state, which are made after the run's annotations (``viewer.defer_tomogram_views``), so it
    is written after them (:func:`write_tomogram_metadata`)."""
    if not ingestion.options.dry_run:
        tomogram.ancestor("voxel_spacing").outputs.setdefault("tomograms", []).append(tomogram)


def write_tomogram_metadata(ingestion: Ingestion, tomogram: Entity) -> None:
    """Write ``tomogram_metadata.json`` once the volumes, the key images and the viewer state are there."""
    outputs = tomogram.outputs
    if outputs.get("complete"):
        ingestion.report.skipped(outputs["what"], "complete and unchanged")
        return
    write_document(ingestion, outputs["metadata_key"], outputs["document"], outputs["what"])
