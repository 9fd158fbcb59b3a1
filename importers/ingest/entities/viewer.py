"""A tomogram's outputs that depend on its whole run: key images and the Neuroglancer viewer state.

Annotations are ingested after the tomograms of their voxel spacing, and a viewer state shows the
annotations of every spacing of the run (formats.md §7). So once a voxel spacing is done, each of
its tomograms (of the ingesting deposition) leaves work on its run, which ``standardize`` runs
after the run's last child and before the run's metadata: the key images, the viewer state, and then
the metadata of a tomogram imported by this run, which names both.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from importers import layout
from importers.formats.mrc import parse_header
from importers.formats.neuroglancer import (
    LAYER_FORMATS,
    LAYER_KINDS,
    AnnotationLayer,
    TomogramView,
    annotation_colors,
    viewer_state,
    volume_contrast_limits,
    volume_contrast_slab,
)
from importers.formats.omezarr import LEVELS, ZATTRS, StoredArray, read_multiscales
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.images import StoredTomogram, write_key_images
from importers.ingest.entities.metadata import compose, existing_document, write_document
from importers.ingest.entities.precompute import ORIENTED_MESH, layer_dir
from importers.ingest.entities.tomogram import write_tomogram_metadata
from importers.ingest.entities.tree import Entity
from importers.storage import Bucket


@dataclass(frozen=True)
class StoredAnnotation:
    """An annotation as written: its layout fields (ids, slug, version) and its metadata."""

    fields: dict[str, str]
    document: dict[str, Any]


def _metadata_documents(ingestion: Ingestion, prefix: str, template: str) -> list[tuple[dict[str, str], dict]]:
    found = []
    for key in sorted(ingestion.output.listing(prefix)):
        match = layout.parse(key) if key.endswith(".json") else None  # skips the many zarr chunks cheaply
        if match is None or match.template != template:
            continue
        document = existing_document(ingestion, key)
        if document is not None:
            found.append((match.fields, document))
    return found


def stored_tomograms(ingestion: Ingestion, voxel_spacing: Entity) -> list[StoredTomogram]:
    """The tomograms of a voxel spacing written for the ingesting deposition, in id order."""
    run = voxel_spacing.ancestor("run")
    prefix = layout.build(
        "voxel_spacing", dataset_id=run.ancestor("dataset").name, run_name=run.name, voxel_spacing=voxel_spacing.name
    )
    tomograms = [
        StoredTomogram(fields, document)
        for fields, document in _metadata_documents(ingestion, prefix, "tomogram_metadata")
        if document.get("deposition_id") == ingestion.deposition_id
    ]
    return sorted(tomograms, key=lambda tomogram: tomogram.identifier)


def run_annotations(ingestion: Ingestion, run: Entity) -> list[StoredAnnotation]:
    """Every annotation of the run, of any deposition and spacing (read once per run)."""
    if "annotations" not in run.outputs:
        prefix = layout.build("run", dataset_id=run.ancestor("dataset").name, run_name=run.name) + "/Reconstructions"
        run.outputs["annotations"] = [
            StoredAnnotation(fields, document)
            for fields, document in _metadata_documents(ingestion, prefix, "annotation_metadata")
        ]
    return run.outputs["annotations"]


def _instance_labels(ingestion: Ingestion, zarr_key: str) -> tuple[int, ...]:
    multiscales = read_multiscales(json.loads(ingestion.output.read(f"{zarr_key}/{ZATTRS}")))
    colors = (multiscales.metadata.get("image-label") or {}).get("colors") or []
    return tuple(int(color["label-value"]) for color in colors)


def _layer(ingestion: Ingestion, annotation: StoredAnnotation, file: dict[str, Any], color: str) -> AnnotationLayer:
    shape = file["shape"]

    files = annotation.document.get("files") or []
    oriented_mesh = layer_dir(annotation.fields, ORIENTED_MESH) if shape == "OrientedPoint" else None
    return AnnotationLayer(
        annotation_id=int(annotation.fields["annotation_id"]),
        object_name=(annotation.document.get("annotation_object") or {}).get("name", "Annotation"),
        shape=shape,
        path=file["path"],
        precompute=layer_dir(annotation.fields, shape.lower()),
        spacing=layout.voxel_spacing_from_name(annotation.fields["voxel_spacing"]),
        visible=bool(file.get("is_visualization_default")),
        color=color,
        mrc_path=next((f["path"] for f in files if f.get("shape") == shape and f.get("format") == "mrc"), None),
        # The precompute library makes meshes for some oriented points; the viewer then shows those.
        oriented_mesh=oriented_mesh if oriented_mesh and ingestion.output.exists(f"{oriented_mesh}/info") else None,
        labels=_instance_labels(ingestion, file["path"]) if shape == "InstanceSegmentationMask" else (1,),
    )


def annotation_layers(ingestion: Ingestion, run: Entity, tomogram: StoredTomogram) -> list[AnnotationLayer]:
    """The layers of the run's annotation files drawn on the tomogram (same alignment): its own
    spacing's first, then other spacings', each in annotation id order; colours as the portal's."""
    alignment = tomogram.document.get("alignment_metadata_path")
    own = tomogram.fields["voxel_spacing"]
    chosen = sorted(
        (a for a in run_annotations(ingestion, run) if a.document.get("alignment_metadata_path") == alignment),
        key=lambda a: (
            a.fields["voxel_spacing"] != own,
            float(a.fields["voxel_spacing"]),
            int(a.fields["annotation_id"]),
        ),
    )
    files = [
        (annotation, file)
        for annotation in chosen
        for file in annotation.document.get("files") or []
        if file.get("shape") in LAYER_KINDS and file.get("format") in LAYER_FORMATS
    ]
    colors = annotation_colors((annotation.document, file["shape"]) for annotation, file in files)
    return [_layer(ingestion, annotation, file, color) for (annotation, file), color in zip(files, colors, strict=True)]


def coarsest_level_slab(bucket: Bucket, zarr_key: str) -> tuple[np.ndarray, int]:
    """The central slices of a store's coarsest level (what the volume-rendering contrast is
    computed from), read chunk by chunk, and that level's voxel count."""
    level = StoredArray(bucket, f"{zarr_key}/{LEVELS - 1}")
    z0, z1 = volume_contrast_slab(level.shape[0])
    return level.read(((z0, z1), (0, level.shape[1]), (0, level.shape[2]))), math.prod(level.shape)


def tomogram_viewer_state(ingestion: Ingestion, run: Entity, tomogram: StoredTomogram) -> dict[str, Any]:
    """The viewer state of a written tomogram: its image layer and the run's annotations on it."""
    document = tomogram.document
    prefix = ingestion.options.https_prefix.rstrip("/")
    header = parse_header(ingestion.output.read_range(document["mrc_file"], 0, 1024))
    view = TomogramView(
        name=tomogram.fields["run_name"],
        zarr_url=f"{prefix}/{document['omezarr_dir']}",
        spacing=tomogram.spacing,
        size=document["size"],
        mean=header.dmean,
        rms=header.rms,
        volume_limits=volume_contrast_limits(*coarsest_level_slab(ingestion.output, document["omezarr_dir"])),
    )
    return viewer_state(view, annotation_layers(ingestion, run, tomogram), prefix)


def write_viewer_state(ingestion: Ingestion, voxel_spacing: Entity, tomogram: StoredTomogram) -> None:
    """Write ``{tomo_id}-neuroglancer_config.json`` (formats.md §7)."""
    key = layout.build("neuroglancer_config", **tomogram.fields)
    what = f"{voxel_spacing.describe()} / tomogram {tomogram.identifier}: viewer state"
    if ingestion.options.dry_run:
        ingestion.report.planned(what, key)
        return
    state = tomogram_viewer_state(ingestion, voxel_spacing.ancestor("run"), tomogram)
    write_document(ingestion, key, compose(ingestion, {}, state), what)


def _write_key_images(ingestion: Ingestion, voxel_spacing: Entity, tomogram: StoredTomogram) -> None:
    layers = annotation_layers(ingestion, voxel_spacing.ancestor("run"), tomogram)
    write_key_images(ingestion, voxel_spacing, tomogram, layers)


def _finish_tomogram(
    ingestion: Ingestion, voxel_spacing: Entity, tomogram: StoredTomogram, imported: Entity | None
) -> None:
    _write_key_images(ingestion, voxel_spacing, tomogram)
    write_viewer_state(ingestion, voxel_spacing, tomogram)
    if imported is not None:
        write_tomogram_metadata(ingestion, imported)


def defer_tomogram_views(ingestion: Ingestion, voxel_spacing: Entity) -> None:
    """Leave each tomogram's key images and viewer state (then the metadata of the tomograms this run
    imports) to be made after the run's annotations: the tomograms already stored and those imported."""
    deferred = voxel_spacing.ancestor("run").outputs.setdefault("deferred", [])
    imported = {entity.identifier: entity for entity in voxel_spacing.outputs.get("tomograms", [])}
    tomograms = {tomogram.identifier: tomogram for tomogram in stored_tomograms(ingestion, voxel_spacing)}
    for identifier, entity in imported.items():
        fields = layout.parse(entity.outputs["metadata_key"]).fields  # as a stored tomogram's: strings
        tomograms[identifier] = StoredTomogram(fields, entity.outputs["document"])
    for identifier in sorted(tomograms):
        what = f"{voxel_spacing.describe()} / tomogram {identifier}: key images, viewer state"
        action = partial(_finish_tomogram, ingestion, voxel_spacing, tomograms[identifier], imported.get(identifier))
        deferred.append((what + (", metadata" if identifier in imported else ""), action))
