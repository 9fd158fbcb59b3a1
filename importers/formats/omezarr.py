"""OME-Zarr (zarr v2, NGFF 0.4) pyramids as the portal writes them (formats.md §1).

The writer walks the pyramid as an octree: each top-level chunk is built from its children, which
are built from theirs, down to level-0 blocks read from the source. Every chunk of every level is
encoded exactly once and memory holds one chunk per level, whatever the volume size.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

import numpy as np

from importers.storage import Bucket

LEVELS = 3
ZATTRS = ".zattrs"
ZGROUP = ".zgroup"
ZARRAY = ".zarray"
AXES = [{"name": axis, "type": "space", "unit": "angstrom"} for axis in "zyx"]
COMPRESSOR = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}


@cache
def codec() -> Any:
    """The chunk compressor the portal writes with (numcodecs' Blosc, imported when a volume is written)."""
    from numcodecs import Blosc

    return Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=0)


class VolumeKind(Enum):
    """How a volume is chunked and downsampled (formats.md §1, §1.1)."""

    TOMOGRAM = "tomogram"
    TILTSERIES = "tiltseries"
    SEGMENTATION_MASK = "segmentation_mask"
    INSTANCE_MASK = "instance_mask"

    @property
    def factor(self) -> tuple[int, int, int]:
        return (1, 2, 2) if self is VolumeKind.TILTSERIES else (2, 2, 2)

    @property
    def chunks(self) -> tuple[int, int, int]:
        return (1, 1024, 1024) if self is VolumeKind.TILTSERIES else (256, 256, 256)

    @property
    def dtype(self) -> np.dtype:
        return {
            VolumeKind.SEGMENTATION_MASK: np.dtype("|i1"),
            VolumeKind.INSTANCE_MASK: np.dtype("<u2"),
        }.get(self, np.dtype("<f4"))


class ZarrFormatError(ValueError):
    """OME-Zarr metadata that cannot be interpreted; the message says why in one line."""


def level_shapes(shape: tuple[int, ...], factor: tuple[int, ...], levels: int = LEVELS) -> list[tuple[int, ...]]:
    """Shapes of every level: ``ceil(shape / factor**i)`` per axis (10 -> 5 -> 3)."""
    shapes = [tuple(int(n) for n in shape)]
    for _ in range(levels - 1):
        shapes.append(tuple(math.ceil(n / f) for n, f in zip(shapes[-1], factor, strict=True)))
    return shapes


def level_scales(spacing: float, factor: tuple[int, ...], levels: int = LEVELS) -> list[list[float]]:
    """Per-level ``scale`` transforms: spacing times factor**i on scaled axes."""
    return [[round(spacing * f**level, 6) for f in factor] for level in range(levels)]


def zattrs(kind: VolumeKind, spacing: float, labels: list[int] | None = None) -> dict[str, Any]:
    """The root ``.zattrs`` of a store (instance masks list their labels as image-label colors)."""
    metadata: dict[str, Any] = {}
    if kind is VolumeKind.INSTANCE_MASK:
        metadata = {"image-label": {"colors": [{"label-value": int(v)} for v in labels or []], "version": "0.4"}}
    datasets = [
        {"coordinateTransformations": [{"scale": scale, "type": "scale"}], "path": str(level)}
        for level, scale in enumerate(level_scales(spacing, kind.factor))
    ]
    return {"multiscales": [{"axes": AXES, "datasets": datasets, "metadata": metadata, "name": "/", "version": "0.4"}]}


def zarray(shape: tuple[int, ...], kind: VolumeKind) -> dict[str, Any]:
    """A level's ``.zarray``; chunks are recorded as-is even when larger than the array."""
    dtype = kind.dtype
    return {
        "chunks": list(kind.chunks),
        "compressor": COMPRESSOR,
        "dimension_separator": "/",
        "dtype": dtype.str,
        "fill_value": 0.0 if dtype.kind == "f" else 0,
        "filters": None,
        "order": "C",
        "shape": list(shape),
        "zarr_format": 2,
    }


def dumps(document: Any) -> bytes:
    """Zarr/portal JSON style: 4-space indent, sorted keys."""
    return json.dumps(document, indent=4, sort_keys=True).encode()


def store_metadata(
    kind: VolumeKind, shape: tuple[int, ...], spacing: float, labels: list[int] | None = None
) -> dict[str, bytes]:
    """The metadata objects of a store as written (keys relative to the store), in the order they are
    written: every level's ``.zarray``, then ``.zattrs`` and ``.zgroup`` (their presence marks a complete
    store)."""
    documents = {
        f"{level}/{ZARRAY}": dumps(zarray(level_shape, kind))
        for level, level_shape in enumerate(level_shapes(shape, kind.factor))
    }
    documents[ZATTRS] = dumps(zattrs(kind, spacing, labels))
    documents[ZGROUP] = dumps({"zarr_format": 2})
    return documents


def downsample(block: np.ndarray, kind: VolumeKind) -> np.ndarray:
    """One pyramid step of a block (formats.md §1.1): padded mean, OR-pool or nearest neighbour."""
    factor = kind.factor
    if kind is VolumeKind.INSTANCE_MASK:
        return block[:: factor[0], :: factor[1], :: factor[2]]
    padded_shape = [math.ceil(n / f) * f for n, f in zip(block.shape, factor, strict=True)]
    if list(block.shape) != padded_shape:
        padded = np.zeros(padded_shape, dtype=block.dtype)
        padded[tuple(slice(0, n) for n in block.shape)] = block
        block = padded
    split = []
    for n, f in zip(block.shape, factor, strict=True):
        split += [n // f, f]
    blocks = block.reshape(split)
    if kind is VolumeKind.SEGMENTATION_MASK:
        return (blocks != 0).any(axis=(1, 3, 5)).astype(kind.dtype)
    # Sum then divide by the padded block size: edge blocks are diluted by the zero padding.
    summed = blocks.astype(np.float32, copy=False).sum(axis=(1, 3, 5), dtype=np.float32)
    return (summed / np.float32(math.prod(factor))).astype(kind.dtype, copy=False)


#: Reads a level-0 region ``[(z0, z1), (y0, y1), (x0, x1)]`` of the source as an array.
RegionReader = Callable[[tuple[tuple[int, int], ...]], np.ndarray]


@dataclass
class PyramidWriter:
    """Writes the 3-level OME-Zarr store of one volume to ``bucket`` under ``store_key``."""

    bucket: Bucket
    store_key: str
    kind: VolumeKind
    shape: tuple[int, int, int]
    spacing: float

    def __post_init__(self) -> None:
        self.shapes = level_shapes(self.shape, self.kind.factor)
        self.labels: set[int] = set()

    def write(self, read_region: RegionReader) -> None:
        """Encode every chunk, then the level ``.zarray`` files, then ``.zattrs``/``.zgroup`` last,
        so a store without its root metadata is recognisably a partial write."""
        top = LEVELS - 1
        for index in itertools.product(*(range(n) for n in self._grid(top))):
            self._emit(top, index, read_region)
        labels = sorted(self.labels - {0})
        for name, data in store_metadata(self.kind, self.shape, self.spacing, labels).items():
            self.bucket.write(f"{self.store_key}/{name}", data)

    def _grid(self, level: int) -> tuple[int, ...]:
        return tuple(math.ceil(n / c) for n, c in zip(self.shapes[level], self.kind.chunks, strict=True))

    def _region(self, level: int, index: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        return tuple(
            (i * c, min((i + 1) * c, n)) for i, c, n in zip(index, self.kind.chunks, self.shapes[level], strict=True)
        )

    def _emit(self, level: int, index: tuple[int, ...], read_region: RegionReader) -> np.ndarray:
        region = self._region(level, index)
        if level == 0:
            data = np.ascontiguousarray(read_region(region), dtype=self.kind.dtype)
            if self.kind is VolumeKind.INSTANCE_MASK:
                self.labels.update(int(v) for v in np.unique(data))
        else:
            data = np.zeros([stop - start for start, stop in region], dtype=self.kind.dtype)
            grid = self._grid(level - 1)
            factor = self.kind.factor
            for offset in itertools.product(*(range(f) for f in factor)):
                child = tuple(i * f + o for i, f, o in zip(index, factor, offset, strict=True))
                if any(c >= g for c, g in zip(child, grid, strict=True)):
                    continue
                reduced = downsample(self._emit(level - 1, child, read_region), self.kind)
                # Where the reduced child lands inside this chunk.
                starts = [
                    (c * size) // f - i * size
                    for c, size, f, i in zip(child, self.kind.chunks, factor, index, strict=True)
                ]
                target = tuple(slice(s, s + n) for s, n in zip(starts, reduced.shape, strict=True))
                data[target] = reduced
        self._write_chunk(level, index, data)
        return data

    def _write_chunk(self, level: int, index: tuple[int, ...], data: np.ndarray) -> None:
        chunk_shape = self.kind.chunks
        if data.shape != chunk_shape:
            # zarr v2 stores edge chunks at full chunk size, padded with the fill value.
            full = np.zeros(chunk_shape, dtype=data.dtype)
            full[tuple(slice(0, n) for n in data.shape)] = data
            data = full
        key = f"{self.store_key}/{level}/" + "/".join(str(i) for i in index)
        self.bucket.write(key, codec().encode(np.ascontiguousarray(data)))


@dataclass(frozen=True)
class Multiscales:
    """What a store's ``.zattrs`` says about its levels."""

    paths: list[str]
    scales: list[list[float]]
    axes: list[dict[str, Any]]
    version: str | None
    metadata: dict[str, Any]


def read_multiscales(document: Any) -> Multiscales:
    """Interpret a root ``.zattrs``; raises :class:`ZarrFormatError` naming what is missing."""
    if not isinstance(document, dict):
        raise ZarrFormatError(".zattrs is not a JSON object")
    multiscales = document.get("multiscales")
    if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
        raise ZarrFormatError(".zattrs has no multiscales[0]")
    first = multiscales[0]
    datasets = first.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise ZarrFormatError("multiscales[0].datasets is missing or empty")
    paths, scales = [], []
    for position, dataset in enumerate(datasets):
        if not isinstance(dataset, dict) or "path" not in dataset:
            raise ZarrFormatError(f"multiscales[0].datasets[{position}] has no path")
        paths.append(str(dataset["path"]))
        scale = None
        for transform in dataset.get("coordinateTransformations") or []:
            if isinstance(transform, dict) and transform.get("type") == "scale":
                scale = transform.get("scale")
        if not isinstance(scale, list) or not all(isinstance(v, int | float) for v in scale):
            raise ZarrFormatError(f"multiscales[0].datasets[{position}] has no numeric scale transform")
        scales.append([float(v) for v in scale])
    axes = first.get("axes") if isinstance(first.get("axes"), list) else []
    metadata = first.get("metadata") if isinstance(first.get("metadata"), dict) else {}
    return Multiscales(paths, scales, axes, first.get("version"), metadata)


#: The largest dimension, chunk (elements) and chunk grid a ``.zarray`` may declare. The portal's largest
#: arrays are ~10⁴ voxels a side in ~10⁴ chunks; a shape of 10¹² would make a reader allocate or
#: iterate without end.
MAX_DIMENSION = 1 << 20
MAX_CHUNK_ELEMENTS = 1 << 28
MAX_CHUNKS = 1 << 24


def _check_extent(shape: list[int], chunks: list[int]) -> None:
    if any(n < 0 or n > MAX_DIMENSION for n in shape):
        raise ZarrFormatError(f".zarray shape {shape} is outside [0, {MAX_DIMENSION}] on an axis")
    if any(n < 1 for n in chunks) or math.prod(chunks) > MAX_CHUNK_ELEMENTS:
        raise ZarrFormatError(f".zarray chunks {chunks} are not between 1 and {MAX_CHUNK_ELEMENTS} elements")
    if len(shape) == len(chunks):
        grid = math.prod(-(-n // c) for n, c in zip(shape, chunks, strict=True))
        if grid > MAX_CHUNKS:
            raise ZarrFormatError(f".zarray shape {shape} in chunks {chunks} makes {grid} chunks, over {MAX_CHUNKS}")


def read_zarray(document: Any) -> dict[str, Any]:
    """A level's ``.zarray`` with the keys checks rely on, within :data:`MAX_DIMENSION`,
    :data:`MAX_CHUNK_ELEMENTS` and :data:`MAX_CHUNKS`; raises :class:`ZarrFormatError`."""
    if not isinstance(document, dict):
        raise ZarrFormatError(".zarray is not a JSON object")
    for key in ("shape", "chunks", "dtype"):
        if key not in document:
            raise ZarrFormatError(f".zarray has no {key!r}")
    for key in ("shape", "chunks"):
        values = document[key]
        if not isinstance(values, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in values):
            raise ZarrFormatError(f".zarray {key} is not a list of integers: {values!r}")
    _check_extent(document["shape"], document["chunks"])
    if not isinstance(document["dtype"], str):
        raise ZarrFormatError(f".zarray dtype {document['dtype']!r} is not a dtype string")
    try:
        np.dtype(document["dtype"])
    except TypeError:
        raise ZarrFormatError(f".zarray dtype {document['dtype']!r} is not a dtype") from None
    return document


class StoredArray:
    """One stored zarr v2 array (a pyramid level), read by regions: only the chunks a region overlaps are
    fetched; an absent chunk holds the fill value."""

    def __init__(self, bucket: Bucket, key: str) -> None:
        self.bucket, self.key = bucket, key.rstrip("/")
        zarray = read_zarray(json.loads(bucket.read(f"{self.key}/{ZARRAY}")))
        if len(zarray["shape"]) != 3 or len(zarray["chunks"]) != 3:
            raise ZarrFormatError(f"{self.key}: a volume has 3 axes, .zarray has shape {zarray['shape']}")
        if zarray.get("filters"):
            raise ZarrFormatError(f"{self.key}: zarr filters are not supported")
        self.shape: tuple[int, int, int] = tuple(zarray["shape"])
        self.chunks: tuple[int, int, int] = tuple(zarray["chunks"])
        self.dtype = np.dtype(zarray["dtype"])
        self.fill_value = zarray.get("fill_value") or 0
        self.order = zarray.get("order") or "C"
        self.separator = zarray.get("dimension_separator") or "."
        self._codec = None
        if zarray.get("compressor"):
            from numcodecs import get_codec  # imported when a stored volume is read

            self._codec = get_codec(zarray["compressor"])

    def read(self, region: tuple[tuple[int, int], ...]) -> np.ndarray:
        """The voxels of ``((z0, z1), (y0, y1), (x0, x1))``."""
        out = np.full([stop - start for start, stop in region], self.fill_value, dtype=self.dtype)
        grid = [range(start // c, -(-stop // c)) for (start, stop), c in zip(region, self.chunks, strict=True)]
        for index in itertools.product(*grid):
            key = f"{self.key}/" + self.separator.join(str(i) for i in index)
            if not self.bucket.exists(key):
                continue
            raw = self.bucket.read(key)
            chunk = np.frombuffer(self._codec.decode(raw) if self._codec else raw, dtype=self.dtype)
            chunk = chunk.reshape(self.chunks, order=self.order)
            origin = [i * c for i, c in zip(index, self.chunks, strict=True)]
            inside = [
                (max(start, o), min(stop, o + c))
                for (start, stop), o, c in zip(region, origin, self.chunks, strict=True)
            ]
            target = tuple(slice(lo - start, hi - start) for (lo, hi), (start, _) in zip(inside, region, strict=True))
            source = tuple(slice(lo - o, hi - o) for (lo, hi), o in zip(inside, origin, strict=True))
            out[target] = chunk[source]
        return out
