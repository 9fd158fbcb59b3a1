"""MRC2014 headers: parsed from bytes (no data read) and built for writing (formats.md §2)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import mrcfile.utils
import numpy as np
from mrcfile.dtypes import HEADER_DTYPE, get_ext_header_dtype

HEADER_SIZE = 1024
PORTAL_LABEL = "Validated by cryoET data portal."
#: Machine stamps: first byte 0x44 little-endian, 0x11 big-endian (MRC2014).
LITTLE_ENDIAN_STAMP = bytes([0x44, 0x44, 0x00, 0x00])
VALID_EXTTYPES = {"CCP4", "MRCO", "SERI", "AGAR", "FEI1", "FEI2", "HDF5"}
#: Refuse headers that claim more data than any real volume has (a garbage header otherwise makes
#: a reader allocate terabytes).
MAX_PLAUSIBLE_VOXELS = 1 << 40


class MrcFormatError(ValueError):
    """The bytes are not a usable MRC header; the message says why in one line."""


@dataclass(frozen=True)
class MrcHeader:
    """The fields of an MRC2014 main header that the portal's conventions speak about."""

    nx: int
    ny: int
    nz: int
    mode: int
    nxstart: int
    nystart: int
    nzstart: int
    mx: int
    my: int
    mz: int
    cella: tuple[float, float, float]
    cellb: tuple[float, float, float]
    mapc: int
    mapr: int
    maps: int
    dmin: float
    dmax: float
    dmean: float
    ispg: int
    nsymbt: int
    exttyp: str
    nversion: int
    origin: tuple[float, float, float]
    map_id: str
    machst: bytes
    rms: float
    nlabl: int
    labels: tuple[str, ...]
    byte_order: str
    extra1: bytes = b""
    extra2: bytes = b""

    @property
    def dtype(self) -> np.dtype | None:
        """The data dtype of ``mode`` in the header's byte order, or None for an unknown mode."""
        try:
            return mrcfile.utils.dtype_from_mode(self.mode).newbyteorder(self.byte_order)
        except ValueError:
            return None

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """Å per voxel along x, y, z: ``cella / (mx, my, mz)`` (NaN where the sampling is 0)."""
        return tuple(
            (cell / sampling) if sampling else math.nan
            for cell, sampling in zip(self.cella, (self.mx, self.my, self.mz), strict=True)
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape in (z, y, x) order."""
        return (self.nz, self.ny, self.nx)

    @property
    def zyx_axes(self) -> tuple[int, int, int]:
        """``np.transpose`` axes that turn the stored array (sections, rows, columns) into (z, y, x): mapc, mapr
        and maps say which axis (1 = x, 2 = y, 3 = z) columns, rows and sections run along (EMDB maps such as
        EMD-3001 store 3, 1, 2). Raises :class:`MrcFormatError` when they are not a permutation of 1, 2, 3."""
        stored = (self.maps, self.mapr, self.mapc)
        if sorted(stored) != [1, 2, 3]:
            raise MrcFormatError(
                f"mapc, mapr, maps = {self.mapc}, {self.mapr}, {self.maps} is not a permutation of 1, 2, 3"
            )
        return tuple(stored.index(axis) for axis in (3, 2, 1))

    @property
    def xyz_size(self) -> tuple[int, int, int]:
        """Voxels along x, y, z, whatever the axis map (``nx, ny, nz`` count columns, rows and sections)."""
        z, y, x = (self.shape[axis] for axis in self.zyx_axes)
        return x, y, z

    @property
    def data_offset(self) -> int:
        return HEADER_SIZE + self.nsymbt

    @property
    def data_nbytes(self) -> int:
        dtype = self.dtype
        return self.nx * self.ny * self.nz * (dtype.itemsize if dtype is not None else 0)

    @property
    def expected_file_size(self) -> int:
        return self.data_offset + self.data_nbytes


def _byte_order(machst: bytes) -> str | None:
    if machst[:1] == b"\x44" or machst[:2] == b"\x44\x41":
        return "<"
    if machst[:1] == b"\x11":
        return ">"
    return None


def parse_header(raw: bytes) -> MrcHeader:
    """Parse the 1024-byte main header; raises :class:`MrcFormatError` for truncated or garbage bytes.

    Byte order comes from the machine stamp; a missing stamp falls back to whichever order gives
    plausible dimensions (as mrcfile does in permissive mode).
    """
    if len(raw) < HEADER_SIZE:
        raise MrcFormatError(f"header truncated: {len(raw)} of {HEADER_SIZE} bytes")
    raw = bytes(raw[:HEADER_SIZE])
    machst = raw[212:216]
    order = _byte_order(machst)
    candidates = [order] if order else ["<", ">"]
    fields = None
    for candidate in candidates:
        record = np.frombuffer(raw, dtype=HEADER_DTYPE.newbyteorder(candidate), count=1)[0]
        if order or 0 <= int(record["mode"]) <= 255:
            fields, order = record, candidate
            break
    if fields is None:
        raise MrcFormatError("header has no machine stamp and no plausible byte order")
    nx, ny, nz = int(fields["nx"]), int(fields["ny"]), int(fields["nz"])
    if min(nx, ny, nz) < 0 or nx * ny * nz > MAX_PLAUSIBLE_VOXELS:
        raise MrcFormatError(f"implausible dimensions nx,ny,nz = {nx},{ny},{nz}")
    nsymbt = int(fields["nsymbt"])
    if nsymbt < 0:
        raise MrcFormatError(f"negative extended header size nsymbt = {nsymbt}")
    nlabl = int(fields["nlabl"])
    labels = tuple(bytes(label).decode("latin-1").rstrip("\x00") for label in fields["label"])

    def triple(name: str, *subfields: str) -> tuple[float, float, float]:
        value = fields[name]
        if subfields:
            return tuple(float(value[sub]) for sub in subfields)
        return tuple(float(v) for v in value)

    return MrcHeader(
        nx=nx,
        ny=ny,
        nz=nz,
        mode=int(fields["mode"]),
        nxstart=int(fields["nxstart"]),
        nystart=int(fields["nystart"]),
        nzstart=int(fields["nzstart"]),
        mx=int(fields["mx"]),
        my=int(fields["my"]),
        mz=int(fields["mz"]),
        cella=triple("cella", "x", "y", "z"),
        cellb=triple("cellb", "alpha", "beta", "gamma"),
        mapc=int(fields["mapc"]),
        mapr=int(fields["mapr"]),
        maps=int(fields["maps"]),
        dmin=float(fields["dmin"]),
        dmax=float(fields["dmax"]),
        dmean=float(fields["dmean"]),
        ispg=int(fields["ispg"]),
        nsymbt=nsymbt,
        exttyp=bytes(fields["exttyp"]).decode("latin-1"),
        nversion=int(fields["nversion"]),
        origin=triple("origin", "x", "y", "z"),
        map_id=bytes(fields["map"]).decode("latin-1"),
        machst=bytes(machst),
        rms=float(fields["rms"]),
        nlabl=nlabl,
        labels=labels,
        byte_order=order,
        extra1=bytes(fields["extra1"]),
        extra2=bytes(fields["extra2"]),
    )


def parse_extended_header(raw: bytes, header: MrcHeader) -> np.ndarray | bytes:
    """The extended header that follows the main header: FEI1/FEI2 metadata as structured records
    (one per section), any other type as its raw bytes."""
    if len(raw) < header.nsymbt:
        raise MrcFormatError(f"extended header truncated: {len(raw)} of {header.nsymbt} bytes")
    raw = bytes(raw[: header.nsymbt])
    dtype = get_ext_header_dtype(header.exttyp.encode("latin-1"), header.byte_order)
    if dtype is None or not raw:
        return raw
    whole = len(raw) // dtype.itemsize * dtype.itemsize
    return np.frombuffer(raw[:whole], dtype=dtype)


@dataclass(frozen=True)
class DataStatistics:
    """dmin/dmax/dmean/rms of written data (rms = population standard deviation)."""

    minimum: float
    maximum: float
    mean: float
    rms: float


class RunningStatistics:
    """Exact min/max/mean/std over data seen slab by slab (Chan's parallel combination)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    #: Elements folded in at once, bounding the float64 temporary (8 MiB).
    PIECE = 1 << 20

    def add(self, block: np.ndarray) -> None:
        flat = block.reshape(-1)
        for start in range(0, flat.size, self.PIECE):
            self._add(flat[start : start + self.PIECE])

    def _add(self, piece: np.ndarray) -> None:
        if piece.size == 0:
            return
        values = piece.astype(np.float64)  # the one temporary: the deviations are made in place
        count = values.size
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        mean = float(values.mean())
        values -= mean
        np.square(values, out=values)
        m2 = float(values.sum())
        delta = mean - self.mean
        total = self.count + count
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.count * count / total
        self.count = total

    def result(self) -> DataStatistics:
        if self.count == 0:
            return DataStatistics(0.0, 0.0, 0.0, 0.0)
        return DataStatistics(self.minimum, self.maximum, self.mean, math.sqrt(self.m2 / self.count))


def portal_label(when: dt.datetime | None = None) -> str:
    """The portal's validation stamp: text left-justified in 40 chars, time right-justified in 39."""
    when = when or dt.datetime.now(dt.UTC)
    return f"{PORTAL_LABEL:<40}{when.strftime('%Y-%m-%d %H:%M:%S'):>39}"


def build_header(
    shape_zyx: Iterable[int],
    dtype: np.dtype,
    voxel_size_xyz: tuple[float, float, float],
    *,
    statistics: DataStatistics,
    ispg: int,
    mz: int | None = None,
    label: str | None = None,
    exttyp: str = "MRCO",
    nversion: int = 20141,
    extended_header: bytes = b"",
    extra1: bytes = b"",
    extra2: bytes = b"",
) -> bytes:
    """A little-endian MRC2014 header (+ extended header) for data of ``shape_zyx`` and ``dtype``.

    ``voxel_size_xyz`` is Å per voxel; ``mz`` defaults to nz (a tilt series uses 1, formats.md §2).
    """
    nz, ny, nx = (int(n) for n in shape_zyx)
    mz = nz if mz is None else mz
    header = np.zeros(1, dtype=HEADER_DTYPE.newbyteorder("<"))[0]
    header["nx"], header["ny"], header["nz"] = nx, ny, nz
    header["mode"] = mrcfile.utils.mode_from_dtype(np.dtype(dtype))
    header["mx"], header["my"], header["mz"] = nx, ny, mz
    # cella is float32 in the file: voxel size is rounded to float32 before the multiplication,
    # exactly as the portal (mrcfile) does, so cella/m gives the same float32 voxel size back.
    sizes = [np.float32(v) for v in voxel_size_xyz]
    header["cella"] = (sizes[0] * nx, sizes[1] * ny, sizes[2] * mz)
    header["cellb"] = (90.0, 90.0, 90.0)
    header["mapc"], header["mapr"], header["maps"] = 1, 2, 3
    header["dmin"], header["dmax"], header["dmean"] = statistics.minimum, statistics.maximum, statistics.mean
    header["rms"] = statistics.rms
    header["ispg"] = ispg
    header["nsymbt"] = len(extended_header)
    header["exttyp"] = exttyp.encode("ascii")[:4]
    header["nversion"] = nversion
    header["map"] = b"MAP "
    header["machst"] = np.frombuffer(LITTLE_ENDIAN_STAMP, dtype=np.uint8)
    header["extra1"] = extra1[:8].ljust(8, b"\x00")
    header["extra2"] = extra2[:84].ljust(84, b"\x00")
    if label is not None:
        header["nlabl"] = 1
        header["label"][0] = label.encode("latin-1")[:80]
    return header.tobytes() + extended_header
