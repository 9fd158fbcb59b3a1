"""A run's acquisition records (checks.md §12): the mdoc, the movies with ``frames_metadata.json``, and
the gain references. Every check here is a run check.

Ownership of unreadable inputs: MDOC-TILT-AXIS reports an mdoc that does not parse, FRAME-CONSISTENT a
movie whose MRC header or TIFF/EER IFD chain cannot be read, GAIN-NZ a gain MRC header. Movies are never
downloaded: MRC movies by their prefetched header, TIFF/EER movies by their IFD chain (ranged reads,
``importers.formats.tiff``), walked once per session and shared by the checks that need it. Movies are
data, checked as the tilt series are: their page counts against the mdoc (FRAME-NUMSUBFRAMES) and the
data their headers declare against the objects' sizes (FRAME-DATA-SIZE).

"Movies present" (the condition of the movie checks) means ``Frames/`` holds a file other than the mdoc
and ``frames_metadata.json``; a run whose frames metadata lists only ``path: null`` frames (no movies
deposited) has nothing for them to compare.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from data_validation.checks.acquisition import (
    basename,
    extension,
    files_in,
    frame_list,
    frames_dir,
    frames_document,
    gains_dir,
    is_number,
    mdoc_keys,
    movie_keys,
    run_mdoc,
    shown,
)
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, fail_summary
from importers import layout
from importers.formats.mrc import MrcHeader
from importers.formats.tiff import TiffPage, read_pages_many
from importers.metadata.computed import frame_records

RUN = EntityKind.RUN
ALLOWED_EXTENSIONS = (".mrc", ".tif", ".tiff", ".eer", ".mrc.bz2", ".gain")
TIFF_EXTENSIONS = (".tif", ".tiff", ".eer")
PIXEL_TOLERANCE = 0.001
DOSE_RTOL = 1e-6


def _tiff_pages(context: CheckContext, keys: list[str]) -> dict[str, list[TiffPage] | Unreadable]:
    """The IFDs of each TIFF/EER movie (or why they cannot be read), walked together, once per session
    (the movies of one run are asked for together)."""

    def walk() -> dict[str, list[TiffPage] | Unreadable]:
        sizes = {key: context.reader.info(key).size for key in keys}
        return {
            key: Unreadable(key, getattr(result, "problem", None) or str(result))
            if isinstance(result, Exception)
            else result
            for key, result in read_pages_many(sizes, context.reader.bucket.read_many).items()
        }

    return context.reader.memo("tiff-pages", "\0".join(keys), walk)


def _mrc_movies(context: CheckContext, run: Entity) -> list[str]:
    return sorted(key for key in movie_keys(context, run) if extension(key) == ".mrc")


def _tiff_movies(context: CheckContext, run: Entity) -> list[str]:
    return sorted(key for key in movie_keys(context, run) if extension(key) in TIFF_EXTENSIONS)


def _gains(context: CheckContext, run: Entity) -> list[str]:
    return files_in(context, gains_dir(run))


def _pixel(header: MrcHeader) -> tuple[float, float]:
    return header.voxel_size[0], header.voxel_size[1]


# -- the mdoc --------------------------------------------------------------------------------------


@check(
    "MDOC-UNIQUE",
    entity=RUN,
    tier=Tier.LIST,
    title="at most one *.mdoc in Frames/, named {run}.mdoc; required when the run has a tilt series",
)
def mdoc_unique(context: CheckContext, run: Entity) -> None:
    found = mdoc_keys(context, run)
    expected = layout.build("mdoc", dataset_id=run["dataset_id"], run_name=run["run_name"])
    if len(found) > 1:
        fail(f"{len(found)} mdoc files in Frames/: {[basename(k) for k in found]}", observed=found)
    if found and found[0] != expected:
        fail(f"the mdoc is {basename(found[0])}, expected {basename(expected)}", observed=found[0], expected=expected)
    if not found and context.reader.children(run.key("TiltSeries")):
        fail(f"the run has a tilt series but no {expected}", expected=expected)


@check(
    "MDOC-SUBFRAMEPATH",
    entity=RUN,
    tier=Tier.HEADER,
    title="every mdoc section has a SubFramePath (when movies are present)",
)
def mdoc_sub_frame_path(context: CheckContext, run: Entity) -> None:
    if not movie_keys(context, run):
        return
    missing = [section.z_value for section in run_mdoc(context, run).sections if not section.sub_frame_path]
    if missing:
        fail(f"mdoc sections without SubFramePath (ZValue): {shown(missing)}", observed=missing)


@check(
    "MDOC-TILT-AXIS",
    entity=RUN,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="the mdoc parses and a title line carries 'Tilt axis angle = <deg>' (owns the mdoc's readability)",
)
def mdoc_tilt_axis(context: CheckContext, run: Entity) -> None:
    mdoc = run_mdoc(context, run)
    if mdoc.tilt_axis is None:
        fail(f"no [T = …] title line carries 'Tilt axis angle = <deg>' (titles: {mdoc.titles[:3]})")


# -- the movies and frames_metadata.json --------------------------------------------------------------


@check(
    "FRAME-METADATA-EXISTS",
    entity=RUN,
    tier=Tier.LIST,
    title="Frames/ with movies has frames_metadata.json",
)
def frames_metadata_exists(context: CheckContext, run: Entity) -> None:
    key = layout.build("frames_metadata", dataset_id=run["dataset_id"], run_name=run["run_name"])
    movies = movie_keys(context, run)
    if movies and not context.reader.exists(key):
        fail(f"Frames/ holds {len(movies)} movies but no frames_metadata.json", observed=len(movies))


@check(
    "FRAME-COUNTS",
    entity=RUN,
    tier=Tier.LIST,
    title="#mdoc sections == #movie files == len(frames[]) (when movies are present)",
)
def frame_counts(context: CheckContext, run: Entity) -> None:
    movies = movie_keys(context, run)
    if not movies:
        return
    counts = {
        "mdoc sections": len(run_mdoc(context, run).sections),
        "movie files": len(movies),
        "frames[]": len(frame_list(frames_document(context, run))),
    }
    if len(set(counts.values())) > 1:
        fail(", ".join(f"{count} {what}" for what, count in counts.items()), observed=counts)


@check(
    "FRAME-MDOC-PATHS",
    entity=RUN,
    tier=Tier.HEADER,
    title="the mdoc SubFramePath basenames are exactly the movie files (when movies are present)",
)
def frame_mdoc_paths(context: CheckContext, run: Entity) -> None:
    movies = {basename(key) for key in movie_keys(context, run)}
    if not movies:
        return
    named = {section.sub_frame_path for section in run_mdoc(context, run).sections if section.sub_frame_path}
    without_movie, without_section = sorted(named - movies), sorted(movies - named)
    if without_movie or without_section:
        fail(
            f"SubFramePaths without a movie: {shown(without_movie)}; movies no section names: {shown(without_section)}",
            observed={"without_movie": without_movie, "without_section": without_section},
        )


@check(
    "FRAME-NUMSUBFRAMES",
    entity=RUN,
    tier=Tier.HEADER,
    title="mdoc NumSubFrames == the movie's TIFF/EER page count or MRC nz (matched by basename)",
)
def frame_num_sub_frames(context: CheckContext, run: Entity) -> None:
    movies = {basename(key): key for key in movie_keys(context, run)}
    if not movies:
        return
    pages = _tiff_pages(context, _tiff_movies(context, run))
    problems = []
    for section in run_mdoc(context, run).sections:
        key = movies.get(section.sub_frame_path or "")
        if key is None or section.num_sub_frames is None:
            continue
        if key in pages:
            found = pages[key]
            count = None if isinstance(found, Unreadable) else len(found)
        elif extension(key) == ".mrc":
            try:
                count = context.reader.mrc_header(key).nz
            except Unreadable:
                count = None  # FRAME-CONSISTENT reports it
        else:
            continue  # .mrc.bz2 / .gain: no page count without reading the whole file
        if count is not None and count != section.num_sub_frames:
            problems.append(f"{basename(key)}: NumSubFrames {section.num_sub_frames}, {count} pages")
    fail_summary(problems, "movies differ from their mdoc NumSubFrames", shown=3)


@check(
    "FRAME-ACQ-ORDER",
    entity=RUN,
    tier=Tier.HEADER,
    title="acquisition_order values are unique, ≤ n − 1 and exactly the mdoc ZValues",
)
def frame_acquisition_order(context: CheckContext, run: Entity) -> None:
    frames = frame_list(frames_document(context, run))
    orders = [frame.get("acquisition_order") for frame in frames]
    bad = [order for order in orders if not (isinstance(order, int) and not isinstance(order, bool))]
    if bad:
        fail(f"acquisition_order values are not integers: {shown(bad)}", observed=bad)
    problems = []
    if orders and max(orders) > len(frames) - 1:
        problems.append(f"max acquisition_order {max(orders)} > {len(frames) - 1} (n − 1)")
    repeated = sorted(order for order, count in Counter(orders).items() if count > 1)
    if repeated:
        problems.append(f"repeated: {shown(repeated)}")
    z_values = {section.z_value for section in run_mdoc(context, run).sections}
    if set(orders) != z_values:
        problems.append(
            f"not in the mdoc: {shown(sorted(set(orders) - z_values))}, "
            f"mdoc ZValues missing: {shown(sorted(z_values - set(orders)))}"
        )
    if problems:
        fail("; ".join(problems), observed=problems)


def _numbers(frames: list[dict[str, Any]], *keys: str) -> None:
    for key in keys:
        bad = [frame.get(key) for frame in frames if not is_number(frame.get(key))]
        if bad:
            fail(f"frames {key} values are not numbers: {shown(bad)}", observed=bad)


@check(
    "FRAME-DOSE-ORDER",
    entity=RUN,
    tier=Tier.HEADER,
    title="frames ordered by acquisition_order are ordered by accumulated_dose",
)
def frame_dose_order(context: CheckContext, run: Entity) -> None:
    frames = frame_list(frames_document(context, run))
    _numbers(frames, "acquisition_order", "accumulated_dose")
    by_order = [frame["acquisition_order"] for frame in sorted(frames, key=lambda f: f["acquisition_order"])]
    by_dose = [
        frame["acquisition_order"]
        for frame in sorted(frames, key=lambda f: (f["accumulated_dose"], f["acquisition_order"]))
    ]
    if by_order != by_dose:
        position = next(i for i, (a, b) in enumerate(zip(by_order, by_dose, strict=True)) if a != b)
        fail(
            f"by accumulated_dose the frame at position {position} is acquisition_order {by_dose[position]}, "
            f"by acquisition_order it is {by_order[position]}",
            observed=by_dose,
            expected=by_order,
        )


@check(
    "FRAME-DOSE-MATH",
    entity=RUN,
    tier=Tier.HEADER,
    title="exposure_dose == ExposureTime × dose_rate; accumulated_dose == running sum in mdoc order (rel 1e-6)",
)
def frame_dose_math(context: CheckContext, run: Entity) -> None:
    document = frames_document(context, run)
    frames = frame_list(document)
    dose_rate = document.get("dose_rate")
    if not (is_number(dose_rate) and dose_rate > 0):
        fail(f"dose_rate {dose_rate!r} is not a number > 0")
    try:
        records = frame_records(run_mdoc(context, run), float(dose_rate), None, {})
    except ValueError as error:
        fail(f"the mdoc cannot give the doses: {error}")
    expected = {record["acquisition_order"]: record for record in records}
    problems = []
    for frame in frames:
        record = expected.get(frame.get("acquisition_order"))
        if record is None:
            problems.append(f"acquisition_order {frame.get('acquisition_order')!r} has no mdoc section")
            continue
        for key in ("exposure_dose", "accumulated_dose"):
            value = frame.get(key)
            if not (is_number(value) and math.isclose(value, record[key], rel_tol=DOSE_RTOL, abs_tol=1e-9)):
                problems.append(f"acquisition_order {record['acquisition_order']}: {key} {value!r} ≠ {record[key]:g}")
    fail_summary(problems, "frame doses differ from the mdoc × dose_rate", shown=3)


@check("FRAME-PATHS", entity=RUN, tier=Tier.LIST, title="every non-null frames[].path is a file in Frames/")
def frame_paths(context: CheckContext, run: Entity) -> None:
    directory = frames_dir(run)
    problems = []
    for frame in frame_list(frames_document(context, run)):
        path = frame.get("path")
        if path is None:
            continue
        key = layout.strip_bucket_name(path) if isinstance(path, str) else None
        if key is None or key.rsplit("/", 1)[0] != directory:
            problems.append(f"{path!r} is not in {directory}/")
        elif not context.reader.exists(key):
            problems.append(f"{path!r} does not exist")
    fail_summary(problems, "frame paths do not resolve", shown=3)


@check(
    "FRAME-CONSISTENT",
    entity=RUN,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="all movie pages/files share (nx, ny); MRC pixel sizes equal and x ≈ y (owns the movies' readability)",
)
def frame_consistent(context: CheckContext, run: Entity) -> None:
    sizes: dict[tuple[Any, Any], list[str]] = {}
    pixels: dict[str, tuple[float, float]] = {}
    for key in _mrc_movies(context, run):
        header = context.reader.mrc_header(key)
        sizes.setdefault((header.nx, header.ny), []).append(basename(key))
        pixels[basename(key)] = _pixel(header)
    for key, pages in _tiff_pages(context, _tiff_movies(context, run)).items():
        if isinstance(pages, Unreadable):
            raise pages
        if not pages:
            fail(f"{basename(key)} has no image directory")
        for page in pages:
            sizes.setdefault((page.width, page.height), []).append(basename(key))
    if len(sizes) > 1:
        described = "; ".join(f"{nx}×{ny}: {shown(sorted(set(names)), 3)}" for (nx, ny), names in sizes.items())
        fail(f"movie frames differ in size (nx×ny): {described}", observed=sorted(map(str, sizes)))
    problems = [
        f"{name}: pixel x {x:.4f} ≠ y {y:.4f}" for name, (x, y) in pixels.items() if abs(x - y) > PIXEL_TOLERANCE
    ]
    distinct = sorted({round(x, 3) for x, _ in pixels.values()})
    if max(distinct, default=0) - min(distinct, default=0) > PIXEL_TOLERANCE:
        problems.append(f"MRC movie pixel sizes differ: {distinct}")
    if problems:
        fail("; ".join(problems[:3]), observed=problems)


@check(
    "FRAME-DATA-SIZE",
    entity=RUN,
    tier=Tier.HEADER,
    title="movies hold the data their headers declare: MRC size = 1024 + next + nx·ny·nz·itemsize; TIFF/EER "
    "strips inside the file (uncompressed: width × height × depth bytes)",
)
def frame_data_size(context: CheckContext, run: Entity) -> None:
    problems = []
    for key in _mrc_movies(context, run):
        expected, size = context.reader.mrc_header(key).expected_file_size, context.reader.info(key).size
        if size != expected:
            problems.append(f"{basename(key)} is {size} bytes, its header implies {expected}")
    for key, pages in _tiff_pages(context, _tiff_movies(context, run)).items():
        if isinstance(pages, Unreadable):
            raise pages
        size = context.reader.info(key).size
        for number, page in enumerate(pages):
            declared = page.uncompressed_bytes
            if page.data_end > size:
                problems.append(f"{basename(key)} page {number}: image data ends at byte {page.data_end} of {size}")
            elif declared is not None and page.data_bytes != declared:
                problems.append(
                    f"{basename(key)} page {number}: {page.data_bytes} bytes of image data, "
                    f"{page.width}×{page.height} at {page.bits_per_sample} bits make {declared}"
                )
            else:
                continue
            break  # one problem per movie
    fail_summary(problems, "movies lack data their headers declare", shown=3)


@check(
    "FRAME-EXT",
    entity=RUN,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="movie extensions are .mrc, .tif, .tiff, .eer, .mrc.bz2 or .gain",
)
def frame_extensions(context: CheckContext, run: Entity) -> None:
    odd = [basename(key) for key in movie_keys(context, run) if extension(key) not in ALLOWED_EXTENSIONS]
    if odd:
        fail(f"files in Frames/ with an unexpected extension: {shown(odd)}", observed=odd)


def _tiltseries_spacing(context: CheckContext, run: Entity) -> float | None:
    for tiltseries in context.reader.children(run.key("TiltSeries")):
        try:
            value = context.metadata(run.key(f"TiltSeries/{tiltseries}/{layout.TILTSERIES_METADATA}")).get(
                "pixel_spacing"
            )
        except Unreadable:
            continue
        if is_number(value) and value > 0:
            return float(value)
    return None


@check(
    "FRAME-TS-BINNING",
    entity=RUN,
    tier=Tier.HEADER,
    title="tilt-series pixel_spacing / the first MRC movie's pixel size is a whole number (±0.001)",
)
def frame_tiltseries_binning(context: CheckContext, run: Entity) -> None:
    movies = _mrc_movies(context, run)
    spacing = _tiltseries_spacing(context, run) if movies else None
    if spacing is None:
        return
    pixel = _pixel(context.reader.mrc_header(movies[0]))[0]
    ratio = spacing / pixel if pixel > 0 else math.inf
    if not (math.isfinite(ratio) and round(ratio) >= 1 and abs(ratio - round(ratio)) <= PIXEL_TOLERANCE):
        fail(
            f"pixel_spacing {spacing} / {basename(movies[0])} pixel size {pixel:.4f} = {ratio:.4f}, "
            "not a whole binning",
            observed=ratio,
        )


@check(
    "FRAME-GAIN-REQUIRED",
    entity=RUN,
    tier=Tier.LIST,
    title="movies that are not gain corrected (is_gain_corrected: false) come with a gain in Gains/",
)
def frame_gain_required(context: CheckContext, run: Entity) -> None:
    if not movie_keys(context, run):
        return
    if frames_document(context, run).get("is_gain_corrected") is False and not _gains(context, run):
        fail("is_gain_corrected is false but Gains/ is empty")


# -- gains -------------------------------------------------------------------------------------------


@check("GAIN-NO-DM4", entity=RUN, tier=Tier.LIST, title="no .dm4 in Gains/ (they are converted to MRC)")
def gain_no_dm4(context: CheckContext, run: Entity) -> None:
    dm4 = [basename(key) for key in _gains(context, run) if key.lower().endswith(".dm4")]
    if dm4:
        fail(f"unconverted DM4 gains: {dm4}", observed=dm4)


@check(
    "GAIN-EXT",
    entity=RUN,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="gain extensions are .mrc, .tif, .tiff, .eer, .mrc.bz2 or .gain",
)
def gain_extensions(context: CheckContext, run: Entity) -> None:
    odd = [basename(key) for key in _gains(context, run) if extension(key) not in ALLOWED_EXTENSIONS]
    if odd:
        fail(f"files in Gains/ with an unexpected extension: {shown(odd)}", observed=odd)


def _mrc_gains(context: CheckContext, run: Entity) -> list[str]:
    return sorted(key for key in _gains(context, run) if extension(key) == ".mrc")


@check(
    "GAIN-NZ",
    entity=RUN,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="every MRC gain has a single section, nz == 1 (owns the gain headers' readability)",
)
def gain_nz(context: CheckContext, run: Entity) -> None:
    stacked = [
        f"{basename(key)}: nz = {header.nz}"
        for key in _mrc_gains(context, run)
        if (header := context.reader.mrc_header(key)).nz != 1
    ]
    if stacked:
        fail(f"gains with nz != 1: {'; '.join(stacked)}", observed=stacked)


@check(
    "GAIN-FRAME-MATCH",
    entity=RUN,
    tier=Tier.HEADER,
    title="MRC gain (nx, ny) and pixel size equal the first MRC movie's",
)
def gain_frame_match(context: CheckContext, run: Entity) -> None:
    gains, movies = _mrc_gains(context, run), _mrc_movies(context, run)
    if not (gains and movies):
        return
    frame = context.reader.mrc_header(movies[0])
    problems = []
    for key in gains:
        gain = context.reader.mrc_header(key)
        if (gain.nx, gain.ny) != (frame.nx, frame.ny):
            problems.append(f"{basename(key)} is {gain.nx}×{gain.ny}, {basename(movies[0])} {frame.nx}×{frame.ny}")
        elif abs(_pixel(gain)[0] - _pixel(frame)[0]) > PIXEL_TOLERANCE:
            problems.append(
                f"{basename(key)} pixel size {_pixel(gain)[0]:.4f} Å, {basename(movies[0])} {_pixel(frame)[0]:.4f} Å"
            )
    if problems:
        fail("; ".join(problems), observed=problems)
