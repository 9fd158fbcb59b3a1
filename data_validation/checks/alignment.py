"""Alignment checks (checks.md §11): the metadata document, its files, matrices and section indices, and
the references tomograms and annotations make to alignments.

ALN-METADATA-EXISTS owns the metadata document's presence, ALN-XF-ROWS the readability of the ``.xf`` /
``.aln`` transforms. The tilt angles of an alignment are checked in ``tilt_angles.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from data_validation.checks.acquisition import (
    alignment_aln,
    alignment_document,
    alignment_tiltseries,
    alignment_tlt,
    alignment_xf,
    basename,
    files_in,
    is_number,
    sections,
    shown,
    size_of,
    tiltseries_document,
    tiltseries_of_reference,
)
from data_validation.checks.context import CheckContext
from data_validation.checks.tomogram import check_affine
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import CheckSkipped, EntityKind, Severity, Tier, check, fail, fail_summary, not_applicable
from importers import layout
from importers.enums import AlignmentFormat, AlignmentMethod, AlignmentType, values

ALN = EntityKind.ALIGNMENT
PSAP = "per_section_alignment_parameters"
ROTATION_TOLERANCE = 1e-3
PATH_FIELDS = ("alignment_path", "tilt_path", "tiltx_path")


def _metadata(context: CheckContext, alignment: Entity) -> dict[str, Any]:
    return alignment_document(context, alignment)


@check(
    "ALN-METADATA-EXISTS",
    entity=ALN,
    tier=Tier.LIST,
    owns_inputs=True,
    title="alignment_metadata.json exists in each alignment folder",
)
def alignment_metadata_exists(context: CheckContext, alignment: Entity) -> None:
    key = alignment.key(layout.ALIGNMENT_METADATA)
    if not context.reader.exists(key):
        fail(f"{key} is missing (an interrupted write?)")


def _copied_files(document: dict[str, Any]) -> list[Any]:
    """``files`` without the null the portal lists for the default alignment's (absent) file."""
    files = document.get("files", [])
    return [path for path in files if path is not None] if isinstance(files, list) else files


def _is_identity_default(document: dict[str, Any]) -> bool:
    return not _copied_files(document) and not document.get(PSAP)


@check(
    "ALN-ENUMS",
    entity=ALN,
    tier=Tier.HEADER,
    title="format (absent only for the identity default), alignment_type and method_type in their enums",
)
def alignment_enums(context: CheckContext, alignment: Entity) -> None:
    document = _metadata(context, alignment)
    problems = []
    alignment_format = document.get("format")
    if alignment_format is None:
        if not _is_identity_default(document):
            problems.append("format is missing although the alignment has files or per-section parameters")
    elif alignment_format not in values(AlignmentFormat):
        problems.append(f"format {alignment_format!r} not in {sorted(values(AlignmentFormat))}")
    for key, enum in (("alignment_type", AlignmentType), ("method_type", AlignmentMethod)):
        if document.get(key) not in values(enum):
            problems.append(f"{key} {document.get(key)!r} not in {sorted(values(enum))}")
    if problems:
        fail("; ".join(problems), observed=problems)


@check(
    "ALN-FILES",
    entity=ALN,
    tier=Tier.LIST,
    title="files[] exist and list every copied file; alignment/tilt/tiltx paths are among them",
)
def alignment_files(context: CheckContext, alignment: Entity) -> None:
    document = _metadata(context, alignment)
    files = _copied_files(document)
    if not isinstance(files, list) or not all(isinstance(path, str) for path in files):
        fail(f"files is not a list of paths: {str(files)[:80]}")
    if len(files) != len(document.get("files", [])) and not _is_identity_default(document):
        fail("files holds null: only the default alignment (no files, no per-section parameters) lists one")
    listed = {layout.strip_bucket_name(path) for path in files}
    problems = [
        f"files[] entry {path!r} does not exist"
        for path in files
        if not context.reader.exists(layout.strip_bucket_name(path))
    ]
    for field in PATH_FIELDS:
        value = document.get(field)
        if value is not None and (not isinstance(value, str) or layout.strip_bucket_name(value) not in listed):
            problems.append(f"{field} {value!r} is not in files[]")
    metadata = alignment.key(layout.ALIGNMENT_METADATA)
    unlisted = [basename(key) for key in files_in(context, alignment.path) if key != metadata and key not in listed]
    if unlisted:
        problems.append(f"files in the folder missing from files[]: {unlisted}")
    if problems:
        fail("; ".join(problems), observed=problems)


@check(
    "ALN-TS-REF",
    entity=ALN,
    tier=Tier.HEAD,
    title="tiltseries_path (if set) is a tiltseries_metadata.json of the same run and exists",
)
def alignment_tiltseries_reference(context: CheckContext, alignment: Entity) -> None:
    path = _metadata(context, alignment).get("tiltseries_path")
    if path is None:
        return
    tiltseries = tiltseries_of_reference(context, path, alignment)
    if tiltseries is None:
        fail(f"tiltseries_path {path!r} is not a tiltseries_metadata.json of run {alignment['run_name']}")
    if not context.reader.exists(tiltseries.key(layout.TILTSERIES_METADATA)):
        fail(f"tiltseries_path {path!r} does not exist")


@check(
    "ALN-AFFINE",
    entity=ALN,
    tier=Tier.HEADER,
    title="affine_transformation_matrix is 4×4, bottom row [0,0,0,1], invertible",
)
def alignment_affine(context: CheckContext, alignment: Entity) -> None:
    matrix = _metadata(context, alignment).get("affine_transformation_matrix")
    if matrix is None:
        fail("affine_transformation_matrix is missing")
    check_affine(matrix)


def _rotation_problem(matrix: Any) -> str | None:
    if not (isinstance(matrix, list) and len(matrix) == 2 and all(isinstance(r, list) and len(r) == 2 for r in matrix)):
        return f"in_plane_rotation is not 2×2: {str(matrix)[:60]}"
    if not all(is_number(v) for row in matrix for v in row):
        return "in_plane_rotation holds non-numbers"
    rotation = np.array(matrix, dtype=float)
    if not np.allclose(rotation @ rotation.T, np.eye(2), atol=ROTATION_TOLERANCE, rtol=0):
        return f"R·Rᵀ = {np.round(rotation @ rotation.T, 4).tolist()} is not the identity (±1e-3)"
    determinant = float(np.linalg.det(rotation))
    if abs(determinant - 1) > ROTATION_TOLERANCE:
        return f"det(R) = {determinant:.4f}, expected +1 (±1e-3)"
    return None


@check(
    "ALN-ROTATION",
    entity=ALN,
    tier=Tier.HEADER,
    title="each in_plane_rotation is a 2×2 proper rotation (R·Rᵀ ≈ I, det ≈ +1, ±1e-3)",
)
def alignment_rotation(context: CheckContext, alignment: Entity) -> None:
    problems = []
    for parameter in sections(_metadata(context, alignment), PSAP):
        problem = _rotation_problem(parameter.get("in_plane_rotation"))
        if problem:
            problems.append(f"z_index {parameter.get('z_index')}: {problem}")
    fail_summary(problems, "in-plane rotations are not rotations", shown=3)


@check(
    "ALN-Z-INDEX",
    entity=ALN,
    tier=Tier.HEADER,
    title="alignment z_index values are unique integers in [0, tilt series size.z)",
)
def alignment_z_index(context: CheckContext, alignment: Entity) -> None:
    indices = [parameter.get("z_index") for parameter in sections(_metadata(context, alignment), PSAP)]
    depth = None
    if indices:
        try:
            depth = size_of(tiltseries_document(context, alignment_tiltseries(context, alignment)))["z"]
        except (CheckSkipped, Unreadable):
            depth = None
    bad = [
        z
        for z in indices
        if not (isinstance(z, int) and not isinstance(z, bool) and z >= 0 and (depth is None or z < depth))
    ]
    repeated = sorted({z for z in indices if isinstance(z, int) and indices.count(z) > 1})
    if bad or repeated:
        bounds = f"[0, {depth})" if depth is not None else "[0, ∞)"
        fail(
            f"z_index values outside {bounds}: {shown(bad)}; repeated: {shown(repeated)}",
            observed={"bad": bad, "repeated": repeated},
        )


def _has(context: CheckContext, alignment: Entity, suffix: str) -> bool:
    return any(key.endswith(suffix) for key in files_in(context, alignment.path))


@check(
    "ALN-XF-ROWS",
    entity=ALN,
    tier=Tier.HEADER,
    owns_inputs=True,
    title=".xf rows == .tlt rows; .aln RawSize sections == rows + dark frames (owns the .xf/.aln readability)",
)
def alignment_transform_rows(context: CheckContext, alignment: Entity) -> None:
    has_xf, has_aln = _has(context, alignment, ".xf"), _has(context, alignment, ".aln")
    if not (has_xf or has_aln):
        not_applicable(f"no .xf or .aln in {alignment.path}")
    problems = []
    if has_aln:
        aln = alignment_aln(context, alignment)
        expected = len(aln.sections) + len(aln.dark_frames)
        if aln.raw_size[2] != expected:
            problems.append(
                f".aln RawSize has {aln.raw_size[2]} sections, {len(aln.sections)} rows + "
                f"{len(aln.dark_frames)} dark frames = {expected}"
            )
    if has_xf:
        rows = len(alignment_xf(context, alignment))
        if _has(context, alignment, ".tlt"):
            try:
                angles = len(alignment_tlt(context, alignment))
            except (Unreadable, CheckSkipped):
                angles = None  # TILT-TLT-NONEMPTY / TILT-TLT-UNIQUE report the tlt
            if angles is not None and angles != rows:
                problems.append(f".xf has {rows} rows, .tlt {angles} angles")
    if problems:
        fail("; ".join(problems), observed=problems)


def _tomograms(context: CheckContext, entity: Entity) -> list[tuple[str, dict[str, Any]]]:
    run = layout.build("run", dataset_id=entity["dataset_id"], run_name=entity["run_name"])
    return [(k, d) for k, kind, d in context.metadata_documents(f"{run}/Reconstructions") if kind == "tomogram"]


@check(
    "ALN-VOLUME-DIM",
    entity=ALN,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="volume_dimension > 0 and ≈ voxel spacing × size of a tomogram using the alignment (±1 voxel)",
)
def alignment_volume_dimension(context: CheckContext, alignment: Entity) -> None:
    dimension = _metadata(context, alignment).get("volume_dimension")
    if not (isinstance(dimension, dict) and all(is_number(dimension.get(a)) and dimension[a] > 0 for a in "xyz")):
        fail(f"volume_dimension is not positive {{x, y, z}} numbers: {dimension!r}", observed=dimension)
    mine = alignment.key(layout.ALIGNMENT_METADATA)
    candidates = []
    for key, document in _tomograms(context, alignment):
        path = document.get("alignment_metadata_path")
        match = layout.parse(key)
        size = document.get("size")
        if not (isinstance(path, str) and layout.strip_bucket_name(path) == mine and match and isinstance(size, dict)):
            continue
        spacing = layout.voxel_spacing_from_name(match.fields["voxel_spacing"])
        expected = {a: spacing * size[a] for a in "xyz" if is_number(size.get(a))}
        if len(expected) == 3 and all(abs(dimension[a] - expected[a]) <= spacing * 1.0001 for a in "xyz"):
            return
        candidates.append(f"{key.rsplit('/', 2)[-2]}: { ({a: round(v, 3) for a, v in expected.items()}) }")
    if candidates:
        fail(
            f"volume_dimension {dimension} matches no tomogram using this alignment: {'; '.join(candidates[:3])}",
            observed=dimension,
        )


@check(
    "ALN-REFERENCED",
    entity=EntityKind.RUN,
    tier=Tier.HEAD,
    title="every alignment_metadata_path of the run's tomograms and annotations is an existing alignment of the run",
)
def alignment_referenced(context: CheckContext, run: Entity) -> None:
    problems = []
    for key, kind, document in context.metadata_documents(f"{run.path}/Reconstructions"):
        path = document.get("alignment_metadata_path")
        if kind not in ("tomogram", "annotation") or path is None:
            continue
        match = layout.parse(layout.strip_bucket_name(path)) if isinstance(path, str) else None
        fields = match.fields if match else {}
        if match is None or match.template != "alignment_metadata":
            problems.append(f"{key}: {path!r} is not an alignment_metadata.json")
        elif (fields["dataset_id"], fields["run_name"]) != (run["dataset_id"], run["run_name"]):
            problems.append(f"{key}: {path!r} is an alignment of another run")
        elif not context.reader.exists(layout.strip_bucket_name(path)):
            problems.append(f"{key}: {path!r} does not exist")
    fail_summary(problems, "alignment references do not resolve", shown=3)
