"""Partial decoding of Blosc1 frames: read and decode only the blocks that hold a byte range.

A zarr v2 chunk compressed with ``{"id": "blosc"}`` is one Blosc1 frame (c-blosc 1.x, format version 2):

* a 16-byte header: ``version, versionlz, flags, typesize`` (uint8 each), then ``nbytes`` (uncompressed
  size), ``blocksize`` and ``cbytes`` (frame size), little-endian int32;
* unless the frame is a plain copy (``flags & 0x02``), one int32 start offset per block (``bstarts``);
  blocks cover ``blocksize`` uncompressed bytes each, the last one the leftover; threads may write the
  blocks out of index order, so a block ends where the next-higher start begins;
* a block is ``typesize`` streams (one per byte of an element; split unless ``flags & 0x10``, the block
  is the leftover block, ``typesize > 16`` or ``blocksize / typesize < 128``) or one stream; each stream
  is an int32 compressed length then the data, stored raw when that length equals the stream size;
* streams are compressed with the codec of ``flags >> 5`` (0 blosclz, 1 lz4/lz4hc, 2 snappy, 3 zlib,
  4 zstd) and the block was byte-shuffled when ``flags & 0x01`` (bit-shuffled when ``flags & 0x04``).

:func:`read_range` fetches the header and block-start table in one ranged read, then only the blocks
that overlap the wanted bytes (adjacent blocks in one read), and decodes them. Frames it cannot decode
partially (blosclz/snappy streams, bit-shuffle, Blosc2 frames) raise :class:`NotPartiallyDecodable`, so
that the caller falls back to decoding the whole chunk with numcodecs.
"""

from __future__ import annotations

import bisect
import math
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

HEADER_SIZE = 16
#: c-blosc's limits for splitting a block into one stream per byte of the element type.
MAX_SPLITS = 16
MIN_BUFFERSIZE = 128
#: c-blosc never picks blocks below this when splitting (64 KiB); a prefix sized for it usually
#: holds the whole block-start table, so the index costs one request.
TYPICAL_MIN_BLOCKSIZE = 1 << 16

FLAG_SHUFFLE = 0x01
FLAG_MEMCPYED = 0x02
FLAG_BITSHUFFLE = 0x04
FLAG_DONT_SPLIT = 0x10
COMPRESSORS = {0: "blosclz", 1: "lz4", 2: "snappy", 3: "zlib", 4: "zstd"}

#: Reads byte ranges ``[(start, end), ...]`` of one object, returning their bytes in order.
Fetch = Callable[[list[tuple[int, int]]], list[bytes]]


class BloscFrameError(ValueError):
    """The bytes are not a valid Blosc1 frame (truncated, inconsistent, or a stream does not decode)."""


class NotPartiallyDecodable(BloscFrameError):
    """A valid-looking frame this module cannot decode block by block; decode the whole frame instead."""


@dataclass(frozen=True)
class BloscHeader:
    """The 16-byte header of a Blosc1 frame."""

    version: int
    versionlz: int
    flags: int
    typesize: int
    nbytes: int
    blocksize: int
    cbytes: int

    @classmethod
    def parse(cls, raw: bytes) -> BloscHeader:
        if len(raw) < HEADER_SIZE:
            raise BloscFrameError(f"frame header truncated: {len(raw)} of {HEADER_SIZE} bytes")
        version, versionlz, flags, typesize = raw[0], raw[1], raw[2], raw[3]
        nbytes, blocksize, cbytes = struct.unpack_from("<iii", raw, 4)
        header = cls(version, versionlz, flags, typesize, nbytes, blocksize, cbytes)
        if nbytes < 0 or cbytes < HEADER_SIZE or (nbytes > 0 and blocksize <= 0) or typesize == 0:
            raise BloscFrameError(
                f"implausible frame header: nbytes={nbytes}, blocksize={blocksize}, cbytes={cbytes}, "
                f"typesize={typesize}"
            )
        return header

    @property
    def compressor(self) -> str:
        return COMPRESSORS.get(self.flags >> 5, f"code {self.flags >> 5}")

    @property
    def memcpyed(self) -> bool:
        return bool(self.flags & FLAG_MEMCPYED)

    @property
    def shuffled(self) -> bool:
        return bool(self.flags & FLAG_SHUFFLE) and self.typesize > 1

    @property
    def bitshuffled(self) -> bool:
        return bool(self.flags & FLAG_BITSHUFFLE)

    @property
    def nblocks(self) -> int:
        return math.ceil(self.nbytes / self.blocksize) if self.nbytes else 0

    @property
    def index_size(self) -> int:
        """Bytes of header plus block-start table."""
        return HEADER_SIZE if self.memcpyed else HEADER_SIZE + 4 * self.nblocks

    def block_span(self, block: int) -> tuple[int, int]:
        """The uncompressed bytes ``[start, stop)`` of a block."""
        start = block * self.blocksize
        return start, min(start + self.blocksize, self.nbytes)

    def blocks_for(self, start: int, stop: int) -> range:
        """Indices of the blocks overlapping the uncompressed bytes ``[start, stop)``."""
        if stop <= start:
            return range(0)
        return range(start // self.blocksize, (stop - 1) // self.blocksize + 1)

    def check_partially_decodable(self) -> None:
        if self.version not in (1, 2) or (self.flags & FLAG_SHUFFLE and self.flags & FLAG_BITSHUFFLE):
            raise NotPartiallyDecodable(f"frame format version {self.version} (flags {self.flags:#04x}) is not Blosc1")
        if self.memcpyed:
            return
        if self.bitshuffled and self.typesize > 1:
            raise NotPartiallyDecodable("bit-shuffled frames are decoded whole")
        if self.compressor not in ("lz4", "zlib", "zstd"):
            raise NotPartiallyDecodable(f"{self.compressor} streams are decoded whole")


@dataclass(frozen=True)
class BloscFrame:
    """A frame's header and block-start table: enough to locate and decode any block."""

    header: BloscHeader
    starts: tuple[int, ...]

    @classmethod
    def parse(cls, prefix: bytes, size: int | None = None) -> BloscFrame:
        """Parse the header and block starts from the first ``header.index_size`` bytes of a frame;
        ``size`` (the object size, when known) must equal the header's ``cbytes``."""
        header = BloscHeader.parse(prefix)
        if size is not None and size != header.cbytes:
            raise BloscFrameError(f"frame header says {header.cbytes} bytes, the object has {size}")
        if header.memcpyed:
            if header.cbytes < HEADER_SIZE + header.nbytes:
                raise BloscFrameError(f"copied frame of {header.cbytes} bytes cannot hold {header.nbytes} bytes")
            return cls(header, ())
        if len(prefix) < header.index_size:
            raise BloscFrameError(f"block-start table truncated: {len(prefix)} of {header.index_size} bytes")
        starts = struct.unpack_from(f"<{header.nblocks}i", prefix, HEADER_SIZE)
        if any(s < header.index_size or s >= header.cbytes for s in starts):
            raise BloscFrameError(f"block starts outside the frame [{header.index_size}, {header.cbytes})")
        return cls(header, tuple(starts))

    def block_extent(self, block: int) -> tuple[int, int]:
        """The compressed bytes ``[start, end)`` of a block within the frame."""
        if self.header.memcpyed:
            start, stop = self.header.block_span(block)
            return HEADER_SIZE + start, HEADER_SIZE + stop
        start = self.starts[block]
        later = [s for s in self.starts if s > start]
        return start, min(later) if later else self.header.cbytes

    def decode_block(self, block: int, data: bytes) -> bytes:
        """The uncompressed bytes of ``block`` from its compressed bytes ``data`` (its block extent)."""
        header = self.header
        start, stop = header.block_span(block)
        size = stop - start
        if header.memcpyed:
            if len(data) != size:
                raise BloscFrameError(f"block {block}: {len(data)} bytes, expected {size}")
            return bytes(data)
        leftover = block == header.nblocks - 1 and header.nbytes % header.blocksize != 0
        split = (
            not header.flags & FLAG_DONT_SPLIT
            and header.typesize <= MAX_SPLITS
            and size // header.typesize >= MIN_BUFFERSIZE
            and not leftover
        )
        nsplits = header.typesize if split else 1
        stream_size = size // nsplits
        streams = []
        offset = 0
        view = memoryview(data)
        for stream in range(nsplits):
            if offset + 4 > len(view):
                raise BloscFrameError(f"block {block}: stream {stream} length is past the block's end")
            (length,) = struct.unpack_from("<i", view, offset)
            offset += 4
            if length < 0 or offset + length > len(view):
                raise BloscFrameError(f"block {block}: stream {stream} of {length} bytes is past the block's end")
            payload = view[offset : offset + length]
            offset += length
            if length == stream_size:
                streams.append(bytes(payload))
            else:
                streams.append(_decompress(header.compressor, payload, stream_size, block))
        raw = b"".join(streams)
        if len(raw) != size:
            raise BloscFrameError(f"block {block} decoded to {len(raw)} bytes, expected {size}")
        return _unshuffle(raw, header.typesize) if header.shuffled else raw


def _decompress(compressor: str, payload: memoryview, size: int, block: int) -> bytes:
    try:
        if compressor == "lz4":
            from numcodecs import lz4

            # numcodecs' LZ4 framing is the raw LZ4 block behind a little-endian uint32 of its size.
            out = lz4.decompress(struct.pack("<I", size) + bytes(payload))
        elif compressor == "zlib":
            out = zlib.decompress(payload)
        elif compressor == "zstd":
            from numcodecs import zstd

            out = zstd.decompress(bytes(payload))
        else:  # pragma: no cover - refused by check_partially_decodable
            raise NotPartiallyDecodable(f"{compressor} streams are decoded whole")
    except NotPartiallyDecodable:
        raise
    except Exception as error:
        raise BloscFrameError(f"block {block}: {compressor} stream does not decode ({error})") from None
    if len(out) != size:
        raise BloscFrameError(f"block {block}: {compressor} stream decoded to {len(out)} bytes, expected {size}")
    return bytes(out)


def _unshuffle(raw: bytes, typesize: int) -> bytes:
    """Undo Blosc's byte shuffle: byte j of every element was stored together; a tail of fewer than
    ``typesize`` bytes is left as it is."""
    count = len(raw) // typesize
    planes = np.frombuffer(raw, dtype=np.uint8, count=count * typesize).reshape(typesize, count)
    elements = np.empty((count, typesize), dtype=np.uint8)
    for byte in range(typesize):  # one plane at a time: three times faster than copying the transpose
        elements[:, byte] = planes[byte]
    return elements.tobytes() + raw[count * typesize :]


def index_prefix_size(nbytes_hint: int, object_size: int) -> int:
    """How many leading bytes to read to get the header and (usually) the whole block-start table."""
    guess = HEADER_SIZE + 4 * math.ceil(max(nbytes_hint, 1) / TYPICAL_MIN_BLOCKSIZE)
    return min(object_size, guess)


def read_frame(fetch: Fetch, object_size: int, nbytes_hint: int) -> BloscFrame:
    """The header and block-start table: one ranged read, a second only for a very long table."""
    prefix = fetch([(0, index_prefix_size(nbytes_hint, object_size))])[0]
    header = BloscHeader.parse(prefix)
    header.check_partially_decodable()
    if len(prefix) < header.index_size <= object_size:
        prefix += fetch([(len(prefix), header.index_size)])[0]
    return BloscFrame.parse(prefix, object_size)


def _coalesce(extents: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(extents):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def decode_range(
    frame: BloscFrame, fetch: Fetch, start: int, stop: int, decoded: dict[int, bytes] | None = None
) -> bytes:
    """The uncompressed bytes ``[start, stop)`` of the frame, reading only the blocks holding them
    (blocks adjacent in the frame in one read). ``decoded`` keeps decoded blocks by index across calls."""
    return b"".join(piece for _, piece in iter_range(frame, fetch, start, stop, max(1, stop - start), decoded))


def iter_range(
    frame: BloscFrame, fetch: Fetch, start: int, stop: int, piece: int, decoded: dict[int, bytes] | None = None
) -> Iterator[tuple[int, bytes]]:
    """The uncompressed bytes ``[start, stop)`` as consecutive pieces of ``piece`` bytes (the last one
    shorter), each with its offset. The compressed bytes of every block needed are read at once (one
    ``fetch``, adjacent blocks in one range); each block is decoded when a piece first needs it. Blocks are
    kept in ``decoded`` when it is given, else dropped once the pieces have passed them: a large range is
    then assembled holding one piece and its blocks, not the whole range."""
    header = frame.header
    if not 0 <= start <= stop <= header.nbytes:
        raise BloscFrameError(f"range [{start}, {stop}) outside the frame's {header.nbytes} bytes")
    keep = decoded is not None
    blocks: dict[int, bytes] = {} if decoded is None else decoded
    extents = {block: frame.block_extent(block) for block in header.blocks_for(start, stop) if block not in blocks}
    ranges = _coalesce(list(extents.values()))
    fetched = fetch(ranges) if ranges else []
    for (range_start, range_end), data in zip(ranges, fetched, strict=True):
        if len(data) != range_end - range_start:
            raise BloscFrameError(f"read {len(data)} bytes of frame range [{range_start}, {range_end})")

    def compressed(block: int) -> bytes:
        block_start, block_end = extents[block]
        index = bisect.bisect_right(ranges, (block_start, math.inf)) - 1
        range_start = ranges[index][0]
        return fetched[index][block_start - range_start : block_end - range_start]

    for offset in range(start, stop, piece):
        end = min(offset + piece, stop)
        needed = header.blocks_for(offset, end)
        for block in needed:
            if block not in blocks:
                blocks[block] = frame.decode_block(block, compressed(block))
        first = header.block_span(needed[0])[0]
        yield offset, b"".join(blocks[block] for block in needed)[offset - first : end - first]
        if not keep:
            for block in needed:
                if header.block_span(block)[1] <= end:
                    del blocks[block]


def read_range(fetch: Fetch, object_size: int, start: int, stop: int, *, nbytes_hint: int | None = None) -> bytes:
    """Bytes ``[start, stop)`` of the uncompressed content of a Blosc1 frame stored in an object of
    ``object_size`` bytes, reading the index and the needed blocks only.

    ``nbytes_hint`` (the expected uncompressed size, e.g. chunk size × itemsize) sizes the first read.
    Raises :class:`NotPartiallyDecodable` for frames to be decoded whole, :class:`BloscFrameError` for
    broken ones.
    """
    frame = read_frame(fetch, object_size, nbytes_hint if nbytes_hint is not None else stop)
    return decode_range(frame, fetch, start, stop)
