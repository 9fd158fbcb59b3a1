"""The shared volume content suite (checks.md §7, §15): SAMPLE-tier checks that look inside volumes.

Registered per :class:`~data_validation.checks.volumes.VolumeFamily` as ``<PREFIX>-VOL-*``, plus the
checks of one kind: ``<PREFIX>-BINARY`` (segmentation masks), ``<PREFIX>-LABELS-SAMPLED`` (instance
masks), ``<PREFIX>-SECTIONS-FILLED`` (tilt series). Every check reads the volume's small levels whole and
sampled slabs of sampled chunks of the others (:mod:`data_validation.sampling`: the coverage policy,
``--sample-chunks``), each through its own reader so that its I/O is accounted to it, and reports the part
it verified (``context.coverage``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_validation.checks.context import CheckContext
from data_validation.checks.volumes import FAMILIES, VolumeFamily, load_store
from data_validation.entities import Entity
from data_validation.io_accounting import format_bytes
from data_validation.reader import Unreadable
from data_validation.registry import Severity, Tier, fail, register, skip
from data_validation.sampling import (
    WHOLE_DECODED_BYTES,
    ArrayMeta,
    Box,
    ChunkUnreadable,
    Sample,
    VolumeReader,
    choose_samples,
    decoded_bytes,
    whole_samples,
)
from importers.formats.omezarr import (
    Multiscales,
    VolumeKind,
    downsample,
)

#: Pyramid tolerance for images (checks.md §7): |stored − expected| ≤ ABS·(max − min) + REL·|expected|.
PYRAMID_ABS = 1e-6
PYRAMID_REL = 1e-5
#: MRC and zarr of different dtypes are compared in float64 with at least this relative tolerance.
EQ_RTOL = 1e-6
MASK_KINDS = (VolumeKind.SEGMENTATION_MASK, VolumeKind.INSTANCE_MASK)


def volume_kind(family: VolumeFamily) -> VolumeKind:
    """The family's downsampling kind: its ``kind`` if it declares one, else from its flags/prefix."""
    kind = getattr(family, "kind", None)
    if isinstance(kind, VolumeKind):
        return kind
    if family.tiltseries:
        return VolumeKind.TILTSERIES
    return {"SEG": VolumeKind.SEGMENTATION_MASK, "ISEG": VolumeKind.INSTANCE_MASK}.get(
        family.prefix, VolumeKind.TOMOGRAM
    )


@dataclass(frozen=True)
class Volume:
    """A store's multiscales and the level arrays as declared, and how its levels are downsampled."""

    key: str
    multiscales: Multiscales
    levels: list[ArrayMeta]
    kind: VolumeKind

    @property
    def factor(self) -> tuple[int, ...]:
        return self.kind.factor


def load_volume(context: CheckContext, family: VolumeFamily, entity: Entity) -> Volume:
    store = load_store(context, family, entity)
    levels = []
    for index, (path, document) in enumerate(zip(store.multiscales.paths, store.arrays, strict=True)):
        array_key = f"{store.key}/{path}"
        if len(document["shape"]) != 3:
            raise Unreadable(f"{array_key}/.zarray", f"shape {document['shape']} is not 3-dimensional")
        levels.append(ArrayMeta.from_zarray(array_key, index, document))
    return Volume(store.key, store.multiscales, levels, volume_kind(family))


def whole_levels(context: CheckContext, volume: Volume) -> frozenset[int]:
    """The levels verified whole (the coverage policy, :mod:`data_validation.sampling`): from the smallest up,
    while their chunk objects (from the listing) fit the whole-read allowances."""

    def plan() -> frozenset[int]:
        settings = context.sampling
        whole: set[int] = set()
        compressed = decoded = 0
        for meta in reversed(volume.levels if settings.whole_bytes else []):
            if math.prod(meta.grid) > settings.whole_chunks:
                break
            listing = context.reader.snapshot.listing
            keys = [meta.chunk_key(sample.chunk) for sample in whole_samples(meta)]
            compressed += sum(listing[key].size for key in keys if key in listing)
            decoded += sum(decoded_bytes(meta, sample) for sample in whole_samples(meta))
            if compressed > settings.whole_bytes or decoded > WHOLE_DECODED_BYTES:
                break
            whole.add(meta.level)
        return frozenset(whole)

    return context.shared.memo("whole-levels", volume.key, plan)


def samples_of(context: CheckContext, entity: Entity, volume: Volume, level: int) -> list[Sample]:
    """The samples of one level: every chunk whole if the level is verified whole, else the deterministic
    samples (seed: entity path and level; above level 0 the chunks are the parents of the level below's
    samples, where the pyramid check reads) and the chunks of the audit's rotating slice, whole."""
    meta = volume.levels[level]
    known = context.shared.samples.get(meta.key)
    if known is not None:
        return known
    if level in whole_levels(context, volume):
        context.shared.samples[meta.key] = whole_samples(meta)
        return context.shared.samples[meta.key]
    preferred = None
    if level > 0:
        factor = volume.factor
        below = samples_of(context, entity, volume, level - 1)
        preferred = [tuple(c // f for c, f in zip(s.chunk, factor, strict=True)) for s in below if not s.edge]
    settings = context.sampling
    samples = choose_samples(f"{entity.path}#level{meta.level}", meta, settings.chunks, settings.slab_bytes, preferred)
    if settings.rotation is not None:
        samples += whole_samples(meta, settings.rotation.chunks(meta))
    context.shared.samples[meta.key] = samples
    return samples


def _sampled(
    context: CheckContext, entity: Entity, volume: Volume, levels: list[ArrayMeta]
) -> Iterator[tuple[ArrayMeta, Sample, Box, np.ndarray]]:
    reader = context.volume_reader()
    for meta in levels:
        samples = samples_of(context, entity, volume, meta.level)
        context.coverage.record(meta, samples)
        for sample in samples:
            box, data = reader.sample(meta, sample)
            yield meta, sample, box, data


def _where(box: Box, data: np.ndarray, mask: np.ndarray) -> tuple[int, ...]:
    """Array coordinates of the first voxel where ``mask`` holds."""
    local = np.unravel_index(int(np.argmax(mask)), data.shape)
    return tuple(int(lo + i) for (lo, _), i in zip(box, local, strict=True))


def _number(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)


def _missing(reader: VolumeReader, meta: ArrayMeta, region: Box) -> str:
    """A note when the chunk holding ``region`` is absent (readers then see the fill value)."""
    chunk = tuple(lo // c for (lo, _), c in zip(region, meta.chunks, strict=True))
    if reader.chunk_exists(meta, chunk):
        return ""
    return f"; chunk object {meta.chunk_key(chunk)} is missing, so readers see the fill value"


# -- the checks ------------------------------------------------------------------------------


def vol_chunk_decode(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    empty = [
        meta.level
        for meta in volume.levels
        if not any(not k.rsplit("/", 1)[-1].startswith(".") for k in context.reader.keys_under(meta.key))
    ]
    if empty:
        fail(f"declared levels {empty} have no chunk objects", observed=empty)
    reader = context.volume_reader()
    reader.read_ahead(
        [(meta, sample.chunk) for meta in volume.levels for sample in samples_of(context, entity, volume, meta.level)]
    )
    problems, total = [], 0
    for meta in volume.levels:
        samples = samples_of(context, entity, volume, meta.level)
        context.coverage.record(meta, samples)
        for sample in samples:
            total += 1
            try:
                reader.sample(meta, sample)
            except ChunkUnreadable as error:
                problems.append(f"{error.key}: {error.reason}")
    if problems:
        fail(f"{len(problems)} of {total} chunks read do not decode; {problems[0]}", observed=problems)


def _equal_mask(zarr: np.ndarray, mrc: np.ndarray) -> np.ndarray:
    """Voxel-wise agreement: exact for equal dtypes (NaN equals NaN) and integer pairs, else float64
    within a relative tolerance fitted to the less precise float dtype."""
    same = zarr.dtype.newbyteorder("=") == mrc.dtype.newbyteorder("=")
    if same or (zarr.dtype.kind in "iub" and mrc.dtype.kind in "iub"):
        equal = zarr.astype(np.float64) == mrc.astype(np.float64) if not same else zarr == mrc
        if zarr.dtype.kind == "f":
            equal |= np.isnan(zarr) & np.isnan(mrc)
        return equal
    floats = [d for d in (zarr.dtype, mrc.dtype) if d.kind == "f"]
    rtol = max(EQ_RTOL, 4 * max(float(np.finfo(d).eps) for d in floats))
    return np.isclose(zarr.astype(np.float64), mrc.astype(np.float64), rtol=rtol, atol=0.0, equal_nan=True)


def vol_mrc_eq_zarr(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    mrc_key = family.mrc_key(context, entity)
    header = context.reader.mrc_header(mrc_key)
    if header.dtype is None:
        skip(f"MRC mode {header.mode} has no data type (reported by -MRC-DTYPE)")
    volume = load_volume(context, family, entity)
    level0 = volume.levels[0]
    if level0.shape != header.shape:
        skip(f"zarr level 0 {list(level0.shape)} and MRC {list(header.shape)} differ (reported by -MRC-ZARR-SHAPE)")
    reader = context.volume_reader()
    samples = samples_of(context, entity, volume, 0)
    context.coverage.record(level0, samples)
    regions = reader.mrc_regions(mrc_key, header, [sample.global_box(level0) for sample in samples])
    for sample, mrc in zip(samples, regions, strict=True):
        box, data = reader.sample(level0, sample)
        equal = _equal_mask(data, mrc)
        if not equal.all():
            where = _where(box, data, ~equal)
            local = tuple(w - lo for w, (lo, _) in zip(where, box, strict=True))
            fail(
                f"{sample.describe(level0)}: {int((~equal).sum())} of {equal.size} voxels differ from the MRC "
                f"(first at z,y,x={where}: zarr {_number(data[local])}, MRC {_number(mrc[local])})"
                f"{_missing(reader, level0, box)}",
                observed=_number(data[local]),
                expected=_number(mrc[local]),
            )


def _parent_region(box: Box, factor: tuple[int, ...], shape: tuple[int, ...]) -> Box:
    """The level-(i+1) voxels whose whole block lies in level-i ``box`` (blocks cut by the array's
    end count as whole: their rest is padding)."""
    region = []
    for (lo, hi), f, n in zip(box, factor, shape, strict=True):
        region.append((-(-lo // f), hi // f if hi < n else -(-n // f)))
    return tuple(region)


def _block_mean_valid(data: np.ndarray, factor: tuple[int, ...]) -> np.ndarray:
    """Mean over the valid voxels of each block (the convention that ignores the padding)."""
    padded_shape = [math.ceil(n / f) * f for n, f in zip(data.shape, factor, strict=True)]
    values = np.zeros(padded_shape)
    counts = np.zeros(padded_shape)
    values[tuple(slice(0, n) for n in data.shape)] = data
    counts[tuple(slice(0, n) for n in data.shape)] = 1
    split = [x for n, f in zip(padded_shape, factor, strict=True) for x in (n // f, f)]
    return values.reshape(split).sum(axis=(1, 3, 5)) / counts.reshape(split).sum(axis=(1, 3, 5))


def _pyramid_mismatch(stored: np.ndarray, expected: np.ndarray, child: np.ndarray, kind: VolumeKind) -> np.ndarray:
    if kind in MASK_KINDS:
        # Compared as numbers without casting: a NaN in a (broken, float) mask is a mismatch, not a warning.
        return np.not_equal(stored, expected)
    finite = child[np.isfinite(child)] if child.dtype.kind == "f" else child
    spread = float(finite.max() - finite.min()) if finite.size else 0.0
    stored64, expected64 = stored.astype(np.float64), expected.astype(np.float64)
    tolerance = PYRAMID_ABS * spread + PYRAMID_REL * np.abs(expected64)
    close = np.abs(stored64 - expected64) <= tolerance
    close |= np.isnan(stored64) & np.isnan(expected64)
    return ~close


def vol_pyramid(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    kind, factor, levels = volume.kind, volume.factor, volume.levels
    for child, parent in itertools.pairwise(levels):
        expected_shape = tuple(math.ceil(n / f) for n, f in zip(child.shape, factor, strict=True))
        if parent.shape != expected_shape:
            skip(
                f"level {parent.level} shape {list(parent.shape)} is not level {child.level} halved (-ZARR-LEVEL-SHAPE)"
            )
    reader = context.volume_reader()
    edge_convention: list[str] = []
    for child, parent in itertools.pairwise(levels):
        samples = samples_of(context, entity, volume, child.level)
        context.coverage.record(child, samples)
        for sample in samples:
            box, data = reader.sample(child, sample)
            region = _parent_region(box, factor, child.shape)
            if any(hi <= lo for lo, hi in region):
                continue
            used = tuple(
                slice(lo * f - b0, min(hi * f, n) - b0)
                for (lo, hi), f, n, (b0, _) in zip(region, factor, child.shape, box, strict=True)
            )
            source = data[used]
            expected = downsample(np.ascontiguousarray(source), kind)
            stored = reader.zarr_region(parent, region)
            mismatch = _pyramid_mismatch(stored, expected, source, kind)
            if not mismatch.any():
                continue
            if kind not in MASK_KINDS:
                valid_mean = _block_mean_valid(source.astype(np.float64), factor)
                if not _pyramid_mismatch(stored, valid_mean, source, kind).any():
                    edge_convention.append(sample.describe(child))
                    continue
            where = _where(region, stored, mismatch)
            local = tuple(w - lo for w, (lo, _) in zip(where, region, strict=True))
            rule = {
                VolumeKind.SEGMENTATION_MASK: "the OR-pool",
                VolumeKind.INSTANCE_MASK: "the nearest-neighbour ([::2]) sample",
            }.get(kind, "the padded block mean")
            fail(
                f"level {parent.level} is not {rule} of level {child.level} at {sample.describe(child)}: "
                f"{int(mismatch.sum())} of {mismatch.size} voxels differ (first at z,y,x={where}: stored "
                f"{_number(stored[local])}, expected {_number(expected[local])}){_missing(reader, parent, region)}",
                observed=_number(stored[local]),
                expected=_number(expected[local]),
            )
    if edge_convention:
        fail(
            f"edge blocks hold the mean of their valid voxels, not the zero-padded mean of formats.md §1.1 "
            f"(at {edge_convention[0]})",
            severity=Severity.WARNING,
        )


def vol_finite(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    floats = [meta for meta in volume.levels if meta.dtype.kind in "fc"]
    for meta, sample, box, data in _sampled(context, entity, volume, floats):
        bad = ~np.isfinite(data)
        if bad.any():
            where = _where(box, data, bad)
            fail(
                f"{sample.describe(meta)}: {int(bad.sum())} NaN/Inf voxels (first at z,y,x={where})",
                observed=int(bad.sum()),
                expected=0,
            )


def vol_not_constant(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    if volume_kind(family) in MASK_KINDS:
        _mask_not_empty(context, family, entity, volume)
        return
    pieces = [data.ravel() for *_, data in _sampled(context, entity, volume, volume.levels[:1])]
    values = np.concatenate(pieces) if pieces else np.empty(0)
    if values.size == 0:
        skip("no voxels sampled")
    chunks = len({sample.chunk for sample in samples_of(context, entity, volume, 0)})
    if np.all(values == values[0]) or (values.dtype.kind == "f" and np.isnan(values).all()):
        fail(f"all {values.size} sampled voxels of {chunks} chunk(s) equal {_number(values[0])}", observed=values[0])


def _mask_not_empty(context: CheckContext, family: VolumeFamily, entity: Entity, volume: Volume) -> None:
    """A mask is mostly background, so all-zero samples say nothing: it is called empty only from facts about
    the whole mask. Every chunk of level 0 when their objects fit the check's budget (the largest first: a
    chunk with foreground compresses least), else the MRC header's statistics."""
    meta = volume.levels[0]
    reader = context.volume_reader()
    chunks = list(itertools.product(*(range(n) for n in meta.grid)))
    sizes = {
        chunk: context.reader.info(meta.chunk_key(chunk)).size for chunk in chunks if reader.chunk_exists(meta, chunk)
    }
    stored = sum(sizes.values())
    budget = context.unspent_budget()
    if budget is None or stored <= budget:
        # A missing chunk reads as the fill value: one of them tells what all of them hold.
        absent = next((chunk for chunk in chunks if chunk not in sizes), None)
        scanned = sorted(sizes, key=sizes.__getitem__, reverse=True) + ([absent] if absent is not None else [])
        if any(reader.scan_chunk(meta, chunk).any() for chunk in scanned):
            return
        fail(f"every voxel of level 0 ({len(chunks)} chunk(s)) is 0: an empty mask", severity=Severity.WARNING)
    header = context.reader.mrc_header(family.mrc_key(context, entity))
    if header.dmin > header.dmax:
        skip(
            f"level 0 ({format_bytes(stored)} in {len(sizes)} chunk objects) is over the budget left, and the "
            "MRC header's statistics are undetermined (dmin > dmax)"
        )
    if header.dmin == header.dmax == 0:
        fail(
            "the MRC header's statistics say every voxel is 0 (dmin = dmax = 0): an empty mask",
            severity=Severity.WARNING,
        )


def vol_stats_plausible(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    mrc_key = family.mrc_key(context, entity)
    header = context.reader.mrc_header(mrc_key)
    if header.dtype is None:
        skip(f"MRC mode {header.mode} has no data type (reported by -MRC-DTYPE)")
    # The MRC is sampled where zarr level 0 is (same grid and seed), whatever the store holds.
    grid = ArrayMeta(mrc_key, 0, header.shape, family.chunks, header.dtype, "/", "C", None, None, 0)
    settings = context.sampling
    samples = choose_samples(f"{entity.path}#level0", grid, settings.chunks, settings.slab_bytes)
    context.coverage.record(grid, samples)
    regions = context.volume_reader().mrc_regions(mrc_key, header, [sample.global_box(grid) for sample in samples])
    pieces = [region.ravel() for region in regions]
    values = np.concatenate(pieces).astype(np.float64) if pieces else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size == 0:
        skip("no finite voxels sampled (reported by -VOL-FINITE)")
    low, high = float(values.min()), float(values.max())
    epsilon = 1e-5 * max(1.0, abs(header.dmin), abs(header.dmax))
    if low < header.dmin - epsilon or high > header.dmax + epsilon:
        fail(
            f"sampled data spans [{_number(low)}, {_number(high)}], outside the header's "
            f"[dmin, dmax] = [{_number(header.dmin)}, {_number(header.dmax)}]",
            observed=[low, high],
            expected=[header.dmin, header.dmax],
        )
    if volume_kind(family) in MASK_KINDS:
        return  # a mask's samples may be all background or all foreground: their mean says nothing of dmean
    mean = float(values.mean())
    if math.isfinite(header.rms) and abs(mean - header.dmean) > 0.5 * header.rms:
        fail(
            f"sampled mean {_number(mean)} is more than 0.5·rms ({_number(header.rms)}) from dmean "
            f"{_number(header.dmean)}",
            observed=mean,
            expected=header.dmean,
            severity=Severity.WARNING,
        )


def mask_binary(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    for meta, sample, box, data in _sampled(context, entity, volume, volume.levels):
        bad = (data != 0) & (data != 1)
        if bad.any():
            values = sorted({_number(v) for v in np.unique(data[bad])[:5]})
            fail(
                f"{sample.describe(meta)}: {int(bad.sum())} voxels are neither 0 nor 1 (values {values}, first at "
                f"z,y,x={_where(box, data, bad)})",
                observed=values,
                expected=[0, 1],
            )


def declared_labels(multiscales: Multiscales) -> set[int]:
    """The ``label-value`` of every ``image-label`` color (malformed entries are ISEG-LABEL-META's)."""
    image_label = multiscales.metadata.get("image-label")
    colors = image_label.get("colors") if isinstance(image_label, dict) else None
    labels = set()
    for color in colors if isinstance(colors, list) else []:
        value = color.get("label-value") if isinstance(color, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            labels.add(value)
    return labels


def mask_labels_sampled(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    context.sampling.require()
    volume = load_volume(context, family, entity)
    declared = declared_labels(volume.multiscales)
    allowed = declared | {0}
    in_level0: set[int] = set()
    for meta, sample, box, data in _sampled(context, entity, volume, volume.levels):
        present = {int(v) for v in np.unique(data)}
        if meta.level == 0:
            in_level0 |= present
        undeclared = sorted(present - allowed)
        if undeclared:
            bad = np.isin(data, undeclared)
            fail(
                f"{sample.describe(meta)}: labels {undeclared[:10]} are not declared image-label colors "
                f"{sorted(allowed - {0})[:10]} (first at z,y,x={_where(box, data, bad)})",
                observed=undeclared,
                expected=sorted(allowed),
            )
    absent = sorted(declared - in_level0)
    if absent and 0 in whole_levels(context, volume):
        # Only a mask read whole can show that a declared instance is gone (merged into another, or lost).
        fail(
            f"declared labels {absent[:10]} are absent from the whole mask (level 0 holds "
            f"{sorted(in_level0 - {0})[:10]}): instances merged or lost?",
            observed=sorted(in_level0 - {0}),
            expected=sorted(declared),
        )


def _fill_chunk_size(meta: ArrayMeta) -> int:
    """The size of a chunk that holds only the fill value, encoded as the array declares."""
    import numcodecs  # imported by the first check that needs it, not at start-up

    encoded: Any = meta.fill(meta.chunks).tobytes()
    for spec in meta.filters or []:
        encoded = numcodecs.get_codec(dict(spec)).encode(encoded)
    if meta.compressor is not None:
        encoded = numcodecs.get_codec(dict(meta.compressor)).encode(encoded)
    return len(memoryview(encoded).cast("B"))


#: A chunk at most this much larger than an encoded fill-only chunk (other encoder versions differ by a few
#: bytes) may hold nothing but the fill value, and is decoded to see; a section's data adds far more. A writer
#: whose fill-only chunks are larger still (other Blosc block sizes) is not caught, never falsely accused.
FILL_SIZE_SLACK = 1024


def ts_sections_filled(context: CheckContext, family: VolumeFamily, entity: Entity) -> None:
    """No tilt-series section of level 0 reads back as nothing but the fill value.

    Decided from the listing for every chunk: only chunks as small as a fill-only chunk are read (and
    decoded); a missing chunk is -ZARR-CHUNK-COVERAGE's. A section that is empty in the zarr but not in the
    MRC (a band of its middle rows is read) lost its data: an error; empty in both, a blank tilt: a warning."""
    context.sampling.require()
    volume = load_volume(context, family, entity)
    meta = volume.levels[0]
    listing = context.reader.snapshot.listing
    context.coverage.record(meta, whole_samples(meta))
    try:
        fill_size = _fill_chunk_size(meta) + FILL_SIZE_SLACK
    except Exception as error:  # numcodecs raises anything for a codec it lacks or a bad configuration
        skip(f"cannot encode a fill-only chunk with {meta.compressor} ({error}; -VOL-CHUNK-DECODE reads the chunks)")
    rows: dict[int, list[tuple[int, ...]]] = {}
    for chunk in itertools.product(*(range(g) for g in meta.grid)):
        rows.setdefault(chunk[0], []).append(chunk)
    reader = context.volume_reader()
    empty: list[int] = []
    for z_chunk, chunks in sorted(rows.items()):
        keys = [meta.chunk_key(chunk) for chunk in chunks]
        if any(key not in listing or listing[key].size > fill_size for key in keys):
            continue  # data in some chunk of these sections (a missing chunk: ZARR-CHUNK-COVERAGE)
        filled = np.ones(meta.valid_extent(chunks[0])[0], dtype=bool)
        for chunk in chunks:
            data = reader.zarr_box(meta, chunk, tuple((0, n) for n in meta.valid_extent(chunk)))
            filled &= (data == meta.fill((1,))[0]).reshape(data.shape[0], -1).all(axis=1)
        empty += [z_chunk * meta.chunks[0] + int(z) for z in np.flatnonzero(filled)]
    if not empty:
        return
    mrc_key = family.mrc_key(context, entity)
    header = context.reader.mrc_header(mrc_key)
    middle = header.ny // 2
    bands = reader.mrc_regions(mrc_key, header, [((z, z + 1), (middle, min(middle + 2, header.ny)), (0, header.nx))
                                                for z in empty])  # fmt: skip
    lost = [z for z, band in zip(empty, bands, strict=True) if np.any(band != 0)]
    if lost:
        fail(
            f"sections {lost[:10]} of {meta.shape[0]} read back as the fill value only, where the MRC holds data",
            observed=lost,
        )
    fail(
        f"sections {empty[:10]} of {meta.shape[0]} are the fill value only, in the zarr and the MRC (blank tilts?)",
        observed=empty,
        severity=Severity.WARNING,
    )


# -- registration, per family (as volumes.py does for the header suites) ---------------------

ContentCheck = Callable[[CheckContext, VolumeFamily, Entity], None]

#: (code suffix, severity, title, function)
CONTENT_SUITE: list[tuple[str, Severity, str, ContentCheck]] = [
    (
        "VOL-CHUNK-DECODE",
        Severity.ERROR,
        "sampled chunks decode to the declared shape and dtype; every level has chunks",
        vol_chunk_decode,
    ),
    ("VOL-MRC-EQ-ZARR", Severity.ERROR, "sampled level-0 regions equal the same MRC voxels", vol_mrc_eq_zarr),
    ("VOL-PYRAMID", Severity.ERROR, "sampled level i+1 regions are the 2× downsampling of level i", vol_pyramid),
    ("VOL-FINITE", Severity.ERROR, "no NaN or Inf in sampled float data", vol_finite),
    (
        "VOL-NOT-CONSTANT",
        Severity.ERROR,
        "sampled voxels are not all identical (masks: not all 0, from the whole mask)",
        vol_not_constant,
    ),
    (
        "VOL-STATS-PLAUSIBLE",
        Severity.ERROR,
        "sampled MRC voxels lie within [dmin, dmax] and average near dmean",
        vol_stats_plausible,
    ),
]

#: Checks of one volume kind: masks' values, tilt-series sections.
KIND_SUITE: dict[VolumeKind, list[tuple[str, Severity, str, ContentCheck]]] = {
    VolumeKind.SEGMENTATION_MASK: [("BINARY", Severity.ERROR, "sampled mask values are 0 or 1", mask_binary)],
    VolumeKind.INSTANCE_MASK: [
        (
            "LABELS-SAMPLED",
            Severity.ERROR,
            "labels read are 0 or declared image-label colors; a mask read whole holds every declared label",
            mask_labels_sampled,
        )
    ],
    VolumeKind.TILTSERIES: [
        (
            "SECTIONS-FILLED",
            Severity.ERROR,
            "no level-0 section reads back as the fill value only (from chunk sizes; small chunks decoded)",
            ts_sections_filled,
        )
    ],
}


def _runner(family: VolumeFamily, function: ContentCheck) -> Callable[[CheckContext, Entity], None]:
    return lambda context, entity: function(context, family, entity)


for _family in FAMILIES:
    for _suffix, _severity, _title, _function in CONTENT_SUITE + KIND_SUITE.get(volume_kind(_family), []):
        register(
            f"{_family.prefix}-{_suffix}",
            entity=_family.entity,
            tier=Tier.SAMPLE,
            severity=_severity,
            title=_title,
            function=_runner(_family, _function),
        )
