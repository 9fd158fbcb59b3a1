"""Tilt angles across the mdoc, the rawtlt, the alignment's tlt/aln and its parameters (checks.md §9).

Angles are paired as the portal pairs them: rounded to 2 dp, each matched at most once. The rawtlt's
readability is TILT-RAWTLT-NONEMPTY's finding, the tlt's TILT-TLT-NONEMPTY's, the mdoc's MDOC-TILT-AXIS's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from data_validation.checks.acquisition import (
    alignment_aln,
    alignment_document,
    alignment_tiltseries,
    alignment_tlt,
    circular_difference,
    files_in,
    is_number,
    rawtlt,
    run_mdoc,
    sections,
    shown,
    size_of,
    tiltseries_document,
    unmatched_angles,
)
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Severity, Tier, check, fail, fail_summary, register, skip

TS = EntityKind.TILTSERIES
ALN = EntityKind.ALIGNMENT
MAX_TILT = 90.0
ANGLE_TOLERANCE = 0.01 + 1e-9
AXIS_TOLERANCE = 10.0
PSP = "per_section_parameter"
PSAP = "per_section_alignment_parameters"


def _out_of_range(angles: list[float]) -> list[float]:
    return [angle for angle in angles if not -MAX_TILT <= angle <= MAX_TILT]


def _register_angle_file(name: str, entity: EntityKind, angles: Callable[[CheckContext, Entity], list[float]]) -> None:
    """TILT-{NAME}-NONEMPTY (owns the file's readability) and TILT-{NAME}-RANGE: the rawtlt of a tilt series
    and the tlt of an alignment are read and judged alike."""
    file = name.lower()

    def nonempty(context: CheckContext, entity: Entity) -> None:
        if not angles(context, entity):
            fail(f"the {file} holds no angles")

    def in_range(context: CheckContext, entity: Entity) -> None:
        outside = _out_of_range(angles(context, entity))
        if outside:
            fail(f"{file} angles outside [−90, 90]: {shown(outside)}", observed=outside)

    title = f"the {file} parses and has at least one angle (owns the {file}'s readability)"
    register(f"TILT-{name}-NONEMPTY", entity=entity, tier=Tier.HEADER, title=title, function=nonempty, owns_inputs=True)
    register(
        f"TILT-{name}-RANGE",
        entity=entity,
        tier=Tier.HEADER,
        title=f"every {file} angle lies in [−90, 90]",
        function=in_range,
    )


# -- the rawtlt of a tilt series ----------------------------------------------------------------


@check(
    "TILT-RAWTLT-UNIQUE",
    entity=TS,
    tier=Tier.LIST,
    title="at most one *.rawtlt in the tilt-series folder (none: warning, angle checks skipped)",
)
def rawtlt_unique(context: CheckContext, tiltseries: Entity) -> None:
    found = context.files_with_suffix(tiltseries, ".rawtlt")
    if len(found) > 1:
        fail(f"{len(found)} rawtlt files: {found}", observed=found)
    if not found:
        fail("no *.rawtlt in the tilt-series folder: the angle checks are skipped", severity=Severity.WARNING)


_register_angle_file("RAWTLT", TS, rawtlt)


@check(
    "TILT-RAWTLT-VS-SIZE",
    entity=TS,
    tier=Tier.HEADER,
    title="no more rawtlt angles than tilt-series sections (fewer: warning)",
)
def rawtlt_vs_size(context: CheckContext, tiltseries: Entity) -> None:
    depth = size_of(tiltseries_document(context, tiltseries))["z"]
    count = len(rawtlt(context, tiltseries))
    if count != depth:
        fail(
            f"rawtlt has {count} angles, the tilt series {depth} sections",
            observed=count,
            expected=depth,
            severity=Severity.ERROR if count > depth else Severity.WARNING,
        )


@check(
    "TILT-RAWTLT-VS-MDOC",
    entity=TS,
    tier=Tier.HEADER,
    title="every rawtlt angle pairs with its own mdoc TiltAngle at 2 dp",
)
def rawtlt_vs_mdoc(context: CheckContext, tiltseries: Entity) -> None:
    angles = rawtlt(context, tiltseries)
    mdoc = [section.tilt_angle for section in run_mdoc(context, tiltseries).sections]
    if len(mdoc) < len(angles):
        fail(f"rawtlt has {len(angles)} angles, the mdoc only {len(mdoc)} sections", observed=len(angles))
    left = unmatched_angles(angles, mdoc)
    if left:
        fail(f"rawtlt angles with no (unused) mdoc TiltAngle at 2 dp: {shown(left)}", observed=left)


@check(
    "TILT-PSP-IN-MDOC",
    entity=TS,
    tier=Tier.HEADER,
    title="every per-section raw_angle pairs with its own mdoc TiltAngle at 2 dp",
)
def psp_in_mdoc(context: CheckContext, tiltseries: Entity) -> None:
    raw = [parameter.get("raw_angle") for parameter in sections(tiltseries_document(context, tiltseries), PSP)]
    if not all(is_number(angle) for angle in raw):
        fail(f"raw_angle values are not all numbers: {shown([a for a in raw if not is_number(a)])}")
    left = unmatched_angles(raw, [section.tilt_angle for section in run_mdoc(context, tiltseries).sections])
    if left:
        fail(f"raw_angle values with no (unused) mdoc TiltAngle at 2 dp: {shown(left)}", observed=left)


@check("TILT-MDOC-RANGE", entity=EntityKind.RUN, tier=Tier.HEADER, title="every mdoc TiltAngle lies in [−90, 90]")
def mdoc_range(context: CheckContext, run: Entity) -> None:
    outside = _out_of_range([section.tilt_angle for section in run_mdoc(context, run).sections])
    if outside:
        fail(f"mdoc TiltAngle values outside [−90, 90]: {shown(outside)}", observed=outside)


# -- the tlt of an alignment --------------------------------------------------------------------


@check("TILT-TLT-UNIQUE", entity=ALN, tier=Tier.LIST, title="at most one *.tlt in the alignment folder")
def tlt_unique(context: CheckContext, alignment: Entity) -> None:
    found = [key for key in files_in(context, alignment.path) if key.endswith(".tlt")]
    if len(found) > 1:
        fail(f"{len(found)} tlt files: {found}", observed=found)


_register_angle_file("TLT", ALN, alignment_tlt)


@check(
    "TILT-TLT-VS-RAWTLT",
    entity=ALN,
    tier=Tier.HEADER,
    title="the tlt has as many angles as the rawtlt of the alignment's tilt series",
)
def tlt_vs_rawtlt(context: CheckContext, alignment: Entity) -> None:
    count = len(alignment_tlt(context, alignment))
    lines = len(rawtlt(context, alignment_tiltseries(context, alignment)))
    if count != lines:
        fail(f"tlt has {count} angles, the tilt series' rawtlt {lines}", observed=count, expected=lines)


@check("TILT-TLT-VS-MDOC", entity=ALN, tier=Tier.HEADER, title="no more tlt angles than mdoc sections")
def tlt_vs_mdoc(context: CheckContext, alignment: Entity) -> None:
    count = len(alignment_tlt(context, alignment))
    available = len(run_mdoc(context, alignment).sections)
    if count > available:
        fail(f"tlt has {count} angles, the mdoc only {available} sections", observed=count, expected=available)


@check("TILT-TLT-VS-SIZE", entity=ALN, tier=Tier.HEADER, title="no more tlt angles than tilt-series sections")
def tlt_vs_size(context: CheckContext, alignment: Entity) -> None:
    count = len(alignment_tlt(context, alignment))
    depth = size_of(tiltseries_document(context, alignment_tiltseries(context, alignment)))["z"]
    if count > depth:
        fail(f"tlt has {count} angles, the tilt series only {depth} sections", observed=count, expected=depth)


def _reference_angles(context: CheckContext, alignment: Entity) -> tuple[str, dict[int, float]]:
    """The angle each z_index should have: tlt line (IMOD) or the aln row's TILT (ARETOMO3)."""
    if alignment_document(context, alignment).get("format") == "ARETOMO3":
        aln = alignment_aln(context, alignment)
        return "aln TILT", {z: section.tilt for z, section in zip(aln.z_indices, aln.sections, strict=True)}
    return "tlt", dict(enumerate(alignment_tlt(context, alignment)))


@check(
    "TILT-PSAP-ANGLE",
    entity=ALN,
    tier=Tier.HEADER,
    title="each alignment tilt_angle equals tlt[z_index] (IMOD) or the aln TILT (ARETOMO3) ±0.01°",
)
def psap_angle(context: CheckContext, alignment: Entity) -> None:
    parameters = sections(alignment_document(context, alignment), PSAP)
    if not parameters:
        return
    source, expected = _reference_angles(context, alignment)
    problems = []
    for parameter in parameters:
        z, angle = parameter.get("z_index"), parameter.get("tilt_angle")
        if z not in expected:
            problems.append(f"z_index {z!r} has no {source} angle")
        elif not (is_number(angle) and abs(angle - expected[z]) <= ANGLE_TOLERANCE):
            problems.append(f"z_index {z}: tilt_angle {angle!r} ≠ {source} {expected[z]:g}")
    fail_summary(problems, "tilt angles differ", shown=3)


def _rotation_angle(matrix: object) -> float | None:
    """``atan2(R10, R00)`` in degrees, or None for a matrix that is not 2×2 numbers."""
    if not (isinstance(matrix, list) and len(matrix) == 2 and all(isinstance(r, list) and len(r) == 2 for r in matrix)):
        return None
    if not all(is_number(v) for row in matrix for v in row):
        return None
    return math.degrees(math.atan2(matrix[1][0], matrix[0][0]))


@check(
    "TILT-AXIS-ALIGNMENT",
    entity=ALN,
    tier=Tier.HEADER,
    title="each in-plane rotation angle atan2(R10, R00) is within 10° (mod 360) of the mdoc tilt axis",
)
def axis_alignment(context: CheckContext, alignment: Entity) -> None:
    parameters = sections(alignment_document(context, alignment), PSAP)
    if not parameters:
        return
    axis = run_mdoc(context, alignment).tilt_axis
    if axis is None:
        skip("the mdoc has no 'Tilt axis angle' (reported by MDOC-TILT-AXIS)")
    problems = []
    for parameter in parameters:
        angle = _rotation_angle(parameter.get("in_plane_rotation"))
        if angle is None:
            problems.append(f"z_index {parameter.get('z_index')}: in_plane_rotation is not 2×2 numbers")
        elif circular_difference(angle, axis) > AXIS_TOLERANCE:
            problems.append(f"z_index {parameter.get('z_index')}: rotation {angle:.2f}°")
    if problems:
        more = f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
        fail(
            f"{len(problems)} in-plane rotations are more than 10° from the mdoc tilt axis {axis}°: "
            f"{'; '.join(problems[:3])}{more}",
            observed=problems,
            expected=axis,
        )
