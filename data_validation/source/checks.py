"""The pre-ingest source checks (checks.md §20): ``SRC-*``, on the source entities the ingestion app planned.

Codes follow the bucket suite's with a ``SRC-`` prefix where they instantiate it (SRC-SUITES): the shared MRC
header suite as ``SRC-TS-MRC-*`` / ``SRC-TOMO-MRC-*`` (the functions of ``checks/volumes.py`` with a source
family: spacing = the config's ``pixel_spacing`` / the voxel spacing, tilt-series z not checked), the mdoc,
tilt-angle, frame and gain checks of §9 and §12 as ``SRC-MDOC-*``, ``SRC-TILT-*``, ``SRC-FRAME-*``,
``SRC-GAIN-*``. Inputs are owned as in the bucket suite: one unreadable file is one failure.

| Input | Owner |
|---|---|
| the config file | SRC-CONFIG-VALID |
| a source tilt series / tomogram MRC header | SRC-TS-MRC-READABLE / SRC-TOMO-MRC-READABLE |
| the run's mdoc | SRC-MDOC-TILT-AXIS |
| a rawtlt | SRC-TILT-RAWTLT-NONEMPTY |
| gain references | SRC-GAIN-READABLE |
| an annotation source file | SRC-ANNO-PARSE |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_validation.checks.acquisition import extension, parsed, shown, unmatched_angles
from data_validation.checks.context import CheckContext
from data_validation.checks.volumes import MRC_SUITE, VolumeFamily, register_suite
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, not_applicable, skip
from data_validation.source.snapshot import AnnotationSource, SourceRun, SourceSnapshot, VolumeSource
from importers.formats.dm4 import Dm4FormatError, read_dm4_layout
from importers.formats.mdoc import Mdoc, parse_mdoc
from importers.formats.mesh_files import MeshFileError, to_glb
from importers.formats.mrc import MrcFormatError, MrcHeader
from importers.formats.ndjson import RECORD_TYPES
from importers.formats.omezarr import ZARRAY, ZATTRS, ZarrFormatError, read_multiscales, read_zarray
from importers.formats.points import PointFormatError, Points, read_points
from importers.formats.tiff import read_pages_many
from importers.formats.tilt_angles import parse_tilt_angles
from importers.storage import StorageError

CONFIG = EntityKind.SOURCE_CONFIG
RUN = EntityKind.SOURCE_RUN
TILTSERIES = EntityKind.SOURCE_TILTSERIES
ANNOTATION = EntityKind.SOURCE_ANNOTATION

#: Tilt-series stacks the MRC header suite reads (checks.md §20 SRC-TS-FILETYPE; ``.zarr`` is not an MRC).
MRC_STACK_EXTENSIONS = (".mrc", ".st", ".ali", ".mrcs")
#: Movie and gain extensions (checks.md §12); the portal converts ``.dm4`` gains, so the input may hold them.
MOVIE_EXTENSIONS = frozenset({".mrc", ".tif", ".tiff", ".eer", ".mrc.bz2", ".gain"})
GAIN_EXTENSIONS = MOVIE_EXTENSIONS | {".dm4"}
#: Source data types: the bucket's, and float16, which the importer converts to float32 like the others.
SOURCE_DTYPES = frozenset({"int8", "int16", "uint16", "float16", "float32", "float64"})
MASK_SHAPES = ("SegmentationMask", "SemanticSegmentationMask", "InstanceSegmentationMask")
CAPTION_LISTS = {"GlobalCaption": "captions", "AnnotationCaption": "objects"}
MESH_SHAPES = ("TriangularMesh", "TriangularMeshGroup")


def sources(context: CheckContext) -> SourceSnapshot:
    return context.reader.snapshot


def run_record(context: CheckContext, entity: Entity) -> SourceRun:
    """What the finders found for the entity's run."""
    return sources(context).runs[f"{entity['dataset_id']}/{entity['run_name']}"]


def _listed(problems: list[str], limit: int = 3) -> str:
    more = f"; … ({len(problems)} in all)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


# -- the config ----------------------------------------------------------------------------------


@check("SRC-CONFIG-VALID", entity=CONFIG, tier=Tier.LIST, title="the config passes the config rules", owns_inputs=True)
def config_valid(context: CheckContext, entity: Entity) -> None:
    problems = sources(context).config_problems
    errors = [line for severity, line in problems if severity == "error"]
    if errors:
        fail(f"{len(errors)} config error(s): {_listed(errors)}", observed=errors)
    if problems:
        fail(_listed([line for _, line in problems]), observed=problems, severity=Severity.WARNING)


@check("SRC-RUNS-EXIST", entity=CONFIG, tier=Tier.LIST, title="the config finds at least one run")
def runs_exist(context: CheckContext, entity: Entity) -> None:
    snapshot = sources(context)
    if not snapshot.config_loaded:
        skip("the config cannot be loaded (reported by SRC-CONFIG-VALID)")
    if snapshot.discovery_errors:
        skip("the input cannot be listed (reported by GEN-DISCOVERY)")
    if snapshot.top_problems:
        fail(_listed(snapshot.top_problems), observed=snapshot.top_problems)
    if not snapshot.entities.get(RUN):
        filters = f" with {' '.join(snapshot.filters)}" if snapshot.filters else ""
        unchecked = f" (not run without --output-bucket: {_listed(snapshot.unchecked)})" if snapshot.unchecked else ""
        fail(f"the runs sources find no run under {snapshot.source_root or 'the bucket root'}{filters}{unchecked}")


# -- what each run's finders found ---------------------------------------------------------------


def _entries(lines: list[str]) -> str:
    return f"{len(lines)} source entr{'y' if len(lines) == 1 else 'ies'}: {_listed(lines)}"


@check(
    "SRC-SOURCES-FOUND",
    entity=RUN,
    tier=Tier.LIST,
    title="the run's source entries run, and each matches a file in some run (not in this one: warning)",
)
def sources_found(context: CheckContext, run: Entity) -> None:
    record = run_record(context, run)
    matched = sources(context).matched_entries
    # As the importer: an entry that finds nothing in this run but something in another is normal (annotations
    # of some runs, an IMOD entry beside an AreTomo one, an mdoc for one run); one that finds nothing anywhere
    # is a wrong glob.
    nowhere = [line for entry, line in record.nothing_found.items() if entry not in matched]
    elsewhere = [line for entry, line in record.nothing_found.items() if entry in matched]
    if record.problems or nowhere:
        fail(_entries(record.problems + [f"{line} in any run" for line in nowhere]))
    if elsewhere:
        fail(f"{_entries(elsewhere)} here (it matches in other runs)", severity=Severity.WARNING)


def _matches_nowhere(context: CheckContext, record: SourceRun, config_key: str) -> bool:
    """Whether an entry of ``config_key`` that found nothing in this run found nothing in any run either
    (SRC-SOURCES-FOUND's error; one that matches elsewhere leaves this run's gap to the check that needs it)."""
    matched = sources(context).matched_entries
    return any(entry.startswith(f"{config_key}[") and entry not in matched for entry in record.nothing_found)


@check("SRC-TS-PER-RUN", entity=RUN, tier=Tier.LIST, title="at most one tilt series per run")
def ts_per_run(context: CheckContext, run: Entity) -> None:
    found = run_record(context, run).paths("tiltseries")
    if len(found) > 1:
        fail(f"{len(found)} tilt series found ({shown(found)}); a run has one", observed=found, expected=1)


def _movies(record: SourceRun) -> list[str]:
    return record.paths("frame")


@check("SRC-MDOC-PRESENT", entity=RUN, tier=Tier.LIST, title="movies or a tilt series come with one mdoc")
def mdoc_present(context: CheckContext, run: Entity) -> None:
    record = run_record(context, run)
    if not _movies(record) and not record.paths("tiltseries"):
        not_applicable("no movies and no tilt series")
    mdocs = record.paths("collection_metadata")
    if not mdocs and _matches_nowhere(context, record, "collection_metadata"):
        skip("the collection_metadata source matched nothing (reported by SRC-SOURCES-FOUND)")
    if not mdocs:
        fail("no mdoc found: movies and tilt series need one (a collection_metadata source)", expected=1)
    if len(mdocs) > 1:
        fail(f"{len(mdocs)} mdoc files found ({shown(mdocs)}), expected exactly one", observed=mdocs, expected=1)


@check("SRC-RAWTLT-PRESENT", entity=RUN, tier=Tier.LIST, title="a tilt series comes with one rawtlt")
def rawtlt_present(context: CheckContext, run: Entity) -> None:
    record = run_record(context, run)
    if not record.rawtilts:
        not_applicable("no tilt series")
    for tiltseries, rawtilts in record.rawtilts.items():
        if not rawtilts and _matches_nowhere(context, record, "rawtilts"):
            skip("the rawtilts source matched nothing (reported by SRC-SOURCES-FOUND)")
        if not rawtilts:
            fail(f"{tiltseries}: no rawtlt found (a rawtilts source)", expected=1)
        if len(rawtilts) > 1:
            fail(f"{tiltseries}: {len(rawtilts)} rawtlt files found ({shown(rawtilts)}), expected exactly one")


# -- mdoc and tilt angles (checks.md §9, §12) ----------------------------------------------------


def _mdoc(context: CheckContext, run: Entity) -> Mdoc:
    """The run's parsed mdoc (unreadable: SRC-MDOC-TILT-AXIS reports it)."""
    mdocs = run_record(context, run).paths("collection_metadata")
    if not mdocs:
        not_applicable("no mdoc")
    if len(mdocs) > 1:
        skip(f"{len(mdocs)} mdoc files (reported by SRC-MDOC-PRESENT)")
    return parsed(context, mdocs[0], "mdoc", parse_mdoc)


def _rawtlts(context: CheckContext, run: Entity) -> dict[str, list[float]]:
    """Each tilt series' raw angles (unreadable: SRC-TILT-RAWTLT-NONEMPTY reports it)."""
    record = run_record(context, run)
    keys = [rawtilts[0] for rawtilts in record.rawtilts.values() if len(rawtilts) == 1]
    if not keys:
        not_applicable("no tilt series with one rawtlt")
    return {key: parsed(context, key, "angles", parse_tilt_angles) for key in keys}


@check(
    "SRC-MDOC-TILT-AXIS",
    entity=RUN,
    tier=Tier.HEADER,
    title="the mdoc parses and gives the tilt axis",
    owns_inputs=True,
)
def mdoc_tilt_axis(context: CheckContext, run: Entity) -> None:
    if _mdoc(context, run).tilt_axis is None:
        fail("no mdoc title line carries 'Tilt axis angle = <degrees>'")


@check("SRC-MDOC-SUBFRAMEPATH", entity=RUN, tier=Tier.HEADER, title="with movies, every mdoc section names its movie")
def mdoc_subframepath(context: CheckContext, run: Entity) -> None:
    if not _movies(run_record(context, run)):
        not_applicable("no movies")
    missing = [section.z_value for section in _mdoc(context, run).sections if section.sub_frame_path is None]
    if missing:
        fail(f"sections with ZValue {shown(missing)} have no SubFramePath", observed=missing)


@check("SRC-TILT-MDOC-RANGE", entity=RUN, tier=Tier.HEADER, title="mdoc tilt angles lie in [-90, 90]")
def tilt_mdoc_range(context: CheckContext, run: Entity) -> None:
    outside = [section.tilt_angle for section in _mdoc(context, run).sections if abs(section.tilt_angle) > 90]
    if outside:
        fail(f"mdoc TiltAngle values {shown(outside)} lie outside [-90, 90]", observed=outside)


@check("SRC-TILT-RAWTLT-NONEMPTY", entity=RUN, tier=Tier.HEADER, title="the rawtlt holds tilt angles", owns_inputs=True)
def tilt_rawtlt_nonempty(context: CheckContext, run: Entity) -> None:
    _rawtlts(context, run)  # parse_tilt_angles refuses an empty or malformed file


@check("SRC-TILT-RAWTLT-RANGE", entity=RUN, tier=Tier.HEADER, title="rawtlt angles lie in [-90, 90]")
def tilt_rawtlt_range(context: CheckContext, run: Entity) -> None:
    for key, angles in _rawtlts(context, run).items():
        outside = [angle for angle in angles if abs(angle) > 90]
        if outside:
            fail(f"{key}: angles {shown(outside)} lie outside [-90, 90]", observed=outside)


@check("SRC-TILT-RAWTLT-VS-MDOC", entity=RUN, tier=Tier.HEADER, title="each rawtlt angle has its own mdoc section")
def tilt_rawtlt_vs_mdoc(context: CheckContext, run: Entity) -> None:
    rawtlts = _rawtlts(context, run)
    mdoc_angles = [section.tilt_angle for section in _mdoc(context, run).sections]
    for key, angles in rawtlts.items():
        left = unmatched_angles(angles, mdoc_angles)
        if left:
            fail(
                f"{key}: {len(left)} of {len(angles)} angles have no mdoc section of their own at 2 dp: "
                f"{shown(left)} (mdoc has {len(mdoc_angles)} sections)",
                observed=left,
            )


# -- movies and gains (checks.md §12) ------------------------------------------------------------


def _basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


@check("SRC-FRAME-MDOC-PATHS", entity=RUN, tier=Tier.HEADER, title="the mdoc's movies and the found movies agree")
def frame_mdoc_paths(context: CheckContext, run: Entity) -> None:
    movies = {_basename(key) for key in _movies(run_record(context, run))}
    if not movies:
        not_applicable("no movies")
    named = {section.sub_frame_path for section in _mdoc(context, run).sections if section.sub_frame_path}
    missing, unnamed = sorted(named - movies), sorted(movies - named)
    problems = [f"{len(missing)} movies the mdoc names are not found: {shown(missing)}"] if missing else []
    problems += [f"{len(unnamed)} found movies no mdoc section names: {shown(unnamed)}"] if unnamed else []
    if problems:
        fail("; ".join(problems), observed={"missing": missing, "unnamed": unnamed})


@check("SRC-FRAME-EXT", entity=RUN, tier=Tier.LIST, severity=Severity.WARNING, title="movie extensions are known")
def frame_ext(context: CheckContext, run: Entity) -> None:
    movies = _movies(run_record(context, run))
    if not movies:
        not_applicable("no movies")
    odd = [key for key in movies if extension(key) not in MOVIE_EXTENSIONS]
    if odd:
        fail(f"movies {shown(odd)} are not one of {sorted(MOVIE_EXTENSIONS)}", observed=odd)


def _gains(context: CheckContext, run: Entity) -> list[str]:
    gains = run_record(context, run).paths("gain")
    if not gains:
        not_applicable("no gain references")
    return gains


@check("SRC-GAIN-EXT", entity=RUN, tier=Tier.LIST, severity=Severity.WARNING, title="gain extensions are known")
def gain_ext(context: CheckContext, run: Entity) -> None:
    odd = [key for key in _gains(context, run) if extension(key) not in GAIN_EXTENSIONS]
    if odd:
        fail(f"gain references {shown(odd)} are not one of {sorted(GAIN_EXTENSIONS)}", observed=odd)


@check(
    "SRC-GAIN-READABLE",
    entity=RUN,
    tier=Tier.HEADER,
    title="gain references are single images the importer can read (MRC header, TIFF IFDs, DM4 tag directory)",
    owns_inputs=True,
)
def gain_readable(context: CheckContext, run: Entity) -> None:
    gains = _gains(context, run)
    for key in gains:
        if extension(key) == ".dm4":
            _dm4_gain(context, key)
        if extension(key) == ".mrc" and (header := context.reader.mrc_header(key)).nz != 1:
            fail(f"{key}: MRC gain has nz = {header.nz}, expected 1", observed=header.nz, expected=1)
    tiffs = {key: context.reader.info(key).size for key in gains if extension(key) in (".tif", ".tiff")}
    for key, pages in read_pages_many(tiffs, context.reader.bucket.read_many).items():
        if isinstance(pages, Exception):
            raise Unreadable(key, pages.problem if isinstance(pages, StorageError) else str(pages))
        if len(pages) != 1:
            fail(f"{key}: TIFF gain has {len(pages)} pages, expected 1", observed=len(pages), expected=1)


def _dm4_gain(context: CheckContext, key: str) -> None:
    """A DM4 gain the importer converts: its tag directory read by ranges (the image itself is not read)."""
    size = context.reader.info(key).size
    try:
        with context.reader.bucket.open_read(key, size) as stream:
            layout = read_dm4_layout(stream, size)
    except StorageError as error:
        raise Unreadable(key, error.problem) from None
    except Dm4FormatError as error:
        fail(f"{key}: {error}")
    if layout.shape_zyx[0] != 1:
        fail(f"{key}: DM4 gain has {layout.shape_zyx[0]} images, expected 1", observed=layout.shape_zyx[0], expected=1)


# -- tilt series and tomograms: file type, z size, the shared MRC header suite --------------------


@check("SRC-TS-FILETYPE", entity=TILTSERIES, tier=Tier.LIST, title="the tilt series is an MRC stack or OME-Zarr")
def ts_filetype(context: CheckContext, tiltseries: Entity) -> None:
    key = tiltseries.path
    if not key.lower().endswith((*MRC_STACK_EXTENSIONS, ".zarr")):
        fail(f"{_basename(key)} is neither an MRC stack ({', '.join(MRC_STACK_EXTENSIONS)}) nor .zarr")


@check("SRC-TS-Z-RAWTLT", entity=TILTSERIES, tier=Tier.HEADER, title="one rawtlt angle per tilt-series section")
def ts_z_rawtlt(context: CheckContext, tiltseries: Entity) -> None:
    rawtilts = run_record(context, tiltseries).rawtilts.get(tiltseries.path, [])
    if len(rawtilts) != 1:
        skip(f"{len(rawtilts)} rawtlt files (reported by SRC-RAWTLT-PRESENT)")
    header = context.reader.mrc_header(SOURCE_TS.mrc_key(context, tiltseries))
    angles = parsed(context, rawtilts[0], "angles", parse_tilt_angles)
    if len(angles) != header.nz:
        fail(
            f"{rawtilts[0]} has {len(angles)} angles, the tilt series {header.nz} sections",
            observed=len(angles),
            expected=header.nz,
        )


@dataclass(frozen=True)
class SourceFamily(VolumeFamily):
    """A source volume: the entity is the file; only MRC-family files get the MRC suite."""

    extensions: tuple[str, ...] | None = None

    def mrc_key(self, context: CheckContext, entity: Entity) -> str:
        key = entity.path
        if key.lower().endswith(".zarr") or (self.extensions and not key.lower().endswith(self.extensions)):
            not_applicable(f"{_basename(key)} is not an MRC file")
        return key


def source_spacing(context: CheckContext, entity: Entity) -> float:
    """The expected spacing; without a config ``pixel_spacing`` the importer takes the header's y voxel
    size (3 dp), so that is what x must agree with."""
    detail: VolumeSource = sources(context).details[entity]
    if detail.spacing is not None:
        return detail.spacing
    return round(context.reader.mrc_header(entity.path).voxel_size[1], 3)


_VOLUME_FAMILY = {"zarr_dtypes": frozenset(), "mrc_dtypes": SOURCE_DTYPES, "spacing": source_spacing}
SOURCE_TS = SourceFamily(
    prefix="SRC-TS",
    entity=TILTSERIES,
    ispg=0,
    chunks=(1, 1024, 1024),
    tiltseries=True,
    z_checked=False,
    extensions=MRC_STACK_EXTENSIONS,
    **_VOLUME_FAMILY,
)
SOURCE_TOMO = SourceFamily(
    prefix="SRC-TOMO", entity=EntityKind.SOURCE_TOMOGRAM, ispg=1, chunks=(256, 256, 256), **_VOLUME_FAMILY
)

#: The MRC header suite on sources; the portal stamp is written by ingestion, never found in an upload.
SOURCE_MRC_SUITE = {entry[0] for entry in MRC_SUITE} - {"MRC-LABEL-PORTAL"}
#: Header fields ``standardize`` writes anew (space group, version, labels, sampling, origin, start, map id,
#: statistics) or honours (a permuted axis map: the data are reordered to x, y, z): on a source they depart from
#: convention but nothing of them reaches the portal, so they are info, never a problem (RELION writes nversion 0
#: and ispg 0, EMDB pads labels, the portal's own 90001 tilt series has ispg 1).
REWRITTEN = {
    "MRC-SPACEGROUP",
    "MRC-NVERSION",
    "MRC-NLABL",
    "MRC-SAMPLING",
    "MRC-ORIGIN",
    "MRC-NSTART",
    "MRC-MAP-ID",
    "MRC-STATS-ORDER",
    "MRC-AXIS-MAP",
}

for _family in (SOURCE_TS, SOURCE_TOMO):
    register_suite(_family, SOURCE_MRC_SUITE, dict.fromkeys(REWRITTEN, Severity.INFO))


# -- annotation source files ---------------------------------------------------------------------


def _annotation(context: CheckContext, entity: Entity) -> AnnotationSource:
    return sources(context).details[entity]


def _points(context: CheckContext, entity: Entity, detail: AnnotationSource) -> Points:
    """The file's points in annotation voxels (x, y, z), read as the importer reads them; a file that
    does not parse with its declared format and columns is :class:`Unreadable`."""
    arguments = detail.arguments
    if detail.filter_error:
        raise Unreadable(entity.path, detail.filter_error)
    try:
        points = read_points(
            context.reader.read(entity.path),
            str(arguments.get("file_format")),
            path=entity.path,
            delimiter=str(arguments.get("delimiter") or ","),
            filter_value=detail.filter_value,
            oriented=detail.shape == "OrientedPoint",
        )
        order = arguments.get("columns") or arguments.get("order") or "xyz"
        return points.standardized(binning=float(arguments.get("binning") or 1), order=order)
    except (PointFormatError, ValueError, TypeError) as error:
        raise Unreadable(entity.path, str(error).removeprefix(f"{entity.path}: ")) from None


def _mask_size(context: CheckContext, entity: Entity, detail: AnnotationSource) -> tuple[int, int, int]:
    """Voxels along x, y, z of a mask source as ``standardize`` reads it: an MRC (its header), or an OME-Zarr store
    (its level 0's ``.zarray``)."""
    file_format = detail.arguments.get("file_format")
    if file_format == "zarr":
        try:
            multiscales = read_multiscales(context.reader.json_value(f"{entity.path}/{ZATTRS}"))
            zarray = read_zarray(context.reader.json_value(f"{entity.path}/{multiscales.paths[0]}/{ZARRAY}"))
        except ZarrFormatError as error:
            raise Unreadable(entity.path, str(error)) from None
        if len(zarray["shape"]) != 3:
            raise Unreadable(entity.path, f"a mask has 3 axes, level 0 has shape {zarray['shape']}")
        z, y, x = zarray["shape"]
        return x, y, z
    if file_format != "mrc":
        raise Unreadable(entity.path, f"{file_format} masks cannot be imported (only mrc, zarr)")
    header = context.reader.mrc_header(entity.path)
    if header.dtype is None:
        raise Unreadable(entity.path, f"unsupported MRC mode {header.mode}")
    return _xyz_size(entity.path, header)


def _xyz_size(key: str, header: MrcHeader) -> tuple[int, int, int]:
    """Voxels along x, y, z as ``standardize`` writes them (a permuted axis map is reordered)."""
    try:
        return header.xyz_size
    except MrcFormatError as error:
        raise Unreadable(key, str(error)) from None


def _caption(context: CheckContext, entity: Entity, detail: AnnotationSource) -> None:
    document = context.reader.json_value(entity.path)
    name = CAPTION_LISTS[detail.shape]
    if not isinstance(document, dict) or not isinstance(document.get(name), list):
        raise Unreadable(entity.path, f"a {detail.shape} file needs a {name!r} list")


def _mesh(context: CheckContext, entity: Entity, detail: AnnotationSource) -> None:
    """Converted to glb as the importer converts it (the whole file is read)."""
    arguments = detail.arguments
    try:
        to_glb(
            context.reader.read(entity.path),
            str(arguments.get("file_format")),
            entity.path,
            float(arguments.get("scale_factor") or 1),
            segment=arguments.get("name"),
        )
    except MeshFileError as error:
        raise Unreadable(entity.path, str(error)) from None


@check(
    "SRC-ANNO-PARSE",
    entity=ANNOTATION,
    tier=Tier.FULL,
    title="annotation source files parse with their declared format and columns",
    owns_inputs=True,
)
def anno_parse(context: CheckContext, entity: Entity) -> None:
    detail = _annotation(context, entity)
    if detail.shape in RECORD_TYPES:
        _points(context, entity, detail)
    elif detail.shape in MASK_SHAPES:
        _mask_size(context, entity, detail)
    elif detail.shape in CAPTION_LISTS:
        _caption(context, entity, detail)
    elif detail.shape in MESH_SHAPES:
        _mesh(context, entity, detail)
    else:
        fail(f"unknown annotation shape {detail.shape}")


def _tomogram_sizes(context: CheckContext, detail: AnnotationSource) -> list[tuple[int, int, int]]:
    """(nx, ny, nz) of the run's readable source tomograms at the annotation's voxel spacing."""
    sizes = []
    for key in detail.tomograms:
        try:
            sizes.append(_xyz_size(key, context.reader.mrc_header(key)))
        except Unreadable:
            continue  # SRC-TOMO-MRC-READABLE / SRC-TOMO-MRC-AXIS-MAP
    if not sizes:
        not_applicable(f"no readable source tomogram at voxel spacing {detail.voxel_spacing:.3f}")
    return sizes


@check(
    "SRC-ANNO-IN-VOLUME",
    entity=ANNOTATION,
    tier=Tier.FULL,
    title="points (after binning) lie in the source tomogram; masks have its size",
)
def anno_in_volume(context: CheckContext, entity: Entity) -> None:
    detail = _annotation(context, entity)
    if detail.shape in MASK_SHAPES:
        size = _mask_size(context, entity, detail)
        if detail.arguments.get("rescale"):
            not_applicable("a rescaled mask is resampled to the aligned volume's size")
        sizes = _tomogram_sizes(context, detail)
        if size not in sizes:
            fail(f"mask size (x, y, z) = {size}, the tomogram's {sizes[0]}", observed=size, expected=sizes[0])
        return
    if detail.shape not in RECORD_TYPES:
        not_applicable(f"{detail.shape} has no locations")
    locations = _points(context, entity, detail).locations
    sizes = _tomogram_sizes(context, detail)
    extent = np.max(np.array(sizes), axis=0) - 1  # [0, n - 1] per axis, as PT-IN-VOLUME checks the output
    outside = np.flatnonzero(((locations < 0) | (locations > extent)).any(axis=1))
    if outside.size:
        first, size = locations[outside[0]], tuple(int(n) for n in extent + 1)
        fail(
            f"{outside.size} of {len(locations)} points lie outside [0, n-1] of the {size} "
            f"tomogram after binning {detail.arguments.get('binning') or 1}; first: row {outside[0] + 1} at "
            f"({', '.join(f'{v:g}' for v in first)})",
            observed=[float(v) for v in first],
            expected=[0, [int(v) for v in extent]],
        )
