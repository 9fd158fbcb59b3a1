"""Tomogram checks beyond the shared volume suites (checks.md §14)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from data_validation.checks.context import CheckContext
from data_validation.checks.images import check_key_photos
from data_validation.checks.volumes import FAMILIES, level_array
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Severity, Tier, check, fail
from importers import layout
from importers.enums import FiducialAlignmentStatus, Processing, ReconstructionMethod, values
from importers.metadata.identity import tomogram_identity

TOMOGRAM = next(family for family in FAMILIES if family.prefix == "TOMO")


def _metadata(context: CheckContext, tomogram: Entity) -> dict[str, Any]:
    return context.metadata(tomogram.key(layout.TOMOGRAM_METADATA))


def _zyx(document: Any, what: str) -> list[int]:
    if not isinstance(document, dict) or not all(isinstance(document.get(a), int) for a in "zyx"):
        fail(f"{what} is not a {{z, y, x}} object of integers: {document!r}")
    return [document[a] for a in "zyx"]


@check("TOMO-METADATA-EXISTS", entity=EntityKind.TOMOGRAM, tier=Tier.LIST, title="tomogram_metadata.json exists")
def tomogram_metadata_exists(context: CheckContext, tomogram: Entity) -> None:
    if not context.reader.exists(tomogram.key(layout.TOMOGRAM_METADATA)):
        fail(f"{tomogram.key(layout.TOMOGRAM_METADATA)} is missing (an interrupted write?)")


@check(
    "TOMO-FILE-NAMES",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.LIST,
    title="mrc_file / omezarr_dir name the single {run}.mrc / {run}.zarr of this folder",
)
def tomogram_file_names(context: CheckContext, tomogram: Entity) -> None:
    context.check_volume_file_names(tomogram, _metadata(context, tomogram))


@check(
    "TOMO-SIZE-SCALES",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="size == scales[0] and each scale halves the previous",
)
def tomogram_size_scales(context: CheckContext, tomogram: Entity) -> None:
    document = _metadata(context, tomogram)
    size = _zyx(document.get("size"), "size")
    scales = document.get("scales")
    if not isinstance(scales, list) or len(scales) != 3:
        fail(f"scales must list 3 levels, found {scales!r}")
    levels = [_zyx(scale, f"scales[{i}]") for i, scale in enumerate(scales)]
    expected = [size]
    for _ in range(2):
        expected.append([math.ceil(n / 2) for n in expected[-1]])
    if levels != expected:
        fail(f"scales {levels}, expected {expected} from size {size}", observed=levels, expected=expected)


@check("TOMO-SIZE-MRC", entity=EntityKind.TOMOGRAM, tier=Tier.HEADER, title="MRC (nz, ny, nx) equals size")
def tomogram_size_mrc(context: CheckContext, tomogram: Entity) -> None:
    size = _zyx(_metadata(context, tomogram).get("size"), "size")
    header = context.reader.mrc_header(TOMOGRAM.mrc_key(context, tomogram))
    if list(header.shape) != size:
        fail(
            f"MRC (nz, ny, nx) = {list(header.shape)}, metadata size (z, y, x) = {size}",
            observed=list(header.shape),
            expected=size,
        )


@check(
    "TOMO-SCALES-ZARR", entity=EntityKind.TOMOGRAM, tier=Tier.HEADER, title="each zarr level's shape equals scales[i]"
)
def tomogram_scales_zarr(context: CheckContext, tomogram: Entity) -> None:
    scales = _metadata(context, tomogram).get("scales")
    if not isinstance(scales, list):
        fail(f"scales is not a list: {scales!r}")
    store = TOMOGRAM.zarr_key(context, tomogram)
    for level, scale in enumerate(scales):
        array_key = f"{store}/{level}/.zarray"
        shape = level_array(context, array_key)["shape"]
        if shape != _zyx(scale, f"scales[{level}]"):
            fail(f"level {level} shape {shape}, scales[{level}] = {scale}", observed=shape, expected=scale)


@check(
    "TOMO-ENUMS",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="processing, reconstruction_method, fiducial_alignment_status in their enums; offset integers",
)
def tomogram_enums(context: CheckContext, tomogram: Entity) -> None:
    document = _metadata(context, tomogram)
    problems = [
        f"{key} {document.get(key)!r} not in {sorted(allowed)}"
        for key, allowed in (
            ("processing", values(Processing)),
            ("reconstruction_method", values(ReconstructionMethod)),
            ("fiducial_alignment_status", values(FiducialAlignmentStatus)),
        )
        if document.get(key) not in allowed
    ]
    offset = document.get("offset")
    if not (isinstance(offset, dict) and all(isinstance(offset.get(a), int) for a in "xyz")):
        problems.append(f"offset {offset!r} is not {{x, y, z}} integers")
    if problems:
        fail("; ".join(problems), observed=problems)


def check_affine(matrix: Any) -> None:
    """Fail on a 4×4 affine matrix (rows) that cannot be used; a bottom row other than [0, 0, 0, 1] only warns:
    published portal configs (10002) put the translation there (a transposed matrix) and the portal ingests them."""
    if not (isinstance(matrix, list) and len(matrix) == 4 and all(isinstance(r, list) and len(r) == 4 for r in matrix)):
        fail(f"affine_transformation_matrix is not 4×4: {matrix!r}", observed=matrix)
    try:
        values = np.array(matrix, dtype=float)
    except (TypeError, ValueError):
        fail("affine_transformation_matrix holds non-numbers", observed=matrix)
    if abs(np.linalg.det(values[:3, :3])) < 1e-9:
        fail("the 3×3 block is not invertible", observed=matrix)
    if not np.allclose(values[3], [0, 0, 0, 1]):
        fail(
            f"bottom row is {matrix[3]}, expected [0, 0, 0, 1] (a transposed matrix?)",
            observed=matrix,
            severity=Severity.WARNING,
        )


@check(
    "TOMO-AFFINE",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="affine_transformation_matrix (if set) is 4×4, bottom row [0,0,0,1], invertible",
)
def tomogram_affine(context: CheckContext, tomogram: Entity) -> None:
    matrix = _metadata(context, tomogram).get("affine_transformation_matrix")
    if matrix is not None:
        check_affine(matrix)


def _run_tomograms(context: CheckContext, tomogram: Entity) -> list[tuple[str, dict[str, Any]]]:
    run = layout.build("run", dataset_id=tomogram["dataset_id"], run_name=tomogram["run_name"])
    return [(key, doc) for key, kind, doc in context.metadata_documents(f"{run}/Reconstructions") if kind == "tomogram"]


@check(
    "TOMO-IDENTITY-UNIQUE",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="no other tomogram of the run has the same identity (spacing, alignment, method, processing, deposition)",
)
def tomogram_identity_unique(context: CheckContext, tomogram: Entity) -> None:
    mine = tomogram.key(layout.TOMOGRAM_METADATA)
    key_of = dict(_run_tomograms(context, tomogram))
    if mine not in key_of:
        return
    twins = [
        key
        for key, document in key_of.items()
        if key != mine and tomogram_identity(document) == tomogram_identity(key_of[mine])
    ]
    if twins:
        fail(f"same identity as {twins}", observed=twins)


@check(
    "TOMO-VIS-DEFAULT",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="at most one tomogram of the run is is_visualization_default",
)
def tomogram_visualization_default(context: CheckContext, tomogram: Entity) -> None:
    defaults = [key for key, document in _run_tomograms(context, tomogram) if document.get("is_visualization_default")]
    if len(defaults) > 1 and tomogram.key(layout.TOMOGRAM_METADATA) in defaults:
        fail(f"{len(defaults)} tomograms of the run are the visualization default", observed=defaults)


@check(
    "TOMO-ALIGNMENT-REF",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEAD,
    title="alignment_metadata_path is set and names an alignment of the same run",
)
def tomogram_alignment_reference(context: CheckContext, tomogram: Entity) -> None:
    path = _metadata(context, tomogram).get("alignment_metadata_path")
    if not isinstance(path, str):
        fail(f"alignment_metadata_path is {path!r}")
    match = layout.parse(layout.strip_bucket_name(path))
    same_run = (
        match is not None
        and match.template == "alignment_metadata"
        and (match.fields["dataset_id"], match.fields["run_name"]) == (tomogram["dataset_id"], tomogram["run_name"])
    )
    if not same_run:
        fail(f"alignment_metadata_path {path!r} is not an alignment_metadata.json of this run")
    if not context.reader.exists(layout.strip_bucket_name(path)):
        fail(f"alignment_metadata_path {path!r} does not exist")


@check(
    "TOMO-NG-REF",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEAD,
    severity=Severity.WARNING,
    title="neuroglancer_config_path is this spacing's {id}-neuroglancer_config.json and exists",
)
def tomogram_neuroglancer_reference(context: CheckContext, tomogram: Entity) -> None:
    expected = layout.build("neuroglancer_config", **dict(tomogram.fields))
    observed = _metadata(context, tomogram).get("neuroglancer_config_path")
    if observed != expected:
        fail(f"neuroglancer_config_path is {observed!r}, expected {expected!r}", observed=observed, expected=expected)
    if not context.reader.exists(expected):
        fail(f"{expected} does not exist")


@check(
    "TOMO-KEYPHOTO",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="key_photo snapshot and thumbnail exist and are images (under 512×384 / 133.3×100 px: warning)",
)
def tomogram_key_photos(context: CheckContext, tomogram: Entity) -> None:
    photos = _metadata(context, tomogram).get("key_photo")
    check_key_photos(context, photos, {"snapshot": (512, 384), "thumbnail": (133.3, 100)})
