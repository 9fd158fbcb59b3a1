"""Neuroglancer's ``neuroglancer_uint64_sharded_v1`` format (formats.md §7), with the identity hash.

A shard file is a fixed index of ``2**minishard_bits`` ``[start, end)`` pairs (uint64, offsets after the
index) locating each minishard's index, then the data of every object, then the minishard indices: per
minishard, three uint64 rows (ids delta-encoded, offsets delta-encoded from the previous object's end,
sizes). Data and minishard indices are gzip-compressed as the portal's writer compresses them (level 9,
no timestamp), so equal content gives equal bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

INDEX_ENTRY_BYTES = 16


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


@dataclass(frozen=True)
class ShardingSpec:
    """A sharding specification with the identity hash, no preshift and gzip encodings (what the
    portal's annotation layers use)."""

    minishard_bits: int
    shard_bits: int

    def to_json(self) -> dict[str, object]:
        return {
            "@type": "neuroglancer_uint64_sharded_v1",
            "preshift_bits": 0,
            "hash": "identity",
            "minishard_bits": self.minishard_bits,
            "shard_bits": self.shard_bits,
            "minishard_index_encoding": "gzip",
            "data_encoding": "gzip",
        }

    def location(self, object_id: int) -> tuple[str, int]:
        """``(shard file name, minishard number)`` of an object."""
        minishard = object_id & ((1 << self.minishard_bits) - 1)
        shard = (object_id >> self.minishard_bits) & ((1 << self.shard_bits) - 1)
        return f"{shard:0{max(1, -(-self.shard_bits // 4))}x}.shard", minishard

    def shards(self, objects: Mapping[int, bytes]) -> dict[str, bytes]:
        """The shard files holding ``objects`` (id → bytes): minishards in ascending order, objects by id."""
        grouped: dict[str, dict[int, list[int]]] = {}
        for object_id in sorted(objects):
            name, minishard = self.location(object_id)
            grouped.setdefault(name, {}).setdefault(minishard, []).append(object_id)
        return {name: self._shard(minishards, objects) for name, minishards in sorted(grouped.items())}

    def _shard(self, minishards: dict[int, list[int]], objects: Mapping[int, bytes]) -> bytes:
        data: list[bytes] = []
        indices: list[tuple[int, bytes]] = []
        offset = 0
        for minishard in sorted(minishards):
            ids = minishards[minishard]
            encoded = [_gzip(objects[object_id]) for object_id in ids]
            rows = np.zeros((3, len(ids)), dtype="<u8")
            rows[0] = np.diff(ids, prepend=0)
            rows[1, 0] = offset  # later objects follow their predecessor directly: delta 0
            rows[2] = [len(chunk) for chunk in encoded]
            data += encoded
            offset += sum(len(chunk) for chunk in encoded)
            indices.append((minishard, _gzip(rows.tobytes())))
        fixed = np.zeros((1 << self.minishard_bits, 2), dtype="<u8")
        end = offset
        for minishard, index in indices:
            fixed[minishard] = (end, end + len(index))
            end += len(index)
        return fixed.tobytes() + b"".join(data) + b"".join(index for _, index in indices)


def read_shard(spec: ShardingSpec, shard: bytes) -> dict[int, bytes]:
    """Every object of a shard file (id → decoded bytes), in any writer's order."""
    index_bytes = INDEX_ENTRY_BYTES << spec.minishard_bits
    fixed = np.frombuffer(shard[:index_bytes], dtype="<u8").reshape(-1, 2)
    objects = {}
    for start, end in fixed:
        if end <= start:
            continue
        rows = np.frombuffer(gzip.decompress(shard[index_bytes + int(start) : index_bytes + int(end)]), dtype="<u8")
        ids, offsets, sizes = (np.cumsum(row) if i < 2 else row for i, row in enumerate(rows.reshape(3, -1)))
        # An object's offset delta counts from the end of the previous one.
        offsets = offsets + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        for object_id, offset, size in zip(ids, offsets, sizes, strict=True):
            at = index_bytes + int(offset)
            objects[int(object_id)] = gzip.decompress(shard[at : at + int(size)])
    return objects
