"""Neuroglancer's ``neuroglancer_uint64_sharded_v1`` format (formats.md §7).

A shard file is a fixed index of ``2**minishard_bits`` ``[start, end)`` pairs (uint64, offsets after the
index) locating each minishard's index, then the data of every object, then the minishard indices: per
minishard, three uint64 rows (ids delta-encoded, offsets delta-encoded from the previous object's end,
sizes). An object's shard and minishard come from its id (the identity hash of annotation layers) or from the
low 64 bits of its MurmurHash3_x86_128 (mesh layers). Minishard indices, and the data unless it is ``raw``,
are gzip-compressed as the portal's writers compress them (level 9, no timestamp; with Python's zlib for the
annotation writer, with libdeflate for igneous' mesh shards), so equal content gives equal bytes.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Mapping
from dataclasses import dataclass

import deflate
import numpy as np

INDEX_ENTRY_BYTES = 16
IDENTITY = "identity"
MURMURHASH3 = "murmurhash3_x86_128"
_MASK32 = 0xFFFFFFFF


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def _libdeflate_gzip(data: bytes) -> bytes:
    """Gzip as igneous' cloud-files writes it, through libdeflate (level 9: no timestamp, OS "unknown", and
    libdeflate's own deflate stream, which zlib's differs from beyond a few dozen bytes)."""
    return bytes(deflate.gzip_compress(data, 9))


def _rotl32(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _MASK32


def _fmix32(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def murmurhash3_x86_128_low64(key: int) -> int:
    """The low 64 bits of MurmurHash3_x86_128 (seed 0) of ``key`` as 8 little-endian bytes: what Neuroglancer's
    ``murmurhash3_x86_128`` sharding hashes an id to. Eight bytes are all tail: no 16-byte block is mixed."""
    k1, k2 = struct.unpack("<II", struct.pack("<Q", key))
    k1 = (_rotl32((k1 * 0x239B961B) & _MASK32, 15) * 0xAB0E9789) & _MASK32
    k2 = (_rotl32((k2 * 0xAB0E9789) & _MASK32, 16) * 0x38B34AE5) & _MASK32
    h1, h2, h3, h4 = k1 ^ 8, k2 ^ 8, 8, 8  # seed 0; the length xored in
    h1 = (h1 + h2 + h3 + h4) & _MASK32
    h2, h3, h4 = (h2 + h1) & _MASK32, (h3 + h1) & _MASK32, (h4 + h1) & _MASK32
    h1, h2, h3, h4 = _fmix32(h1), _fmix32(h2), _fmix32(h3), _fmix32(h4)
    h1 = (h1 + h2 + h3 + h4) & _MASK32
    h2 = (h2 + h1) & _MASK32
    return h1 | (h2 << 32)


@dataclass(frozen=True)
class ShardingSpec:
    """A sharding specification without preshift: the identity hash and gzip encodings of the portal's
    annotation layers by default; igneous' mesh layers hash with MurmurHash3 and store raw data."""

    minishard_bits: int
    shard_bits: int
    hash: str = IDENTITY
    data_encoding: str = "gzip"
    #: Minishard indices (and gzip data) compressed with libdeflate, as igneous' cloud-files compresses them.
    libdeflate: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "@type": "neuroglancer_uint64_sharded_v1",
            "preshift_bits": 0,
            "hash": self.hash,
            "minishard_bits": self.minishard_bits,
            "shard_bits": self.shard_bits,
            "minishard_index_encoding": "gzip",
            "data_encoding": self.data_encoding,
        }

    def _compress(self, data: bytes) -> bytes:
        return _libdeflate_gzip(data) if self.libdeflate else _gzip(data)

    def location(self, object_id: int) -> tuple[str, int]:
        """``(shard file name, minishard number)`` of an object."""
        hashed = murmurhash3_x86_128_low64(object_id) if self.hash == MURMURHASH3 else object_id
        minishard = hashed & ((1 << self.minishard_bits) - 1)
        shard = (hashed >> self.minishard_bits) & ((1 << self.shard_bits) - 1)
        return f"{shard:0{max(1, -(-self.shard_bits // 4))}x}.shard", minishard

    def shards(self, objects: Mapping[int, bytes], indexed_tail: Mapping[int, int] | None = None) -> dict[str, bytes]:
        """The shard files holding ``objects`` (id → bytes): minishards in ascending order, objects by id. With
        ``indexed_tail`` (id → byte count), an object's index entry locates only that many last bytes of its
        data (a multi-resolution mesh's manifest, after its fragments)."""
        grouped: dict[str, dict[int, list[int]]] = {}
        for object_id in sorted(objects):
            name, minishard = self.location(object_id)
            grouped.setdefault(name, {}).setdefault(minishard, []).append(object_id)
        return {
            name: self._shard(minishards, objects, indexed_tail or {}) for name, minishards in sorted(grouped.items())
        }

    def _shard(
        self, minishards: dict[int, list[int]], objects: Mapping[int, bytes], indexed_tail: Mapping[int, int]
    ) -> bytes:
        data: list[bytes] = []
        indices: list[tuple[int, bytes]] = []
        offset = 0
        for minishard in sorted(minishards):
            ids = minishards[minishard]
            encoded = [objects[i] if self.data_encoding == "raw" else self._compress(objects[i]) for i in ids]
            indexed = [indexed_tail.get(i, len(chunk)) for i, chunk in zip(ids, encoded, strict=True)]
            rows = np.zeros((3, len(ids)), dtype="<u8")
            rows[0] = np.diff(ids, prepend=0)
            # An offset counts from the previous indexed part's end: what an object holds before its indexed tail.
            rows[1] = [len(chunk) - size for chunk, size in zip(encoded, indexed, strict=True)]
            rows[1, 0] += offset
            rows[2] = indexed
            data += encoded
            offset += sum(len(chunk) for chunk in encoded)
            indices.append((minishard, self._compress(rows.tobytes())))
        fixed = np.zeros((1 << self.minishard_bits, 2), dtype="<u8")
        end = offset
        for minishard, index in indices:
            fixed[minishard] = (end, end + len(index))
            end += len(index)
        return fixed.tobytes() + b"".join(data) + b"".join(index for _, index in indices)


def read_shard_entries(spec: ShardingSpec, shard: bytes) -> dict[int, tuple[int, int]]:
    """Where each object's indexed bytes are in a shard file: id → ``(start, end)`` in the file."""
    index_bytes = INDEX_ENTRY_BYTES << spec.minishard_bits
    fixed = np.frombuffer(shard[:index_bytes], dtype="<u8").reshape(-1, 2)
    entries = {}
    for start, end in fixed:
        if end <= start:
            continue
        rows = np.frombuffer(gzip.decompress(shard[index_bytes + int(start) : index_bytes + int(end)]), dtype="<u8")
        ids, offsets, sizes = (np.cumsum(row) if i < 2 else row for i, row in enumerate(rows.reshape(3, -1)))
        # An object's offset delta counts from the end of the previous one.
        offsets = offsets + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        for object_id, offset, size in zip(ids, offsets, sizes, strict=True):
            at = index_bytes + int(offset)
            entries[int(object_id)] = (at, at + int(size))
    return entries


def read_shard(spec: ShardingSpec, shard: bytes) -> dict[int, bytes]:
    """Every object of a shard file (id → decoded indexed bytes), in any writer's order."""
    objects = {}
    for object_id, (start, end) in read_shard_entries(spec, shard).items():
        chunk = shard[start:end]
        objects[object_id] = chunk if spec.data_encoding == "raw" else gzip.decompress(chunk)
    return objects
