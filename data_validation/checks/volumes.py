"""The shared MRC header and OME-Zarr suites (checks.md §5-6), instantiated per volume family.

A family says where a volume lives in its entity and what its conventions are (space group,
voxel spacing, allowed dtypes); every check here is written once and registered as
``<PREFIX>-MRC-*`` / ``<PREFIX>-ZARR-*`` for each family.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from functools import partial

import numpy as np

from data_validation.checks.acquisition import tiltseries_pixel_spacing
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, fail, not_applicable, register, skip
from importers.formats.mrc import PORTAL_LABEL, VALID_EXTTYPES, MrcHeader
from importers.formats.omezarr import (
    COMPRESSOR,
    LEVELS,
    Multiscales,
    ZarrFormatError,
    read_multiscales,
    read_zarray,
)

MIB = 1 << 20
SPACING_TOLERANCE = 0.001
STORE_CHILDREN = {".zgroup", ".zattrs", "0", "1", "2"}


@dataclass(frozen=True)
class VolumeFamily:
    """One kind of volume: where it is and which conventions it follows (formats.md §2 table)."""

    prefix: str
    entity: EntityKind
    ispg: int
    mrc_dtypes: frozenset[str]
    zarr_dtypes: frozenset[str]
    chunks: tuple[int, int, int]
    spacing: Callable[[CheckContext, Entity], float]
    tiltseries: bool = False
    #: Whether the z sampling, cell length and voxel size are checked; a lab's tilt-series stack has any z
    #: convention (checks.md §20: "TS z skipped").
    z_checked: bool = True
    #: How the volume's files end before ``.mrc`` / ``.zarr`` when the entity folder holds other files too
    #: (annotation masks: ``_segmentationmask``); None: the folder's one volume, ``{run}.mrc`` + ``{run}.zarr``.
    stem_suffix: str | None = None

    def stems(self, context: CheckContext, entity: Entity, extension: str) -> set[str]:
        """Names (without ``extension``) of the family's files with that extension in the entity folder."""
        return {
            name[: -len(extension)]
            for name in context.reader.children(entity.path)
            if name.endswith(extension) and name[: -len(extension)].endswith(self.stem_suffix or "")
        }

    def stem(self, context: CheckContext, entity: Entity) -> str:
        """The volume's file name without extension; skips when the entity has no such volume."""
        if self.stem_suffix is None:
            return entity["run_name"]
        stems = self.stems(context, entity, ".mrc") | self.stems(context, entity, ".zarr")
        if not stems:
            not_applicable(f"no *{self.stem_suffix}.mrc / .zarr in {entity.path}")
        if len(stems) > 1:
            skip(f"several *{self.stem_suffix} volumes {sorted(stems)} (reported by ANNO-FILES-CLAIMED)")
        return stems.pop()

    def _key(self, context: CheckContext, entity: Entity, extension: str) -> str:
        if self.stem_suffix is None:
            return context.single_file(entity, extension, f"{entity['run_name']}{extension}")
        key = entity.key(self.stem(context, entity) + extension)
        if not context.reader.exists(key):
            skip(f"{key} is missing (reported by {self.prefix}-MRC-ZARR-PAIR)")
        return key

    def mrc_key(self, context: CheckContext, entity: Entity) -> str:
        return self._key(context, entity, ".mrc")

    def zarr_key(self, context: CheckContext, entity: Entity) -> str:
        return self._key(context, entity, ".zarr")

    def scaled(self, axis: int) -> bool:
        """Whether an axis (z=0, y=1, x=2) is halved per level (a tilt series keeps its sections)."""
        return not (self.tiltseries and axis == 0)


FAMILIES = [
    VolumeFamily(
        prefix="TOMO",
        entity=EntityKind.TOMOGRAM,
        ispg=1,
        mrc_dtypes=frozenset({"int8", "int16", "uint16", "float32", "float64"}),
        zarr_dtypes=frozenset({"int8", "int16", "float32", "float64"}),
        chunks=(256, 256, 256),
        spacing=lambda context, entity: entity.voxel_spacing,
    ),
    # Annotation masks (formats.md §1-2, layout.md §3): a SegmentationMask is 0/1 int8, an
    # InstanceSegmentationMask uint16 labels; both at the voxel spacing of their folder.
    VolumeFamily(
        prefix="SEG",
        entity=EntityKind.ANNOTATION,
        ispg=1,
        mrc_dtypes=frozenset({"int8"}),
        zarr_dtypes=frozenset({"int8"}),
        chunks=(256, 256, 256),
        spacing=lambda context, entity: entity.voxel_spacing,
        stem_suffix="_segmentationmask",
    ),
    VolumeFamily(
        prefix="ISEG",
        entity=EntityKind.ANNOTATION,
        ispg=1,
        mrc_dtypes=frozenset({"uint16"}),
        zarr_dtypes=frozenset({"uint16"}),
        chunks=(256, 256, 256),
        spacing=lambda context, entity: entity.voxel_spacing,
        stem_suffix="_instancesegmentationmask",
    ),
    VolumeFamily(
        prefix="TS",
        entity=EntityKind.TILTSERIES,
        ispg=0,
        mrc_dtypes=frozenset({"int8", "int16", "uint16", "float32", "float64"}),
        zarr_dtypes=frozenset({"int8", "int16", "float32", "float64"}),
        chunks=(1, 1024, 1024),
        spacing=tiltseries_pixel_spacing,
        tiltseries=True,
    ),
]


# -- MRC header suite ----------------------------------------------------------------------

MrcCheck = Callable[[MrcHeader, VolumeFamily, float, int], None]


def mrc_readable(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    """Parsing already happened; reaching here means the header is readable."""


def mrc_spacegroup(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if header.ispg != family.ispg:
        fail(f"ispg is {header.ispg}, expected {family.ispg}", observed=header.ispg, expected=family.ispg)


def mrc_map_id(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if header.map_id != "MAP ":
        fail(f"map field is {header.map_id!r}, expected 'MAP '", observed=header.map_id, expected="MAP ")


def mrc_machine_stamp(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if header.machst[:1] not in (b"\x44", b"\x11"):
        fail(f"machine stamp {header.machst.hex(' ')} is neither little (44 44) nor big endian (11 11)")


def mrc_dtype(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    dtype = header.dtype
    name = dtype.name if dtype is not None else f"mode {header.mode}"
    if dtype is None or dtype.name not in family.mrc_dtypes:
        fail(f"data type {name} not in {sorted(family.mrc_dtypes)}", observed=name, expected=sorted(family.mrc_dtypes))


def mrc_dims(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    values = {n: getattr(header, n) for n in ("nx", "ny", "nz", "mx", "my", "mz")}
    bad = {n: v for n, v in values.items() if v < 1}
    if bad or header.nlabl < 0:
        fail(f"dimensions must be >= 1 and nlabl >= 0: {bad or {'nlabl': header.nlabl}}", observed=values)


def mrc_cell(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    sampling = (header.mx, header.my, header.mz)
    expected = tuple(m * spacing for m in sampling)
    for axis, cell, m, want in zip("xyz", header.cella, sampling, expected, strict=True):
        if axis == "z" and not family.z_checked:
            continue
        if not (cell > 0 and abs(cell - want) <= SPACING_TOLERANCE * max(m, 1)):
            fail(
                f"cella.{axis} = {cell:.4f} Å, expected {want:.4f} (m{axis}={m} × {spacing:.3f})",
                observed=header.cella,
                expected=expected,
            )
    if any(abs(angle - 90.0) > 1e-3 for angle in header.cellb):
        fail(f"cellb = {header.cellb}, expected (90, 90, 90)", observed=header.cellb, expected=(90.0, 90.0, 90.0))


def mrc_sampling(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    expected_mz = header.mz if not family.z_checked else 1 if family.tiltseries else header.nz
    observed = (header.mx, header.my, header.mz)
    expected = (header.nx, header.ny, expected_mz)
    if observed != expected:
        fail(f"sampling mx,my,mz = {observed}, expected {expected}", observed=observed, expected=expected)


def mrc_nlabl(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    # An unused label is blank: NULs, or spaces as EMDB and CCP4 pad them (MRC2014 allows both).
    used = [index for index, label in enumerate(header.labels) if label.strip()]
    if used != list(range(header.nlabl)):
        fail(
            f"nlabl = {header.nlabl} but labels {used} are non-blank (expected the first {header.nlabl})",
            observed=header.labels,
            expected=header.nlabl,
        )


def mrc_nversion(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if header.nversion not in (20140, 20141):
        fail(f"nversion = {header.nversion}, expected 20140 or 20141", observed=header.nversion)


def mrc_exttyp(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if header.nsymbt == 0:
        return
    if size < header.data_offset:
        fail(f"extended header of {header.nsymbt} bytes does not fit in a {size}-byte file")
    if header.exttyp not in VALID_EXTTYPES:
        # The data still start after nsymbt bytes: only the extended header's meaning is unknown.
        fail(
            f"exttyp {header.exttyp!r} with nsymbt={header.nsymbt} not in {sorted(VALID_EXTTYPES)}",
            severity=Severity.WARNING,
        )


def mrc_axis_map(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    observed = (header.mapc, header.mapr, header.maps)
    if sorted(observed) != [1, 2, 3]:
        fail(
            f"mapc,mapr,maps = {observed} is no permutation of 1, 2, 3: the axes are unknown",
            observed=observed,
            severity=Severity.ERROR,
        )
    if observed != (1, 2, 3):
        fail(f"mapc,mapr,maps = {observed}, expected (1, 2, 3)", observed=observed, expected=(1, 2, 3))


def mrc_origin(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if any(value != 0 for value in header.origin):
        fail(f"origin = {header.origin}, expected (0, 0, 0)", observed=header.origin, expected=(0.0, 0.0, 0.0))


def mrc_nstart(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    observed = (header.nxstart, header.nystart, header.nzstart)
    if observed != (0, 0, 0):
        fail(f"nxstart,nystart,nzstart = {observed}, expected (0, 0, 0)", observed=observed, expected=(0, 0, 0))


def mrc_voxel_spacing(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    voxel_size = header.voxel_size
    for axis, value in zip("xyz", voxel_size, strict=True):
        if axis == "z" and not family.z_checked:
            continue
        if not abs(value - spacing) <= SPACING_TOLERANCE:
            shown = ", ".join(f"{v:.4f}" for v in voxel_size)
            fail(
                f"voxel size (x, y, z) = ({shown}) Å, expected {spacing:.3f} ± {SPACING_TOLERANCE} on {axis}",
                observed=voxel_size,
                expected=spacing,
            )


def mrc_file_size(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    expected = header.expected_file_size
    if size != expected:
        difference = size - expected
        # Shorter: voxels the header promises are missing (data lost). Longer: trailing bytes after the data,
        # harmless below the portal's 1 MiB tolerance, a wrong header above it.
        severity = Severity.WARNING if 0 < difference < MIB else Severity.ERROR
        fail(
            f"file is {size} bytes, header implies {expected} (1024 + nsymbt + nx·ny·nz·itemsize); "
            f"difference {difference:+d}",
            observed=size,
            expected=expected,
            severity=severity,
        )


def mrc_stats_order(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    values = (header.dmin, header.dmean, header.dmax, header.rms)
    if not all(math.isfinite(v) for v in values):
        fail(f"dmin, dmean, dmax, rms not all finite: {values}", observed=values)
    # MRC2014 marks statistics it did not compute: dmax < dmin, dmean < min(dmin, dmax), rms < 0 (FEI / TFS
    # software writes rms = -1). Only determined values can contradict each other.
    if header.dmin <= header.dmax and header.dmean > header.dmax:
        fail(
            f"dmean {header.dmean} is above dmax {header.dmax} (dmin {header.dmin})",
            observed=values,
        )


def mrc_label_portal(header: MrcHeader, family: VolumeFamily, spacing: float, size: int) -> None:
    if not header.labels or not header.labels[0].startswith(PORTAL_LABEL):
        fail(f"label[0] does not start with the portal stamp {PORTAL_LABEL!r}", observed=header.labels[:1])


#: (code suffix, tier, severity, title, function); MRC-READABLE owns the header's readability.
MRC_SUITE: list[tuple[str, Tier, Severity, str, MrcCheck]] = [
    ("MRC-READABLE", Tier.HEADER, Severity.ERROR, "the 1024-byte MRC header parses", mrc_readable),
    ("MRC-SPACEGROUP", Tier.HEADER, Severity.WARNING, "ispg is the family's space group", mrc_spacegroup),
    ("MRC-MAP-ID", Tier.HEADER, Severity.ERROR, "map field is 'MAP '", mrc_map_id),
    ("MRC-MACHINE-STAMP", Tier.HEADER, Severity.ERROR, "machine stamp gives a byte order", mrc_machine_stamp),
    ("MRC-DTYPE", Tier.HEADER, Severity.ERROR, "mode is an allowed data type", mrc_dtype),
    ("MRC-DIMS", Tier.HEADER, Severity.ERROR, "dimensions and samplings are positive", mrc_dims),
    ("MRC-CELL", Tier.HEADER, Severity.ERROR, "cell lengths are sampling × spacing, angles 90°", mrc_cell),
    ("MRC-SAMPLING", Tier.HEADER, Severity.WARNING, "mx, my, mz follow the family's convention", mrc_sampling),
    ("MRC-NLABL", Tier.HEADER, Severity.WARNING, "the first nlabl labels are used, the others blank", mrc_nlabl),
    ("MRC-NVERSION", Tier.HEADER, Severity.WARNING, "nversion is 20140 or 20141", mrc_nversion),
    (
        "MRC-EXTTYP",
        Tier.HEADER,
        Severity.ERROR,
        "an extended header fits in the file (an unknown type warns)",
        mrc_exttyp,
    ),
    ("MRC-AXIS-MAP", Tier.HEADER, Severity.ERROR, "axes map to columns, rows, sections = 1, 2, 3", mrc_axis_map),
    ("MRC-ORIGIN", Tier.HEADER, Severity.ERROR, "origin is zero", mrc_origin),
    ("MRC-NSTART", Tier.HEADER, Severity.ERROR, "nxstart, nystart, nzstart are zero", mrc_nstart),
    ("MRC-VOXEL-SPACING", Tier.HEADER, Severity.ERROR, "voxel size equals the expected spacing", mrc_voxel_spacing),
    (
        "MRC-FILE-SIZE",
        Tier.HEAD,
        Severity.ERROR,
        "object size matches the header (< 1 MiB longer warns)",
        mrc_file_size,
    ),
    (
        "MRC-STATS-ORDER",
        Tier.HEADER,
        Severity.WARNING,
        "dmin <= dmean <= dmax where determined (MRC2014's not-determined markers pass)",
        mrc_stats_order,
    ),
    ("MRC-LABEL-PORTAL", Tier.HEADER, Severity.INFO, "label[0] carries the portal stamp", mrc_label_portal),
]


def _mrc_runner(family: VolumeFamily, function: MrcCheck) -> Callable[[CheckContext, Entity], None]:
    def run(context: CheckContext, entity: Entity) -> None:
        key = family.mrc_key(context, entity)
        header = context.reader.mrc_header(key)
        function(header, family, family.spacing(context, entity), context.reader.info(key).size)

    return run


# -- OME-Zarr suite ------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    """A store's root metadata and level arrays, as parsed for the zarr checks."""

    key: str
    multiscales: Multiscales
    arrays: list[dict]


def load_store(context: CheckContext, family: VolumeFamily, entity: Entity) -> Store:
    """The store's ``.zattrs`` and level ``.zarray`` documents, parsed (broken ones: :class:`Unreadable`)."""
    key = family.zarr_key(context, entity)

    def parse() -> Store:
        try:
            multiscales = read_multiscales(context.reader.json(f"{key}/.zattrs"))
        except ZarrFormatError as error:
            raise Unreadable(f"{key}/.zattrs", str(error)) from None
        return Store(key, multiscales, [level_array(context, f"{key}/{path}/.zarray") for path in multiscales.paths])

    return context.reader.memo("zarr-store", key, parse)


def level_array(context: CheckContext, array_key: str) -> dict:
    """A level's ``.zarray``, parsed and within the format's limits (else :class:`Unreadable`)."""
    try:
        return read_zarray(context.reader.json(array_key))
    except ZarrFormatError as error:
        raise Unreadable(array_key, str(error)) from None


def zarr_children(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    key = family.zarr_key(context, entity)
    children = set(context.reader.children(key))
    if children != STORE_CHILDREN:
        extra, missing = sorted(children - STORE_CHILDREN), sorted(STORE_CHILDREN - children)
        fail(
            f"store root holds {sorted(children)}; unexpected {extra}, missing {missing}",
            observed=sorted(children),
            expected=sorted(STORE_CHILDREN),
        )
    zgroup = context.reader.json(f"{key}/.zgroup")
    if zgroup.get("zarr_format") != 2:
        fail(f".zgroup zarr_format is {zgroup.get('zarr_format')!r}, expected 2")


def zarr_paths(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    store = load_store(context, family, entity)
    expected = [str(level) for level in range(LEVELS)]
    if store.multiscales.paths != expected:
        fail(
            f"multiscales datasets paths {store.multiscales.paths}, expected {expected}",
            observed=store.multiscales.paths,
            expected=expected,
        )
    if store.multiscales.version != "0.4":
        fail(f"multiscales version {store.multiscales.version!r}, expected '0.4'")


def zarr_axes(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    axes = load_store(context, family, entity).multiscales.axes
    described = [(a.get("name"), a.get("type"), a.get("unit")) if isinstance(a, dict) else a for a in axes]
    expected = [(name, "space", "angstrom") for name in "zyx"]
    if described != expected:
        fail(f"axes {described}, expected z, y, x of type space in angstrom", observed=described, expected=expected)


def zarr_dtype(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    dtypes = [np.dtype(array["dtype"]).name for array in load_store(context, family, entity).arrays]
    if any(name not in family.zarr_dtypes for name in dtypes) or len(set(dtypes)) > 1:
        fail(
            f"level dtypes {dtypes}: must be one of {sorted(family.zarr_dtypes)} and equal across levels",
            observed=dtypes,
        )


def zarr_scale(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    spacing = family.spacing(context, entity)
    for level, scale in enumerate(load_store(context, family, entity).multiscales.scales):
        expected = [spacing * (2**level if family.scaled(axis) else 1) for axis in range(3)]
        if len(scale) != 3 or any(
            abs(s - e) > SPACING_TOLERANCE * 2**level for s, e in zip(scale, expected, strict=True)
        ):
            fail(
                f"level {level} scale {scale}, expected {[round(e, 4) for e in expected]}",
                observed=scale,
                expected=expected,
            )


def _expected_shapes(base: list[int], family: VolumeFamily) -> list[list[int]]:
    shapes = [list(base)]
    for _ in range(LEVELS - 1):
        shapes.append([math.ceil(n / 2) if family.scaled(axis) else n for axis, n in enumerate(shapes[-1])])
    return shapes


def zarr_level_shape(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    shapes = [array["shape"] for array in load_store(context, family, entity).arrays]
    if any(len(shape) != 3 for shape in shapes):
        fail(f"level shapes {shapes} are not all 3-dimensional", observed=shapes)
    expected = _expected_shapes(shapes[0], family)[: len(shapes)]
    if shapes != expected:
        fail(f"level shapes {shapes}, expected {expected} (halved, rounded up)", observed=shapes, expected=expected)


def zarr_conventions(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    for level, array in enumerate(load_store(context, family, entity).arrays):
        problems = []
        if list(array.get("chunks", [])) != list(family.chunks):
            problems.append(f"chunks {array.get('chunks')} (expected {list(family.chunks)})")
        if array.get("compressor") != COMPRESSOR:
            problems.append(f"compressor {array.get('compressor')}")
        if array.get("dimension_separator") != "/":
            problems.append(f"dimension_separator {array.get('dimension_separator')!r}")
        if array.get("order", "C") != "C":
            problems.append(f"order {array.get('order')!r}")
        if problems:
            fail(f"level {level}: " + "; ".join(problems))


def _chunk_keys(context: CheckContext, store_key: str, level: str) -> set[str]:
    start = f"{store_key}/{level}/"
    return {
        key[len(start) :]
        for key in context.reader.keys_under(f"{store_key}/{level}")
        if not key.rsplit("/", 1)[-1].startswith(".")
    }


def zarr_level_no_chunks(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    store_key = family.zarr_key(context, entity)
    empty = [level for level in map(str, range(LEVELS)) if not _chunk_keys(context, store_key, level)]
    if empty:
        fail(f"levels {empty} have no chunk objects", observed=empty)


def zarr_chunk_coverage(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    store = load_store(context, family, entity)
    for level, array in zip(store.multiscales.paths, store.arrays, strict=False):
        separator = array.get("dimension_separator") or "."
        grid = [math.ceil(n / c) for n, c in zip(array["shape"], array["chunks"], strict=False)]
        expected = {separator.join(map(str, index)) for index in itertools.product(*map(range, grid))}
        present = _chunk_keys(context, store.key, level)
        missing, extra = expected - present, present - expected
        if missing or extra:
            # A missing chunk reads as the fill value: its voxels are lost. A chunk outside the grid is never read.
            fail(
                f"level {level}: {len(missing)} chunks missing (e.g. {sorted(missing)[:3]}), "
                f"{len(extra)} outside the grid (e.g. {sorted(extra)[:3]})",
                severity=Severity.ERROR if missing else Severity.WARNING,
            )


def mrc_zarr_pair(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    stems_mrc = family.stems(context, entity, ".mrc")
    stems_zarr = family.stems(context, entity, ".zarr")
    if family.stem_suffix is not None and not (stems_mrc or stems_zarr):
        not_applicable(f"no *{family.stem_suffix}.mrc / .zarr in {entity.path}")
    if stems_mrc != stems_zarr or not stems_mrc:
        fail(
            f"MRC files {sorted(stems_mrc)} and zarr stores {sorted(stems_zarr)} do not pair up",
            observed={"mrc": sorted(stems_mrc), "zarr": sorted(stems_zarr)},
        )


def mrc_zarr_shape(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    header = context.reader.mrc_header(family.mrc_key(context, entity))
    shapes = [array["shape"] for array in load_store(context, family, entity).arrays]
    expected = _expected_shapes([header.nz, header.ny, header.nx], family)[: len(shapes)]
    if shapes != expected:
        fail(
            f"zarr level shapes {shapes}, expected {expected} from the MRC's (nz, ny, nx)",
            observed=shapes,
            expected=expected,
        )


def mrc_zarr_dtype(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    header = context.reader.mrc_header(family.mrc_key(context, entity))
    level0 = np.dtype(load_store(context, family, entity).arrays[0]["dtype"])
    if header.dtype is None or header.dtype.newbyteorder("=") != level0.newbyteorder("="):
        fail(
            f"MRC dtype {header.dtype} differs from zarr level-0 dtype {level0}",
            observed=str(header.dtype),
            expected=str(level0),
        )


ZarrCheck = Callable[[CheckContext, VolumeFamily, Entity], None]

ZARR_SUITE: list[tuple[str, Tier, Severity, str, ZarrCheck]] = [
    ("ZARR-CHILDREN", Tier.LIST, Severity.ERROR, "store root holds exactly .zgroup, .zattrs, 0, 1, 2", zarr_children),
    ("ZARR-PATHS", Tier.HEADER, Severity.ERROR, "3 levels with paths 0, 1, 2, NGFF 0.4", zarr_paths),
    ("ZARR-AXES", Tier.HEADER, Severity.ERROR, "axes z, y, x in angstrom", zarr_axes),
    ("ZARR-DTYPE", Tier.HEADER, Severity.ERROR, "level dtypes allowed and equal", zarr_dtype),
    ("ZARR-SCALE", Tier.HEADER, Severity.ERROR, "level scales are spacing × 2^level", zarr_scale),
    ("ZARR-LEVEL-SHAPE", Tier.HEADER, Severity.ERROR, "each level halves the previous", zarr_level_shape),
    ("ZARR-CONVENTIONS", Tier.HEADER, Severity.WARNING, "portal chunking and compression", zarr_conventions),
    ("ZARR-LEVEL-NO-CHUNKS", Tier.LIST, Severity.ERROR, "every level has chunks", zarr_level_no_chunks),
    (
        "ZARR-CHUNK-COVERAGE",
        Tier.LIST,
        Severity.ERROR,
        "chunk keys cover the chunk grid (extra keys warn)",
        zarr_chunk_coverage,
    ),
    ("MRC-ZARR-PAIR", Tier.LIST, Severity.ERROR, "every .mrc has its .zarr and back", mrc_zarr_pair),
    ("MRC-ZARR-SHAPE", Tier.HEADER, Severity.ERROR, "zarr level shapes follow the MRC dims", mrc_zarr_shape),
    ("MRC-ZARR-DTYPE", Tier.HEADER, Severity.ERROR, "MRC and zarr dtypes agree", mrc_zarr_dtype),
]


def _zarr_runner(family: VolumeFamily, function: ZarrCheck) -> Callable[[CheckContext, Entity], None]:
    return lambda context, entity: function(context, family, entity)


#: Suite checks whose subject is the readability of their input (see Check.owns_inputs).
INPUT_OWNERS = {"MRC-READABLE", "ZARR-PATHS", "ZARR-CHILDREN"}

#: Both suites as (code suffix, tier, severity, title, family -> check function).
SUITE = [(*entry[:4], partial(_mrc_runner, function=entry[4])) for entry in MRC_SUITE] + [
    (*entry[:4], partial(_zarr_runner, function=entry[4])) for entry in ZARR_SUITE
]


def register_suite(
    family: VolumeFamily, suffixes: Set[str] | None = None, severities: Mapping[str, Severity] | None = None
) -> None:
    """Register the suite's checks for ``family`` (``{prefix}-{suffix}``): every entry, or those of ``suffixes``,
    each at its own severity unless ``severities`` names another for its suffix."""
    for suffix, tier, severity, title, runner in SUITE:
        if suffixes is None or suffix in suffixes:
            register(
                f"{family.prefix}-{suffix}",
                entity=family.entity,
                tier=tier,
                severity=(severities or {}).get(suffix, severity),
                title=title,
                function=runner(family),
                owns_inputs=suffix in INPUT_OWNERS,
            )


for _family in FAMILIES:
    register_suite(_family)
