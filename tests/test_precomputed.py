"""Neuroglancer precomputed layers: the portal's reference layers reproduced, each shape decoded as Neuroglancer
reads the format (independently of the writer's code), sharding, streaming of masks, reruns."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trimesh
import zarr

from importers.formats import ndjson
from importers.formats.precomputed_annotations import (
    ANNOTATION_SHARDING,
    PrecomputeError,
    annotation_layer,
    instance_colors,
)
from importers.formats.precomputed_mesh import (
    MASK_SIMPLIFICATION_ERROR,
    LabelledExtent,
    StoredMesh,
    mask_mesh_files,
    mask_mesh_provenance,
    mesh_sharding,
    oriented_mesh_layer,
    read_mesh_shard,
    shard_bits_for,
)
from importers.formats.precomputed_segmentation import encode_chunk, info_bytes, segmentation_info
from importers.formats.sharding import MURMURHASH3, ShardingSpec, murmurhash3_x86_128_low64, read_shard
from importers.ingest.entities.context import Ingestion, IngestOptions
from importers.ingest.entities.precompute import write_precomputed_layers
from importers.ingest.standardize import standardize_config
from importers.manifest import manifest_key
from importers.storage import Bucket
from tests.conftest import shared_dir, upload_tree
from tests.corruptions import VOXEL_SPACING
from tests.shapes_sample import INSTANCE_MASK_ZARR, INSTANCES_NDJSON, ORIENTED_NDJSON, shapes_tree

SPACING = "Reconstructions/VoxelSpacing13.480"
RUNS = ("SYN_run1", "SYN_run2")
POINT_LAYER = "NeuroglancerPrecompute/100-cytosolic_ribosome-1.0_point"
MASK_LAYER = "NeuroglancerPrecompute/101-membrane-1.0_segmentationmask"
#: What the portal's meshing (igneous) adds to a mask's layer.
MESH_FILES = ("mesh/0.shard", "mesh/info")
_ALIGNMENT = {"uint32": 4, "int32": 4, "float32": 4, "uint16": 2, "int16": 2, "uint8": 1, "int8": 1, "rgb": 1}
_DTYPES = {"uint32": "<u4", "int32": "<i4", "float32": "<f4", "uint16": "<u2", "int16": "<i2", "uint8": "u1"}


def _reference() -> Path:
    return shared_dir() / "reference-90001" / "output"


# -- readers written from Neuroglancer's format description, not from the writer -------------------------------


def decode_annotations(info: dict[str, Any], data: bytes) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(ids, geometry, properties)`` of a ``spatial0`` cell: properties are stored in decreasing alignment
    (4, 2, then 1 byte; info order within each), each record padded to a multiple of 4 bytes."""
    floats = 3 if info["annotation_type"] == "point" else 6
    ordered = sorted(info["properties"], key=lambda prop: -_ALIGNMENT[prop["type"]])
    fields: list[tuple[Any, ...]] = [("geometry", "<f4", (floats,))]
    for prop in ordered:
        fields.append((prop["id"], "u1", (3,)) if prop["type"] == "rgb" else (prop["id"], _DTYPES[prop["type"]]))
    packed = np.dtype(fields)  # the alignment order leaves no gaps between properties
    dtype = np.dtype(
        {
            "names": packed.names,
            "formats": [packed.fields[name][0] for name in packed.names],
            "offsets": [packed.fields[name][1] for name in packed.names],
            "itemsize": -(-packed.itemsize // 4) * 4,
        }
    )
    (count,) = np.frombuffer(data[:8], dtype="<u8")
    records = np.frombuffer(data[8 : 8 + count * dtype.itemsize], dtype=dtype)
    ids = np.frombuffer(data[8 + count * dtype.itemsize :], dtype="<u8")
    return ids, records["geometry"], {prop["id"]: records[prop["id"]] for prop in ordered}


def decode_segmentation(chunk: bytes, shape: tuple[int, int, int], block: tuple[int, int, int]) -> np.ndarray:
    """A one-channel ``compressed_segmentation`` chunk (uint32) as a (z, y, x) array."""
    words = np.frombuffer(chunk, dtype="<u4")
    base = int(words[0])
    grid = [-(-n // b) for n, b in zip(shape, block, strict=True)]
    out = np.zeros([g * b for g, b in zip(grid, block, strict=True)], dtype=np.uint32)
    for z, y, x in np.ndindex(*grid):
        header = base + 2 * (x + grid[2] * (y + grid[1] * z))
        table, bits = int(words[header]) & 0xFFFFFF, int(words[header]) >> 24
        values_at = int(words[header + 1])
        count = int(np.prod(block))
        if bits:
            packed = words[base + values_at : base + values_at + -(-count * bits // 32)]
            per_word = 32 // bits
            positions = (packed[:, None] >> (np.arange(per_word, dtype=np.uint32) * bits)) & ((1 << bits) - 1)
            positions = positions.ravel()[:count]
        else:
            positions = np.zeros(count, dtype=np.uint32)
        values = words[base + table : base + table + (1 << bits)][positions].reshape(block)
        out[z * block[0] : (z + 1) * block[0], y * block[1] : (y + 1) * block[1], x * block[2] : (x + 1) * block[2]] = (
            values
        )
    return out[: shape[0], : shape[1], : shape[2]]


# -- the portal's reference ------------------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_point_layer_equals_the_portals(run: str) -> None:
    folder = _reference() / "90001" / run / SPACING
    records = ndjson.loads((folder / "Annotations/100/cytosolic_ribosome-1.0_point.ndjson").read_bytes())
    metadata = json.loads((folder / "Annotations/100/cytosolic_ribosome-1.0.json").read_text())
    files = annotation_layer("Point", records, metadata, 13.48)
    theirs = folder / POINT_LAYER
    assert set(files) == {"info", "spatial0/0_0_0", "by_id/0.shard"}
    assert files["info"] == (theirs / "info").read_bytes()
    assert files["spatial0/0_0_0"] == (theirs / "spatial0/0_0_0").read_bytes()
    # The portal orders minishards as its directory listing came: same objects, same bytes each.
    ours = read_shard(ANNOTATION_SHARDING, files["by_id/0.shard"])
    assert ours == read_shard(ANNOTATION_SHARDING, (theirs / "by_id/0.shard").read_bytes()) and len(ours) == 20


@pytest.mark.parametrize("run", RUNS)
def test_mask_layer_equals_the_portals(run: str) -> None:
    """Data, info, the meshes' info and shard byte for byte (the same zmesh, pyfqmr, trimesh and DracoPy as the
    portal's); the provenance but its operator, date and path."""
    folder = _reference() / "90001" / run / SPACING
    mask = zarr.open_array(str(folder / "Annotations/101/membrane-1.0_segmentationmask.zarr/0"), mode="r")[:]
    theirs = folder / MASK_LAYER
    assert encode_chunk(mask) == (theirs / "data/0-64_0-64_0-64").read_bytes()
    info = segmentation_info(mask.shape, (64, 64, 64), 13.48, mesh_dir="mesh")
    assert info_bytes(info) == (theirs / "info").read_bytes()
    extent = LabelledExtent()
    extent.add(mask)
    provenance = json.loads((theirs / "provenance").read_text())
    steps = provenance["processing"]
    url = steps[0]["method"]["layer_path"].removeprefix("precomputed://")
    made = partial(mask_mesh_provenance, url, 1, by=steps[0]["by"], date=steps[0]["date"])
    files = mask_mesh_files(lambda region: mask[tuple(slice(*r) for r in region)], mask.shape, 1, extent.size, made)
    assert set(files) == {*MESH_FILES, "provenance"}
    for name in MESH_FILES:
        assert files[name] == (theirs / name).read_bytes(), name
    assert files["provenance"] == (theirs / "provenance").read_bytes()


def _files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_reference_output_reproduced(reference_ingested: Path) -> None:
    # Our own addition: the integrity manifest (the portal writes none).
    assert _files(reference_ingested) == _files(_reference()) | {manifest_key("90001")}
    assert len(_files(_reference())) == 356
    for run in RUNS:
        for member in ("info", "spatial0/0_0_0"):
            key = f"90001/{run}/{SPACING}/{POINT_LAYER}/{member}"
            assert (reference_ingested / key).read_bytes() == (_reference() / key).read_bytes(), key
        for member in ("info", "data/0-64_0-64_0-64", *MESH_FILES):
            key = f"90001/{run}/{SPACING}/{MASK_LAYER}/{member}"
            assert (reference_ingested / key).read_bytes() == (_reference() / key).read_bytes(), key
        key = f"90001/{run}/{SPACING}/{MASK_LAYER}/provenance"
        ours, theirs = (json.loads((root / key).read_text()) for root in (reference_ingested, _reference()))
        for document in (ours, theirs):
            for step in document["processing"]:
                assert step.pop("by") and step.pop("date")
                path = step["method"].pop("layer_path", None) or step["method"].pop("cloudpath")
                assert path.startswith("precomputed://s3://") and path.endswith(f"/{run}/{SPACING}/{MASK_LAYER}")
        assert ours == theirs


@pytest.fixture(scope="module")
def reference_ingested(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference config standardized from an S3 input into an S3 output, copied to a local folder."""
    input_url, output_url = "s3://precomputed-input", "s3://precomputed-output"
    for url in (input_url, output_url):
        Bucket(url).fs.mkdir(url.removeprefix("s3://"))
    upload_tree(shared_dir() / "reference-90001" / "input", f"{input_url}/anchor_synthetic")
    stream = io.StringIO()
    status, _ = standardize_config(
        shared_dir() / "reference-90001" / "config.yaml", input_url, output_url, stream=stream
    )
    assert status == 0, stream.getvalue()
    local = tmp_path_factory.mktemp("reference-precomputed")
    output = Bucket(output_url, read_only=True)
    for key in output.listing(""):
        (local / key).parent.mkdir(parents=True, exist_ok=True)
        (local / key).write_bytes(output.read(key))
    return local


# -- every point shape -------------------------------------------------------------------------------------------

METADATA = {
    "annotation_object": {"id": "GO:1", "name": "thing", "diameter": 200},
    "annotation_method": "m",
    "deposition_id": 1,
    "ground_truth_status": False,
}


def _point(x: float, y: float, z: float, **extra: Any) -> dict[str, Any]:
    return {"location": {"x": x, "y": y, "z": z}, **extra}


def _decoded(files: dict[str, bytes]) -> tuple[dict[str, Any], np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    info = json.loads(files["info"])
    ids, geometry, properties = decode_annotations(info, files["spatial0/0_0_0"])
    return info, ids, geometry, properties


def test_points_decode_to_their_records() -> None:
    records = [_point(1.5, 2, 3), _point(10, 20.25, 30)]
    info, ids, geometry, properties = _decoded(annotation_layer("Point", records, METADATA, 10.0))
    assert info["annotation_type"] == "point" and info["dimensions"]["x"] == [1e-09, "m"]
    assert ids.tolist() == [0, 1] and geometry.tolist() == [[1.5, 2, 3], [10, 20.25, 30]]
    assert properties["diameter"].tolist() == [20.0, 20.0] and properties["point_index"].tolist() == [0.0, 1.0]
    assert properties["color"].tolist() == [[255, 255, 255]] * 2 and properties["name"].tolist() == [0, 0]
    assert info["lower_bound"] == [1.5, 2, 3] and info["upper_bound"] == [10, 20.25, 30]
    assert [prop["id"] for prop in info["properties"]] == ["name", "diameter", "point_index", "color"]


def test_oriented_point_is_three_axis_lines() -> None:
    quarter_turn = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # x → y, y → -x
    records = [_point(5, 5, 5, xyz_rotation_matrix=quarter_turn)]
    info, ids, geometry, properties = _decoded(annotation_layer("OrientedPoint", records, METADATA, 10.0))
    length = 20 * 1.5
    assert info["annotation_type"] == "line" and ids.tolist() == [0, 1, 2]
    assert geometry.tolist() == [
        [5, 5, 5, 5, 5 + length, 5],
        [5, 5, 5, 5 - length, 5, 5],
        [5, 5, 5, 5, 5, 5 + length],
    ]
    assert properties["line_color"].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    assert properties["point_index"].tolist() == [0.0] * 3 and properties["point_color"].tolist() == [[255] * 3] * 3
    # The writer's bounds: first ends below, second ends above.
    assert info["lower_bound"] == [5, 5, 5] and info["upper_bound"] == [5, 5 + length, 5 + length]


def test_oriented_point_with_a_scaled_matrix_is_refused() -> None:
    records = [_point(0, 0, 0, xyz_rotation_matrix=[[2, 0, 0], [0, 1, 0], [0, 0, 1]])]
    with pytest.raises(PrecomputeError, match="record 1: xyz_rotation_matrix is not a rotation"):
        annotation_layer("OrientedPoint", records, METADATA, 10.0)


def test_instance_points_are_named_and_coloured_per_instance() -> None:
    records = [_point(1, 1, 1, instance_id=7), _point(2, 2, 2, instance_id=3), _point(3, 3, 3, instance_id=7)]
    info, _, _, properties = _decoded(annotation_layer("InstanceSegmentation", records, METADATA, 10.0))
    (name,) = [prop for prop in info["properties"] if prop["id"] == "name"]
    assert name["type"] == "uint8" and dict(zip(name["enum_values"], name["enum_labels"], strict=True)) == {
        3: "thing 3",
        7: "thing 7",
    }
    assert properties["name"].tolist() == [7, 3, 7]
    colors = instance_colors(METADATA, [3, 7])
    assert properties["color"].tolist() == [list(colors[7]), list(colors[3]), list(colors[7])]
    assert colors[3] != colors[7]


def test_many_instances_take_uint16_names() -> None:
    records = [_point(i, 0, 0, instance_id=i) for i in range(300)]
    info, _, _, properties = _decoded(annotation_layer("InstanceSegmentation", records, METADATA, 10.0))
    assert info["properties"][0]["type"] == "uint16" and properties["name"].tolist() == list(range(300))
    # Past 20 instances the portal repeats its 20 distinct colours.
    assert properties["color"][0].tolist() == properties["color"][20].tolist()


def test_an_empty_annotation_has_an_empty_layer() -> None:
    files = annotation_layer("Point", [], METADATA, 10.0)
    info, ids, _, _ = _decoded(files)
    assert ids.size == 0 and info["spatial"][0]["limit"] == 0 and "by_id/0.shard" not in files


# -- sharding ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        ShardingSpec(minishard_bits=2, shard_bits=2),
        ShardingSpec(2, 2, hash=MURMURHASH3, data_encoding="raw", libdeflate=True),
    ],
)
def test_shards_hold_every_object_where_the_spec_puts_it(spec: ShardingSpec) -> None:
    objects = {object_id: bytes([object_id]) * (object_id % 5 + 1) for object_id in range(0, 64, 3)}
    shards = spec.shards(objects)
    assert set(shards) == {"0.shard", "1.shard", "2.shard", "3.shard"}
    found: dict[int, bytes] = {}
    for name, shard in shards.items():
        content = read_shard(spec, shard)
        assert all(spec.location(object_id)[0] == name for object_id in content)
        found |= content
    assert found == objects
    assert spec.shards(objects) == shards  # deterministic: no timestamps in the gzip streams


def test_an_indexed_tail_is_what_the_index_locates() -> None:
    """A mesh's index entry locates its manifest, after its fragments."""
    spec = ShardingSpec(1, 0, hash=MURMURHASH3, data_encoding="raw")
    objects = {5: b"fragments-of-5" + b"MANIFEST5", 8: b"frag8" + b"M8", 9: b"9"}
    (shard,) = spec.shards(objects, indexed_tail={5: 9, 8: 2}).values()
    assert read_shard(spec, shard) == {5: b"MANIFEST5", 8: b"M8", 9: b"9"}


def test_murmurhash_is_neuroglancers() -> None:
    """Low 64 bits of MurmurHash3_x86_128 of the id's 8 bytes, seed 0 (vectors from the mmh3 package:
    ``mmh3.hash64(struct.pack("<Q", id), x64arch=False)[0]`` as unsigned)."""
    vectors = {0: 0x4772B084E028AE41, 1: 0xE8BD67D616D4CE9A, 101: 0x388E9C9925A528E3, 2**64 - 1: 0x574F66BD212B5D1A}
    assert {key: murmurhash3_x86_128_low64(key) for key in vectors} == vectors


def test_mesh_sharding_grows_as_igneous_sizes_it() -> None:
    """About 1365 labels per 32 KiB minishard index, 512 minishards per 8 KiB shard index, a shard kept over
    half full."""
    assert shard_bits_for(1) == (0, 0) and shard_bits_for(1365) == (0, 0)
    assert shard_bits_for(2000) == (0, 1)
    assert shard_bits_for(10**6) == (1, 9)


# -- masks -------------------------------------------------------------------------------------------------------


def test_compressed_segmentation_decodes_to_the_chunk() -> None:
    rng = np.random.default_rng(3)
    chunk = rng.integers(0, 5, size=(70, 65, 130), dtype=np.uint8)
    chunk[:64, :64, :64] = 9  # one value: a 0-bit block
    chunk[:64, :64, 64:128] = 9  # the same table again: shared
    chunk[64:, 64:, 128:] = rng.integers(0, 300, size=(6, 1, 2))  # many values: 16 bits
    encoded = encode_chunk(chunk)
    assert np.array_equal(decode_segmentation(encoded, chunk.shape, (64, 64, 64)), chunk)


def test_mask_layer_is_made_chunk_by_chunk(tmp_path: Path) -> None:
    fields = {
        "dataset_id": "1",
        "run_name": "r",
        "voxel_spacing": "10.000",
        "annotation_id": 100,
        "slug": "m",
        "version": "1.0",
    }
    zarr_key = "1/r/Reconstructions/VoxelSpacing10.000/Annotations/100/m-1.0_instancesegmentationmask.zarr"
    mask = np.arange(40 * 20 * 30, dtype=np.uint16).reshape(40, 20, 30) % 700
    array = zarr.open_array(
        str(tmp_path / zarr_key / "0"),
        mode="w",
        shape=mask.shape,
        chunks=(16, 16, 16),
        dtype=mask.dtype,
        zarr_format=2,
        dimension_separator="/",
    )
    array[:] = mask
    mask[16:32, :16, :16] = 0  # an absent chunk reads as the fill value
    (tmp_path / zarr_key / "0/1/0/0").unlink()
    bucket = Bucket(str(tmp_path))
    ingestion = Ingestion({}, tmp_path / "config.yaml", bucket, bucket, IngestOptions())
    document = {"files": [{"shape": "InstanceSegmentationMask", "format": "zarr", "path": zarr_key}]}
    write_precomputed_layers(ingestion, fields, document, 10.0, replace=False)
    layer = (
        tmp_path / "1/r/Reconstructions/VoxelSpacing10.000/NeuroglancerPrecompute/100-m-1.0_instancesegmentationmask"
    )
    info = json.loads((layer / "info").read_text())
    (scale,) = info["scales"]
    assert scale["size"] == [30, 20, 40] and scale["chunk_sizes"] == [[16, 16, 16]] and scale["resolution"] == [1] * 3
    names = sorted(path.name for path in (layer / "data").iterdir())
    assert len(names) == 3 * 2 * 2 and "16-30_16-20_32-40" in names
    for name in names:
        (x0, x1), (y0, y1), (z0, z1) = (map(int, part.split("-")) for part in name.split("_"))
        chunk = decode_segmentation((layer / "data" / name).read_bytes(), (z1 - z0, y1 - y0, x1 - x0), (64, 64, 64))
        assert np.array_equal(chunk, mask[z0:z1, y0:y1, x0:x1]), name


# -- mask meshes -------------------------------------------------------------------------------------------------


def _mesh_layer(mask: np.ndarray, resolution: int = 1) -> dict[int, StoredMesh]:
    """Mesh a (z, y, x) mask as a layer's ``mesh/`` and decode it back."""
    extent = LabelledExtent()
    extent.add(mask)
    files = mask_mesh_files(
        lambda region: mask[tuple(slice(*r) for r in region)], mask.shape, resolution, extent.size, lambda *_: b""
    )
    info = json.loads(files["mesh/info"])
    assert info["@type"] == "neuroglancer_multilod_draco" and info["sharding"]["hash"] == "murmurhash3_x86_128"
    sharding = mesh_sharding(len(np.unique(mask)) - 1)
    return read_mesh_shard(sharding, files["mesh/0.shard"])


def _bounds(mesh: StoredMesh, lod: int = 0) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.concatenate([fragment.vertices for fragment in mesh.lods[lod]])
    return vertices.min(axis=0), vertices.max(axis=0)


@pytest.mark.parametrize("run", RUNS)
def test_mesh_reader_decodes_the_portals_shard_to_the_mask(run: str) -> None:
    """The portal's shard (igneous' writer) read back: its fragments span the mask's voxels (x, y, z, voxel
    corners at whole numbers), within the simplification's error."""
    folder = _reference() / "90001" / run / SPACING
    mask = zarr.open_array(str(folder / "Annotations/101/membrane-1.0_segmentationmask.zarr/0"), mode="r")[:]
    (mesh,) = read_mesh_shard(mesh_sharding(1), (folder / MASK_LAYER / "mesh/0.shard").read_bytes()).values()
    voxels = np.argwhere(mask)[:, ::-1]
    low, high = _bounds(mesh)
    error = MASK_SIMPLIFICATION_ERROR
    assert np.allclose(low, voxels.min(axis=0), atol=error) and np.allclose(high, voxels.max(axis=0) + 1, atol=error)
    assert len(mesh.lods) == 2 and len(mesh.lods[0]) == 8 and len(mesh.lods[1]) == 1


def test_a_cube_mask_meshes_to_its_voxels() -> None:
    mask = np.zeros((50, 50, 70), dtype=np.int8)
    mask[5:45, 7:45, 11:60] = 1
    (label, mesh), *others = _mesh_layer(mask).items()
    assert label == 1 and not others
    low, high = _bounds(mesh)
    assert np.allclose(low, [11, 7, 5], atol=0.01) and np.allclose(high, [60, 45, 45], atol=0.01)
    assert len(mesh.lods) > 1  # coarser levels of detail, over the same box
    assert np.allclose(_bounds(mesh, len(mesh.lods) - 1)[0], low, atol=0.6)


def test_a_mask_wider_than_a_meshing_task_is_meshed_across_tasks() -> None:
    """Labels across the 256-voxel task boundary and in the last task: their fragments are joined, the volume's
    faces are closed; resolution scales nothing in the stored model (voxel units)."""
    mask = np.zeros((6, 8, 300), dtype=np.uint16)
    mask[1:5, 2:6, 240:270] = 7
    mask[2:4, 1:7, 280:300] = 9  # touches the volume's high x face
    meshes = _mesh_layer(mask, resolution=2)
    assert sorted(meshes) == [7, 9]
    # Thin boxes: the simplification (2 voxels of error) may shave their corners a little.
    assert np.allclose(_bounds(meshes[7])[0], [240, 2, 1], atol=0.2)
    assert np.allclose(_bounds(meshes[7])[1], [270, 6, 5], atol=0.2)
    assert np.allclose(_bounds(meshes[9])[1], [300, 7, 4], atol=0.2)


def test_a_mask_of_many_labels_shards_as_igneous() -> None:
    """1584 labels (2×2×2 cubes 3 voxels apart): two minishards by MurmurHash3, each index compressed with
    libdeflate. The digest is of the shard igneous 4.30 wrote for this mask through the portal's library (zmesh
    1.9.0, pyfqmr 0.5.0, trimesh 4.10.1, DracoPy 1.7.0, deflate 0.9.0); zlib's indices would differ."""
    mask = np.zeros((36, 36, 36), dtype=np.uint16)
    corners = itertools.product(range(0, 33, 3), range(0, 36, 3), range(0, 36, 3))
    for label, (z, y, x) in enumerate(corners, start=1):
        mask[z : z + 2, y : y + 2, x : x + 2] = label
    extent = LabelledExtent()
    extent.add(mask)
    files = mask_mesh_files(
        lambda region: mask[tuple(slice(*r) for r in region)], mask.shape, 1, extent.size, lambda *_: b""
    )
    assert json.loads(files["mesh/info"])["sharding"]["minishard_bits"] == 1
    digest = hashlib.sha256(files["mesh/0.shard"]).hexdigest()
    assert digest == "d6235de906a8614812a48ac29009342f278338593130cdc027bc7b260768c3b0"


def _oriented_recipe() -> tuple[bytes, list[dict[str, Any]]]:
    """A stretched icosphere (Å) at four oriented points (voxels)."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=60.0)
    mesh.vertices[:, 0] *= 1.5
    rotations = [
        np.eye(3),
        [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
        [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
        [[-1, 0, 0], [0, 1, 0], [0, 0, -1]],
    ]
    locations = [(10, 12, 8), (30, 12, 8), (20, 25, 14), (40, 40, 20)]
    records = [
        {
            "location": dict(zip("xyz", map(float, loc), strict=True)),
            "xyz_rotation_matrix": np.array(rot, float).tolist(),
        }
        for loc, rot in zip(locations, rotations, strict=True)
    ]
    return mesh.export(file_type="glb"), records


def test_oriented_mesh_layer_is_the_mesh_at_every_point_as_the_portals_library_makes_it() -> None:
    """The digest is of the shard the portal's library (``encode_oriented_mesh``, ``generate_mesh_from_lods``) wrote
    for this recipe with igneous 4.30 and the pinned versions; its first level of detail holds every copy."""
    glb, records = _oriented_recipe()
    files = oriented_mesh_layer(glb, records, 10.0)
    assert set(files) == {"info", "mesh/info", "mesh/0.shard"}
    assert hashlib.sha256(files["mesh/0.shard"]).hexdigest() == (
        "69dff35c251025e9ce4e42834f21af1103eb783481c256b8525226fbcbb97696"
    )
    vertices = trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh").vertices / 10.0  # Å → voxels of 10 Å
    copies = np.concatenate(
        [vertices @ np.array(r["xyz_rotation_matrix"]).T + [r["location"][a] for a in "xyz"] for r in records]
    )
    (mesh,) = read_mesh_shard(mesh_sharding(1), files["mesh/0.shard"]).values()
    low, high = _bounds(mesh)
    assert np.allclose(low, copies.min(axis=0), atol=1e-3) and np.allclose(high, copies.max(axis=0), atol=1e-3)
    info = json.loads(files["info"])
    assert info["scales"][0]["size"] == np.ceil(copies.max(axis=0)).tolist() and "segment_properties" not in info


def test_a_task_read_that_ends_at_the_volume_closes_its_face_as_igneous() -> None:
    """257 voxels wide: the first task's read (one voxel past its 256) ends at the volume's face, where igneous
    adds a zero plane. The digest is of the shard igneous 4.30 wrote for this mask through the portal's library."""
    mask = np.zeros((20, 20, 257), dtype=np.uint8)
    mask[5:15, 5:15, 200:257] = 4
    mask[2:18, 3:9, 250:257] = 6
    extent = LabelledExtent()
    extent.add(mask)
    files = mask_mesh_files(
        lambda region: mask[tuple(slice(*r) for r in region)], mask.shape, 1, extent.size, lambda *_: b""
    )
    digest = hashlib.sha256(files["mesh/0.shard"]).hexdigest()
    assert digest == "36eae9e5703dde9f744eeeedf12d55ef3944f8db68770f995e9c16bd9b82cd3a"


def test_an_empty_mask_has_a_mesh_info_and_no_shard() -> None:
    mask = np.zeros((4, 4, 4), dtype=np.int8)
    files = mask_mesh_files(lambda region: mask, mask.shape, 1, (1, 1, 1), lambda *_: b"p")
    assert set(files) == {"mesh/info", "provenance"}


def test_labelled_extent_counts_within_chunks_as_the_library_does() -> None:
    """The library's extent takes each chunk's own indices: a label at the end of one chunk and one at the start
    of the next make an extent of the whole chunk."""
    extent = LabelledExtent()
    first, second = np.zeros((4, 4, 4)), np.zeros((4, 4, 4))
    first[3, 3, 3] = second[0, 1, 2] = 1
    extent.add(first)
    extent.add(second)
    assert extent.size == (2, 3, 4)
    assert LabelledExtent().size == (1, 1, 1)


# -- ingestion ---------------------------------------------------------------------------------------------------


def test_a_layer_lost_after_ingestion_is_made_again(tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.mkdir()
    (source / "anchor_synthetic").symlink_to(shared_dir() / "reference-90001" / "input", target_is_directory=True)
    output = tmp_path / "output"
    config = shared_dir() / "reference-90001" / "config.yaml"
    status, _ = standardize_config(config, str(source), str(output), stream=io.StringIO())
    assert status == 0
    layer = output / "90001/SYN_run1" / SPACING / POINT_LAYER
    before = {name: (layer / name).read_bytes() for name in ("info", "spatial0/0_0_0", "by_id/0.shard")}
    shutil.rmtree(layer)
    stream = io.StringIO()
    options = IngestOptions(selected=frozenset({"annotation"}))
    status, _ = standardize_config(config, str(source), str(output), options=options, stream=stream)
    assert status == 0, stream.getvalue()
    assert {name: (layer / name).read_bytes() for name in before} == before


def test_every_shape_of_the_sample_has_its_layer() -> None:
    """The every-shape sample: each point shape's layer holds its NDJSON (three lines per oriented point), each
    mask's holds its level 0 and its labels' meshes, the glb mesh's holds the mesh, and the viewer state shows it."""
    root = shapes_tree()
    precompute = root / VOXEL_SPACING / "NeuroglancerPrecompute"
    layers = sorted(path.name for path in precompute.iterdir() if path.is_dir())
    assert layers == [
        "100-cytosolic_ribosome-1.0_point",
        "101-membrane-1.0_segmentationmask",
        "102-oriented_80s_ribosome-1.0_orientedpoint",
        "103-microtubule-1.0_instancesegmentation",
        "103-microtubule-1.0_triangularmesh",
        "104-" + INSTANCE_MASK_ZARR.rsplit("/", 1)[-1].removesuffix(".zarr"),
    ]
    for ndjson_key, layer, per_record in ((ORIENTED_NDJSON, layers[2], 3), (INSTANCES_NDJSON, layers[3], 1)):
        records = ndjson.loads((root / ndjson_key).read_bytes())
        files = {name: (precompute / layer / name).read_bytes() for name in ("info", "spatial0/0_0_0")}
        _, ids, geometry, _ = _decoded(files)
        assert len(ids) == per_record * len(records) > 0
        assert geometry[::per_record, :3].tolist() == [
            [np.float32(record["location"][axis]) for axis in "xyz"] for record in records
        ]
    mask = zarr.open_array(str(root / INSTANCE_MASK_ZARR / "0"), mode="r")[:]
    info = json.loads((precompute / layers[5] / "info").read_text())
    (chunk,) = (precompute / layers[5] / "data").iterdir()
    assert info["scales"][0]["size"] == list(mask.shape[::-1]) and info["mesh"] == "mesh"
    assert np.array_equal(decode_segmentation(chunk.read_bytes(), mask.shape, (64, 64, 64)), mask)
    labels, voxels = np.unique(mask[mask > 0], return_counts=True)
    # The sample's label 7 is one voxel: igneous keeps no mesh of a lone voxel (nor does this port).
    shard = read_mesh_shard(mesh_sharding(len(labels)), (precompute / layers[5] / "mesh/0.shard").read_bytes())
    assert sorted(shard) == labels[voxels > 1].tolist() and 7 in labels
    mesh_layer = precompute / layers[4]
    assert json.loads((mesh_layer / "info").read_text())["mesh"] == "mesh"
    properties = json.loads((mesh_layer / "segment_properties/info").read_text())
    assert properties["inline"]["properties"][0]["values"] == ["microtubule-1"]
    ((label, mesh),) = read_mesh_shard(mesh_sharding(1), (mesh_layer / "mesh/0.shard").read_bytes()).items()
    low, high = _bounds(mesh)  # the sample's box, in the glb's units
    assert label == 1 and np.allclose(low, [5, 4, 2.5], atol=1e-3) and np.allclose(high, [11, 8, 5.5], atol=1e-3)
    (state,) = (json.loads(path.read_text()) for path in precompute.glob("*-neuroglancer_config.json"))
    (shown,) = (layer for layer in state["layers"] if layer["source"]["url"].endswith(layers[4]))
    assert (shown["name"], shown["type"], shown["segments"]) == ("103 microtubule mesh", "segmentation", [1])
