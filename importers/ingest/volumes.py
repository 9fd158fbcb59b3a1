"""Standardize one source volume into the portal's MRC + OME-Zarr pair, streaming by slabs.

Source MRCs are memory-mapped (remote ones are first streamed to a local staging file) and the
mapped pages are released after each slab or block, so resident memory is bounded by a slab and
a few chunks, not by the volume size. A source whose path contains ``.zarr`` is an OME-Zarr store, as the portal
decides: its level 0 is read chunk by chunk, where a region needs them.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from importers import layout
from importers.formats.mrc import (
    HEADER_SIZE,
    DataStatistics,
    MrcFormatError,
    MrcHeader,
    RunningStatistics,
    build_header,
    parse_header,
    portal_label,
)
from importers.formats.omezarr import (
    ZATTRS,
    PyramidWriter,
    StoredArray,
    VolumeKind,
    level_shapes,
    read_multiscales,
)
from importers.storage import Bucket

#: Bytes of source data handled at once when streaming an MRC (a slab of whole z-planes).
SLAB_BYTES = 32 << 20
#: Mapped source bytes touched before their pages are released.
MAPPED_STEP_BYTES = 8 << 20

Convert = Callable[[np.ndarray], np.ndarray]


@dataclass
class SourceVolume:
    """A source MRC, memory-mapped, with its parsed header."""

    key: str
    header: MrcHeader
    data: np.ndarray
    extended_header: bytes = b""
    mapping: mmap.mmap | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.data.shape)

    def read(self, region: tuple[tuple[int, int], ...]) -> np.ndarray:
        """A copy of a region ``((z0, z1), (y0, y1), (x0, x1))``.

        The copy is made a few planes at a time and the mapped pages are released after each step:
        resident file pages would otherwise grow with the volume, and a block narrower than a row
        still touches whole rows.
        """
        (z0, z1), (y0, y1), (x0, x1) = region
        block = np.empty((z1 - z0, y1 - y0, x1 - x0), dtype=self.data.dtype)
        plane_bytes = max(1, (y1 - y0) * self.data.shape[2] * self.data.dtype.itemsize)
        step = max(1, MAPPED_STEP_BYTES // plane_bytes)
        for start in range(z0, z1, step):
            stop = min(start + step, z1)
            block[start - z0 : stop - z0] = self.data[start:stop, y0:y1, x0:x1]
            if self.mapping is not None:
                self.mapping.madvise(mmap.MADV_DONTNEED)
        return block


class StoredSourceVolume(SourceVolume):
    """A source OME-Zarr store's level 0, read by regions (:class:`StoredArray`) in (z, y, x) order: a store whose
    ``axes`` name them in another order is reordered, never written out under the wrong labels."""

    def __init__(self, key: str, header: MrcHeader, array: StoredArray, order: tuple[int, int, int]) -> None:
        super().__init__(key=key, header=header, data=np.empty((0, 0, 0), dtype=array.dtype))
        #: The stored axis of z, y and x.
        self.array, self.order = array, order

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape[axis] for axis in self.order)

    def read(self, region: tuple[tuple[int, int], ...]) -> np.ndarray:
        stored: list[tuple[int, int]] = [(0, 0)] * 3
        for axis, extent in zip(self.order, region, strict=True):
            stored[axis] = extent
        return self.array.read(tuple(stored)).transpose(self.order)


_MRC_DTYPES = ("int8", "int16", "uint16", "float32", "float16")


def is_zarr_source(key: str) -> bool:
    """Whether a source volume is an OME-Zarr store: the portal's test (``".zarr" in filename``)."""
    return ".zarr" in key


def _zarr_source(bucket: Bucket, key: str) -> StoredSourceVolume:
    """A source OME-Zarr's level 0, with an MRC header that states its shape, data type and voxel size (the level's
    scale, z, y, x), for the steps that read a source's header."""
    store = key.rstrip("/")
    try:
        multiscales = read_multiscales(json.loads(bucket.read(f"{store}/{ZATTRS}")))
        array = StoredArray(bucket, f"{store}/{multiscales.paths[0]}")
    except ValueError as error:  # ZarrFormatError and JSON errors
        raise MrcFormatError(f"OME-Zarr source: {error}") from None
    names = [axis.get("name") if isinstance(axis, dict) else axis for axis in multiscales.axes]
    if not names:
        names = list("zyx")  # NGFF 0.3 and older: no axes, (z, y, x) as the portal reads them
    if sorted(map(str, names)) != ["x", "y", "z"] or len(multiscales.scales[0]) != 3:
        raise MrcFormatError(f"OME-Zarr source: axes {names} are not z, y, x in some order")
    order = tuple(names.index(axis) for axis in "zyx")
    z, y, x = (multiscales.scales[0][axis] for axis in order)
    shape = tuple(array.shape[axis] for axis in order)
    # Only the shape and voxel size are read from this header; a data type without an MRC mode (int32 labels)
    # is stated as float32, the data themselves are read as stored.
    dtype = array.dtype if array.dtype.name in _MRC_DTYPES else np.dtype(np.float32)
    raw = build_header(shape, dtype, (x, y, z), statistics=DataStatistics(0, 0, 0, 0), ispg=1)
    return StoredSourceVolume(key, parse_header(raw[:HEADER_SIZE]), array, order)


def source_volume_header(bucket: Bucket, key: str) -> MrcHeader:
    """A source volume's header (an OME-Zarr's as :func:`open_source_volume` states it), reading only metadata."""
    if is_zarr_source(key):
        return _zarr_source(bucket, key).header
    return parse_header(bucket.read_range(key, 0, HEADER_SIZE))


@contextlib.contextmanager
def open_source_volume(bucket: Bucket, key: str) -> Iterator[SourceVolume]:
    """Memory-map a source MRC, or open a source OME-Zarr's level 0; raises :class:`MrcFormatError` naming the
    problem."""
    if is_zarr_source(key):
        yield _zarr_source(bucket, key)
        return
    with contextlib.ExitStack() as stack:
        local = bucket.local_path(key)
        if local is None:
            staging = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cryoet-ingest-")))
            local = bucket.download(key, staging / PurePosixPath(key).name)
        handle = stack.enter_context(open(local, "rb"))
        header = parse_header(handle.read(1024))
        extended = handle.read(header.nsymbt) if header.nsymbt else b""
        if header.dtype is None:
            raise MrcFormatError(f"unsupported MRC mode {header.mode}")
        size = Path(local).stat().st_size
        if size < header.expected_file_size:
            raise MrcFormatError(f"data truncated: file has {size} bytes, header implies {header.expected_file_size}")
        if header.data_nbytes == 0:
            raise MrcFormatError(f"empty volume (nx, ny, nz = {header.nx}, {header.ny}, {header.nz})")
        axes = header.zyx_axes  # before mapping: a map that is no permutation is refused
        mapping = stack.enter_context(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
        # Stored as (sections, rows, columns); the portal's volumes are (z, y, x) with mapc, mapr, maps = 1, 2, 3,
        # so a permuted source is reordered here, never written out as it is under the standard labels.
        data = np.ndarray(header.shape, dtype=header.dtype, buffer=mapping, offset=header.data_offset).transpose(axes)
        volume = SourceVolume(key=key, header=header, data=data, extended_header=extended, mapping=mapping)
        del data
        try:
            yield volume
        finally:
            # The mapping cannot close while an array still points into it.
            volume.data = np.empty((0, 0, 0), dtype=header.dtype)
            volume.mapping = None


def tomogram_conversion(header: MrcHeader) -> Convert:
    """Tomograms and tilt series become float32; an int8 source with ``dmax > 127`` was stored
    unsigned and is remapped (formats.md §1.1)."""
    if header.mode == 0 and header.dmax > 127:

        def remap(block: np.ndarray) -> np.ndarray:
            values = block.astype(np.int16)
            return np.where(values < 0, values + 128, values - 128).astype(np.float32)

        return remap
    return lambda block: block.astype(np.float32, copy=False)


def mask_conversion(mask_label: int | None = 1, threshold: float | None = None) -> Convert:
    """Semantic masks become int8 0/1: voxels equal to ``mask_label`` (or at least ``threshold``, as the portal's
    ``MaskConverter``)."""
    if threshold is not None:
        return lambda block: (block >= threshold).astype(np.int8)
    return lambda block: (block == mask_label).astype(np.int8)


def instance_conversion() -> Convert:
    return lambda block: block.astype(np.uint16, copy=False)


@dataclass(frozen=True)
class VolumeResult:
    """What was written, for the entity's metadata."""

    shape: tuple[int, int, int]
    scales: list[tuple[int, int, int]]
    labels: list[int]


def _slabs(shape: tuple[int, int, int], itemsize: int) -> Iterator[tuple[int, int]]:
    planes = max(1, SLAB_BYTES // max(1, shape[1] * shape[2] * itemsize))
    for start in range(0, shape[0], planes):
        yield start, min(start + planes, shape[0])


def any_voxel(source: SourceVolume, test: Convert) -> bool:
    """Whether ``test`` holds for any voxel, read slab by slab and stopping at the first slab that has one."""
    full = ((0, source.shape[1]), (0, source.shape[2]))
    return any(
        bool(np.any(test(source.read(((start, stop), *full)))))
        for start, stop in _slabs(source.shape, source.data.dtype.itemsize)
    )


def write_volume(
    bucket: Bucket,
    source: SourceVolume,
    *,
    mrc_key: str,
    zarr_key: str,
    kind: VolumeKind,
    spacing: float,
    convert: Convert,
) -> VolumeResult:
    """Write ``{x}.mrc`` and ``{x}.zarr`` for a source volume (formats.md §1-2).

    Tilt series keep mz = 1 and ispg 0; volumes use ispg 1. Statistics are exact, from a first
    pass over the data; the MRC is then streamed slab by slab, and the pyramid chunk by chunk.
    """
    shape = source.shape
    dtype = kind.dtype
    statistics = RunningStatistics()
    full = ((0, shape[1]), (0, shape[2]))
    for start, stop in _slabs(shape, dtype.itemsize):
        statistics.add(convert(source.read(((start, stop), *full))))
    is_tiltseries = kind is VolumeKind.TILTSERIES
    # A source's extended header (e.g. FEI per-section metadata) is kept verbatim.
    keep_extended = bool(source.extended_header) and bool(source.header.exttyp.strip("\x00 "))
    extended = source.extended_header if keep_extended else b""
    exttyp = source.header.exttyp if keep_extended else "MRCO"
    header = build_header(
        shape,
        dtype,
        (spacing, spacing, spacing),
        statistics=statistics.result(),
        ispg=0 if is_tiltseries else 1,
        mz=1 if is_tiltseries else None,
        label=portal_label(),
        exttyp=exttyp,
        extended_header=extended,
        extra1=source.header.extra1,
        extra2=source.header.extra2,
    )
    with bucket.open_write(mrc_key) as handle:
        handle.write(header)
        for start, stop in _slabs(shape, dtype.itemsize):
            block = np.ascontiguousarray(convert(source.read(((start, stop), *full))), dtype=dtype.newbyteorder("<"))
            handle.write(memoryview(block).cast("B"))

    writer = PyramidWriter(bucket, zarr_key, kind, shape, spacing)
    writer.write(lambda region: convert(source.read(region)))
    return VolumeResult(
        shape=shape,
        scales=[tuple(s) for s in level_shapes(shape, kind.factor)],
        labels=sorted(writer.labels - {0}),
    )


@dataclass(frozen=True)
class DensityVolume:
    """A tomogram's or a tilt series' MRC + OME-Zarr, written as float32 (:func:`tomogram_conversion`): where
    they go and what the entity's metadata document says of them."""

    kind: VolumeKind
    mrc_key: str
    zarr_key: str
    shape: tuple[int, int, int]

    @classmethod
    def of(cls, kind: VolumeKind, shape: tuple[int, int, int], **fields: Any) -> DensityVolume:
        """The volume of ``kind`` (tomogram or tilt series) at its layout paths (``fields``: the entity's)."""
        return cls(
            kind, layout.build(f"{kind.value}_mrc", **fields), layout.build(f"{kind.value}_zarr", **fields), shape
        )

    def described(self, run_name: str) -> dict[str, Any]:
        """The document's fields on the files (metadata.md): each pyramid level's size, the size, both paths."""
        return {
            "scales": [_xyz_size(level) for level in level_shapes(self.shape, self.kind.factor)],
            "size": _xyz_size(self.shape),
            "omezarr_dir": self.zarr_key,
            "mrc_file": self.mrc_key,
            "run_name": run_name,
        }

    def write(self, bucket: Bucket, source: SourceVolume, spacing: float) -> VolumeResult:
        return write_volume(
            bucket,
            source,
            mrc_key=self.mrc_key,
            zarr_key=self.zarr_key,
            kind=self.kind,
            spacing=spacing,
            convert=tomogram_conversion(source.header),
        )


def _xyz_size(shape: tuple[int, ...]) -> dict[str, int]:
    return {"z": int(shape[0]), "y": int(shape[1]), "x": int(shape[2])}
