"""importers/formats/omezarr.py: OME-Zarr pyramids as the portal writes them (formats.md §1)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from importers.formats.omezarr import (
    AXES,
    VolumeKind,
    ZarrFormatError,
    downsample,
    dumps,
    level_shapes,
    read_multiscales,
    read_zarray,
    zarray,
    zattrs,
)
from importers.formats.omezarr import PyramidWriter as Writer
from importers.storage import Bucket
from tests.conftest import shared_dir
from tests.s3_proxy import S3Proxy

TOMOGRAM, TILTSERIES = VolumeKind.TOMOGRAM, VolumeKind.TILTSERIES
SEGMENTATION, INSTANCES = VolumeKind.SEGMENTATION_MASK, VolumeKind.INSTANCE_MASK
Region = tuple[tuple[int, int], ...]

# -- formats.md §1.2, written out --------------------------------------------------------------------

SPEC_AXES = [
    {"name": "z", "type": "space", "unit": "angstrom"},
    {"name": "y", "type": "space", "unit": "angstrom"},
    {"name": "x", "type": "space", "unit": "angstrom"},
]


def _datasets(*scales: list[float]) -> list[dict[str, Any]]:
    return [
        {"coordinateTransformations": [{"scale": scale, "type": "scale"}], "path": str(level)}
        for level, scale in enumerate(scales)
    ]


SPEC_TOMOGRAM_DATASETS = _datasets([13.48, 13.48, 13.48], [26.96, 26.96, 26.96], [53.92, 53.92, 53.92])
SPEC_TOMOGRAM = {
    "multiscales": [
        {"axes": SPEC_AXES, "datasets": SPEC_TOMOGRAM_DATASETS, "metadata": {}, "name": "/", "version": "0.4"}
    ]
}
SPEC_TILTSERIES = {
    "multiscales": [
        {
            "axes": SPEC_AXES,
            "datasets": _datasets([3.37, 3.37, 3.37], [3.37, 6.74, 6.74], [3.37, 13.48, 13.48]),
            "metadata": {},
            "name": "/",
            "version": "0.4",
        }
    ]
}
SPEC_INSTANCES = {
    "multiscales": [
        {
            "axes": SPEC_AXES,
            "datasets": SPEC_TOMOGRAM_DATASETS,
            "metadata": {
                "image-label": {
                    "colors": [{"label-value": 1}, {"label-value": 2}, {"label-value": 7}],
                    "version": "0.4",
                }
            },
            "name": "/",
            "version": "0.4",
        }
    ]
}
SPEC_LEVEL0_ZARRAY = {
    "chunks": [256, 256, 256],
    "compressor": {"blocksize": 0, "clevel": 5, "cname": "lz4", "id": "blosc", "shuffle": 1},
    "dimension_separator": "/",
    "dtype": "<f4",
    "fill_value": 0.0,
    "filters": None,
    "order": "C",
    "shape": [500, 1016, 980],
    "zarr_format": 2,
}


# -- level shapes, .zattrs, .zarray -------------------------------------------------------------------


def test_level_shapes() -> None:
    assert level_shapes((10, 10, 10), (2, 2, 2)) == [(10, 10, 10), (5, 5, 5), (3, 3, 3)]
    assert level_shapes((500, 1016, 979), TOMOGRAM.factor) == [(500, 1016, 979), (250, 508, 490), (125, 254, 245)]
    assert level_shapes((41, 1023, 1440), TILTSERIES.factor) == [(41, 1023, 1440), (41, 512, 720), (41, 256, 360)]
    assert level_shapes((1, 1, 1), TOMOGRAM.factor) == [(1, 1, 1)] * 3
    assert len(level_shapes((64, 64, 64), TOMOGRAM.factor, levels=5)) == 5


def test_volume_kinds() -> None:
    assert TILTSERIES.factor == (1, 2, 2) and TILTSERIES.chunks == (1, 1024, 1024)
    for kind in (TOMOGRAM, SEGMENTATION, INSTANCES):
        assert kind.factor == (2, 2, 2) and kind.chunks == (256, 256, 256)
    assert [kind.dtype.str for kind in (TOMOGRAM, TILTSERIES, SEGMENTATION, INSTANCES)] == ["<f4", "<f4", "|i1", "<u2"]


def test_zattrs_equals_the_examples_of_formats_md() -> None:
    assert zattrs(TOMOGRAM, 13.48) == SPEC_TOMOGRAM
    assert zattrs(SEGMENTATION, 13.48) == SPEC_TOMOGRAM
    assert zattrs(TILTSERIES, 3.37) == SPEC_TILTSERIES
    assert zattrs(INSTANCES, 13.48, [1, 2, 7]) == SPEC_INSTANCES
    assert AXES == SPEC_AXES
    # JSON text, not only values: no float noise such as 26.959999999999997
    assert "26.96," in json.dumps(zattrs(TOMOGRAM, 13.48)) and "13.48]" in json.dumps(zattrs(TILTSERIES, 3.37))


def test_zarray_of_formats_md() -> None:
    assert zarray((500, 1016, 980), TOMOGRAM) == SPEC_LEVEL0_ZARRAY
    tilt = zarray((41, 1023, 1440), TILTSERIES)
    assert tilt == {**SPEC_LEVEL0_ZARRAY, "chunks": [1, 1024, 1024], "shape": [41, 1023, 1440]}
    for kind, dtype in ((SEGMENTATION, "|i1"), (INSTANCES, "<u2")):
        document = zarray((4, 4, 4), kind)
        assert document == {**SPEC_LEVEL0_ZARRAY, "dtype": dtype, "fill_value": 0, "shape": [4, 4, 4]}
        assert type(document["fill_value"]) is int, "integer stores say 0, not 0.0"
    assert zarray((4, 4, 4), TOMOGRAM)["chunks"] == [256, 256, 256], "chunks recorded as-is, larger than the array"


def test_dumps_is_four_space_indented_with_sorted_keys() -> None:
    assert dumps({"b": 1, "a": [1, None]}) == b'{\n    "a": [\n        1,\n        null\n    ],\n    "b": 1\n}'


# -- downsampling (formats.md §1.1) --------------------------------------------------------------------


def _reference_downsample(block: np.ndarray, kind: VolumeKind) -> np.ndarray:
    """A slow, obviously-correct transcription of formats.md §1.1."""
    factor = kind.factor
    shape = tuple(math.ceil(n / f) for n, f in zip(block.shape, factor, strict=True))
    out = np.zeros(shape, dtype=kind.dtype)
    for index in np.ndindex(*shape):
        window = block[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, factor, strict=True))]
        if kind is INSTANCES:
            out[index] = window.flat[0]
        elif kind is SEGMENTATION:
            out[index] = 1 if np.any(window != 0) else 0
        else:
            out[index] = window.astype(np.float64).sum() / math.prod(factor)
    return out


def test_partial_blocks_are_diluted_by_the_zero_padding() -> None:
    assert downsample(np.full((1, 1, 1), 8.0, dtype=np.float32), TOMOGRAM).tolist() == [[[1.0]]]
    ones = np.ones((3, 3, 3), dtype=np.float32)
    result = downsample(ones, TOMOGRAM)
    assert result.shape == (2, 2, 2) and result.dtype == np.float32
    assert result[0, 0, 0] == 1.0  # a full block
    assert result[1, 0, 0] == 0.5 and result[1, 1, 0] == 0.25 and result[1, 1, 1] == 0.125


@pytest.mark.parametrize("kind", [TOMOGRAM, TILTSERIES])
@pytest.mark.parametrize("shape", [(5, 7, 9), (4, 6, 8), (1, 1, 3), (2, 1, 1)])
def test_image_downsampling_is_the_padded_block_mean(kind: VolumeKind, shape: tuple[int, int, int]) -> None:
    data = np.random.default_rng(3).normal(10, 5, shape).astype(np.float32)
    result = downsample(data, kind)
    expected = _reference_downsample(data, kind)
    assert result.shape == expected.shape and result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_tilt_series_are_never_reduced_along_z() -> None:
    sections = np.stack([np.full((5, 5), float(k), dtype=np.float32) for k in range(3)])
    result = downsample(sections, TILTSERIES)
    assert result.shape == (3, 3, 3)
    for k in range(3):
        assert result[k, 0, 0] == k  # interior block: 4 voxels of value k, divided by 4
        assert result[k, 2, 2] == k / 4  # corner: 1 voxel, diluted by the padding of a (1, 2, 2) block
        assert result[k, 2, 0] == k / 2


def test_integer_tomograms_are_reduced_in_float32() -> None:
    data = np.full((2, 2, 2), 100, dtype=np.int8)
    result = downsample(data, TOMOGRAM)
    assert result.dtype == np.float32 and result.tolist() == [[[100.0]]], "no int8 overflow in the sum"


def test_segmentation_masks_are_or_pooled() -> None:
    mask = np.zeros((5, 5, 5), dtype=np.int8)
    mask[1, 0, 0] = 1  # one voxel in block (0, 0, 0)
    mask[4, 4, 4] = 1  # the lone corner voxel (a partial block)
    result = downsample(mask, SEGMENTATION)
    assert result.dtype == np.int8 and result.shape == (3, 3, 3)
    assert result[0, 0, 0] == 1 and result[2, 2, 2] == 1
    assert int(result.sum()) == 2, "padding never creates a 1"
    data = (np.random.default_rng(5).random((7, 6, 5)) > 0.9).astype(np.int8)
    np.testing.assert_array_equal(downsample(data, SEGMENTATION), _reference_downsample(data, SEGMENTATION))
    assert set(np.unique(downsample(data, SEGMENTATION)).tolist()) <= {0, 1}


def test_instance_masks_take_the_first_voxel_of_each_block() -> None:
    labels = np.zeros((4, 4, 5), dtype=np.uint16)
    labels[1:, 1:, 1:] = 700  # the majority of block (0, 0, 0) but not its first voxel
    labels[2, 2, 4] = 60000
    result = downsample(labels, INSTANCES)
    assert result.dtype == np.uint16 and result.shape == (2, 2, 3)
    assert result[0, 0, 0] == 0, "nearest neighbour, not a majority vote"
    assert result[1, 1, 1] == 700 and result[1, 1, 2] == 60000
    np.testing.assert_array_equal(result, labels[::2, ::2, ::2])
    np.testing.assert_array_equal(result, _reference_downsample(labels, INSTANCES))


# -- PyramidWriter ---------------------------------------------------------------------------------------


def _volume(kind: VolumeKind, shape: tuple[int, int, int]) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    if kind is SEGMENTATION:
        return (rng.random(shape) > 0.7).astype(np.int8)
    if kind is INSTANCES:
        data = np.zeros(shape, dtype=np.uint16)
        data[rng.random(shape) > 0.8] = 1
        data[rng.random(shape) > 0.95] = 7
        data.flat[-1] = 2
        return data
    return rng.normal(0, 1, shape).astype(np.float32)


def _reader(data: np.ndarray, calls: list[Region] | None = None) -> Callable[[Region], np.ndarray]:
    def read_region(region: Region) -> np.ndarray:
        if calls is not None:
            calls.append(region)
        return data[tuple(slice(start, stop) for start, stop in region)]

    return read_region


def _grid(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(math.ceil(n / c) for n, c in zip(shape, chunks, strict=True))


PYRAMIDS = [
    (TOMOGRAM, (300, 5, 7)),  # z spans 2 chunks at level 0
    (TOMOGRAM, (600, 3, 5)),  # z spans 3 chunks at level 0 and 2 at level 1
    (TILTSERIES, (3, 1500, 700)),  # y spans 2 chunks at level 0
    (TILTSERIES, (2, 2100, 5)),  # y spans 3 chunks at level 0 and 2 at level 1
    (SEGMENTATION, (300, 5, 7)),
    (INSTANCES, (257, 261, 3)),  # z and y span 2 chunks
]


@pytest.mark.parametrize(("kind", "shape"), PYRAMIDS, ids=[f"{k.value}-{'x'.join(map(str, s))}" for k, s in PYRAMIDS])
def test_pyramid_writer_writes_the_portal_pyramid(
    kind: VolumeKind, shape: tuple[int, int, int], tmp_path: Path
) -> None:
    data = _volume(kind, shape)
    bucket = Bucket(str(tmp_path))
    store = "10001/TS_001/TiltSeries/100/TS_001.zarr"
    calls: list[Region] = []
    Writer(bucket, store, kind, shape, 3.37).write(_reader(data, calls))

    group = zarr.open_group(str(tmp_path / store), mode="r")
    levels = [group[str(level)][:] for level in range(3)]
    assert [level.shape for level in levels] == level_shapes(shape, kind.factor)
    assert all(level.dtype == kind.dtype for level in levels)
    np.testing.assert_array_equal(levels[0], data)
    for level in range(2):
        np.testing.assert_array_equal(levels[level + 1], downsample(levels[level], kind), f"level {level + 1}")

    root = tmp_path / store
    assert sorted(path.name for path in root.iterdir()) == [".zattrs", ".zgroup", "0", "1", "2"]
    assert json.loads((root / ".zgroup").read_text()) == {"zarr_format": 2}
    labels = sorted(set(np.unique(data).tolist()) - {0}) if kind is INSTANCES else None
    assert json.loads((root / ".zattrs").read_text()) == zattrs(kind, 3.37, labels)
    assert (root / ".zattrs").read_bytes() == dumps(zattrs(kind, 3.37, labels))

    objects = bucket.listing(store)
    expected_chunks = 0
    for level, level_shape in enumerate(level_shapes(shape, kind.factor)):
        assert json.loads((root / str(level) / ".zarray").read_text()) == zarray(level_shape, kind)
        grid = _grid(level_shape, kind.chunks)
        chunk_keys = {
            key.removeprefix(f"{store}/{level}/")
            for key in objects
            if key.startswith(f"{store}/{level}/") and not key.endswith(".zarray")
        }
        assert chunk_keys == {"/".join(map(str, index)) for index in np.ndindex(*grid)}, f"level {level}"
        expected_chunks += math.prod(grid)
    assert bucket.stats.requests["put"] == expected_chunks + 5, "every chunk written exactly once, + 5 documents"
    assert len(objects) == expected_chunks + 5
    level0_regions = math.prod(_grid(shape, kind.chunks))
    assert len(calls) == level0_regions and len(set(calls)) == level0_regions, "each source region read once"


class _SourceFailed(RuntimeError):
    pass


def test_an_interrupted_pyramid_has_no_metadata(tmp_path: Path) -> None:
    shape = (600, 3, 5)
    data = _volume(TOMOGRAM, shape)
    bucket = Bucket(str(tmp_path))
    read = _reader(data)
    calls = 0

    def failing_on_the_last_region(region: Region) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise _SourceFailed("source unreadable")
        return read(region)

    with pytest.raises(_SourceFailed):
        Writer(bucket, "s.zarr", TOMOGRAM, shape, 13.48).write(failing_on_the_last_region)
    written = sorted(Bucket(str(tmp_path)).listing("s.zarr"))
    assert written, "the first chunks were written"
    assert [key for key in written if key.rsplit("/", 1)[-1].startswith(".")] == [], written


def test_root_metadata_is_written_after_every_chunk(s3_bucket: str, s3_endpoint: str) -> None:
    shape = (300, 5, 7)
    with S3Proxy(s3_endpoint) as proxy:
        bucket = Bucket(s3_bucket, endpoint_url=proxy.url)
        Writer(bucket, "a/s.zarr", TOMOGRAM, shape, 13.48).write(_reader(_volume(TOMOGRAM, shape)))
        puts = [path.split("/s.zarr/", 1)[1] for method, path in proxy.requests if method == "PUT"]
    names = [name.rsplit("/", 1)[-1] for name in puts]
    assert names[-2:] == [".zattrs", ".zgroup"], puts
    assert sorted(names[-5:-2]) == [".zarray"] * 3, puts
    assert all(not name.startswith(".") for name in names[:-5]), puts
    assert len(puts) == len(set(puts)) == 2 + 1 + 1 + 5


# -- the portal's own stores ----------------------------------------------------------------------------

REFERENCE_STORES = {
    "tomogram": ("Reconstructions/VoxelSpacing13.480/Tomograms/100/SYN_run1.zarr", TOMOGRAM, 13.48),
    "tiltseries": ("TiltSeries/100/SYN_run1.zarr", TILTSERIES, 6.74),
    "segmentation_mask": (
        "Reconstructions/VoxelSpacing13.480/Annotations/101/membrane-1.0_segmentationmask.zarr",
        SEGMENTATION,
        13.48,
    ),
}


@pytest.fixture(scope="module", params=list(REFERENCE_STORES))
def reference_store(request: pytest.FixtureRequest) -> Iterator[tuple[Path, VolumeKind, float, list[np.ndarray]]]:
    relative, kind, spacing = REFERENCE_STORES[request.param]
    root = shared_dir() / "reference-90001" / "output" / "90001" / "SYN_run1" / relative
    group = zarr.open_group(str(root), mode="r")
    yield root, kind, spacing, [group[str(level)][:] for level in range(3)]


def test_our_downsampling_reproduces_the_portal_levels(
    reference_store: tuple[Path, VolumeKind, float, list[np.ndarray]],
) -> None:
    _, kind, _, levels = reference_store
    for level in range(2):
        ours = downsample(levels[level], kind)
        assert ours.dtype == levels[level + 1].dtype
        np.testing.assert_array_equal(ours, levels[level + 1], f"level {level + 1}")


def test_our_metadata_documents_are_byte_identical_to_the_portal(
    reference_store: tuple[Path, VolumeKind, float, list[np.ndarray]],
) -> None:
    root, kind, spacing, levels = reference_store
    assert (root / ".zattrs").read_bytes() == dumps(zattrs(kind, spacing))
    assert json.loads((root / ".zgroup").read_text()) == {"zarr_format": 2}
    for level, data in enumerate(levels):
        assert (root / str(level) / ".zarray").read_bytes() == dumps(zarray(data.shape, kind))
    multiscales = read_multiscales(json.loads((root / ".zattrs").read_text()))
    assert multiscales.paths == ["0", "1", "2"]
    assert multiscales.scales[0] == [spacing] * 3
    assert multiscales.version == "0.4" and multiscales.axes == SPEC_AXES and multiscales.metadata == {}


# -- reading metadata documents ---------------------------------------------------------------------------


def test_read_multiscales_of_a_good_document() -> None:
    found = read_multiscales(zattrs(TILTSERIES, 3.37))
    assert found.paths == ["0", "1", "2"]
    assert found.scales == [[3.37, 3.37, 3.37], [3.37, 6.74, 6.74], [3.37, 13.48, 13.48]]
    assert found.axes == SPEC_AXES and found.version == "0.4" and found.metadata == {}
    labelled = read_multiscales(zattrs(INSTANCES, 13.48, [1, 2, 7]))
    assert labelled.metadata["image-label"]["colors"][2] == {"label-value": 7}


def _dataset(**changes: Any) -> dict[str, Any]:
    return {"coordinateTransformations": [{"scale": [1.0, 1.0, 1.0], "type": "scale"}], "path": "0", **changes}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "not a JSON object"),
        ("multiscales", "not a JSON object"),
        ({}, "no multiscales"),
        ({"multiscales": []}, "no multiscales"),
        ({"multiscales": {"datasets": []}}, "no multiscales"),
        ({"multiscales": ["0"]}, "no multiscales"),
        ({"multiscales": [{"axes": SPEC_AXES}]}, "datasets is missing or empty"),
        ({"multiscales": [{"datasets": []}]}, "datasets is missing or empty"),
        ({"multiscales": [{"datasets": [{"coordinateTransformations": []}]}]}, "datasets[0] has no path"),
        ({"multiscales": [{"datasets": [_dataset(), "1"]}]}, "datasets[1] has no path"),
        ({"multiscales": [{"datasets": [_dataset(coordinateTransformations=[])]}]}, "datasets[0] has no numeric scale"),
        (
            {"multiscales": [{"datasets": [_dataset(coordinateTransformations=None)]}]},
            "datasets[0] has no numeric scale",
        ),
        (
            {"multiscales": [{"datasets": [_dataset(coordinateTransformations=[{"type": "translation"}])]}]},
            "datasets[0] has no numeric scale",
        ),
        (
            {"multiscales": [{"datasets": [_dataset(coordinateTransformations=[{"type": "scale", "scale": "1"}])]}]},
            "datasets[0] has no numeric scale",
        ),
        (
            {
                "multiscales": [
                    {
                        "datasets": [
                            _dataset(),
                            _dataset(coordinateTransformations=[{"type": "scale", "scale": [1, "2"]}]),
                        ]
                    }
                ]
            },
            "datasets[1] has no numeric scale",
        ),
    ],
)
def test_read_multiscales_refuses_broken_documents(document: Any, words: str) -> None:
    with pytest.raises(ZarrFormatError) as raised:
        read_multiscales(document)
    message = str(raised.value)
    assert words in message and "\n" not in message


def test_read_zarray_of_a_good_document() -> None:
    assert read_zarray(zarray((31, 128, 128), TILTSERIES)) == zarray((31, 128, 128), TILTSERIES)
    assert read_zarray(SPEC_LEVEL0_ZARRAY)["shape"] == [500, 1016, 980]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"shape": None}, "shape"),
        ({"shape": "64,64,64"}, "shape is not a list of integers"),
        ({"shape": [64.0, 64, 64]}, "shape is not a list of integers"),
        ({"shape": [64, "64", 64]}, "shape is not a list of integers"),
        ({"shape": [[64], 64, 64]}, "shape is not a list of integers"),
        ({"shape": [True, 64, 64]}, "shape is not a list of integers"),
        ({"dtype": "float-ish"}, "'float-ish' is not a dtype"),
        ({"dtype": None}, "dtype"),
        ({"chunks": [256, "a", 256]}, "chunks"),
    ],
    ids=[
        "shape-null",
        "shape-string",
        "shape-float",
        "shape-string-item",
        "shape-nested",
        "shape-bool",
        "dtype-unknown",
        "dtype-null",
        "chunks-string-item",
    ],
)
def test_read_zarray_refuses_broken_documents(changes: dict[str, Any], words: str) -> None:
    document = {**SPEC_LEVEL0_ZARRAY, **changes}
    with pytest.raises(ZarrFormatError) as raised:
        read_zarray(document)
    message = str(raised.value)
    assert words in message and "\n" not in message


@pytest.mark.parametrize("missing", ["shape", "chunks", "dtype"])
def test_read_zarray_names_a_missing_key(missing: str) -> None:
    document = {key: value for key, value in SPEC_LEVEL0_ZARRAY.items() if key != missing}
    with pytest.raises(ZarrFormatError, match=f"has no '{missing}'"):
        read_zarray(document)
    with pytest.raises(ZarrFormatError, match="not a JSON object"):
        read_zarray([document])
