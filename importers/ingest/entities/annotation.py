"""Annotations: data files and ``{slug}-{ver}.json`` under ``…/VoxelSpacing{vs}/Annotations/{id}/``.

One annotation per config entry and voxel spacing (layout.md §2-4, metadata.md §8). Its sources are
shape entries (config.md §4); every source file matched in this voxel spacing is written into the
annotation's one directory, and the metadata's ``files[]`` lists them all. Outputs of one shape
share one file name, so the point files of several sources of one shape are concatenated, while a
mask, mesh or caption output takes exactly one source file.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from importers import layout, patterns
from importers.formats import ndjson
from importers.formats.mesh_files import MeshFileError, hff_has_segment, to_glb
from importers.formats.mrc import MrcFormatError
from importers.formats.omezarr import ZATTRS, VolumeKind, read_multiscales
from importers.formats.points import read_points
from importers.ingest.entities.context import Ingestion, parents_pass
from importers.ingest.entities.metadata import JSON_CONTENT_TYPE, compose, is_current, write_document
from importers.ingest.entities.precompute import write_precomputed_layers
from importers.ingest.entities.tree import Entity
from importers.ingest.finders import format_template, source_glob
from importers.ingest.mask_rescale import rescale_instances, rescale_semantic, target_shape
from importers.ingest.volumes import (
    Convert,
    SourceVolume,
    any_voxel,
    instance_conversion,
    mask_conversion,
    open_source_volume,
    write_volume,
)
from importers.metadata.computed import CAPTION_LISTS
from importers.metadata.identity import annotation_identity, object_slug

#: Config shape → the ``files[].shape`` it is published as (semantic masks and mesh groups are
#: not shapes of their own, layout.md §3).
PUBLIC_SHAPES = {
    "Point": "Point",
    "OrientedPoint": "OrientedPoint",
    "InstanceSegmentation": "InstanceSegmentation",
    "SegmentationMask": "SegmentationMask",
    "SemanticSegmentationMask": "SegmentationMask",
    "InstanceSegmentationMask": "InstanceSegmentationMask",
    "TriangularMesh": "TriangularMesh",
    "TriangularMeshGroup": "TriangularMesh",
    "GlobalCaption": "GlobalCaption",
    "AnnotationCaption": "AnnotationCaption",
}
MASK_KINDS = {
    "SegmentationMask": VolumeKind.SEGMENTATION_MASK,
    "SemanticSegmentationMask": VolumeKind.SEGMENTATION_MASK,
    "InstanceSegmentationMask": VolumeKind.INSTANCE_MASK,
}
#: Mask shapes whose sources without a voxel of their label are passed over (the portal's ``is_valid``; its legacy
#: ``SegmentationMask`` has none).
LABEL_CHECKED = ("SemanticSegmentationMask", "InstanceSegmentationMask")
#: Mask source formats: an MRC, or an OME-Zarr store (read from its level 0).
MASK_FORMATS = ("mrc", "zarr")


@dataclass
class _Output:
    """One output of an annotation: the source files of one shape, and what they become."""

    shape: str
    suffix: str
    #: (source key, shape arguments) of every matched source file, in config order.
    sources: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    #: Objects in the output; None until an instance mask is written.
    count: int | None = None
    #: Bytes to write (NDJSON, caption, glb) when the output is not a volume.
    payload: bytes | None = None
    #: The run's alignment ``volume_dimension`` (Å), the size a ``rescale``d mask is resampled to.
    volume_dimension: dict[str, float] | None = None

    @property
    def visible(self) -> bool:
        return any(bool(arguments.get("is_visualization_default")) for _, arguments in self.sources)

    def single_source(self) -> tuple[str, dict[str, Any]]:
        if len(self.sources) != 1:
            keys = ", ".join(key for key, _ in self.sources)
            raise ValueError(f"{self.shape} takes one source file per voxel spacing; {len(self.sources)} match: {keys}")
        return self.sources[0]


def _entry(ingestion: Ingestion, annotation: Entity) -> dict[str, Any]:
    for entry in ingestion.config.get("annotations") or []:
        if dict(entry.get("metadata") or {}) == annotation.metadata:
            return entry
    raise KeyError(f"{annotation.describe()}: no annotations entry with this metadata")


def _shape_of(source: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    shapes = [key for key in source if key not in ("parent_filters", "exclude")]
    if len(shapes) != 1 or shapes[0] not in PUBLIC_SHAPES or not isinstance(source[shapes[0]], dict):
        raise ValueError(f"an annotation source needs exactly one shape of {', '.join(PUBLIC_SHAPES)}; found {shapes}")
    return shapes[0], source[shapes[0]]


def _suffix(shape: str, arguments: dict[str, Any]) -> str:
    """File-name suffix of a shape's output (layout.md §3)."""
    if shape == "AnnotationCaption":
        companion = arguments.get("companion_shape")
        if companion not in PUBLIC_SHAPES or companion in CAPTION_LISTS:
            raise ValueError(f"AnnotationCaption needs a companion_shape of a data shape, not {companion!r}")
        return PUBLIC_SHAPES[companion].lower() + "_caption"
    return PUBLIC_SHAPES[shape].lower()


def _match(ingestion: Ingestion, annotation: Entity) -> list[_Output]:
    """The annotation's outputs in this voxel spacing, from the source files its entries match."""
    variables = ingestion.glob_variables(annotation)
    outputs: dict[str, _Output] = {}
    for source in _entry(ingestion, annotation).get("sources") or []:
        if not parents_pass(source.get("parent_filters"), annotation.parent):
            continue
        shape, arguments = _shape_of(source)
        globs = arguments.get("glob_strings") or [arguments.get("glob_string")]
        if not all(isinstance(glob, str) for glob in globs):
            raise ValueError(f"{shape} needs glob_string or glob_strings")
        suffix = _suffix(shape, arguments)
        for glob in globs:
            for item in source_glob(ingestion.source, ingestion.source_root, {"list_glob": glob}, variables):
                if any(patterns.match(pattern, item.name) for pattern in source.get("exclude") or []):
                    continue
                if shape in LABEL_CHECKED and not _has_label(ingestion, str(item.path), shape, arguments):
                    continue
                if shape == "TriangularMeshGroup" and not _has_segment(ingestion, str(item.path), arguments):
                    continue
                output = outputs.setdefault(suffix, _Output(shape, suffix))
                output.sources.append((item.path, arguments))
    return list(outputs.values())


def _has_label(ingestion: Ingestion, key: str, shape: str, arguments: dict[str, Any]) -> bool:
    """The portal's ``is_valid`` of a mask source: a semantic mask has a voxel equal to its ``mask_label`` (or at
    least its ``threshold``), an instance mask a label of at least 1; one without is passed over, not imported."""
    if shape == "InstanceSegmentationMask":
        threshold, label = 1, None
    else:
        threshold, label = arguments.get("threshold"), arguments.get("mask_label") or 1
    try:
        with open_source_volume(ingestion.source, key) as source:
            if threshold is not None:
                return any_voxel(source, lambda block: block >= float(threshold))
            return any_voxel(source, lambda block: block == int(label))
    except MrcFormatError as error:
        raise MrcFormatError(f"{ingestion.source.url_of(key)}: {error}") from None


def _has_segment(ingestion: Ingestion, key: str, arguments: dict[str, Any]) -> bool:
    """The portal's ``is_valid`` of a mesh group: its ``hff`` file has a segment of the config's ``name``."""
    if arguments.get("file_format") != "hff":
        return True  # refused when read, naming the format
    try:
        return hff_has_segment(ingestion.source.read(key), str(arguments.get("name")))
    except MeshFileError as error:
        raise ValueError(f"{ingestion.source.url_of(key)}: {error}") from None


def _points(ingestion: Ingestion, output: _Output, annotation: Entity) -> None:
    """NDJSON of every matched point file, in annotation voxels (formats.md §3.1)."""
    variables = ingestion.glob_variables(annotation)
    records: list[dict[str, Any]] = []
    for key, arguments in output.sources:
        where = ingestion.source.url_of(key)
        file_format = str(arguments.get("file_format"))
        filter_value = arguments.get("filter_value")
        if filter_value is not None:
            filter_value = format_template(str(filter_value), variables)
        elif file_format == "relion4_star":
            # A RELION 4 particle file lists the particles of every tomogram: keep this run's.
            filter_value = annotation.ancestor("run").name
        points = read_points(
            ingestion.source.read(key),
            file_format,
            path=where,
            delimiter=str(arguments.get("delimiter") or ","),
            filter_value=filter_value,
            oriented=output.shape == "OrientedPoint",
        )
        order = arguments.get("columns") or arguments.get("order") or "xyz"
        try:
            points = points.standardized(binning=float(arguments.get("binning") or 1), order=order)
            records += ndjson.records(output.shape, points)
        except ValueError as error:
            raise ValueError(f"{where}: {file_format}: {error}") from None
    output.payload = ndjson.dumps(records)
    output.count = ndjson.object_count(output.shape, records)


def _caption(ingestion: Ingestion, output: _Output) -> None:
    """A caption is copied verbatim; it counts the items of its ``captions``/``objects`` list."""
    key, _ = output.single_source()
    where = ingestion.source.url_of(key)
    output.payload = ingestion.source.read(key)
    try:
        document = json.loads(output.payload)
    except ValueError as error:
        raise ValueError(f"{where}: not JSON ({error})") from None
    name = CAPTION_LISTS[output.shape]
    items = document.get(name) if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{where}: a {output.shape} file needs a {name!r} list")
    output.count = len(items)


def _mesh(ingestion: Ingestion, output: _Output) -> None:
    """A mesh source converted to the published glb (:mod:`importers.formats.mesh_files`), scaled by its
    ``scale_factor``, before anything is written."""
    key, arguments = output.single_source()
    try:
        output.payload = to_glb(
            ingestion.source.read(key),
            str(arguments.get("file_format")),
            key,
            float(arguments.get("scale_factor") or 1),
            segment=arguments.get("name"),
        )
    except MeshFileError as error:
        raise ValueError(f"{ingestion.source.url_of(key)}: {error}") from None
    output.count = 1


def _check_mask(ingestion: Ingestion, output: _Output) -> None:
    key, arguments = output.single_source()
    where = ingestion.source.url_of(key)
    if arguments.get("file_format") not in MASK_FORMATS:
        raise ValueError(f"{where}: {arguments.get('file_format')} masks are not supported (only mrc, zarr)")
    if arguments.get("rescale") and output.volume_dimension is None:
        raise ValueError(f"{where}: rescale needs the run's alignment volume_dimension, and the run has none")
    # Semantic masks count no objects; an instance mask counts its labels once written.
    output.count = 0 if MASK_KINDS[output.shape] is VolumeKind.SEGMENTATION_MASK else None


def _read(ingestion: Ingestion, output: _Output, annotation: Entity) -> None:
    """Everything that can be known before writing: point, caption and mesh bytes and counts; whether
    mask sources can be imported at all."""
    if output.shape in ndjson.RECORD_TYPES:
        _points(ingestion, output, annotation)
    elif output.shape in CAPTION_LISTS:
        _caption(ingestion, output)
    elif output.shape in MASK_KINDS:
        output.volume_dimension = annotation.ancestor("run").outputs.get("alignment_volume_dimension")
        _check_mask(ingestion, output)
    else:
        _mesh(ingestion, output)


def _files(output: _Output, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The output's ``files[]`` entries; each file's extension is its format (layout.md §3)."""
    if output.shape in MASK_KINDS:
        formats = ("zarr", "mrc")
    elif output.shape in ndjson.RECORD_TYPES:
        formats = ("ndjson",)
    elif output.shape in CAPTION_LISTS:
        formats = ("json",)
    else:
        formats = ("glb",)
    visible = output.visible and output.shape not in CAPTION_LISTS
    return [
        {
            "format": file_format,
            "path": layout.build("annotation_file", **fields, shape_suffix=output.suffix, ext=file_format),
            "shape": PUBLIC_SHAPES[output.shape],
            "is_visualization_default": visible,
        }
        for file_format in formats
    ]


def _write(ingestion: Ingestion, output: _Output, spacing: float) -> None:
    paths = {entry["format"]: entry["path"] for entry in output.files}
    key, arguments = output.sources[0]
    if output.payload is not None:
        content_type = JSON_CONTENT_TYPE if output.shape in CAPTION_LISTS else None
        ingestion.output.write(output.files[0]["path"], output.payload, content_type=content_type)
    elif output.shape in MASK_KINDS:
        kind = MASK_KINDS[output.shape]
        label = 1 if arguments.get("mask_label") is None else int(arguments["mask_label"])
        threshold = arguments.get("threshold")
        convert = instance_conversion() if kind is VolumeKind.INSTANCE_MASK else mask_conversion(label, threshold)
        try:
            with open_source_volume(ingestion.source, key) as source:
                shape = target_shape(output.volume_dimension, spacing) if arguments.get("rescale") else source.shape
                if shape != source.shape:
                    source, convert = _rescaled(source, shape, kind, label, threshold)
                result = write_volume(
                    ingestion.output,
                    source,
                    mrc_key=paths["mrc"],
                    zarr_key=paths["zarr"],
                    kind=kind,
                    spacing=spacing,
                    convert=convert,
                )
        except MrcFormatError as error:
            raise MrcFormatError(f"{ingestion.source.url_of(key)}: {error}") from None
        if kind is VolumeKind.INSTANCE_MASK:
            output.count = len(result.labels)


def _rescaled(
    source: SourceVolume, shape: tuple[int, int, int], kind: VolumeKind, label: int, threshold: float | None
) -> tuple[SourceVolume, Convert]:
    """The source mask resampled to ``shape`` (in memory, :mod:`importers.ingest.mask_rescale`), already converted."""
    data = source.read(tuple((0, n) for n in source.shape))
    if kind is VolumeKind.INSTANCE_MASK:
        data = rescale_instances(data, shape)
    else:
        data = rescale_semantic(data, shape, label, threshold)
    return SourceVolume(key=source.key, header=source.header, data=data), lambda block: block


def _stored_label_count(ingestion: Ingestion, output: _Output) -> int | None:
    """Labels an instance mask written earlier declares in its ``.zattrs`` (written from its data)."""
    zarr_key = next(entry["path"] for entry in output.files if entry["format"] == "zarr")
    try:
        multiscales = read_multiscales(json.loads(ingestion.output.read(f"{zarr_key}/{ZATTRS}")))
    except ValueError:
        return None  # a broken .zattrs; one that cannot be read raises (StorageError)
    colors = (multiscales.metadata.get("image-label") or {}).get("colors")
    return len(colors) if isinstance(colors, list) else None


def _remove_interrupted_writes(ingestion: Ingestion, voxel_spacing: Entity, place: dict[str, Any]) -> None:
    """Delete ``Annotations/{id}/`` dirs holding data but no metadata (interrupted writes, layout.md
    §3), once per voxel spacing and before anything is imported into it, so that their files are
    never mixed with those of an annotation that is given their id."""
    if voxel_spacing.outputs.get("annotation_dirs_checked"):
        return
    voxel_spacing.outputs["annotation_dirs_checked"] = True
    has_metadata: dict[str, bool] = {}
    for key in ingestion.output.listing(layout.build("voxel_spacing", **place)):
        found = layout.entity_prefix("annotation", key)
        if found is None:
            continue
        directory = layout.build("annotation", **found.fields)
        match = layout.parse(key)
        is_metadata = match is not None and match.template == "annotation_metadata"
        has_metadata[directory] = has_metadata.get(directory, False) or is_metadata
    for directory in [directory for directory, complete in has_metadata.items() if not complete]:
        what = f"{voxel_spacing.describe()}: {directory}"
        if ingestion.options.dry_run:
            ingestion.report.planned(what, "delete: data without metadata (interrupted write)")
            continue
        ingestion.output.delete_prefix(directory)
        ingestion.report.written(what, "deleted: data without metadata (interrupted write)")


def _oriented_mesh(ingestion: Ingestion, annotation: Entity, outputs: list[_Output]) -> str | None:
    """The input key of the mesh the annotation's oriented points show: the first OrientedPoint source's
    ``mesh_source_path`` (templated, under the config's ``source_prefix``, as the portal joins it)."""
    for output in outputs:
        if output.shape != "OrientedPoint":
            continue
        for _, arguments in output.sources:
            if arguments.get("mesh_source_path"):
                path = format_template(str(arguments["mesh_source_path"]), ingestion.glob_variables(annotation))
                return posixpath.join(ingestion.source_root, path) if ingestion.source_root else path
    return None


def _document(
    ingestion: Ingestion, annotation: Entity, outputs: list[_Output], alignment: str | None
) -> dict[str, Any]:
    computed = {
        "object_count": max((output.count or 0) for output in outputs),
        "files": [entry for output in outputs for entry in output.files],
        "alignment_metadata_path": alignment,
    }
    return compose(ingestion, annotation.metadata, computed)


def prepare_annotation(ingestion: Ingestion, annotation: Entity) -> None:
    """Match the annotation's sources, allocate its id and write its data files (unless an identical
    complete annotation is already there); an annotation no source file matches is left out."""
    outputs = _match(ingestion, annotation)
    if not outputs:
        return
    voxel_spacing = annotation.ancestor("voxel_spacing")
    run = voxel_spacing.ancestor("run")
    spacing = layout.voxel_spacing_from_name(voxel_spacing.name)
    place = {"dataset_id": run.ancestor("dataset").name, "run_name": run.name, "voxel_spacing": spacing}
    _remove_interrupted_writes(ingestion, voxel_spacing, place)
    alignment = run.outputs.get("alignment_metadata_path")
    allocator = ingestion.allocator(layout.build("voxel_spacing", **place), "annotation_metadata", annotation_identity)
    annotation.identifier = allocator.allocate(
        compose(ingestion, annotation.metadata, {"alignment_metadata_path": alignment})
    )
    fields = place | {
        "annotation_id": annotation.identifier,
        "slug": object_slug(annotation.metadata),
        "version": layout.version_slug(annotation.metadata.get("version")),
    }
    for output in outputs:
        _read(ingestion, output, annotation)
        output.files = _files(output, fields)
    metadata_key = layout.build("annotation_metadata", **fields)
    what = f"{annotation.describe()} -> Annotations/{annotation.identifier}"
    annotation.outputs.update(metadata_key=metadata_key, what=what)
    if ingestion.options.dry_run:
        names = [entry["path"].rsplit("/", 1)[-1] for output in outputs for entry in output.files]
        ingestion.report.planned(what, ", ".join(names))
        return
    if ingestion.output.exists(metadata_key):
        for output in outputs:
            if output.count is None:
                output.count = _stored_label_count(ingestion, output)
    document = _document(ingestion, annotation, outputs, alignment)
    oriented_mesh = _oriented_mesh(ingestion, annotation, outputs)
    if is_current(ingestion, metadata_key, document):
        write_precomputed_layers(ingestion, fields, document, spacing, replace=False, oriented_mesh=oriented_mesh)
        annotation.outputs.update(document=document, complete=True)
        return
    for output in outputs:
        _write(ingestion, output, spacing)
    document = _document(ingestion, annotation, outputs, alignment)
    write_precomputed_layers(ingestion, fields, document, spacing, replace=True, oriented_mesh=oriented_mesh)
    annotation.outputs["document"] = document


def write_annotation(ingestion: Ingestion, annotation: Entity) -> None:
    """Write ``{slug}-{ver}.json`` once every data file of the annotation is there."""
    outputs = annotation.outputs
    if "document" not in outputs:
        return  # no source file matched, or a dry run
    if outputs.get("complete"):
        ingestion.report.skipped(outputs["what"], "complete and unchanged")
        return
    write_document(ingestion, outputs["metadata_key"], outputs["document"], outputs["what"])
