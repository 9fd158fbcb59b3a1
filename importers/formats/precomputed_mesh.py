"""Neuroglancer multi-resolution meshes (``neuroglancer_multilod_draco``, sharded; formats.md §7), as the portal
makes them.

The portal's precompute library (cryoet-data-portal-neuroglancer 1.7) meshes with igneous 4.30: a mask layer's
labels are meshed by marching cubes in 256³-voxel tasks (zmesh; a 1-voxel overlap on the high side, a closed
edge at the volume's low faces, simplified to a 2-voxel error), each label's task fragments are joined (in
fragment file-name order), then every mesh (a mask label's, or a glb's) is decimated into levels of detail
(pyfqmr: half the faces per level), each level cut into an octree grid of fragments (trimesh plane slicing,
z-order), each fragment quantized to 16 bits in its grid cell and Draco-encoded (DracoPy, level 7). A label's
object in the shard is its fragments followed by its manifest; the minishard index locates the manifest.

This module follows igneous' ``MeshTask`` and ``MultiResShardedMeshMergeTask`` step by step, with the same
libraries (numpy operations in the same order and types), so the same library versions give the same bytes;
igneous itself is not a dependency (it brings cloud-volume, task-queue, Google Cloud clients, OpenCV …).
"""

from __future__ import annotations

import functools
import io
import json
import math
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from importers.formats.sharding import MURMURHASH3, ShardingSpec, read_shard_entries
from importers.lazy import lazy

DracoPy = lazy("DracoPy")
pyfqmr = lazy("pyfqmr")
trimesh = lazy("trimesh")
zmesh = lazy("zmesh")

MESH_DIR = "mesh"
#: igneous' meshing task size (voxels per axis), as the precompute library asks for it.
TASK_SHAPE = 256
VERTEX_QUANTIZATION_BITS = 16
DRACO_COMPRESSION_LEVEL = 7
#: Levels of detail past the first that the library asks for; small meshes get fewer.
MAX_LOD = 2
#: Mask meshes: the smallest octree cell of the library's LOD planning, and the simplification error (voxels).
MASK_MIN_CHUNK_DIM = 16
MASK_SIMPLIFICATION_ERROR = 2
#: zmesh's triangle reduction target, as igneous asks for it when simplification is on.
SIMPLIFICATION_FACTOR = 100
#: igneous' shard sizing targets (bytes of the shard index and of a minishard index).
SHARD_INDEX_BYTES = 2**13
MINISHARD_INDEX_BYTES = 2**15

Region = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass
class Mesh:
    """A triangle mesh as igneous' ``Mesh`` holds it: float32 vertices, uint32 faces."""

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        self.vertices = np.array(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.array(self.faces, dtype=np.uint32).reshape(-1, 3)


# --- meshing a label volume (igneous MeshTask) ---------------------------------------------------------------


def _task_mesh(
    read: Callable[[Region], np.ndarray], size: Sequence[int], start: np.ndarray, resolution: np.ndarray
) -> dict[int, Mesh]:
    """The meshes of one task: the box ``start`` (x, y, z) + 256 clamped to ``size``, read with one more voxel on
    the high side (zero beyond the volume) and, as igneous closes the dataset's edges, a zero plane before the
    volume's low faces and one after a read that ends exactly at its high face."""
    stop = np.minimum(start + TASK_SHAPE, size)
    high = stop + 1
    closed = (start == 0).astype(int)
    data = np.zeros(tuple(high - start + closed + (high == size)), dtype=np.uint32, order="F")
    inside = np.minimum(high, size)
    region = tuple((int(a), int(b)) for a, b in zip(start[::-1], inside[::-1], strict=True))
    block = read(region)  # z, y, x
    data[tuple(slice(c, c + n) for c, n in zip(closed, block.shape[::-1], strict=True))] = block.T
    if not data.any():
        return {}
    mesher = zmesh.Mesher(resolution)
    mesher.mesh(data)
    del data
    meshes = {}
    offset = start.astype(np.float32)
    for label in mesher.ids():
        mesh = mesher.get(
            label,
            reduction_factor=SIMPLIFICATION_FACTOR,
            max_error=MASK_SIMPLIFICATION_ERROR * int(resolution.max()),
            voxel_centered=True,
        )
        mesher.erase(label)
        mesh.vertices[:] += (offset - closed) * resolution
        meshes[int(label)] = Mesh(mesh.vertices, mesh.faces)
    return meshes


def _fragment_name(start: np.ndarray, stop: np.ndarray) -> str:
    return "_".join(f"{a}-{b}" for a, b in zip(start, stop, strict=True))


def label_meshes(read: Callable[[Region], np.ndarray], shape: Sequence[int], resolution: int) -> dict[int, Mesh]:
    """Every non-zero label's mesh of a label volume of ``shape`` (z, y, x) that ``read`` returns by region
    (z, y, x ``(start, stop)`` pairs), in physical units of ``resolution`` (nm per voxel): its fragments of each
    256³ task joined in the order of igneous' fragment file names."""
    size = np.array(shape[::-1], dtype=int)
    res = np.array([resolution] * 3, dtype=int)
    fragments: dict[int, list[tuple[str, Mesh]]] = {}
    for start in np.ndindex(*(math.ceil(n / TASK_SHAPE) for n in size)):
        origin = np.array(start, dtype=int) * TASK_SHAPE
        name = _fragment_name(origin, np.minimum(origin + TASK_SHAPE, size))
        for label, mesh in _task_mesh(read, size, origin, res).items():
            fragments.setdefault(label, []).append((name, mesh))
    return {
        label: _concatenate([mesh for _, mesh in sorted(parts, key=lambda p: p[0])])
        for label, parts in sorted(fragments.items())
    }


def _concatenate(meshes: list[Mesh]) -> Mesh:
    counts = np.zeros(len(meshes) + 1, np.uint32)
    counts[1:] = np.cumsum([len(mesh.vertices) for mesh in meshes])
    return Mesh(
        np.concatenate([mesh.vertices for mesh in meshes]),
        np.concatenate([mesh.faces + counts[i] for i, mesh in enumerate(meshes)]),
    )


# --- levels of detail and the octree (igneous multires) ------------------------------------------------------


def lod_chunk_shape(
    mesh_shape: Sequence[int], max_lod: int, min_chunk_dim: int
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The library's LOD plan for a mesh of ``mesh_shape``: (actual chunk size, smallest chunk size, LOD count);
    the smallest chunk keeps ``max_lod`` levels unless a cell would be under ``min_chunk_dim``."""
    shape = np.array(mesh_shape)

    def chunk_for(lod: int) -> np.ndarray:
        return 2 ** np.floor(np.log2(shape / 2**lod))

    chunk = chunk_for(max_lod)
    if np.any(chunk < min_chunk_dim):
        max_lod = int(max(np.min(np.log2(shape / min_chunk_dim)), 0))
        chunk = chunk_for(max_lod)
    lods = int(max(np.min(np.log2(shape / chunk)), 0)) + 1
    actual = np.ceil(shape / 2 ** (lods - 1))
    return tuple(int(v) for v in actual), tuple(int(v) for v in chunk.astype(int)), lods


def _generate_lods(mesh: Any, num_lods: int, aggressiveness: float = 5.5) -> list[Any]:
    """igneous' ``generate_lods``: ``mesh``, then ``num_lods`` simplifications of it to 1/2, 1/4 … of its faces."""
    lods = [mesh]
    for i in range(1, num_lods + 1):
        simplifier = pyfqmr.Simplify()
        simplifier.setMesh(mesh.vertices, mesh.faces)
        simplifier.simplify_mesh(
            target_count=max(int(len(mesh.faces) / (2**i)), 4),
            aggressiveness=aggressiveness,
            preserve_border=True,
            verbose=False,
        )
        lods.append(Mesh(*simplifier.getMesh()[:2]))
    return lods


def _mesh_extent(lods: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    starts = [np.min(lod.vertices, axis=0) for lod in lods]
    ends = [np.max(lod.vertices, axis=0) for lod in lods]
    origin = np.floor(np.min(starts, axis=0))
    return origin, (np.ceil(np.max(ends, axis=0)) - origin).astype(int)


def _cmp_zorder(lhs: Sequence[int], rhs: Sequence[int]) -> int:
    def less_msb(x: int, y: int) -> bool:
        return x < y and x < (x ^ y)

    msd = 2
    for dim in (1, 0):
        if less_msb(lhs[msd] ^ rhs[msd], lhs[dim] ^ rhs[dim]):
            msd = dim
    return lhs[msd] - rhs[msd]


def _gridded_submeshes(
    mesh: trimesh.Trimesh, offset: np.ndarray, grid: np.ndarray, scale: np.ndarray
) -> Iterator[tuple[trimesh.Trimesh, tuple[int, int, int]]]:
    normals = np.eye(3)
    shifts = offset * np.eye(3)
    slice_plane = trimesh.intersections.slice_mesh_plane

    def between(part: trimesh.Trimesh, axis: int, index: int) -> trimesh.Trimesh:
        normal = normals[axis]
        part = slice_plane(part, plane_normal=normal, plane_origin=list(normal * index * scale[axis] + shifts[axis]))
        return slice_plane(
            part, plane_normal=-normal, plane_origin=list(normal * (index + 1) * scale[axis] + shifts[axis])
        )

    for x in range(grid[0]):
        mesh_x = between(mesh, 0, x)
        for y in range(grid[1]):
            mesh_y = between(mesh_x, 1, y)
            for z in range(grid[2]):
                mesh_z = between(mesh_y, 2, z)
                if len(mesh_z.vertices) == 0:
                    continue
                # A point or a line (two axes constant) is no fragment.
                if sum(np.all(mesh_z.vertices[:, i] == mesh_z.vertices[0, i]) for i in range(3)) >= 2:
                    continue
                yield mesh_z, (x, y, z)


def _octree_level(
    mesh: Any, chunk_shape: np.ndarray, lod: int, num_lods: int, offset: np.ndarray, extent: np.ndarray
) -> tuple[list[Mesh], tuple[tuple[int, int, int], ...]]:
    mesh = trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces)
    scale = np.array(chunk_shape) * (2**lod)
    grid = np.ceil(extent / scale).astype(int)
    if lod > 0:
        # Retriangulated on the finer level's grid, so no triangle straddles a cell of the level above.
        upper_scale = np.array(chunk_shape) * (2 ** (lod - 1))
        upper_grid = np.ceil(extent / upper_scale).astype(int)
        retriangulated = trimesh.Trimesh()
        for submesh, _ in _gridded_submeshes(mesh, offset, upper_grid, upper_scale):
            retriangulated = trimesh.util.concatenate(retriangulated, submesh)
        mesh = retriangulated
    if lod == num_lods - 1:
        return [Mesh(mesh.vertices, mesh.faces)], ((0, 0, 0),)
    cells = sorted(
        _gridded_submeshes(mesh, offset, grid, scale), key=functools.cmp_to_key(lambda a, b: _cmp_zorder(a[1], b[1]))
    )
    return [Mesh(m.vertices, m.faces) for m, _ in cells], tuple(node for _, node in cells)


def _manifest(chunk_shape: np.ndarray, origin: np.ndarray, positions: list[np.ndarray], sizes: list[int]) -> bytes:
    lods = len(positions)
    parts = [
        np.array(chunk_shape, dtype="<f4").tobytes(),
        np.array(origin, dtype="<f4").tobytes(),
        np.uint32(lods).astype("<u4").tobytes(),
        np.array([2**i for i in range(lods)], dtype="<f4").tobytes(),
        np.zeros((lods, 3), dtype="<f4").tobytes(),
        np.array([len(p) for p in positions], dtype="<u4").tobytes(),
    ]
    done = 0
    for lod_positions in positions:
        parts.append(np.array(lod_positions, dtype="<u4").tobytes(order="F"))
        parts.append(np.array(sizes[done : done + len(lod_positions)], dtype="<u4").tobytes())
        done += len(lod_positions)
    return b"".join(parts)


def _to_stored_model(
    vertices: np.ndarray, origin: np.ndarray, chunk_shape: np.ndarray, lod: int, position: np.ndarray
) -> np.ndarray:
    quant = (2**VERTEX_QUANTIZATION_BITS) - 1
    stored = vertices.astype(np.float32, copy=False) - origin - [0, 0, 0]
    stored /= chunk_shape * (2**lod)
    stored -= position
    stored *= quant
    stored = np.round(stored, out=stored)
    stored = np.clip(stored, 0, quant, out=stored)
    return stored.astype(np.uint16)


def _encode(lods: list[Any], num_lods: int, origin: np.ndarray, extent: np.ndarray) -> tuple[bytes, bytes] | None:
    """The first ``num_lods`` levels cut into octrees over ``origin`` + ``extent`` and Draco-encoded:
    ``(fragments, manifest)``, or None when a cell would be flat."""
    chunk_shape = np.ceil(extent / (2 ** (num_lods - 1)))
    if np.any(chunk_shape == 0):
        return None
    levels = [_octree_level(lods[lod], chunk_shape, lod, num_lods, origin, extent) for lod in range(num_lods)]
    positions = [np.array(nodes) for _, nodes in levels]
    binaries = []
    for lod, (submeshes, _) in enumerate(levels):
        for frag, submesh in enumerate(submeshes):
            vertices = _to_stored_model(submesh.vertices, origin, chunk_shape, lod, positions[lod][frag, :])
            low = np.min(vertices, axis=0)
            extent_q = np.max(np.max(vertices, axis=0) - low)
            try:
                encoded = DracoPy.encode(
                    vertices,
                    submesh.faces,
                    quantization_bits=VERTEX_QUANTIZATION_BITS,
                    compression_level=DRACO_COMPRESSION_LEVEL,
                    quantization_range=extent_q,
                    quantization_origin=low,
                    create_metadata=True,
                )
            except DracoPy.EncodingFailedException:
                encoded = b""
            binaries.append(encoded)
    manifest = _manifest(chunk_shape, origin, positions, [len(b) for b in binaries])
    return b"".join(binaries), manifest


def multires_mesh(
    mesh: Any, num_lod: int, min_chunk_size: Sequence[int], resolution: Any
) -> tuple[bytes, bytes] | None:
    """One object's ``(fragments, manifest)`` as igneous' ``process_mesh`` makes them, or None for a flat mesh.
    ``mesh`` has ``vertices`` (physical units) and ``faces``; it is scaled to voxels by ``resolution``."""
    mesh.vertices /= resolution
    origin = np.floor(np.min(mesh.vertices, axis=0))
    extent = (np.max(mesh.vertices, axis=0) - origin).astype(int)
    if np.any(extent == 0):
        return None
    max_lod = int(max(np.min(np.log2(extent / np.array(min_chunk_size, dtype=int))), 0))
    lods = _generate_lods(mesh, min(max_lod, num_lod))
    origin, extent = _mesh_extent(lods)
    return _encode(lods, len(lods), origin, extent)


def decimated_multires_mesh(lods: list[Any], num_lods: int) -> tuple[bytes, bytes] | None:
    """The library's ``_process_decimated_mesh``: levels of detail made beforehand (the first ``num_lods`` of them
    encoded, over the extent of all)."""
    origin, extent = _mesh_extent(lods)
    if np.any(extent == 0):
        return None
    return _encode([Mesh(lod.vertices, lod.faces) for lod in lods], num_lods, origin, extent)


# --- the sharded mesh directory ------------------------------------------------------------------------------


def shard_bits_for(labels: int) -> tuple[int, int]:
    """igneous' ``(shard_bits, minishard_bits)`` for ``labels`` hashed ids: minishard indices of about 32 KiB and
    a shard index of about 8 KiB, one shard as long as it stays over half full."""
    if labels <= 0:
        return 0, 0
    minishards_per_shard = SHARD_INDEX_BYTES / 2 / 8
    labels_per_minishard = MINISHARD_INDEX_BYTES / 3 / 8
    labels_per_shard = minishards_per_shard * labels_per_minishard
    if labels >= labels_per_shard:
        minishard_bits = np.ceil(np.log2(minishards_per_shard))
        shard_bits = np.ceil(np.log2(labels / (labels_per_minishard * (2**minishard_bits))))
    elif labels >= labels_per_minishard:
        minishard_bits = np.ceil(np.log2(labels / labels_per_minishard))
        shard_bits = 0
    else:
        minishard_bits = shard_bits = 0
    if labels / (labels_per_shard * (2**shard_bits)) <= 0.55:
        shard_bits -= 1
    return int(max(shard_bits, 0)), int(max(minishard_bits, 0))


def mesh_sharding(labels: int) -> ShardingSpec:
    shard_bits, minishard_bits = shard_bits_for(labels)
    return ShardingSpec(minishard_bits, shard_bits, hash=MURMURHASH3, data_encoding="raw", libdeflate=True)


def mesh_info(
    chunk_size: Sequence[Any], index_resolution: Sequence[Any], transform_scale: Any, sharding: ShardingSpec
) -> dict[str, Any]:
    """``mesh/info``: igneous' multi-LOD Draco info over a spatial index of ``chunk_size`` cells."""
    scale = transform_scale
    return {
        "@type": "neuroglancer_multilod_draco",
        "mip": 0,
        "chunk_size": list(chunk_size),
        "spatial_index": {
            "resolution": list(index_resolution),
            "chunk_size": [c * r for c, r in zip(chunk_size, index_resolution, strict=True)],
        },
        "vertex_quantization_bits": VERTEX_QUANTIZATION_BITS,
        "transform": [scale, 0, 0, 0, 0, scale, 0, 0, 0, 0, scale, 0],
        "lod_scale_multiplier": 1.0,
        "sharding": sharding.to_json(),
    }


def mesh_shards(
    meshes: Mapping[int, Any], encode: Callable[[Any], tuple[bytes, bytes] | None]
) -> tuple[ShardingSpec, dict[str, bytes]]:
    """The sharding of ``meshes`` (label → what ``encode`` makes ``(fragments, manifest)`` of) and its shard
    files (none for no mesh)."""
    sharding = mesh_sharding(len(meshes))
    objects, manifests = {}, {}
    for label, mesh in meshes.items():
        made = encode(mesh)
        if made is None or not made[0]:
            continue
        fragments, manifest = made
        objects[label] = fragments + manifest
        manifests[label] = len(manifest)
    return sharding, sharding.shards(objects, indexed_tail=manifests) if objects else {}


class LabelledExtent:
    """The extent (x, y, z) the precompute library plans a mask's mesh levels from, accumulated chunk by chunk.

    As the library's ``determine_size_of_non_zero_bounding_box``: the lowest and highest index of a non-zero
    voxel *within its zarr chunk* over all chunks (chunk-local indices: exact for a one-chunk mask), + 1; a mask
    without any is 1 × 1 × 1."""

    def __init__(self) -> None:
        self.low = [math.inf] * 3
        self.high = [0] * 3

    def add(self, block: np.ndarray) -> None:
        """One zarr chunk (z, y, x)."""
        found = np.nonzero(block)
        if len(found[0]) == 0:
            return
        for axis in range(3):
            self.low[axis] = min(self.low[axis], int(found[axis].min()))
            self.high[axis] = max(self.high[axis], int(found[axis].max()))

    @property
    def size(self) -> tuple[int, int, int]:
        low = [0, 0, 0] if self.low[0] == math.inf else self.low
        z, y, x = (int(h - lo + 1) for h, lo in zip(self.high, low, strict=True))
        return x, y, z


def mask_mesh_files(
    read: Callable[[Region], np.ndarray],
    shape: Sequence[int],
    resolution: int,
    labelled_extent: Sequence[int],
    provenance: Callable[[tuple[int, ...], ShardingSpec], bytes],
) -> dict[str, bytes]:
    """The mesh members of a mask layer of ``shape`` (z, y, x) at ``resolution`` nm: ``mesh/`` (its ``info`` and
    shards) and the layer's ``provenance`` (made from the smallest octree cell and the sharding). The levels of
    detail are planned from ``labelled_extent`` (x, y, z; :class:`LabelledExtent`)."""
    _, min_chunk, _ = lod_chunk_shape(labelled_extent, MAX_LOD, MASK_MIN_CHUNK_DIM)
    meshes = label_meshes(read, shape, resolution)
    res = np.array([resolution] * 3, dtype=int)
    sharding, shards = mesh_shards(meshes, lambda mesh: multires_mesh(mesh, MAX_LOD, min_chunk, res))
    files = {f"{MESH_DIR}/{name}": data for name, data in shards.items()}
    files[f"{MESH_DIR}/info"] = json.dumps(mesh_info([TASK_SHAPE] * 3, [resolution] * 3, resolution, sharding)).encode()
    files["provenance"] = provenance(min_chunk, sharding)
    return files


def mask_mesh_provenance(
    layer_url: str, resolution: int, min_chunk: Sequence[int], sharding: ShardingSpec, by: str, date: str
) -> bytes:
    """The layer's ``provenance`` as igneous records its two meshing steps (``date`` as ``%Y-%m-%d %H:%M %Z``)."""
    path = f"precomputed://{layer_url}"
    steps = [
        {
            "task": "MeshTask",
            "layer_path": path,
            "mip": 0,
            "shape": [TASK_SHAPE] * 3,
            "simplification": True,
            "max_simplification_error": MASK_SIMPLIFICATION_ERROR * resolution,
            "mesh_dir": MESH_DIR,
            "fill_missing": False,
            "cdn_cache": False,
            "dust_threshold": None,
            "encoding": "precomputed",
            "object_ids": None,
            "spatial_index": True,
            "frag_path": None,
            "sharded": True,
            "compress": "gzip",
            "closed_dataset_edges": True,
            "dust_global": False,
            "fill_holes": 0,
            "dry_run": False,
        },
        {
            "task": "MultiResShardedMeshMergeTask",
            "cloudpath": path,
            "mip": 0,
            "num_lod": MAX_LOD,
            "vertex_quantization_bits": VERTEX_QUANTIZATION_BITS,
            "preshift_bits": 0,
            "minishard_bits": sharding.minishard_bits,
            "shard_bits": sharding.shard_bits,
            "mesh_dir": MESH_DIR,
            "frag_path": None,
            "draco_compression_level": DRACO_COMPRESSION_LEVEL,
            "min_chunk_size": list(min_chunk),
        },
    ]
    document = {
        "sources": [],
        "owners": [],
        "processing": [{"method": method, "by": by, "date": date} for method in steps],
        "description": "",
    }
    return json.dumps(document, sort_keys=True, indent=2, separators=(",", ": ")).encode()


#: A glb's layer: the library's smallest octree cell when it plans a standalone mesh's levels of detail.
GLB_MIN_CHUNK_DIM = 8
#: The standalone layer's (unused) volume chunking, which Neuroglancer requires.
STANDALONE_CHUNK = 256
SEGMENT_PROPERTIES = "segment_properties"


#: Oriented-point meshes: the library's octree floor, faces allowed in the first level of detail over all points,
#: the levels it first decimates to (to choose that first level), and its decimation aggressiveness.
ORIENTED_MIN_CHUNK_DIM = 2
ORIENTED_MAX_FACES = 10e6
ORIENTED_TRIAL_LODS = 10
ORIENTED_AGGRESSIVENESS = 5.5
#: Oriented-point meshes are in Å; the library's meshes are in nm.
NM_PER_ANGSTROM = 0.1


def _load_scene(glb: bytes) -> trimesh.Scene:
    try:
        return trimesh.load(io.BytesIO(glb), file_type="glb", force="scene")
    except (ValueError, KeyError, IndexError, struct.error) as error:
        raise ValueError(f"not a readable glb: {error}") from None


def _standalone_layer(
    size: np.ndarray, chunk: Sequence[int], sharding: ShardingSpec, shards: dict[str, bytes], label: str | None
) -> dict[str, bytes]:
    """A mesh-only layer as the library's ``_generate_standalone_mesh_info`` describes it (``info`` of no data, of
    ``size``), its ``mesh/`` and, for a named segment 1, ``segment_properties/``."""
    info: dict[str, Any] = {
        "@type": "neuroglancer_multiscale_volume",
        "data_type": "uint32",
        "mesh": MESH_DIR,
        "num_channels": 1,
        "scales": [
            {
                "chunk_sizes": [[STANDALONE_CHUNK] * 3],
                "compressed_segmentation_block_size": [64, 64, 64],
                "encoding": "compressed_segmentation",
                "key": "data",
                "resolution": [1.0, 1.0, 1.0],
                "size": [float(v) for v in size],
            }
        ],
        "type": "segmentation",
    }
    files = {f"{MESH_DIR}/{name}": data for name, data in shards.items()}
    files[f"{MESH_DIR}/info"] = json.dumps(mesh_info(chunk, [1, 1, 1], 1.0, sharding)).encode()
    if label is not None:
        info["segment_properties"] = SEGMENT_PROPERTIES
        properties = {
            "inline": {"ids": ["1"], "properties": [{"values": [label], "type": "label", "id": "label"}]},
            "@type": "neuroglancer_segment_properties",
        }
        files[f"{SEGMENT_PROPERTIES}/info"] = json.dumps(properties, indent=2).encode()
    files["info"] = json.dumps(info, indent=2).encode()
    return files


def _size(mesh: trimesh.Trimesh) -> np.ndarray:
    return np.maximum(np.ceil(mesh.bounds[1]), np.full(3, 1))


def glb_mesh_layer(glb: bytes, label: str) -> dict[str, bytes]:
    """A triangular mesh's whole layer, as the library's ``generate_multiresolution_mesh`` makes it from the
    written glb: the scene's geometry as segment 1 (named ``label``), in the glb's own units (the viewer state
    scales them), levels of detail planned from its extent; ``info`` (last) has no data, only ``mesh/``."""
    mesh = _load_scene(glb).to_geometry()
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError("the glb holds no triangles")
    size = _size(mesh)
    origin = np.floor(np.min(mesh.vertices, axis=0))
    extent = (np.max(mesh.vertices, axis=0) - origin).astype(int)
    actual, smallest, lods = lod_chunk_shape(extent, MAX_LOD, GLB_MIN_CHUNK_DIM)
    # The library passes the level count where igneous takes the highest level: one level more, as it does.
    res = np.array([1.0, 1.0, 1.0])
    sharding, shards = mesh_shards({1: mesh}, lambda mesh: multires_mesh(mesh, lods, smallest, res))
    return _standalone_layer(size, actual, sharding, shards, label)


def _decimate(mesh: trimesh.Trimesh, num_lods: int) -> list[trimesh.Trimesh]:
    """The library's ``decimate_mesh``: ``mesh`` and its simplifications, up to the first that removes nothing."""
    lods = _generate_lods(mesh, num_lods - 1, ORIENTED_AGGRESSIVENESS)
    faces = [len(lod.faces) for lod in lods]
    last = next((i for i in range(len(lods) - 1) if faces[i] == faces[i + 1]), len(lods) - 1)
    return [
        lod if isinstance(lod, trimesh.Trimesh) else trimesh.Trimesh(vertices=lod.vertices, faces=lod.faces)
        for lod in lods[: last + 1]
    ]


def oriented_mesh_lods(glb: bytes, records: Sequence[Mapping[str, Any]], spacing: float) -> list[trimesh.Trimesh]:
    """The library's ``encode_oriented_mesh``: the glb's one mesh (Å) decimated, the first level of detail whose
    copies at every point stay under 10⁷ faces and the next two, each copied to every point of ``records`` (an
    oriented point's ``location`` in voxels of ``spacing`` Å, turned by its ``xyz_rotation_matrix``), joined."""
    geometry = _load_scene(glb).geometry
    if len(geometry) != 1:
        raise ValueError(f"an oriented point mesh must hold one mesh, not {len(geometry)}")
    scaled = next(iter(geometry.values())).copy().apply_scale(NM_PER_ANGSTROM)
    trial = np.array([len(mesh.faces) for mesh in _decimate(scaled, max(ORIENTED_TRIAL_LODS, MAX_LOD + 1))])
    totals = trial * len(records)
    if np.all(totals > ORIENTED_MAX_FACES):
        raise ValueError(f"its copies at {len(records)} points have over {ORIENTED_MAX_FACES:.0f} faces at every level")
    first = int(np.argmax(totals <= ORIENTED_MAX_FACES))
    data_scale = spacing * NM_PER_ANGSTROM
    levels = []
    for mesh in _decimate(scaled, first + MAX_LOD + 1)[first:]:
        if data_scale != 1.0:
            mesh = mesh.copy().apply_scale(1.0 / data_scale)
        scene = trimesh.Scene()
        for index, record in enumerate(records):
            transform = np.eye(4)
            transform[:3, :3] = np.array(record["xyz_rotation_matrix"])
            transform[:3, 3] = np.array([record["location"][axis] for axis in ("x", "y", "z")])
            scene.add_geometry(mesh.copy().apply_transform(transform), node_name=str(index))
        levels.append(scene.to_geometry())
    return levels


def oriented_mesh_layer(glb: bytes, records: Sequence[Mapping[str, Any]], spacing: float) -> dict[str, bytes]:
    """An oriented-point annotation's ``_orientedmesh`` layer, as the library's ``generate_mesh_from_lods`` makes it
    from :func:`oriented_mesh_lods`: segment 1, in voxels; ``info`` (last) has no data, only ``mesh/``."""
    lods = oriented_mesh_lods(glb, records, spacing)
    _, extent = _mesh_extent(lods)
    # The decimated path plans its octree cells from the levels themselves, not from the smallest cell.
    actual, _, num_lods = lod_chunk_shape(extent, len(lods) - 1, ORIENTED_MIN_CHUNK_DIM)
    sharding, shards = mesh_shards({1: lods}, lambda levels: decimated_multires_mesh(levels, num_lods))
    return _standalone_layer(_size(lods[0]), actual, sharding, shards, None)


# --- reading (tests and checks) -----------------------------------------------------------------------------


@dataclass
class StoredMesh:
    """One object of a mesh shard: per level of detail, its fragments' vertices in model space and faces."""

    chunk_shape: np.ndarray
    grid_origin: np.ndarray
    lods: list[list[Mesh]]


def read_mesh_shard(sharding: ShardingSpec, shard: bytes) -> dict[int, StoredMesh]:
    """Every object of a multi-LOD mesh shard, its Draco fragments decoded to model coordinates."""
    meshes = {}
    for label, (start, end) in read_shard_entries(sharding, shard).items():
        manifest = shard[start:end]
        chunk_shape = np.frombuffer(manifest, "<f4", 3, 0)
        origin = np.frombuffer(manifest, "<f4", 3, 12)
        lods = int(np.frombuffer(manifest, "<u4", 1, 24)[0])
        at = 28 + 4 * lods + 12 * lods
        counts = np.frombuffer(manifest, "<u4", lods, at)
        at += 4 * lods
        layout = []
        for count in counts:
            positions = np.frombuffer(manifest, "<u4", 3 * int(count), at).reshape(3, -1).T
            at += 12 * int(count)
            sizes = np.frombuffer(manifest, "<u4", int(count), at)
            at += 4 * int(count)
            layout.append((positions, sizes))
        if at != len(manifest):
            raise ValueError(f"mesh {label}: manifest of {len(manifest)} bytes, {at} expected")
        cursor = start - sum(int(sizes.sum()) for _, sizes in layout)
        levels = []
        quant = 2.0**VERTEX_QUANTIZATION_BITS - 1
        for lod, (positions, sizes) in enumerate(layout):
            fragments = []
            for position, size in zip(positions, sizes, strict=True):
                decoded = DracoPy.decode(shard[cursor : cursor + int(size)])
                cursor += int(size)
                vertices = origin + chunk_shape * 2**lod * (position + np.asarray(decoded.points) / quant)
                fragments.append(Mesh(vertices, np.asarray(decoded.faces)))
            levels.append(fragments)
        meshes[label] = StoredMesh(chunk_shape, origin, levels)
    return meshes
