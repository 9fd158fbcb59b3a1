"""What the SAMPLE-tier checks read of a volume, and how: deterministic samples, partial chunk reads.

A *sample* is one chunk of one pyramid level and a slab inside it: a few whole z-planes of a volume
chunk, or a band of whole rows of a tilt-series chunk (chunks ``1×1024×1024``), i.e. a region that is
contiguous in the chunk's C order. Per array, ``--sample-chunks N`` samples are drawn (default 2): the
first is always the far-corner (edge) chunk with its slab at the end of the valid data, where odd-size
rounding and padding show; the others are chunks drawn with a generator seeded from the entity path
and the level, so a run re-reads the same voxels. Above level 0 the drawn chunks are the parents of the
level below's (the chunks the pyramid check compares them with), so a level's samples and the pyramid's
reads fall in the same chunk objects. Slabs start at even offsets, so a slab of level i maps onto whole
blocks of level i+1 (pyramid check).

:class:`VolumeReader` reads samples: a small chunk object whole, a large one through
:mod:`importers.formats.blosc_frames` (the frame's header and block table, then only the blocks holding the
slab), falling back to the whole chunk for frames that are not partially decodable; an MRC region as byte
ranges of its rows (nearby rows merged). The checks of one entity share what it read (:class:`EntityCache`).

*Coverage.* An array small enough is verified whole instead of sampled (:func:`whole_samples`: one sample per
chunk, its whole valid data): the smallest levels of a volume first, while their chunk objects add up to at
most ``SampleSettings.whole_bytes`` compressed and :data:`WHOLE_DECODED_BYTES` decoded, and an array has at
most ``SampleSettings.whole_chunks`` chunks (each is one request, where sampling makes ``chunks``). The audit
adds a rotating slice of the other arrays' chunks, read whole (:class:`Rotation`). A check reports what it
verified as a :class:`Coverage`.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import skip
from importers.formats import blosc_frames
from importers.formats.mrc import MrcHeader
from importers.storage import StorageError

DEFAULT_SAMPLE_CHUNKS = 2
#: Uncompressed bytes of one slab (rounded to whole, even numbers of planes/rows; at least 2): two
#: 256×256 float32 planes, i.e. one Blosc block of a portal tomogram chunk.
DEFAULT_SLAB_BYTES = 512 * 1024

#: Objects (chunks, MRC files) up to this size are read whole, in one request: below it a request's latency
#: costs more than the bytes a partial read saves.
WHOLE_OBJECT_BYTES = 2 << 20
#: Byte ranges of one object closer than this are read as one request, for the same reason.
MERGE_GAP_BYTES = 1 << 20
#: Chunks that decode to at most this are decoded whole (by numcodecs, fast); larger ones block by block,
#: only the blocks a sample needs (a 64³ volume in a 256³ chunk decodes to 64 MiB, mostly padding).
WHOLE_DECODE_BYTES = 1 << 20
#: Decoded bytes of hyperplanes assembled at a time from a partially decoded chunk: what one read holds beside
#: its result (a 64³ level in a 256³ chunk spans 16 MiB of planes, of which it keeps 1 MiB).
PIECE_BYTES = 1 << 20
#: Compressed bytes of a volume's arrays verified whole by default: half the SAMPLE budget, so that the check
#: that reads them first keeps room for the samples of the larger levels.
DEFAULT_WHOLE_BYTES = 32 << 20
#: Chunks an array verified whole may have by default: one request each.
DEFAULT_WHOLE_CHUNKS = 8
#: Decoded bytes of a volume's arrays verified whole (what the entity's cache holds while it is checked).
WHOLE_DECODED_BYTES = 32 << 20
#: Bytes (raw and decoded) one entity's cache holds before it lets everything go and reads again what is asked
#: next: far above what the default tiers read of an entity, it bounds memory where the reads are not
#: bounded (the audit's --full-content and rotating slices, budgets lifted) whatever a volume's size.
ENTITY_CACHE_BYTES = 128 << 20

T = TypeVar("T")

#: A region: per axis ``(start, stop)``.
Box = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Rotation:
    """The audit's rotating slice: of every array that is sampled, not read whole, the chunks whose C-order
    index is ``night`` modulo ``nights`` are read whole too, so that ``nights`` audits read every chunk once."""

    night: int
    nights: int

    def __post_init__(self) -> None:
        if self.nights < 1:
            raise ValueError(f"--rotate needs at least 1 night, got {self.nights}")

    @property
    def residue(self) -> int:
        return self.night % self.nights

    def chunks(self, meta: ArrayMeta) -> list[tuple[int, ...]]:
        """Tonight's chunks of an array."""
        return [
            tuple(int(i) for i in np.unravel_index(flat, meta.grid))
            for flat in range(self.residue, math.prod(meta.grid), self.nights)
        ]


@dataclass(frozen=True)
class SampleSettings:
    """How much the SAMPLE tier reads; ``chunks == 0`` turns the SAMPLE-tier checks off."""

    chunks: int = DEFAULT_SAMPLE_CHUNKS
    slab_bytes: int = DEFAULT_SLAB_BYTES
    #: Compressed bytes of a volume's arrays verified whole (0: sample every array).
    whole_bytes: int = DEFAULT_WHOLE_BYTES
    #: Chunks an array verified whole may have.
    whole_chunks: int = DEFAULT_WHOLE_CHUNKS
    #: The audit's rotating slice of the sampled arrays (None: samples only).
    rotation: Rotation | None = None

    def __post_init__(self) -> None:
        if self.chunks < 0:
            raise ValueError(f"--sample-chunks must be >= 0, got {self.chunks}")
        if self.whole_bytes < 0 or self.whole_chunks < 0:
            raise ValueError(f"whole-array limits must be >= 0, got {self.whole_bytes}, {self.whole_chunks}")

    def require(self) -> int:
        """The number of samples per array; skips the check when sampling is off."""
        if self.chunks <= 0:
            skip("skipped(tier): SAMPLE-tier checks are off (--sample-chunks 0)")
        return self.chunks


class ChunkUnreadable(Unreadable):
    """A sampled chunk that cannot be read or decoded (VOL-CHUNK-DECODE reports it; others skip)."""


@dataclass(frozen=True)
class ArrayMeta:
    """One pyramid level as its ``.zarray`` declares it."""

    key: str
    level: int
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    separator: str
    order: str
    compressor: dict[str, Any] | None
    filters: list[dict[str, Any]] | None
    fill_value: Any

    @classmethod
    def from_zarray(cls, key: str, level: int, document: dict[str, Any]) -> ArrayMeta:
        """From a ``.zarray`` that ``read_zarray`` accepted; unusable values are :class:`Unreadable`."""
        shape, chunks = document.get("shape"), document.get("chunks")
        if (
            not isinstance(chunks, list)
            or len(chunks) != len(shape)
            or not all(isinstance(c, int) and c > 0 for c in chunks)
        ):
            raise Unreadable(f"{key}/.zarray", f"chunks {chunks!r} do not fit shape {shape!r}")
        return cls(
            key=key,
            level=level,
            shape=tuple(shape),
            chunks=tuple(chunks),
            dtype=np.dtype(document["dtype"]),
            separator=document.get("dimension_separator") or ".",
            order=document.get("order", "C"),
            compressor=document.get("compressor"),
            filters=document.get("filters"),
            fill_value=document.get("fill_value"),
        )

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(math.ceil(n / c) for n, c in zip(self.shape, self.chunks, strict=True))

    @property
    def chunk_nbytes(self) -> int:
        return math.prod(self.chunks) * self.dtype.itemsize

    def chunk_key(self, index: tuple[int, ...]) -> str:
        return f"{self.key}/" + self.separator.join(str(i) for i in index)

    def origin(self, index: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(i * c for i, c in zip(index, self.chunks, strict=True))

    def valid_extent(self, index: tuple[int, ...]) -> tuple[int, ...]:
        """Extent of the array's data inside a chunk (edge chunks are padded beyond it)."""
        return tuple(max(0, min(c, n - o)) for c, n, o in zip(self.chunks, self.shape, self.origin(index), strict=True))

    def fill(self, shape: tuple[int, ...]) -> np.ndarray:
        value = self.fill_value if self.fill_value is not None else 0
        return np.full(shape, value, dtype=self.dtype)


@dataclass(frozen=True)
class Sample:
    """A slab of one chunk: ``box`` is in chunk coordinates; ``edge`` marks the far-corner chunk."""

    level: int
    chunk: tuple[int, ...]
    box: Box
    edge: bool = False

    def global_box(self, meta: ArrayMeta) -> Box:
        """The slab in array coordinates, clipped to the array (padding excluded)."""
        origin = meta.origin(self.chunk)
        return tuple((o + lo, min(o + hi, n)) for o, (lo, hi), n in zip(origin, self.box, meta.shape, strict=True))

    def describe(self, meta: ArrayMeta) -> str:
        shown = ", ".join(f"{lo}:{hi}" for lo, hi in self.global_box(meta))
        return f"level {self.level} chunk {meta.separator.join(map(str, self.chunk))} [{shown}]"


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _slab_axis(chunks: tuple[int, ...]) -> int:
    """The first axis along which a chunk has more than one element: slabs are cut along it."""
    return next((axis for axis, c in enumerate(chunks) if c > 1), len(chunks) - 1)


def _slab(meta: ArrayMeta, chunk: tuple[int, ...], slab_bytes: int, rng: np.random.Generator, at_end: bool) -> Box:
    axis = _slab_axis(meta.chunks)
    unit = math.prod(meta.chunks[axis + 1 :]) * meta.dtype.itemsize
    count = max(2, (slab_bytes // max(unit, 1)) // 2 * 2)
    count = min(count, meta.chunks[axis])
    valid = meta.valid_extent(chunk)[axis]
    limit = min(meta.chunks[axis], valid + valid % 2)
    last_start = max(0, limit - count)
    start = last_start - last_start % 2 if at_end else int(rng.integers(0, last_start // 2 + 1)) * 2
    stop = min(start + count, meta.chunks[axis])
    return tuple(
        (0, 1) if d < axis else (start, stop) if d == axis else (0, meta.chunks[d]) for d in range(len(meta.chunks))
    )


def choose_samples(
    seed_text: str,
    meta: ArrayMeta,
    count: int,
    slab_bytes: int = DEFAULT_SLAB_BYTES,
    preferred: list[tuple[int, ...]] | None = None,
) -> list[Sample]:
    """``count`` samples of an array, deterministic for ``seed_text``: the far-corner chunk first (slab at
    the end of its data), then the ``preferred`` chunks that exist, then distinct random chunks; an array with
    fewer chunks than ``count`` gives further slabs of its chunks."""
    grid = meta.grid
    total = math.prod(grid)
    if count <= 0 or total == 0:
        return []
    rng = np.random.default_rng(seed_of(seed_text))
    edge = tuple(g - 1 for g in grid)
    samples = [Sample(meta.level, edge, _slab(meta, edge, slab_bytes, rng, at_end=True), edge=True)]
    edge_flat = int(np.ravel_multi_index(edge, grid))
    others = min(count - 1, total - 1)
    chosen = [
        chunk
        for chunk in dict.fromkeys(preferred or [])
        if chunk != edge and all(0 <= i < g for i, g in zip(chunk, grid, strict=True))
    ][:others]
    excluded = sorted({edge_flat, *(int(np.ravel_multi_index(chunk, grid)) for chunk in chosen)})
    remaining = min(others - len(chosen), total - len(excluded))
    if remaining > 0:
        for drawn in rng.choice(total - len(excluded), size=remaining, replace=False):
            flat = int(drawn)
            for taken in excluded:  # the drawn index counts the chunks not taken yet
                flat += flat >= taken
            chosen.append(tuple(int(i) for i in np.unravel_index(flat, grid)))
    for chunk in sorted(chosen):
        samples.append(Sample(meta.level, chunk, _slab(meta, chunk, slab_bytes, rng, at_end=False)))
    attempts = 0
    while len(samples) < count and attempts < 4 * count:
        attempts += 1
        chunk = tuple(int(i) for i in np.unravel_index(int(rng.integers(total)), grid))
        candidate = Sample(meta.level, chunk, _slab(meta, chunk, slab_bytes, rng, at_end=False), edge=chunk == edge)
        if all((s.chunk, s.box) != (candidate.chunk, candidate.box) for s in samples):
            samples.append(candidate)
    return samples


def whole_samples(meta: ArrayMeta, chunks: list[tuple[int, ...]] | None = None) -> list[Sample]:
    """One sample per chunk of the array (or of ``chunks``), each its whole valid data."""
    edge = tuple(g - 1 for g in meta.grid)
    return [
        Sample(meta.level, chunk, tuple((0, n) for n in meta.valid_extent(chunk)), edge=chunk == edge)
        for chunk in (itertools.product(*(range(g) for g in meta.grid)) if chunks is None else chunks)
    ]


def decoded_bytes(meta: ArrayMeta, sample: Sample) -> int:
    """Bytes decoded to read a sample: its contiguous run of whole hyperplanes of the chunk."""
    return math.prod(hi - lo for lo, hi in contiguous_hull(sample.box, meta.chunks)) * meta.dtype.itemsize


@dataclass
class Coverage:
    """What part of the arrays a check looked at verified: chunks (any of their data read) and voxels
    (the array's data, padding excluded), each as (verified, declared), summed over the arrays."""

    chunks: list[int] = field(default_factory=lambda: [0, 0])
    voxels: list[int] = field(default_factory=lambda: [0, 0])
    _arrays: set[str] = field(default_factory=set)

    def record(self, meta: ArrayMeta, samples: list[Sample]) -> None:
        """Count an array's samples as verified (once per array, whatever the check's passes over it)."""
        if meta.key in self._arrays:
            return
        self._arrays.add(meta.key)
        regions: dict[tuple[int, ...], set[Box]] = {}
        for sample in samples:
            regions.setdefault(sample.chunk, set()).add(sample.global_box(meta))
        self.chunks[0] += len(regions)
        self.chunks[1] += math.prod(meta.grid)
        for chunk, boxes in regions.items():
            # Slabs of one chunk overlap only when it has fewer planes than the slabs need: capped at the chunk.
            volume = sum(math.prod(hi - lo for lo, hi in box) for box in boxes)
            self.voxels[0] += min(volume, math.prod(meta.valid_extent(chunk)))
        self.voxels[1] += math.prod(meta.shape)

    def summary(self) -> dict[str, Any] | None:
        """``{"chunks": [verified, declared], "voxels": [...], "fraction": voxels verified}``, None if no array
        was looked at."""
        if not self._arrays:
            return None
        fraction = self.voxels[0] / self.voxels[1] if self.voxels[1] else 1.0
        return {"chunks": list(self.chunks), "voxels": list(self.voxels), "fraction": round(fraction, 6)}


def _hull_axis(box: Box) -> int:
    return next((d for d, (lo, hi) in enumerate(box) if hi - lo > 1), len(box) - 1)


def contiguous_hull(box: Box, chunks: tuple[int, ...]) -> Box:
    """The smallest C-order-contiguous run of whole hyperplanes holding ``box``: the axes before the
    first one with extent > 1 keep their single index, that axis keeps its range, later axes are whole."""
    axis = _hull_axis(box)
    return tuple(box[d] if d <= axis else (0, chunks[d]) for d in range(len(box)))


def _flat_span(hull: Box, chunks: tuple[int, ...]) -> tuple[int, int]:
    start = int(np.ravel_multi_index(tuple(lo for lo, _ in hull), chunks))
    return start, start + math.prod(hi - lo for lo, hi in hull)


@dataclass
class EntityCache:
    """What the checks of one entity have read, shared by them while the entity is checked (and dropped
    after): of its volumes, raw byte ranges, Blosc frame indexes, decoded blocks and chunks, samples; and
    other data its checks derive alike (:meth:`memo`)."""

    #: Whole small objects, by key.
    objects: dict[str, bytes] = field(default_factory=dict)
    #: Byte ranges of large objects, by (key, start, end).
    ranges: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    frames: dict[str, blosc_frames.BloscFrame] = field(default_factory=dict)
    #: Decoded Blosc blocks, by chunk key and block index.
    blocks: dict[str, dict[int, bytes]] = field(default_factory=dict)
    chunks: dict[str, np.ndarray] = field(default_factory=dict)
    #: The data of chunks read whole, padding cut off (read-only), by chunk key: what the checks of a level
    #: verified whole share, decoded once; the decoded blocks and padding behind it are not kept.
    valid: dict[str, np.ndarray] = field(default_factory=dict)
    #: The samples of each array, by its key.
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    derived: dict[tuple[str, str], Any] = field(default_factory=dict)

    #: Bytes held by the byte caches above (objects, ranges, blocks, chunks, valid), and how many they may hold.
    held: int = 0
    capacity: int = ENTITY_CACHE_BYTES

    def hold(self, nbytes: int) -> None:
        """Account ``nbytes`` just cached; past ``capacity`` every byte cache is emptied (what a check holds
        stays valid; a later read of the same bytes reads them again)."""
        self.held += nbytes
        if self.held > self.capacity:
            for cache in (self.objects, self.ranges, self.frames, self.blocks, self.chunks, self.valid):
                cache.clear()
            self.held = 0

    def memo(self, namespace: str, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per entity for ``(namespace, key)``; an exception is not remembered."""
        if (namespace, key) not in self.derived:
            self.derived[(namespace, key)] = compute()
        return self.derived[(namespace, key)]


class VolumeReader:
    """Reads sampled regions of zarr levels and MRC files for the checks of one entity.

    An object (chunk, MRC) of at most :data:`WHOLE_OBJECT_BYTES` is read whole, in one request; of a larger
    one only the byte ranges needed (a chunk's frame index, then the blocks a region needs; an MRC's rows),
    ranges within :data:`MERGE_GAP_BYTES` of each other in one request. A chunk is decoded whole when it
    decodes to at most :data:`WHOLE_DECODE_BYTES`, else only the blocks a region needs. Whatever is read is
    kept in the entity's :class:`EntityCache`, so the entity's checks read each byte once; the check that
    reads it first is charged for it (its reader counts into its account)."""

    def __init__(self, reader: ObjectReader, cache: EntityCache | None = None) -> None:
        self.reader = reader
        self.cache = cache if cache is not None else EntityCache()

    # -- raw reads ------------------------------------------------------------------------

    def _fetch(self, key: str, ranges: list[tuple[int, int]], error: type[Unreadable] = Unreadable) -> list[bytes]:
        size = self.reader.info(key).size
        if size <= WHOLE_OBJECT_BYTES:
            whole = self.cache.objects.get(key)
            if whole is None:
                (whole,) = self._read(key, [(0, size)], error)
                self.cache.hold(len(whole))
                self.cache.objects[key] = whole
            for start, end in ranges:
                if end > len(whole):
                    raise error(key, f"bytes [{start}, {end}) are past the object's end ({len(whole)} bytes)")
            return [whole[start:end] for start, end in ranges]
        cached = self.cache.ranges
        known = {(start, end): cached[(key, start, end)] for start, end in ranges if (key, start, end) in cached}
        missing = sorted({span for span in ranges if span not in known})
        fetched = dict(zip(missing, self._read(key, missing, error), strict=True))
        self.cache.hold(sum(map(len, fetched.values())))
        cached.update({(key, start, end): data for (start, end), data in fetched.items()})
        known.update(fetched)
        return [known[span] for span in ranges]

    def _read(self, key: str, ranges: list[tuple[int, int]], error: type[Unreadable]) -> list[bytes]:
        results = self.reader.bucket.read_many([(key, start, end) for start, end in ranges]) if ranges else []
        out = []
        for (start, end), result in zip(ranges, results, strict=True):
            if isinstance(result, StorageError):
                raise error(key, result.problem)
            if len(result) != end - start:
                raise error(key, f"bytes [{start}, {end}) read as {len(result)} bytes (object too short)")
            out.append(result)
        return out

    def read_ahead(self, chunks: list[tuple[ArrayMeta, tuple[int, ...]]]) -> None:
        """Read the chunk objects of ``chunks`` that are read whole (at most :data:`WHOLE_OBJECT_BYTES`) in one
        batch of concurrent requests, so that the samples read one after another wait for none: an entity's
        chunks then cost one round trip instead of one per chunk. A failed read is left for the sample's own
        read to report."""
        listing = self.reader.snapshot.listing
        keys = {
            key: listing[key].size
            for key in dict.fromkeys(meta.chunk_key(chunk) for meta, chunk in chunks)
            if key in listing and key not in self.cache.objects and listing[key].size <= WHOLE_OBJECT_BYTES
        }
        if len(keys) < 2:
            return
        results = self.reader.bucket.read_many([(key, 0, size) for key, size in keys.items()])
        for (key, size), result in zip(keys.items(), results, strict=True):
            if isinstance(result, bytes) and len(result) == size:
                self.cache.hold(size)
                self.cache.objects[key] = result

    def chunk_exists(self, meta: ArrayMeta, chunk: tuple[int, ...]) -> bool:
        return meta.chunk_key(chunk) in self.reader.snapshot.listing

    # -- zarr -----------------------------------------------------------------------------

    def zarr_box(self, meta: ArrayMeta, chunk: tuple[int, ...], box: Box) -> np.ndarray:
        """The chunk's content in ``box`` (chunk coordinates, padding included); a chunk missing from
        the listing reads as the fill value, as zarr readers see it."""
        extents = tuple(hi - lo for lo, hi in box)
        key = meta.chunk_key(chunk)
        if key not in self.reader.snapshot.listing:
            return meta.fill(extents)
        if 0 in extents:
            return np.empty(extents, dtype=meta.dtype)
        valid = self.cache.valid.get(key)
        if valid is not None and all(hi <= n for (_, hi), n in zip(box, valid.shape, strict=True)):
            return valid[tuple(slice(lo, hi) for lo, hi in box)]
        if box == tuple((0, n) for n in meta.valid_extent(chunk)):
            return self._valid_chunk(meta, key, box)
        return self._decoded_box(meta, key, box)

    def _valid_chunk(self, meta: ArrayMeta, key: str, box: Box) -> np.ndarray:
        """A chunk read whole (``box``: its valid extent): its data without the padding, decoded once per entity
        and shared read-only. Only that is kept (a 64³ level in a 256³ chunk decodes 16 MiB of planes to keep
        1 MiB)."""
        decoded = self._decoded_box(meta, key, box, keep=False)
        data = decoded.copy() if decoded.base is not None else decoded
        data.flags.writeable = False
        self.cache.hold(data.nbytes)
        self.cache.valid[key] = data
        return data

    def _decoded_box(self, meta: ArrayMeta, key: str, box: Box, keep: bool = True) -> np.ndarray:
        """``box`` of an existing chunk: block by block from a partially decodable frame, else from the whole
        decoded chunk; the decoded blocks or chunk are kept in the entity's cache only when ``keep``."""
        partial = (
            isinstance(meta.compressor, dict)
            and meta.compressor.get("id") == "blosc"
            and not meta.filters
            and meta.order == "C"
            and key not in self.cache.chunks
            and meta.chunk_nbytes > WHOLE_DECODE_BYTES
        )
        if partial:
            try:
                return self._zarr_box_partial(meta, key, box, keep)
            except blosc_frames.NotPartiallyDecodable:
                pass
        whole = self._whole_chunk(meta, key, keep)
        return whole[tuple(slice(lo, hi) for lo, hi in box)]

    def _zarr_box_partial(self, meta: ArrayMeta, key: str, box: Box, keep: bool) -> np.ndarray:
        size = self.reader.info(key).size
        fetch = lambda ranges: self._fetch(key, ranges, ChunkUnreadable)  # noqa: E731
        try:
            frame = self.cache.frames.get(key)
            if frame is None:
                frame = blosc_frames.read_frame(fetch, size, meta.chunk_nbytes)
                self.cache.frames[key] = frame
            if frame.header.nbytes != meta.chunk_nbytes:
                raise ChunkUnreadable(
                    key,
                    f"decodes to {frame.header.nbytes} bytes, expected {meta.chunk_nbytes} "
                    f"(chunk {list(meta.chunks)} of {meta.dtype})",
                )
            hull = contiguous_hull(box, meta.chunks)
            axis = _hull_axis(box)
            itemsize = meta.dtype.itemsize
            start, stop = _flat_span(hull, meta.chunks)
            plane_shape = meta.chunks[axis + 1 :]
            plane = math.prod(plane_shape) * itemsize
            out = np.empty(tuple(hi - lo for lo, hi in box), dtype=meta.dtype)
            planes_out = out.reshape((box[axis][1] - box[axis][0], *out.shape[axis + 1 :]))
            later = (slice(None), *(slice(lo, hi) for lo, hi in box[axis + 1 :]))
            pieces = blosc_frames.iter_range(
                frame,
                fetch,
                start * itemsize,
                stop * itemsize,
                max(1, PIECE_BYTES // plane) * plane,
                self.cache.blocks.setdefault(key, {}) if keep else None,
            )
            for offset, raw in pieces:
                planes = np.frombuffer(raw, dtype=meta.dtype).reshape((-1, *plane_shape))
                first = (offset - start * itemsize) // plane
                planes_out[first : first + len(planes)] = planes[later]
            if keep:
                self.cache.hold((stop - start) * itemsize)
        except blosc_frames.NotPartiallyDecodable:
            raise
        except blosc_frames.BloscFrameError as error:
            raise ChunkUnreadable(key, f"not a valid Blosc frame: {error}") from None
        return out

    def _whole_chunk(self, meta: ArrayMeta, key: str, keep: bool = True) -> np.ndarray:
        if key in self.cache.chunks:
            return self.cache.chunks[key]
        size = self.reader.info(key).size
        (raw,) = self._fetch(key, [(0, size)], ChunkUnreadable)
        array = _decode_chunk(meta, key, raw)
        if keep:
            self.cache.hold(array.nbytes)
            self.cache.chunks[key] = array
        return array

    def scan_chunk(self, meta: ArrayMeta, chunk: tuple[int, ...]) -> np.ndarray:
        """A whole chunk's data inside the array (padding cut off), read and decoded without being kept: a
        scan of every chunk of a level would otherwise hold the whole level in memory. A chunk missing from
        the listing reads as the fill value."""
        valid = tuple(slice(0, extent) for extent in meta.valid_extent(chunk))
        key = meta.chunk_key(chunk)
        if key in self.cache.valid:
            return self.cache.valid[key]
        if key in self.cache.chunks:
            return self.cache.chunks[key][valid]
        if key not in self.reader.snapshot.listing:
            return meta.fill(meta.valid_extent(chunk))
        raw = self.cache.objects.get(key)
        if raw is None:
            (raw,) = self._read(key, [(0, self.reader.info(key).size)], ChunkUnreadable)
        return _decode_chunk(meta, key, raw)[valid]

    def sample(self, meta: ArrayMeta, sample: Sample) -> tuple[Box, np.ndarray]:
        """A sample's data inside the array (padding cut off), with its array-coordinate box."""
        data = self.zarr_box(meta, sample.chunk, sample.box)
        global_box = sample.global_box(meta)
        return global_box, data[tuple(slice(0, hi - lo) for lo, hi in global_box)]

    def zarr_region(self, meta: ArrayMeta, region: Box) -> np.ndarray:
        """An array-coordinate region (normally inside one chunk; assembled from several if not)."""
        out = np.empty(tuple(hi - lo for lo, hi in region), dtype=meta.dtype)
        spans = [range(lo // c, (hi - 1) // c + 1) for (lo, hi), c in zip(region, meta.chunks, strict=True)]
        for chunk in itertools.product(*spans):
            origin = meta.origin(chunk)
            box = tuple(
                (max(lo, o) - o, min(hi, o + c) - o) for (lo, hi), o, c in zip(region, origin, meta.chunks, strict=True)
            )
            target = tuple(
                slice(o + blo - lo, o + bhi - lo) for (blo, bhi), o, (lo, _) in zip(box, origin, region, strict=True)
            )
            out[target] = self.zarr_box(meta, chunk, box)
        return out

    # -- MRC ------------------------------------------------------------------------------

    def mrc_region(self, key: str, header: MrcHeader, region: Box) -> np.ndarray:
        """Voxels ``region`` (z, y, x) of an MRC, read as one byte range per row (adjacent rows merged)."""
        return self.mrc_regions(key, header, [region])[0]

    def mrc_regions(self, key: str, header: MrcHeader, regions: list[Box]) -> list[np.ndarray]:
        """Several regions of one MRC, read together: per plane of a region, its band of whole rows (the
        wanted columns are cut out after), bands closer than :data:`MERGE_GAP_BYTES` in one request."""
        dtype = header.dtype
        if dtype is None:
            raise Unreadable(key, f"mode {header.mode} has no data type")
        if key not in self.reader.snapshot.listing:
            raise Unreadable(key, "object not found")
        row = header.nx * dtype.itemsize
        bands = [
            [(header.data_offset + (z * header.ny + y0) * row, header.data_offset + (z * header.ny + y1) * row)
             for z in range(z0, z1)]
            for (z0, z1), (y0, y1), _ in regions
        ]  # fmt: skip
        spans = _merge([band for planes in bands for band in planes if band[1] > band[0]], MERGE_GAP_BYTES)
        fetched = dict(zip(spans, self._fetch(key, spans), strict=True))
        out = []
        for ((z0, z1), (y0, y1), (x0, x1)), planes in zip(regions, bands, strict=True):
            data = np.empty((z1 - z0, y1 - y0, x1 - x0), dtype=dtype)
            for plane, (start, end) in enumerate(planes):
                if end <= start:
                    continue
                span = spans[bisect.bisect_right(spans, (start, math.inf)) - 1]
                band = np.frombuffer(fetched[span], dtype=dtype, count=(end - start) // dtype.itemsize,
                                     offset=start - span[0])  # fmt: skip
                data[plane] = band.reshape(y1 - y0, header.nx)[:, x0:x1]
            out.append(data)
        return out


def _decode_chunk(meta: ArrayMeta, key: str, raw: bytes) -> np.ndarray:
    """A chunk object's bytes decoded to the chunk's array (padding included)."""
    import numcodecs  # imported by the first whole-chunk decode, not at start-up

    try:
        decoded: Any = raw
        if meta.compressor is not None:
            decoded = numcodecs.get_codec(dict(meta.compressor)).decode(decoded)
        for spec in reversed(meta.filters or []):
            decoded = numcodecs.get_codec(dict(spec)).decode(decoded)
        data = np.frombuffer(memoryview(decoded).cast("B"), dtype=meta.dtype)
    except Exception as error:  # numcodecs raises anything from ValueError to RuntimeError
        raise ChunkUnreadable(key, f"does not decode with {meta.compressor}: {error}") from None
    if data.size != math.prod(meta.chunks):
        raise ChunkUnreadable(key, f"decodes to {data.size * meta.dtype.itemsize} bytes, expected {meta.chunk_nbytes}")
    return data.reshape(meta.chunks, order="F" if meta.order == "F" else "C")


def _merge(extents: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Sorted byte ranges merged where they overlap or lie at most ``gap`` bytes apart."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(extents):
        if merged and start <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
