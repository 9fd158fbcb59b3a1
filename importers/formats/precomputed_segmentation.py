"""Neuroglancer precomputed segmentation volumes of masks (formats.md §7), as the portal writes them.

The portal's precompute library converts a mask's OME-Zarr level 0 to uint32, one precomputed chunk per
zarr chunk (named ``{x0}-{x1}_{y0}-{y1}_{z0}-{z1}`` under ``data/``), each in the ``compressed_segmentation``
encoding with 64³ blocks: a channel header, one 64-bit header per block (lookup-table offset, bits per value,
values offset; offsets in 32-bit words), then per block its lookup table of distinct values (uint32; a table
equal to an earlier one is shared) and its values' table positions packed little-endian into 32-bit words.
Partial blocks are padded with 0. The resolution in ``info`` is the voxel size rounded to whole nanometres
(at least 1), as the library writes it; viewer states map it back to the tomogram's spacing.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

BLOCK = (64, 64, 64)
DATA_DIR = "data"
ENCODING_BITS = (0, 1, 2, 4, 8, 16, 32)


def chunk_name(start: Sequence[int], stop: Sequence[int]) -> str:
    """A chunk's key in ``data/`` from its z, y, x start and stop."""
    return "_".join(f"{start[axis]}-{stop[axis]}" for axis in (2, 1, 0))


def _bits(distinct: int) -> int:
    return next(bits for bits in ENCODING_BITS if (1 << bits) >= distinct)


def _pack(positions: np.ndarray, bits: int) -> bytes:
    """Table positions, ``32 // bits`` per little-endian 32-bit word from the low bits up."""
    if bits == 0:
        return b""
    per_word = 32 // bits
    padded = np.zeros(-(-positions.size // per_word) * per_word, dtype="<u4")
    padded[: positions.size] = positions
    words = np.zeros(padded.size // per_word, dtype="<u4")
    for shift in range(per_word):
        words |= padded[shift::per_word] << np.uint32(shift * bits)
    return words.tobytes()


def encode_chunk(data: np.ndarray) -> bytes:
    """One chunk (z, y, x, any integer dtype) in the ``compressed_segmentation`` encoding (uint32 values)."""
    data = data.astype(np.uint32, copy=False)
    grid = [math.ceil(size / block) for size, block in zip(data.shape, BLOCK, strict=True)]
    buffer = bytearray(struct.pack("<I", 1))  # one channel, whose data starts after this word
    buffer += bytes(8 * math.prod(grid))
    tables: dict[bytes, tuple[int, int]] = {}
    for z, y, x in np.ndindex(*grid):
        block = data[tuple(slice(i * size, (i + 1) * size) for i, size in zip((z, y, x), BLOCK, strict=True))]
        if block.shape != BLOCK:
            block = np.pad(block, [(0, full - size) for full, size in zip(BLOCK, block.shape, strict=True)])
        values, positions = np.unique(block, return_inverse=True)
        table = values.astype("<u4").tobytes()
        if table not in tables:
            tables[table] = (len(buffer) // 4 - 1, _bits(values.size))
            buffer += table
        table_offset, bits = tables[table]
        values_offset = len(buffer) // 4 - 1
        buffer += _pack(positions.ravel(), bits)
        header = 4 + 8 * (x + grid[2] * (y + grid[1] * z))
        struct.pack_into("<II", buffer, header, table_offset | (bits << 24), values_offset)
    return bytes(buffer)


def segmentation_resolution(spacing: float) -> int:
    """The layer's voxel size in whole nm (at least 1), from ``spacing`` Å as the library computes it."""
    return max(round(spacing * 0.1), 1)


def segmentation_info(
    shape: Sequence[int], chunks: Sequence[int], spacing: float, mesh_dir: str | None = None
) -> dict[str, Any]:
    """The ``info`` of a segmentation of ``shape`` (z, y, x) in chunks of ``chunks`` at ``spacing`` Å; with
    ``mesh_dir``, naming its meshes."""
    info: dict[str, Any] = {
        "@type": "neuroglancer_multiscale_volume",
        "data_type": "uint32",
        "num_channels": 1,
        "scales": [
            {
                "chunk_sizes": [list(chunks[::-1])],
                "encoding": "compressed_segmentation",
                "compressed_segmentation_block_size": list(BLOCK),
                "resolution": [segmentation_resolution(spacing)] * 3,
                "key": DATA_DIR,
                "size": list(shape[::-1]),
            }
        ],
        "type": "segmentation",
    }
    if mesh_dir is not None:
        info["mesh"] = mesh_dir
    return info


def info_bytes(info: dict[str, Any]) -> bytes:
    return json.dumps(info, indent=4).encode()
