"""The SAMPLE-tier volume content checks: sampling, partial reads, and each check on good and broken data.

Volumes are written with the project's own writers (``PyramidWriter``, ``build_header``) into small local
buckets at the tomogram's layout path; masks and tilt series use families built here (the lead registers
their real families), so the checks run on every volume kind.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numcodecs import Blosc, Zstd

from data_validation.checks import CheckContext, content
from data_validation.checks.volumes import FAMILIES, VolumeFamily
from data_validation.engine import Result, Status, evaluate
from data_validation.entities import Entity
from data_validation.reader import ObjectReader
from data_validation.registry import REGISTRY, EntityKind, Severity
from data_validation.sampling import (
    MERGE_GAP_BYTES,
    WHOLE_OBJECT_BYTES,
    ArrayMeta,
    EntityCache,
    Rotation,
    SampleSettings,
    VolumeReader,
    choose_samples,
    contiguous_hull,
    whole_samples,
)
from data_validation.snapshot import discover
from importers.formats.mrc import DataStatistics, build_header, portal_label
from importers.formats.omezarr import PyramidWriter, VolumeKind, downsample
from importers.storage import Bucket
from tests.corruptions import TOMOGRAM

STORE = f"{TOMOGRAM}/TS_001"
RNG = np.random.default_rng(7)
CONTENT_CODES = [suffix for suffix, *_ in content.CONTENT_SUITE]


@dataclass(frozen=True)
class FixedFamily(VolumeFamily):
    """A family whose MRC and zarr are at the tomogram's place (for mask and tilt-series kinds)."""

    kind: VolumeKind = VolumeKind.TOMOGRAM

    def mrc_key(self, context: CheckContext, entity: Entity) -> str:
        return f"{STORE}.mrc"

    def zarr_key(self, context: CheckContext, entity: Entity) -> str:
        return f"{STORE}.zarr"


def family(kind: VolumeKind) -> FixedFamily:
    tiltseries = kind is VolumeKind.TILTSERIES
    prefix = {VolumeKind.SEGMENTATION_MASK: "SEG", VolumeKind.INSTANCE_MASK: "ISEG"}.get(kind, kind.name[:4])
    return FixedFamily(
        prefix=prefix,
        entity=EntityKind.TOMOGRAM,
        ispg=0 if tiltseries else 1,
        mrc_dtypes=frozenset(),
        zarr_dtypes=frozenset(),
        chunks=kind.chunks,
        spacing=lambda context, entity: 13.48,
        tiltseries=tiltseries,
        kind=kind,
    )


def write_volume(root: Path, data: np.ndarray, kind: VolumeKind = VolumeKind.TOMOGRAM) -> Path:
    """The MRC and the OME-Zarr of ``data`` as the importer writes them, at the tomogram's place."""
    bucket = Bucket(str(root))
    values = data.astype(np.float64)
    statistics = DataStatistics(float(values.min()), float(values.max()), float(values.mean()), float(values.std()))
    header = build_header(
        data.shape, data.dtype, (13.48,) * 3, statistics=statistics, ispg=1, label=portal_label(), mz=None
    )
    bucket.write(f"{STORE}.mrc", header + np.ascontiguousarray(data).tobytes())
    writer = PyramidWriter(bucket, f"{STORE}.zarr", kind, data.shape, 13.48)
    writer.write(lambda region: data[tuple(slice(a, b) for a, b in region)])
    return root


def context_of(root: Path, sampling: SampleSettings | None = None) -> tuple[CheckContext, Entity]:
    bucket = Bucket(str(root), read_only=True)
    snapshot = discover(bucket, ["10001"])
    (entity,) = [e for e in snapshot.entities[EntityKind.TOMOGRAM] if e.path == TOMOGRAM]
    return CheckContext(ObjectReader(snapshot, bucket), sampling=sampling or SampleSettings()), entity


def run(root: Path, code: str, sampling: SampleSettings | None = None) -> Result:
    context, entity = context_of(root, sampling)
    return evaluate(REGISTRY[code], context, entity)


def run_function(
    root: Path,
    function,
    vol_family: VolumeFamily,
    sampling: SampleSettings | None = None,
    budget: int | None = None,
) -> Result:
    """A content check function on another family, as its registration would run it."""
    context, entity = context_of(root, sampling)
    check = REGISTRY["TOMO-VOL-FINITE"]
    probe = type(check)(
        check.code, check.entity, check.tier, check.severity, check.title, content._runner(vol_family, function)
    )
    return evaluate(probe, context, entity, budget)


def rewrite_level(root: Path, level: int, transform, codec=None, compressor: dict | None = None) -> None:
    """Decode every chunk of a level, transform it, encode it again (optionally with another codec)."""
    level_dir = root / f"{STORE}.zarr" / str(level)
    zarray = json.loads((level_dir / ".zarray").read_text())
    reader = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)
    writer = codec or reader
    for chunk in sorted(p for p in level_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        data = np.frombuffer(reader.decode(chunk.read_bytes()), dtype=zarray["dtype"]).reshape(zarray["chunks"])
        chunk.write_bytes(bytes(writer.encode(np.ascontiguousarray(transform(data.copy()), dtype=zarray["dtype"]))))
    if compressor is not None:
        zarray["compressor"] = compressor
        (level_dir / ".zarray").write_text(json.dumps(zarray))


def noisy(shape: tuple[int, ...]) -> np.ndarray:
    return RNG.normal(0.0, 1.0, size=shape).astype("<f4")


# -- sampling ---------------------------------------------------------------------------------


def meta(shape: tuple[int, ...], chunks: tuple[int, ...] = (256, 256, 256), dtype: str = "<f4") -> ArrayMeta:
    return ArrayMeta("s/0", 0, shape, chunks, np.dtype(dtype), "/", "C", None, None, 0)


def test_samples_are_deterministic_and_start_with_the_edge_chunk() -> None:
    array = meta((500, 1016, 980))
    samples = choose_samples("10001/TS_001/x", array, 4)
    assert samples == choose_samples("10001/TS_001/x", array, 4)
    assert samples != choose_samples("10001/TS_002/x", array, 4)
    first = samples[0]
    assert first.edge and first.chunk == (1, 3, 3)
    assert first.box == ((242, 244), (0, 256), (0, 256))  # the last two valid planes (500 - 256 = 244)
    assert first.global_box(array) == ((498, 500), (768, 1016), (768, 980))
    assert len({s.chunk for s in samples}) == 4
    assert all(s.box[0][0] % 2 == 0 and s.box[0][1] - s.box[0][0] == 2 for s in samples)


def test_small_arrays_give_several_slabs_of_their_chunk() -> None:
    array = meta((37, 45, 51))
    samples = choose_samples("seed", array, 3)
    assert len(samples) == 3 and {s.chunk for s in samples} == {(0, 0, 0)}
    assert samples[0].box[0] == (36, 38)  # odd edge: the last valid plane and one plane of padding
    assert len({s.box for s in samples}) == 3
    assert choose_samples("seed", array, 0) == []


def test_tilt_series_samples_are_bands_of_whole_rows() -> None:
    array = meta((41, 2000, 1500), chunks=(1, 1024, 1024))
    edge, other = choose_samples("ts", array, 2)
    assert edge.chunk == (40, 1, 1) and edge.box == ((0, 1), (848, 976), (0, 1024))  # 2000 - 1024 = 976
    assert other.box[0] == (0, 1) and other.box[2] == (0, 1024) and other.box[1][1] - other.box[1][0] == 128


def test_contiguous_hull() -> None:
    assert contiguous_hull(((4, 6), (0, 256), (0, 256)), (256, 256, 256)) == ((4, 6), (0, 256), (0, 256))
    assert contiguous_hull(((3, 4), (10, 20), (5, 7)), (8, 32, 32)) == ((3, 4), (10, 20), (0, 32))
    assert contiguous_hull(((0, 1), (0, 1), (2, 9)), (1, 4, 16)) == ((0, 1), (0, 1), (2, 9))


# -- partial reads ----------------------------------------------------------------------------


def test_zarr_boxes_of_large_chunks_read_only_their_blocks(tmp_path: Path) -> None:
    data = noisy((300, 64, 64))  # a 4 MiB chunk of noise, and a small one
    write_volume(tmp_path, data)
    context, _ = context_of(tmp_path)
    level0 = content.load_volume(context, FAMILIES[0], context_of(tmp_path)[1]).levels[0]
    reader = VolumeReader(context.reader)
    stats = context.reader.bucket.stats
    for chunk, box in [((0, 0, 0), ((10, 12), (0, 256), (0, 256))), ((1, 0, 0), ((40, 44), (3, 60), (5, 9)))]:
        before = stats.bytes_read
        got = reader.zarr_box(level0, chunk, box)
        whole = np.zeros((256, 256, 256), dtype="<f4")
        part = data[chunk[0] * 256 : chunk[0] * 256 + 256]
        whole[: part.shape[0], :64, :64] = part
        np.testing.assert_array_equal(got, whole[tuple(slice(a, b) for a, b in box)])
        chunk_size = context.reader.info(level0.chunk_key(chunk)).size
        if chunk_size > WHOLE_OBJECT_BYTES:  # a large chunk: its index and the blocks of the box only
            assert stats.bytes_read - before < chunk_size / 4
        else:  # a small one: whole, in one request
            assert stats.bytes_read - before == chunk_size


def test_small_mrcs_are_read_whole_once(tmp_path: Path) -> None:
    data = noisy((10, 30, 40))
    write_volume(tmp_path, data)
    context, _ = context_of(tmp_path)
    header = context.reader.mrc_header(f"{STORE}.mrc")
    reader = VolumeReader(context.reader)
    stats = context.reader.bucket.stats
    before = stats.snapshot()
    np.testing.assert_array_equal(
        reader.mrc_region(f"{STORE}.mrc", header, ((2, 4), (5, 9), (7, 20))), data[2:4, 5:9, 7:20]
    )
    np.testing.assert_array_equal(reader.mrc_region(f"{STORE}.mrc", header, ((3, 6), (0, 30), (0, 40))), data[3:6])
    after = stats.snapshot()
    assert after["total_requests"] - before["total_requests"] == 1
    assert after["bytes_read"] - before["bytes_read"] == context.reader.info(f"{STORE}.mrc").size


def test_large_mrc_regions_read_bands_of_their_rows_merged_when_near(tmp_path: Path) -> None:
    data = noisy((60, 200, 200))  # 160 KB planes, 9.6 MB in all
    assert data.nbytes > WHOLE_OBJECT_BYTES
    write_volume(tmp_path, data)
    context, _ = context_of(tmp_path)
    header = context.reader.mrc_header(f"{STORE}.mrc")
    stats = context.reader.bucket.stats
    before = stats.snapshot()
    near, far = ((2, 4), (5, 9), (7, 20)), ((6, 7), (0, 200), (0, 200))
    distant = ((50, 51), (10, 12), (0, 200))
    got = VolumeReader(context.reader).mrc_regions(f"{STORE}.mrc", header, [near, far, distant])
    for region, values in zip([near, far, distant], got, strict=True):
        np.testing.assert_array_equal(values, data[tuple(slice(a, b) for a, b in region)])
    after = stats.snapshot()
    row = 200 * 4
    # planes 2-3 rows 5-9 and plane 6 are less than MERGE_GAP_BYTES apart: one request; plane 50 another.
    assert (50 - 6) * 200 * row > MERGE_GAP_BYTES > (6 - 3) * 200 * row
    assert after["total_requests"] - before["total_requests"] == 2
    first = (6 * 200 + 200) * row - (2 * 200 + 5) * row
    assert after["bytes_read"] - before["bytes_read"] == first + 2 * row


# -- the checks on good data, of every kind -----------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 45, 51), (300, 20, 30)], ids=["odd-edges", "two-chunks"])
def test_content_checks_pass_on_written_tomograms(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    write_volume(tmp_path, noisy(shape))
    for suffix in CONTENT_CODES:
        result = run(tmp_path, f"TOMO-{suffix}")
        assert result.status is Status.PASSED, result.line()


@pytest.mark.parametrize("kind", [VolumeKind.TILTSERIES, VolumeKind.SEGMENTATION_MASK, VolumeKind.INSTANCE_MASK])
def test_content_checks_pass_on_other_kinds(tmp_path: Path, kind: VolumeKind) -> None:
    shape = (5, 41, 60) if kind is VolumeKind.TILTSERIES else (21, 33, 30)
    data = {
        VolumeKind.TILTSERIES: lambda: noisy(shape),
        VolumeKind.SEGMENTATION_MASK: lambda: (RNG.random(shape) > 0.8).astype("i1"),
        VolumeKind.INSTANCE_MASK: lambda: RNG.choice(np.array([0, 1, 2, 7], dtype="<u2"), size=shape),
    }[kind]()
    write_volume(tmp_path, data, kind)
    vol_family = family(kind)
    functions = [entry[3] for entry in content.CONTENT_SUITE + content.KIND_SUITE.get(kind, [])]
    assert len(functions) == 7  # masks: their values; tilt series: their sections
    for function in functions:
        result = run_function(tmp_path, function, vol_family)
        assert result.status is Status.PASSED, (function.__name__, result.line())


def test_the_reference_segmentation_mask_is_binary_and_pooled() -> None:
    from tests.conftest import shared_dir

    root = shared_dir() / "reference-90001" / "output"
    annotation = "90001/SYN_run1/Reconstructions/VoxelSpacing13.480/Annotations/101/membrane-1.0_segmentationmask"

    @dataclass(frozen=True)
    class ReferenceMask(FixedFamily):
        def zarr_key(self, context: CheckContext, entity: Entity) -> str:
            return f"{annotation}.zarr"

    bucket = Bucket(str(root), read_only=True)
    snapshot = discover(bucket, ["90001"])
    context = CheckContext(ObjectReader(snapshot, bucket))
    entity = snapshot.entities[EntityKind.TOMOGRAM][0]
    mask_family = ReferenceMask(**{**family(VolumeKind.SEGMENTATION_MASK).__dict__})
    for function in (content.mask_binary, content.vol_pyramid, content.vol_chunk_decode):
        function(context, mask_family, entity)  # raises on a finding


def test_sample_chunks_zero_skips_the_tier(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    results = [run(tmp_path, f"TOMO-{suffix}", SampleSettings(chunks=0)) for suffix in CONTENT_CODES]
    assert all(r.status is Status.SKIPPED and "skipped(tier)" in r.message for r in results)


# -- the checks on their defects ---------------------------------------------------------------


def test_z_flipped_mrc_differs_from_the_zarr(tmp_path: Path) -> None:
    data = noisy((37, 45, 51))
    write_volume(tmp_path, data)
    mrc = tmp_path / f"{STORE}.mrc"
    raw = mrc.read_bytes()
    mrc.write_bytes(raw[:1024] + np.ascontiguousarray(data[::-1]).tobytes())
    result = run(tmp_path, "TOMO-VOL-MRC-EQ-ZARR")
    assert result.status is Status.FAILED and "voxels differ from the MRC" in result.message
    assert run(tmp_path, "TOMO-VOL-STATS-PLAUSIBLE").status is Status.PASSED  # same values, other order


def test_level_written_from_other_data_is_not_the_block_mean(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    rewrite_level(tmp_path, 2, lambda d: d[::-1].copy())
    result = run(tmp_path, "TOMO-VOL-PYRAMID")
    assert result.status is Status.FAILED and result.severity is Severity.ERROR
    assert "level 2 is not the padded block mean of level 1" in result.message


def test_valid_voxel_mean_at_odd_edges_is_a_warning(tmp_path: Path) -> None:
    data = noisy((37, 45, 51))
    write_volume(tmp_path, data)

    def valid_mean(block: np.ndarray) -> np.ndarray:  # what some writers do at odd edges
        return content._block_mean_valid(block.astype(np.float64), (2, 2, 2)).astype("<f4")

    level1 = valid_mean(data)
    level2 = valid_mean(level1)
    for level, values in ((1, level1), (2, level2)):

        def put(chunk: np.ndarray, values: np.ndarray = values) -> np.ndarray:
            chunk[:] = 0
            chunk[tuple(slice(0, n) for n in values.shape)] = values
            return chunk

        rewrite_level(tmp_path, level, put)
    result = run(tmp_path, "TOMO-VOL-PYRAMID")
    assert result.status is Status.FAILED and result.severity is Severity.WARNING, result.line()
    assert "valid voxels" in result.message


def test_nan_block_is_not_finite(tmp_path: Path) -> None:
    data = noisy((37, 45, 51))
    data[:, 40:, 40:] = np.nan
    write_volume(tmp_path, data)
    result = run(tmp_path, "TOMO-VOL-FINITE")
    assert result.status is Status.FAILED and "NaN/Inf voxels" in result.message
    assert run(tmp_path, "TOMO-VOL-MRC-EQ-ZARR").status is Status.PASSED  # NaN equals NaN


def test_declared_level_without_chunks(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    for chunk in (tmp_path / f"{STORE}.zarr" / "1").rglob("*"):
        if chunk.is_file() and not chunk.name.startswith("."):
            chunk.unlink()
    result = run(tmp_path, "TOMO-VOL-CHUNK-DECODE")
    assert result.status is Status.FAILED and "declared levels [1] have no chunk objects" in result.message


def test_truncated_chunk_does_not_decode_and_is_reported_once(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    chunk = tmp_path / f"{STORE}.zarr/0/0/0/0"
    chunk.write_bytes(chunk.read_bytes()[:-64])
    result = run(tmp_path, "TOMO-VOL-CHUNK-DECODE")
    assert result.status is Status.FAILED and "TS_001.zarr/0/0/0/0: not a valid Blosc frame" in result.message
    others = [run(tmp_path, f"TOMO-{s}") for s in ("VOL-MRC-EQ-ZARR", "VOL-PYRAMID", "VOL-FINITE")]
    assert all(r.status is Status.SKIPPED and "reported elsewhere" in r.message for r in others)


def test_constant_volume(tmp_path: Path) -> None:
    write_volume(tmp_path, np.full((37, 45, 51), 2.5, dtype="<f4"))
    result = run(tmp_path, "TOMO-VOL-NOT-CONSTANT")
    assert result.status is Status.FAILED and "equal 2.5" in result.message


def test_dmax_below_the_data(tmp_path: Path) -> None:
    from tests.corruptions import patch_mrc_header

    data = noisy((37, 45, 51))
    write_volume(tmp_path, data)
    patch_mrc_header(tmp_path / f"{STORE}.mrc", dmax=float(np.percentile(data, 60)))
    result = run(tmp_path, "TOMO-VOL-STATS-PLAUSIBLE")
    assert result.status is Status.FAILED and result.severity is Severity.ERROR
    assert "outside the header's [dmin, dmax]" in result.message


def test_dmean_far_from_the_data_is_a_warning(tmp_path: Path) -> None:
    from tests.corruptions import patch_mrc_header

    write_volume(tmp_path, noisy((37, 45, 51)))
    patch_mrc_header(tmp_path / f"{STORE}.mrc", dmean=0.9)
    result = run(tmp_path, "TOMO-VOL-STATS-PLAUSIBLE")
    assert result.status is Status.FAILED and result.severity is Severity.WARNING


def test_wrong_mask_values(tmp_path: Path) -> None:
    seg = (RNG.random((21, 33, 30)) > 0.8).astype("i1")
    seg[:, :3, :3] = 2
    write_volume(tmp_path / "seg", seg, VolumeKind.SEGMENTATION_MASK)
    result = run_function(tmp_path / "seg", content.mask_binary, family(VolumeKind.SEGMENTATION_MASK))
    assert result.status is Status.FAILED and "neither 0 nor 1" in result.message

    labels = RNG.choice(np.array([0, 1, 2], dtype="<u2"), size=(21, 33, 30))
    write_volume(tmp_path / "iseg", labels, VolumeKind.INSTANCE_MASK)
    zattrs = tmp_path / "iseg" / f"{STORE}.zarr/.zattrs"
    document = json.loads(zattrs.read_text())
    document["multiscales"][0]["metadata"]["image-label"]["colors"] = [{"label-value": 1}]  # 2 undeclared
    zattrs.write_text(json.dumps(document))
    result = run_function(tmp_path / "iseg", content.mask_labels_sampled, family(VolumeKind.INSTANCE_MASK))
    assert result.status is Status.FAILED and "labels [2] are not declared" in result.message


def test_mask_pyramids_follow_their_rule(tmp_path: Path) -> None:
    labels = RNG.choice(np.array([0, 3, 5], dtype="<u2"), size=(21, 33, 30))
    write_volume(tmp_path, labels, VolumeKind.INSTANCE_MASK)
    # A mean-downsampled (not nearest-neighbour) level 1 creates labels that are not the first voxel's.
    level1 = downsample(labels.astype("<f4"), VolumeKind.TOMOGRAM).round().astype("<u2")

    def put(chunk: np.ndarray) -> np.ndarray:
        chunk[: level1.shape[0], : level1.shape[1], : level1.shape[2]] = level1
        return chunk

    rewrite_level(tmp_path, 1, put)
    result = run_function(tmp_path, content.vol_pyramid, family(VolumeKind.INSTANCE_MASK))
    assert result.status is Status.FAILED and "nearest-neighbour" in result.message


def test_empty_mask_is_a_warning(tmp_path: Path) -> None:
    write_volume(tmp_path, np.zeros((21, 33, 30), dtype="i1"), VolumeKind.SEGMENTATION_MASK)
    result = run_function(tmp_path, content.vol_not_constant, family(VolumeKind.SEGMENTATION_MASK))
    assert result.status is Status.FAILED and result.severity is Severity.WARNING
    assert "every voxel of level 0 (1 chunk(s)) is 0" in result.message


@pytest.mark.parametrize("kind", [VolumeKind.SEGMENTATION_MASK, VolumeKind.INSTANCE_MASK])
def test_a_mask_with_background_samples_is_not_empty(tmp_path: Path, kind: VolumeKind) -> None:
    """The one sample (the edge slab, the last planes) is all background; the mask's foreground is elsewhere.
    (Sampled, not read whole: the coverage policy's whole reads are off here.)"""
    mask = np.zeros((21, 33, 30), dtype="i1")
    mask[0, 5, 5] = 1
    write_volume(tmp_path, mask, kind)
    one_sample = SampleSettings(chunks=1, whole_bytes=0)
    context, entity = context_of(tmp_path, one_sample)
    volume = content.load_volume(context, family(kind), entity)
    (sample,) = content.samples_of(context, entity, volume, 0)
    assert not VolumeReader(context.reader).sample(volume.levels[0], sample)[1].any()
    result = run_function(tmp_path, content.vol_not_constant, family(kind), one_sample)
    assert result.status is Status.PASSED, result.message


def test_a_mask_over_the_budget_is_judged_by_its_statistics(tmp_path: Path) -> None:
    from tests.corruptions import patch_mrc_header

    seg = family(VolumeKind.SEGMENTATION_MASK)
    write_volume(tmp_path, np.zeros((21, 33, 30), dtype="i1"), VolumeKind.SEGMENTATION_MASK)
    empty = run_function(tmp_path, content.vol_not_constant, seg, budget=1)
    assert empty.status is Status.FAILED and empty.severity is Severity.WARNING, empty.message
    assert "dmin = dmax = 0" in empty.message and empty.requests == 0
    patch_mrc_header(tmp_path / f"{STORE}.mrc", dmin=1.0, dmax=0.0)
    undetermined = run_function(tmp_path, content.vol_not_constant, seg, budget=1)
    assert undetermined.status is Status.SKIPPED and "undetermined" in undetermined.message
    patch_mrc_header(tmp_path / f"{STORE}.mrc", dmin=0.0, dmax=1.0)
    assert run_function(tmp_path, content.vol_not_constant, seg, budget=1).status is Status.PASSED


def test_tilt_series_pyramid_keeps_its_sections(tmp_path: Path) -> None:
    data = noisy((5, 41, 60))
    write_volume(tmp_path, data, VolumeKind.TILTSERIES)
    swapped = downsample(data[[1, 0, 2, 3, 4]], VolumeKind.TILTSERIES)  # sections 0 and 1 exchanged in level 1

    sections = iter(swapped)

    def put(chunk: np.ndarray) -> np.ndarray:
        chunk[0, : swapped.shape[1], : swapped.shape[2]] = next(sections)
        return chunk

    rewrite_level(tmp_path, 1, put)  # chunks are one section each, rewritten in section order
    result = run_function(tmp_path, content.vol_pyramid, family(VolumeKind.TILTSERIES))
    assert result.status is Status.FAILED and "level 1 is not the padded block mean of level 0" in result.message


@pytest.mark.parametrize(
    ("codec", "compressor"),
    [
        (Zstd(level=3), {"id": "zstd", "level": 3}),
        (Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE), None),
    ],
    ids=["zstd-compressor", "bitshuffled-blosc"],
)
def test_chunks_not_partially_decodable_are_read_whole(tmp_path: Path, codec, compressor) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    for level in range(3):
        rewrite_level(tmp_path, level, lambda d: d, codec=codec, compressor=compressor)
    for suffix in CONTENT_CODES:
        result = run(tmp_path, f"TOMO-{suffix}")
        assert result.status is Status.PASSED, result.line()


# -- coverage: small arrays are verified whole ---------------------------------------------------

SAMPLED_ONLY = SampleSettings(whole_bytes=0)
#: Three level-0 chunks along y (256³ chunks, 20 planes of each decoded): verified whole by default.
MANY_CHUNKS = (20, 600, 30)


@pytest.mark.parametrize("shape", [(37, 45, 51), MANY_CHUNKS], ids=["one-chunk", "many-chunks"])
def test_small_volumes_are_verified_whole_and_say_so(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    write_volume(tmp_path, noisy(shape))
    for suffix in ("VOL-CHUNK-DECODE", "VOL-MRC-EQ-ZARR", "VOL-PYRAMID", "VOL-FINITE"):
        result = run(tmp_path, f"TOMO-{suffix}")
        assert result.status is Status.PASSED, result.line()
        assert result.coverage is not None and result.coverage["fraction"] == 1.0, (suffix, result.coverage)
        verified, declared = result.coverage["chunks"]
        assert verified == declared
    sampled = run(tmp_path, "TOMO-VOL-FINITE", SAMPLED_ONLY).coverage
    assert sampled is not None and sampled["fraction"] < 0.1


def test_a_chunk_read_whole_keeps_only_its_data_and_serves_every_check(tmp_path: Path) -> None:
    """A whole read decodes the chunk once and keeps its valid data only (read-only; no decoded blocks, no
    padding): a 37×45×51 level in a 256³ chunk keeps 340 KiB, not the 37 planes of 256 KiB it decodes."""
    data = noisy((37, 45, 51))
    write_volume(tmp_path, data)
    context, entity = context_of(tmp_path)
    level0 = content.load_volume(context, FAMILIES[0], entity).levels[0]
    reader = VolumeReader(context.reader, EntityCache())
    (sample,) = whole_samples(level0)
    _, got = reader.sample(level0, sample)
    np.testing.assert_array_equal(got, data)
    key = level0.chunk_key((0, 0, 0))
    assert reader.cache.valid[key].shape == data.shape and not got.flags.writeable
    assert reader.cache.blocks.get(key) is None and key not in reader.cache.chunks
    assert reader.cache.held < 2 * data.nbytes + context.reader.info(key).size
    requests = context.reader.bucket.stats.snapshot()["total_requests"]
    np.testing.assert_array_equal(reader.zarr_box(level0, (0, 0, 0), ((3, 9), (0, 45), (7, 8))), data[3:9, :, 7:8])
    np.testing.assert_array_equal(reader.scan_chunk(level0, (0, 0, 0)), data)
    assert context.reader.bucket.stats.snapshot()["total_requests"] == requests


def test_whole_reads_of_a_one_chunk_volume_cost_no_more_requests_than_samples(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((37, 45, 51)))
    whole = [run(tmp_path, f"TOMO-{suffix}") for suffix in CONTENT_CODES]
    sampled = [run(tmp_path, f"TOMO-{suffix}", SAMPLED_ONLY) for suffix in CONTENT_CODES]
    assert sum(r.requests for r in whole) == sum(r.requests for r in sampled)


def test_large_arrays_stay_sampled(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy(MANY_CHUNKS))
    context, entity = context_of(tmp_path, SampleSettings(whole_chunks=2))
    volume = content.load_volume(context, FAMILIES[0], entity)
    assert content.whole_levels(context, volume) == {1, 2}  # level 0 has three chunks
    context, entity = context_of(tmp_path, SampleSettings(whole_bytes=1))
    assert content.whole_levels(context, content.load_volume(context, FAMILIES[0], entity)) == set()


def unsampled_voxel(root: Path, data: np.ndarray, kind: VolumeKind = VolumeKind.TOMOGRAM) -> tuple[int, int, int]:
    """A level-0 voxel that no sample of ``data`` reads, at any level (its parents neither), when sampling only."""
    shape = data.shape
    write_volume(root, data, kind)
    context, entity = context_of(root, SAMPLED_ONLY)
    volume = content.load_volume(context, family(kind), entity)
    # An odd voxel of an instance mask is in level 0 only (levels above keep the even ones, [::2]).
    levels = volume.levels[:1] if kind is VolumeKind.INSTANCE_MASK else volume.levels
    boxes = [
        [sample.global_box(meta) for sample in content.samples_of(context, entity, volume, meta.level)]
        for meta in levels
    ]
    for voxel in itertools.product(*(range(1, n - 1, 2) for n in shape)):
        if not any(
            all(lo <= v >> level < hi for v, (lo, hi) in zip(voxel, box, strict=True))
            for level, level_boxes in enumerate(boxes)
            for box in level_boxes
        ):
            return voxel
    raise AssertionError("every voxel is sampled")


@pytest.mark.parametrize("shape", [(37, 45, 51), MANY_CHUNKS], ids=["one-chunk", "many-chunks"])
def test_a_nan_voxel_that_samples_miss_is_found_by_whole_reads(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    data = noisy(shape)
    voxel = unsampled_voxel(tmp_path / "probe", data)
    data[voxel] = np.nan
    write_volume(tmp_path, data)
    assert run(tmp_path, "TOMO-VOL-FINITE", SAMPLED_ONLY).status is Status.PASSED  # the samples miss it
    result = run(tmp_path, "TOMO-VOL-FINITE")
    assert result.status is Status.FAILED and f"first at z,y,x={voxel}" in result.message, result.line()


@pytest.mark.parametrize("shape", [(37, 45, 51), MANY_CHUNKS], ids=["one-chunk", "many-chunks"])
def test_a_chunk_with_another_chunks_bytes_is_found(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    write_volume(tmp_path, noisy(shape))
    level = 0 if shape == MANY_CHUNKS else 1  # one-chunk volumes: a level-1 chunk gets level 2's bytes
    target = tmp_path / f"{STORE}.zarr/{level}/0/0/0"
    source = tmp_path / (f"{STORE}.zarr/0/0/1/0" if shape == MANY_CHUNKS else f"{STORE}.zarr/2/0/0/0")
    target.write_bytes(source.read_bytes())
    code = "TOMO-VOL-MRC-EQ-ZARR" if shape == MANY_CHUNKS else "TOMO-VOL-PYRAMID"
    assert run(tmp_path, code).status is Status.FAILED


def test_a_chunk_that_no_longer_decodes_is_found_where_samples_did_not_land(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy(MANY_CHUNKS))
    context, entity = context_of(tmp_path, SAMPLED_ONLY)
    volume = content.load_volume(context, FAMILIES[0], entity)
    sampled = {s.chunk for s in content.samples_of(context, entity, volume, 0)}
    (unsampled,) = {(0, 0, 0), (0, 1, 0), (0, 2, 0)} - sampled
    name = "/".join(map(str, unsampled))
    chunk = tmp_path / f"{STORE}.zarr/0/{name}"
    chunk.write_bytes(chunk.read_bytes()[:-64])
    assert run(tmp_path, "TOMO-VOL-CHUNK-DECODE", SAMPLED_ONLY).status is Status.PASSED
    result = run(tmp_path, "TOMO-VOL-CHUNK-DECODE")
    assert result.status is Status.FAILED and f"TS_001.zarr/0/{name}" in result.message


def declare_labels(root: Path, labels: list[int]) -> None:
    """Set the instance mask's declared image-label colors (the writer declares the labels it sees)."""
    zattrs = root / f"{STORE}.zarr/.zattrs"
    document = json.loads(zattrs.read_text())
    document["multiscales"][0]["metadata"]["image-label"]["colors"] = [{"label-value": v} for v in labels]
    zattrs.write_text(json.dumps(document))


@pytest.mark.parametrize("shape", [(21, 33, 30), (20, 600, 30)], ids=["one-chunk", "many-chunks"])
def test_instance_labels_present_are_the_declared_ones(tmp_path: Path, shape: tuple[int, int, int]) -> None:
    labels = RNG.choice(np.array([0, 1, 2, 7], dtype="<u2"), size=shape)
    voxel = unsampled_voxel(tmp_path / "probe", labels, VolumeKind.INSTANCE_MASK)
    foreign = labels.copy()
    foreign[voxel] = 9  # one voxel of an undeclared label, where no sample reads
    for settings, status in ((SAMPLED_ONLY, Status.PASSED), (SampleSettings(), Status.FAILED)):
        write_volume(tmp_path / "foreign", foreign, VolumeKind.INSTANCE_MASK)
        declare_labels(tmp_path / "foreign", [1, 2, 7])
        context, entity = context_of(tmp_path / "foreign", settings)
        check = REGISTRY["TOMO-VOL-FINITE"]
        probe = type(check)(
            "ISEG-LABELS-SAMPLED", check.entity, check.tier, check.severity, check.title,
            content._runner(family(VolumeKind.INSTANCE_MASK), content.mask_labels_sampled),
        )  # fmt: skip
        result = evaluate(probe, context, entity)
        assert result.status is status, result.line()
    assert "labels [9] are not declared" in result.message

    merged = np.where(labels == 7, 2, labels).astype("<u2")  # instance 7 merged into 2, still declared
    write_volume(tmp_path / "merged", merged, VolumeKind.INSTANCE_MASK)
    declare_labels(tmp_path / "merged", [1, 2, 7])
    result = run_function(tmp_path / "merged", content.mask_labels_sampled, family(VolumeKind.INSTANCE_MASK))
    assert result.status is Status.FAILED and "declared labels [7] are absent" in result.message, result.line()


# -- tilt-series sections that read back as the fill value ----------------------------------------


def test_tilt_series_sections_lost_in_the_zarr_are_errors_blank_in_both_warnings(tmp_path: Path) -> None:
    data = noisy((6, 41, 60))
    write_volume(tmp_path / "clean", data, VolumeKind.TILTSERIES)
    ts_family = family(VolumeKind.TILTSERIES)
    result = run_function(tmp_path / "clean", content.ts_sections_filled, ts_family)
    assert result.status is Status.PASSED and result.requests == 0, result.line()  # decided from chunk sizes
    assert result.coverage is not None and result.coverage["fraction"] == 1.0

    write_volume(tmp_path / "lost", data, VolumeKind.TILTSERIES)
    zeros = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE).encode(np.zeros((1, 1024, 1024), "<f4"))
    (tmp_path / "lost" / f"{STORE}.zarr/0/4/0/0").write_bytes(bytes(zeros))  # section 4 written as zeros
    result = run_function(tmp_path / "lost", content.ts_sections_filled, ts_family)
    assert result.status is Status.FAILED and result.severity is Severity.ERROR, result.line()
    assert "sections [4] of 6 read back as the fill value only, where the MRC holds data" in result.message

    blank = data.copy()
    blank[2] = 0
    write_volume(tmp_path / "blank", blank, VolumeKind.TILTSERIES)
    result = run_function(tmp_path / "blank", content.ts_sections_filled, ts_family)
    assert result.status is Status.FAILED and result.severity is Severity.WARNING, result.line()
    assert "sections [2] of 6 are the fill value only, in the zarr and the MRC" in result.message


# -- the audit's rotating slice -------------------------------------------------------------------


def test_k_nights_of_rotation_read_every_chunk_of_a_sampled_array_exactly_once(tmp_path: Path) -> None:
    write_volume(tmp_path, noisy((41, 40, 50)), VolumeKind.TILTSERIES)  # 41 chunks per level: sampled
    nights = 3
    read_by_night = []
    for night in range(100, 100 + nights):
        context, entity = context_of(tmp_path, SampleSettings(rotation=Rotation(night, nights)))
        volume = content.load_volume(context, family(VolumeKind.TILTSERIES), entity)
        assert content.whole_levels(context, volume) == set()
        level0 = volume.levels[0]
        samples = content.samples_of(context, entity, volume, 0)
        whole = {s.chunk for s in samples if s.box == tuple((0, n) for n in level0.valid_extent(s.chunk))}
        assert whole == set(Rotation(night, nights).chunks(level0))
        read_by_night.append(whole)
    everything = [chunk for chunks in read_by_night for chunk in chunks]
    assert sorted(everything) == [(z, 0, 0) for z in range(41)]  # every chunk, each once


def test_a_nan_section_outside_the_samples_is_found_on_its_night(tmp_path: Path) -> None:
    data = noisy((41, 40, 50))
    voxel = unsampled_voxel(tmp_path / "probe", data, VolumeKind.TILTSERIES)
    data[voxel] = np.nan
    write_volume(tmp_path, data, VolumeKind.TILTSERIES)
    found = []
    for night in range(3):
        context, entity = context_of(tmp_path, SampleSettings(rotation=Rotation(night, 3)))
        check = REGISTRY["TOMO-VOL-FINITE"]
        probe = type(check)(
            "TS-VOL-FINITE", check.entity, check.tier, check.severity, check.title,
            content._runner(family(VolumeKind.TILTSERIES), content.vol_finite),
        )  # fmt: skip
        found.append(evaluate(probe, context, entity).status is Status.FAILED)
    assert found == [night == voxel[0] % 3 for night in range(3)]


def test_an_entity_cache_holds_at_most_its_capacity_whatever_is_read(tmp_path: Path) -> None:
    """Reading every chunk of a level (as --full-content does) holds at most the cache's capacity: past it the
    cache lets go, and what is read is still the volume's data."""
    data = RNG.normal(size=(40, 300, 300)).astype("<f4")
    write_volume(tmp_path, data)
    context, entity = context_of(tmp_path)
    level0 = content.load_volume(context, family(VolumeKind.TOMOGRAM), entity).levels[0]
    capacity = 12 << 20
    reader = VolumeReader(context.reader, EntityCache(capacity=capacity))
    chunk_bytes = []
    for _ in range(2):  # twice over: what was let go is read again
        for sample in whole_samples(level0):
            box, values = reader.sample(level0, sample)
            np.testing.assert_array_equal(values, data[tuple(slice(lo, hi) for lo, hi in box)])
            assert reader.cache.held <= capacity
            chunk_bytes.append(values.nbytes)
    assert len(chunk_bytes) == 8 and sum(chunk_bytes) > 2 * capacity
