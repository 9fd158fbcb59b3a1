"""An annotation's Neuroglancer precomputed layers: ``NeuroglancerPrecompute/{id}-{slug}-{ver}_{shape}/``.

Made from the annotation's written data, as the portal's importer makes them after the data (formats.md
§7): point shapes from their NDJSON; masks from their OME-Zarr level 0, one zarr chunk at a time (memory
holds one chunk, as uint32), then their meshes (``mesh/``, meshed in 257³-voxel windows) and igneous'
``provenance``; triangular meshes from their glb (a mesh-only layer: ``mesh/`` and ``segment_properties/``);
oriented points whose source names a ``mesh_source_path`` also get that mesh at every point (``_orientedmesh``). The
``info`` object is written last: a layer with an ``info`` is complete, and a rerun writes a layer that has none.
"""

from __future__ import annotations

import itertools
import posixpath
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from importers import layout
from importers.formats import ndjson
from importers.formats.neuroglancer import MASK_SHAPES, MESH_SHAPES, POINT_SHAPES
from importers.formats.omezarr import StoredArray
from importers.formats.precomputed_annotations import annotation_layer
from importers.formats.precomputed_mesh import (
    MESH_DIR,
    LabelledExtent,
    glb_mesh_layer,
    mask_mesh_files,
    mask_mesh_provenance,
    oriented_mesh_layer,
)
from importers.formats.precomputed_segmentation import (
    DATA_DIR,
    chunk_name,
    encode_chunk,
    info_bytes,
    segmentation_info,
    segmentation_resolution,
)
from importers.ingest.entities.context import Ingestion

INFO = "info"
ORIENTED_MESH = "orientedmesh"
#: Shapes that get a precomputed layer, and the format of the file it is made from.
LAYER_SOURCES = {
    **dict.fromkeys(POINT_SHAPES, "ndjson"),
    **dict.fromkeys(MASK_SHAPES, "zarr"),
    **dict.fromkeys(MESH_SHAPES, "glb"),
}


def layer_dir(fields: dict[str, Any], suffix: str) -> str:
    """The bucket prefix of an annotation's layer: ``suffix`` is its lower-cased ``files[].shape`` (or
    ``orientedmesh``)."""
    member = layout.build("neuroglancer_precompute_member", **fields, precompute_suffix=suffix, member=INFO)
    return posixpath.dirname(member)


def _mask_layer_files(ingestion: Ingestion, prefix: str, path: str, spacing: float) -> Iterator[tuple[str, bytes]]:
    level = StoredArray(ingestion.output, f"{path}/0")
    extent = LabelledExtent()
    grid = (range(-(-n // c)) for n, c in zip(level.shape, level.chunks, strict=True))
    for index in itertools.product(*grid):
        start = [i * c for i, c in zip(index, level.chunks, strict=True)]
        stop = [min(s + c, n) for s, c, n in zip(start, level.chunks, level.shape, strict=True)]
        # One zarr chunk's region: one chunk read.
        data = level.read(tuple(zip(start, stop, strict=True)))
        extent.add(data)
        yield f"{DATA_DIR}/{chunk_name(start, stop)}", encode_chunk(data)
    resolution = segmentation_resolution(spacing)
    # Who and when, as igneous records them (its operator is the git e-mail, else the host name).
    by, date = socket.gethostname(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    url = ingestion.output.url_of(prefix)
    yield from mask_mesh_files(
        level.read,
        level.shape,
        resolution,
        extent.size,
        lambda min_chunk, sharding: mask_mesh_provenance(url, resolution, min_chunk, sharding, by, date),
    ).items()
    chunks = [min(c, n) for c, n in zip(level.chunks, level.shape, strict=True)]
    yield INFO, info_bytes(segmentation_info(level.shape, chunks, spacing, mesh_dir=MESH_DIR))


def _mesh_layer_files(ingestion: Ingestion, path: str) -> Iterator[tuple[str, bytes]]:
    # The segment's name, as the portal derives it from the annotation's output prefix ({slug}-{version}).
    stem = path.rsplit("_", 1)[0]
    label = PurePosixPath(stem).with_suffix("").stem.replace(" ", "_")
    try:
        files = glb_mesh_layer(ingestion.output.read(path), label)
    except ValueError as error:
        raise ValueError(f"{ingestion.output.url_of(path)}: {error}") from None
    info = files.pop(INFO)
    yield from files.items()
    yield INFO, info


def _layer_files(
    ingestion: Ingestion, prefix: str, shape: str, path: str, document: dict[str, Any], spacing: float
) -> Iterator[tuple[str, bytes]]:
    """``(member, bytes)`` of the layer, ``info`` last."""
    if shape in POINT_SHAPES:
        try:
            files = annotation_layer(shape, ndjson.loads(ingestion.output.read(path), shape), document, spacing)
        except ValueError as error:  # a record the layer cannot hold (PrecomputeError) or an unreadable line
            raise ValueError(f"{ingestion.output.url_of(path)}: {error}") from None
        info = files.pop(INFO)
        yield from files.items()
        yield INFO, info
    elif shape in MESH_SHAPES:
        yield from _mesh_layer_files(ingestion, path)
    else:
        yield from _mask_layer_files(ingestion, prefix, path, spacing)


def _write_oriented_mesh_layer(
    ingestion: Ingestion, fields: dict[str, Any], path: str, spacing: float, mesh_key: str, *, replace: bool
) -> None:
    """The ``_orientedmesh`` layer: the input's mesh at every oriented point of the written NDJSON ``path``. A
    mesh missing from the input makes none (the portal warns and goes on)."""
    prefix = layer_dir(fields, ORIENTED_MESH)
    if not replace and ingestion.output.exists(f"{prefix}/{INFO}"):
        return
    ingestion.output.delete_prefix(prefix)
    if not ingestion.source.exists(mesh_key):
        ingestion.report.skipped(
            prefix, f"no {ORIENTED_MESH} layer: its mesh {ingestion.source.url_of(mesh_key)} is missing"
        )
        return
    records = ndjson.loads(ingestion.output.read(path), "OrientedPoint")
    try:
        files = oriented_mesh_layer(ingestion.source.read(mesh_key), records, spacing)
    except ValueError as error:
        raise ValueError(f"{ingestion.source.url_of(mesh_key)}: {error}") from None
    info = files.pop(INFO)
    for member, data in [*files.items(), (INFO, info)]:
        ingestion.output.write(f"{prefix}/{member}", data)


def write_precomputed_layers(
    ingestion: Ingestion,
    fields: dict[str, Any],
    document: dict[str, Any],
    spacing: float,
    *,
    replace: bool,
    oriented_mesh: str | None = None,
) -> None:
    """Write the layer of each file of the annotation ``document`` that has one: all of them when its data was
    just written (``replace``), else those without an ``info`` (made before layers were, or interrupted).
    ``oriented_mesh`` is the input key of the mesh its oriented points show."""
    for entry in document.get("files") or []:
        shape = entry["shape"]
        if LAYER_SOURCES.get(shape) != entry["format"]:
            continue
        prefix = layer_dir(fields, shape.lower())
        if shape == "OrientedPoint" and oriented_mesh is not None:
            _write_oriented_mesh_layer(ingestion, fields, entry["path"], spacing, oriented_mesh, replace=replace)
        if not replace and ingestion.output.exists(f"{prefix}/{INFO}"):
            continue
        ingestion.output.delete_prefix(prefix)
        for member, data in _layer_files(ingestion, prefix, shape, entry["path"], document, spacing):
            ingestion.output.write(f"{prefix}/{member}", data)
