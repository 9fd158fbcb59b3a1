"""Tilt series checks beyond the shared volume suites (checks.md §8): the metadata document, its files
and sizes, and its per-section parameters against the mdoc, the rawtlt and the frames.

The MRC, OME-Zarr and sampled-content checks of a tilt series are the TS family of ``volumes.py`` /
``content.py`` (``TS-MRC-*``, ``TS-ZARR-*``, ``TS-VOL-*``).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from data_validation.checks.acquisition import (
    circular_difference,
    frame_list,
    frames_document,
    is_number,
    movie_keys,
    rawtlt,
    run_mdoc,
    sections,
    shown,
    size_of,
    tiltseries_document,
)
from data_validation.checks.context import CheckContext
from data_validation.checks.volumes import FAMILIES, level_array
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, fail_summary, skip
from importers import layout
from importers.formats.omezarr import ZarrFormatError, read_multiscales

TILTSERIES = next(family for family in FAMILIES if family.prefix == "TS")
TS = EntityKind.TILTSERIES
SPACING_TOLERANCE = 0.001
#: raw_angle comes from the mdoc section whose angle equals the rawtlt line at 2 dp (formats.md §4).
ANGLE_TOLERANCE = 0.01 + 1e-9
#: More deviating tilt increments than this is an error; fewer is a warning.
STEP_DEVIATIONS_ALLOWED = 4
FLUX_TOLERANCE = 1.0
MAX_AXIS = 360.0
AXIS_TOLERANCE = 10.0
PSP = "per_section_parameter"


def _metadata(context: CheckContext, tiltseries: Entity) -> dict[str, Any]:
    return tiltseries_document(context, tiltseries)


def _number_field(document: dict[str, Any], key: str) -> float:
    value = document.get(key)
    if not is_number(value):
        fail(f"{key} is not a number: {value!r}")
    return float(value)


@check(
    "TS-METADATA-EXISTS",
    entity=TS,
    tier=Tier.HEAD,
    owns_inputs=True,
    title="tiltseries_metadata.json exists, and the mrc_file / omezarr_dir it names exist",
)
def tiltseries_metadata_exists(context: CheckContext, tiltseries: Entity) -> None:
    key = tiltseries.key(layout.TILTSERIES_METADATA)
    if not context.reader.exists(key):
        fail(f"{key} is missing (an interrupted write?)")
    try:
        document = context.metadata(key)
    except Unreadable as unreadable:
        skip(f"{unreadable} (reported by GEN-JSON-PARSE)")
    missing = []
    for field, member in (("mrc_file", ""), ("omezarr_dir", "/.zattrs")):
        value = document.get(field)
        if not isinstance(value, str) or not context.reader.exists(layout.strip_bucket_name(value) + member):
            missing.append(f"{field} {value!r}")
    if missing:
        fail(f"referenced volumes do not exist: {'; '.join(missing)}", observed=missing)


@check(
    "TS-FIELDS",
    entity=TS,
    tier=Tier.HEADER,
    title="acceleration_voltage ≥ 20000 V, Cs > 0, tilting_scheme, total_flux > 0, run_name",
)
def tiltseries_fields(context: CheckContext, tiltseries: Entity) -> None:
    document = _metadata(context, tiltseries)
    errors = []
    voltage = document.get("acceleration_voltage")
    if not (is_number(voltage) and voltage > 0):
        errors.append(f"acceleration_voltage {voltage!r} is not > 0")
    elif voltage < 20000:
        # No electron microscope images below 20 kV: the value is in kV, 1000 times off for every user.
        errors.append(f"acceleration_voltage {voltage} is below 20000 V (kV given?)")
    for key in ("spherical_aberration_constant", "total_flux"):
        value = document.get(key)
        if not (is_number(value) and value > 0):
            errors.append(f"{key} {value!r} is not > 0")
    scheme = document.get("tilting_scheme")
    if not (isinstance(scheme, str) and scheme.strip()):
        errors.append(f"tilting_scheme {scheme!r} is empty")
    if document.get("run_name") != tiltseries["run_name"]:
        errors.append(f"run_name {document.get('run_name')!r} is not the run folder {tiltseries['run_name']!r}")
    if errors:
        fail("; ".join(errors), observed=errors)


@check(
    "TS-FILE-NAMES",
    entity=TS,
    tier=Tier.LIST,
    title="mrc_file / omezarr_dir name the single {run}.mrc / {run}.zarr of this folder",
)
def tiltseries_file_names(context: CheckContext, tiltseries: Entity) -> None:
    context.check_volume_file_names(tiltseries, _metadata(context, tiltseries))


def _scales(document: dict[str, Any]) -> list[list[int]]:
    scales = document.get("scales")
    if not isinstance(scales, list) or len(scales) != 3:
        fail(f"scales must list 3 levels, found {str(scales)[:80]}")
    levels = [size_of({f"scales[{i}]": scale}, f"scales[{i}]") for i, scale in enumerate(scales)]
    return [[level[a] for a in "zyx"] for level in levels]


@check(
    "TS-SIZE-SCALES",
    entity=TS,
    tier=Tier.HEADER,
    title="size == scales[0]; scales keep z and halve y, x (rounded up)",
)
def tiltseries_size_scales(context: CheckContext, tiltseries: Entity) -> None:
    document = _metadata(context, tiltseries)
    size = size_of(document)
    levels = _scales(document)
    expected = [[size["z"], size["y"], size["x"]]]
    for _ in range(2):
        z, y, x = expected[-1]
        expected.append([z, math.ceil(y / 2), math.ceil(x / 2)])
    if levels != expected:
        fail(f"scales (z, y, x) {levels}, expected {expected} from size", observed=levels, expected=expected)


@check("TS-SIZE-MRC", entity=TS, tier=Tier.HEADER, title="MRC (nz, ny, nx) equals size")
def tiltseries_size_mrc(context: CheckContext, tiltseries: Entity) -> None:
    size = size_of(_metadata(context, tiltseries))
    header = context.reader.mrc_header(TILTSERIES.mrc_key(context, tiltseries))
    expected = [size["z"], size["y"], size["x"]]
    if list(header.shape) != expected:
        fail(
            f"MRC (nz, ny, nx) = {list(header.shape)}, metadata size (z, y, x) = {expected}",
            observed=list(header.shape),
            expected=expected,
        )


@check("TS-SCALES-ZARR", entity=TS, tier=Tier.HEADER, title="each zarr level's shape equals scales[i]")
def tiltseries_scales_zarr(context: CheckContext, tiltseries: Entity) -> None:
    levels = _scales(_metadata(context, tiltseries))
    store = TILTSERIES.zarr_key(context, tiltseries)
    for level, scale in enumerate(levels):
        shape = level_array(context, f"{store}/{level}/.zarray")["shape"]
        if shape != scale:
            fail(f"level {level} shape {shape}, scales[{level}] (z, y, x) = {scale}", observed=shape, expected=scale)


@check(
    "TS-PS-MATCH",
    entity=TS,
    tier=Tier.HEADER,
    title="pixel_spacing equals the MRC voxel size and the zarr level-0 scale (±0.001 Å)",
)
def tiltseries_pixel_spacing_match(context: CheckContext, tiltseries: Entity) -> None:
    spacing = _number_field(_metadata(context, tiltseries), "pixel_spacing")
    header = context.reader.mrc_header(TILTSERIES.mrc_key(context, tiltseries))
    zattrs_key = f"{TILTSERIES.zarr_key(context, tiltseries)}/.zattrs"
    try:
        scale = read_multiscales(context.reader.json(zattrs_key)).scales[0]
    except (ZarrFormatError, IndexError) as error:
        raise Unreadable(zattrs_key, str(error) or "no level 0") from None
    compared = {"MRC voxel size (x, y, z)": list(header.voxel_size), "zarr level-0 scale (z, y, x)": list(scale)}
    for what, values in compared.items():
        if not values or any(not abs(float(v) - spacing) <= SPACING_TOLERANCE for v in values):
            fail(
                f"{what} = {[round(float(v), 4) for v in values]}, pixel_spacing = {spacing}",
                observed=values,
                expected=spacing,
            )


@check("TS-MDOC-SECTIONS", entity=TS, tier=Tier.HEADER, title="the mdoc has at least size.z sections")
def tiltseries_mdoc_sections(context: CheckContext, tiltseries: Entity) -> None:
    size = size_of(_metadata(context, tiltseries))
    count = len(run_mdoc(context, tiltseries).sections)
    if count < size["z"]:
        fail(f"mdoc has {count} sections, fewer than the {size['z']} tilt-series sections", observed=count)


def _mdoc_angles(context: CheckContext, tiltseries: Entity) -> list[float]:
    return sorted(section.tilt_angle for section in run_mdoc(context, tiltseries).sections)


@check(
    "TS-TILT-RANGE",
    entity=TS,
    tier=Tier.HEADER,
    title="tilt_range min/max equal the smallest/largest mdoc TiltAngle at 1 dp",
)
def tiltseries_tilt_range(context: CheckContext, tiltseries: Entity) -> None:
    tilt_range = _metadata(context, tiltseries).get("tilt_range")
    if not (isinstance(tilt_range, dict) and is_number(tilt_range.get("min")) and is_number(tilt_range.get("max"))):
        fail(f"tilt_range is not {{min, max}} numbers: {tilt_range!r}")
    angles = _mdoc_angles(context, tiltseries)
    observed = [round(angles[0], 1), round(angles[-1], 1)]
    expected = [round(float(tilt_range["min"]), 1), round(float(tilt_range["max"]), 1)]
    if observed != expected:
        fail(f"mdoc angles span {observed}, tilt_range is {expected}", observed=observed, expected=expected)


@check(
    "TS-TILT-STEP",
    entity=TS,
    tier=Tier.HEADER,
    title="sorted mdoc angle increments equal tilt_step at 1 dp (1–4 deviations warn, more fail)",
)
def tiltseries_tilt_step(context: CheckContext, tiltseries: Entity) -> None:
    step = _number_field(_metadata(context, tiltseries), "tilt_step")
    angles = _mdoc_angles(context, tiltseries)
    increments = [round(b - a, 1) for a, b in itertools.pairwise(angles)]
    deviating = [d for d in increments if d != round(step, 1)]
    if deviating:
        severity = Severity.ERROR if len(deviating) > STEP_DEVIATIONS_ALLOWED else Severity.WARNING
        fail(
            f"{len(deviating)} of {len(increments)} mdoc angle increments differ from tilt_step {step}: "
            f"{shown(deviating)}",
            observed=deviating,
            expected=step,
            severity=severity,
        )


@check(
    "TS-TILT-AXIS",
    entity=TS,
    tier=Tier.HEADER,
    title="tilt_axis and the mdoc 'Tilt axis angle' lie in [−360, 360] and within 10° (mod 360)",
)
def tiltseries_tilt_axis(context: CheckContext, tiltseries: Entity) -> None:
    axis = _number_field(_metadata(context, tiltseries), "tilt_axis")
    mdoc_axis = run_mdoc(context, tiltseries).tilt_axis
    if mdoc_axis is None:
        skip("the mdoc has no 'Tilt axis angle' (reported by MDOC-TILT-AXIS)")
    for what, value in (("tilt_axis", axis), ("mdoc tilt axis angle", mdoc_axis)):
        if abs(value) > MAX_AXIS:
            fail(f"{what} {value} is outside [−360, 360]", observed=value)
    difference = circular_difference(axis, mdoc_axis)
    if difference > AXIS_TOLERANCE:
        fail(
            f"tilt_axis {axis}° differs from the mdoc tilt axis {mdoc_axis}° by {difference:.2f}° (> 10°)",
            observed=axis,
            expected=mdoc_axis,
        )


@check(
    "TS-TOTAL-FLUX",
    entity=TS,
    tier=Tier.HEADER,
    title="the frames' exposure doses add up to total_flux (±1 e⁻/Å²)",
)
def tiltseries_total_flux(context: CheckContext, tiltseries: Entity) -> None:
    total = _number_field(_metadata(context, tiltseries), "total_flux")
    doses = [frame.get("exposure_dose") for frame in frame_list(frames_document(context, tiltseries))]
    if not all(is_number(dose) for dose in doses):
        fail(f"frames exposure_dose values are not all numbers: {shown([d for d in doses if not is_number(d)])}")
    flux = math.fsum(doses)
    if abs(flux - total) > FLUX_TOLERANCE:
        fail(f"frames exposure doses sum to {flux:.3f} e⁻/Å², total_flux is {total}", observed=flux, expected=total)


@check(
    "TS-PSP-FRAMES",
    entity=TS,
    tier=Tier.HEADER,
    title="frames_metadata has at least as many frames as per_section_parameter entries",
)
def tiltseries_psp_frames(context: CheckContext, tiltseries: Entity) -> None:
    parameters = sections(_metadata(context, tiltseries), PSP)
    frames = frame_list(frames_document(context, tiltseries))
    if len(frames) < len(parameters):
        fail(f"{len(frames)} frames for {len(parameters)} per-section parameters", observed=len(frames))


@check(
    "TS-PSP-RANGES",
    entity=TS,
    tier=Tier.HEADER,
    title="astigmatic_angle ∈ [−180, 180], phase_shift ∈ [0, 2π], max_resolution ≥ 0 (nulls allowed)",
)
def tiltseries_psp_ranges(context: CheckContext, tiltseries: Entity) -> None:
    bounds = {
        "astigmatic_angle": (-180.0, 180.0),
        "phase_shift": (0.0, 2 * math.pi),
        "max_resolution": (0.0, math.inf),
    }
    problems = []
    for parameter in sections(_metadata(context, tiltseries), PSP):
        for key, (low, high) in bounds.items():
            value = parameter.get(key)
            if value is not None and not (is_number(value) and low <= value <= high):
                problems.append(f"z_index {parameter.get('z_index')}: {key} {value!r} outside [{low:g}, {high:g}]")
    fail_summary(problems, "per-section values out of range", shown=3)


@check(
    "TS-PSP-Z-INDEX",
    entity=TS,
    tier=Tier.HEADER,
    title="per_section_parameter z_index values are unique integers in [0, size.z − 1]",
)
def tiltseries_psp_z_index(context: CheckContext, tiltseries: Entity) -> None:
    document = _metadata(context, tiltseries)
    depth = size_of(document)["z"]
    indices = [parameter.get("z_index") for parameter in sections(document, PSP)]
    bad = [z for z in indices if not (isinstance(z, int) and not isinstance(z, bool) and 0 <= z < depth)]
    repeated = sorted({z for z in indices if isinstance(z, int) and indices.count(z) > 1})
    if bad or repeated:
        fail(
            f"z_index values outside [0, {depth - 1}]: {shown(bad)}; repeated: {shown(repeated)}",
            observed={"bad": bad, "repeated": repeated},
        )


@check(
    "TS-PSP-COUNT",
    entity=TS,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="one per_section_parameter entry per rawtlt line",
)
def tiltseries_psp_count(context: CheckContext, tiltseries: Entity) -> None:
    count = len(sections(_metadata(context, tiltseries), PSP))
    lines = len(rawtlt(context, tiltseries))
    if count != lines:
        fail(f"{count} per-section parameters for {lines} rawtlt angles", observed=count, expected=lines)


@check(
    "TS-PSP-RAWTLT",
    entity=TS,
    tier=Tier.HEADER,
    title="each raw_angle equals rawtlt[z_index] (±0.01°)",
)
def tiltseries_psp_rawtlt(context: CheckContext, tiltseries: Entity) -> None:
    angles = rawtlt(context, tiltseries)
    problems = []
    for parameter in sections(_metadata(context, tiltseries), PSP):
        z, raw = parameter.get("z_index"), parameter.get("raw_angle")
        if not (isinstance(z, int) and 0 <= z < len(angles)):
            problems.append(f"z_index {z!r} has no rawtlt line ({len(angles)} lines)")
        elif not (is_number(raw) and abs(raw - angles[z]) <= ANGLE_TOLERANCE):
            problems.append(f"z_index {z}: raw_angle {raw!r} ≠ rawtlt {angles[z]:g}")
    fail_summary(problems, "raw angles differ from the rawtlt", shown=3)


@check(
    "TS-PSP-FRAME-ORDER",
    entity=TS,
    tier=Tier.HEADER,
    title="every frame_acquisition_order is an acquisition_order of frames_metadata",
)
def tiltseries_psp_frame_order(context: CheckContext, tiltseries: Entity) -> None:
    known = {frame.get("acquisition_order") for frame in frame_list(frames_document(context, tiltseries))}
    unknown = [
        parameter.get("frame_acquisition_order")
        for parameter in sections(_metadata(context, tiltseries), PSP)
        if parameter.get("frame_acquisition_order") not in known
    ]
    if unknown:
        fail(f"frame_acquisition_order values with no frame: {shown(unknown)}", observed=unknown)


@check(
    "TS-SIDECAR-PATHS",
    entity=TS,
    tier=Tier.HEAD,
    title="raw_tlt_path is {dir}/{run}.rawtlt, ctf_path null or {dir}/{run}_{FMT}_ctf.txt; both exist",
)
def tiltseries_sidecar_paths(context: CheckContext, tiltseries: Entity) -> None:
    document = _metadata(context, tiltseries)
    problems = []
    raw = document.get("raw_tlt_path")
    expected = tiltseries.key(f"{tiltseries['run_name']}.rawtlt")
    if not isinstance(raw, str) or layout.strip_bucket_name(raw) != expected:
        problems.append(f"raw_tlt_path is {raw!r}, expected {expected!r}")
    elif not context.reader.exists(expected):
        problems.append(f"raw_tlt_path {raw!r} does not exist")
    ctf = document.get("ctf_path")
    if ctf is not None:
        match = layout.parse(layout.strip_bucket_name(ctf)) if isinstance(ctf, str) else None
        if match is None or match.template != "ctf" or layout.build("tiltseries", **match.fields) != tiltseries.path:
            problems.append(f"ctf_path {ctf!r} is not {tiltseries.path}/{tiltseries['run_name']}_{{FMT}}_ctf.txt")
        elif not context.reader.exists(layout.strip_bucket_name(ctf)):
            problems.append(f"ctf_path {ctf!r} does not exist")
    if problems:
        fail("; ".join(problems), observed=problems)


@check(
    "TS-FRAMES-COUNT",
    entity=TS,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="frames_count equals the number of movie files in Frames/",
)
def tiltseries_frames_count(context: CheckContext, tiltseries: Entity) -> None:
    count = _metadata(context, tiltseries).get("frames_count")
    movies = len(movie_keys(context, tiltseries))
    if count != movies:
        fail(f"frames_count is {count!r}, Frames/ holds {movies} movie files", observed=count, expected=movies)
