"""Point annotation checks (checks.md §15): the NDJSON files of Point (``PT-*``), OrientedPoint
(``OPT-*``) and InstanceSegmentation (``IPT-*``) annotations, read whole (FULL tier).

PT-RECORD owns the NDJSON files: a line that is not a valid record of its shape is its finding; the
other point checks skip such a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from data_validation.checks.annotation import annotation_document, check_count, files_of, run_tomograms, tomogram_size
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Tier, check, fail, not_applicable, register, skip
from importers import layout
from importers.formats import ndjson
from importers.formats.ndjson import NdjsonError

#: Code prefix of each point shape.
PREFIXES = {"Point": "PT", "OrientedPoint": "OPT", "InstanceSegmentation": "IPT"}
ROTATION_TOLERANCE = 1e-3


def point_files(
    context: CheckContext, annotation: Entity, *shapes: str
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The annotation's metadata and ``(key, shape)`` of its NDJSON files of the given shapes."""
    _, document = annotation_document(context, annotation)
    files = files_of(document, *shapes, formats=("ndjson",))
    if not files:
        not_applicable(f"no {' / '.join(shapes)} NDJSON file")
    return document, files


def records(context: CheckContext, key: str, shape: str) -> list[dict[str, Any]]:
    """The checked records of an NDJSON file (formats.md §3.1), parsed once for the annotation's checks; a bad
    line makes it :class:`Unreadable`."""

    def parse() -> list[dict[str, Any]]:
        try:
            return ndjson.loads(_content(context, key), shape)
        except NdjsonError as error:
            raise Unreadable(key, str(error)) from None

    return context.shared.memo(f"ndjson:{shape}", key, parse)


def _content(context: CheckContext, key: str) -> bytes:
    """The NDJSON file, read once for the annotation's checks."""
    return context.shared.memo("object", key, lambda: context.reader.read(key))


def _lines(context: CheckContext, key: str) -> int:
    """Non-blank lines: the records of a well-formed file, counted without parsing them."""
    return sum(1 for line in _content(context, key).split(b"\n") if line.strip())


@check(
    "PT-RECORD",
    entity=EntityKind.ANNOTATION,
    tier=Tier.FULL,
    owns_inputs=True,
    title="each NDJSON line is a JSON record of its shape's type with finite x, y, z (all point shapes)",
)
def point_records(context: CheckContext, annotation: Entity) -> None:
    _, files = point_files(context, annotation, *PREFIXES)
    for key, shape in files:
        records(context, key, shape)


def _count(shape: str, context: CheckContext, annotation: Entity) -> None:
    document, files = point_files(context, annotation, shape)
    for key, _ in files:
        if shape == "InstanceSegmentation":
            check_count("distinct instance_id", ndjson.object_count(shape, records(context, key, shape)), document, key)
        else:
            check_count("NDJSON records", _lines(context, key), document, key)


def _upper_bounds(context: CheckContext, annotation: Entity, document: dict[str, Any]) -> tuple[np.ndarray, str]:
    """Largest valid location (x, y, z) in the annotation's voxels, and which tomograms it comes from:
    those of the same spacing sharing the alignment, else those of any spacing, scaled by vs_tomo/vs_anno."""
    spacing_dir = layout.build(
        "voxel_spacing", **{k: annotation[k] for k in ("dataset_id", "run_name", "voxel_spacing")}
    )
    alignment = document.get("alignment_metadata_path")
    shared = [
        (key, size)
        for key, tomogram in run_tomograms(context, annotation)
        if tomogram.get("alignment_metadata_path") == alignment and (size := tomogram_size(tomogram)) is not None
    ]
    if not shared:
        skip("no tomogram of the run shares the annotation's alignment (reported by ANNO-ALIGNMENT-TOMO)")
    here = [(key, size) for key, size in shared if key.startswith(spacing_dir + "/")]
    chosen = here or shared
    extents = []
    for key, size in chosen:
        tomogram_spacing = layout.voxel_spacing_from_name(layout.parse(key).fields["voxel_spacing"])
        extents.append(np.array(size, dtype=float) * tomogram_spacing / annotation.voxel_spacing)
    names = ", ".join(key.rsplit("/", 2)[-2] for key, _ in chosen)
    where = f"tomogram {names}" + ("" if here else " of another spacing, scaled")
    return np.max(extents, axis=0) - 1, where


def _in_volume(shape: str, context: CheckContext, annotation: Entity) -> None:
    document, files = point_files(context, annotation, shape)
    upper, where = _upper_bounds(context, annotation, document)
    for key, _ in files:
        items = records(context, key, shape)
        if not items:
            continue
        locations = np.array([[item["location"][axis] for axis in "xyz"] for item in items], dtype=float)
        outside = np.any((locations < 0) | (locations > upper), axis=1)
        if outside.any():
            first = int(np.argmax(outside))
            bounds = ", ".join(f"{axis} [0, {u:g}]" for axis, u in zip("xyz", upper, strict=True))
            fail(
                f"{key}: {int(outside.sum())} of {len(items)} locations outside {bounds} ({where}); "
                f"first: record {first + 1} at {tuple(float(v) for v in locations[first])}",
                observed=locations[first].tolist(),
                expected=upper.tolist(),
            )


def _rotation_problem(matrix: list[list[float]]) -> str | None:
    rotation = np.array(matrix, dtype=float)
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=ROTATION_TOLERANCE):
        return "R·Rᵀ is not the identity"
    if abs(np.linalg.det(rotation) - 1) > ROTATION_TOLERANCE:
        return f"det(R) = {np.linalg.det(rotation):.4f}, not +1"
    norms = np.linalg.norm(rotation, axis=1)
    if not np.allclose(norms, 1, atol=ROTATION_TOLERANCE):
        return f"row norms {np.round(norms, 4).tolist()} are not 1"
    return None


@check(
    "OPT-ROTATION",
    entity=EntityKind.ANNOTATION,
    tier=Tier.FULL,
    title="each xyz_rotation_matrix is a proper rotation: R·Rᵀ ≈ I, det ≈ +1, unit rows (±1e-3)",
)
def oriented_point_rotation(context: CheckContext, annotation: Entity) -> None:
    _, files = point_files(context, annotation, "OrientedPoint")
    for key, shape in files:
        items = records(context, key, shape)
        problems = [
            (index, problem)
            for index, item in enumerate(items)
            if (problem := _rotation_problem(item["xyz_rotation_matrix"]))
        ]
        if problems:
            index, problem = problems[0]
            fail(
                f"{key}: {len(problems)} of {len(items)} rotation matrices are not rotations; first: record "
                f"{index + 1}: {problem}",
                observed=items[index]["xyz_rotation_matrix"],
            )


@check(
    "IPT-ID",
    entity=EntityKind.ANNOTATION,
    tier=Tier.FULL,
    title="each instance_id is an integer >= 0",
)
def instance_point_ids(context: CheckContext, annotation: Entity) -> None:
    _, files = point_files(context, annotation, "InstanceSegmentation")
    for key, shape in files:
        negative = [item["instance_id"] for item in records(context, key, shape) if item["instance_id"] < 0]
        if negative:
            fail(
                f"{key}: {len(negative)} instance_id values are negative (e.g. {negative[:3]})", observed=negative[:10]
            )


def _runner(
    function: Callable[[str, CheckContext, Entity], None], shape: str
) -> Callable[[CheckContext, Entity], None]:
    return lambda context, annotation: function(shape, context, annotation)


for _shape, _prefix in PREFIXES.items():
    _counted = "distinct instance_id" if _shape == "InstanceSegmentation" else "NDJSON records"
    register(
        f"{_prefix}-COUNT",
        entity=EntityKind.ANNOTATION,
        tier=Tier.FULL,
        title=f"{_shape}: {_counted} == object_count (at most it, when other files count objects too)",
        function=_runner(_count, _shape),
    )
    register(
        f"{_prefix}-IN-VOLUME",
        entity=EntityKind.ANNOTATION,
        tier=Tier.FULL,
        title=f"{_shape}: every location lies in [0, size − 1] of the tomogram sharing the alignment",
        function=_runner(_in_volume, _shape),
    )
