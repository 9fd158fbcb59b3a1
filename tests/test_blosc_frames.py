"""Partial Blosc1 decoding agrees with numcodecs on every kind of frame, reading only the blocks it needs."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from numcodecs import Blosc

from importers.formats import blosc_frames
from importers.formats.blosc_frames import BloscFrame, BloscFrameError, BloscHeader, NotPartiallyDecodable

RNG = np.random.default_rng(20240601)


class Fetcher:
    """Serves byte ranges of an encoded frame and records what was asked for."""

    def __init__(self, frame: bytes) -> None:
        self.frame = frame
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        self.calls.append(list(ranges))
        return [self.frame[start:end] for start, end in ranges]

    @property
    def bytes_read(self) -> int:
        return sum(end - start for call in self.calls for start, end in call)


def _random(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return RNG.normal(0, 100, size=shape).astype(dtype)


def _smooth(shape: tuple[int, ...]) -> np.ndarray:
    """Compressible float32 data: a coarse ramp (never stored as a plain copy)."""
    return (np.arange(int(np.prod(shape))) // 97 % 13).astype("<f4").reshape(shape)


DATA = {
    "random-f4": _random((24, 64, 64), "<f4"),
    "random-f8": _random((8, 50, 70), "<f8"),
    "random-i1": RNG.integers(-128, 127, size=(32, 64, 64)).astype("i1"),
    "random-u2": RNG.integers(0, 65535, size=(16, 64, 64)).astype("<u2"),
    "smooth-f4": _smooth((16, 64, 64)),
    "constant-f4": np.full((16, 64, 64), 3.25, dtype="<f4"),
    "zeros-f4": np.zeros((16, 64, 64), dtype="<f4"),
    "incompressible-u1": RNG.integers(0, 256, size=1 << 18).astype("u1"),
    "odd-sized-f4": _random((1, 1, 70001), "<f4"),
    "tiny-f4": _random((7,), "<f4"),
    "wide-type": RNG.integers(0, 256, size=(4000, 20)).astype("u1").view("V20").ravel(),
}

CODECS = {
    "lz4-shuffle": Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE),
    "lz4-noshuffle": Blosc(cname="lz4", clevel=5, shuffle=Blosc.NOSHUFFLE),
    "lz4-small-blocks": Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=4096),
    "lz4hc": Blosc(cname="lz4hc", clevel=5, shuffle=Blosc.SHUFFLE),
    "zlib": Blosc(cname="zlib", clevel=3, shuffle=Blosc.SHUFFLE, blocksize=16384),
    "zstd": Blosc(cname="zstd", clevel=3, shuffle=Blosc.SHUFFLE, blocksize=16384),
    "clevel-0": Blosc(cname="lz4", clevel=0, shuffle=Blosc.SHUFFLE),
}


def _ranges(size: int) -> list[tuple[int, int]]:
    picks = [(0, size), (0, min(size, 1)), (max(0, size - 3), size), (size // 3, size // 3), (size // 2, size)]
    for _ in range(6):
        start = int(RNG.integers(0, size + 1))
        picks.append((start, int(RNG.integers(start, size + 1))))
    return picks


@pytest.mark.parametrize("codec_name", sorted(CODECS))
@pytest.mark.parametrize("data_name", sorted(DATA))
def test_ranges_decode_as_numcodecs_does(data_name: str, codec_name: str) -> None:
    data, codec = DATA[data_name], CODECS[codec_name]
    frame = bytes(codec.encode(data))
    whole = bytes(codec.decode(frame))
    assert whole == data.tobytes()
    for start, stop in _ranges(len(whole)):
        fetch = Fetcher(frame)
        assert blosc_frames.read_range(fetch, len(frame), start, stop, nbytes_hint=len(whole)) == whole[start:stop]


def test_header_fields() -> None:
    data = DATA["random-f4"]
    # A forced block size is multiplied by the type size when blocks are split (c-blosc).
    frame = bytes(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=16384).encode(data))
    header = BloscHeader.parse(frame)
    assert (header.version, header.typesize, header.nbytes, header.blocksize, header.cbytes) == (
        2,
        4,
        data.nbytes,
        65536,
        len(frame),
    )
    assert header.compressor == "lz4" and header.shuffled and not header.memcpyed
    assert header.nblocks == data.nbytes // 65536 and not header.flags & blosc_frames.FLAG_DONT_SPLIT
    assert header.index_size == 16 + 4 * header.nblocks


def test_only_the_needed_blocks_are_read() -> None:
    data = _random((64, 128, 128), "<f4")  # 4 MiB, 64 KiB blocks -> 64 blocks
    frame = bytes(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=1 << 16).encode(data))
    plane = 128 * 128 * 4
    fetch = Fetcher(frame)
    got = blosc_frames.read_range(fetch, len(frame), 10 * plane, 12 * plane, nbytes_hint=data.nbytes)
    assert got == data[10:12].tobytes()
    assert len(fetch.calls) == 2  # the index, then the blocks (adjacent: one range)
    index, blocks = fetch.calls
    assert index == [(0, blosc_frames.index_prefix_size(data.nbytes, len(frame)))]
    assert len(blocks) == 1
    assert fetch.bytes_read < len(frame) / 10


def test_a_long_block_table_costs_a_second_read() -> None:
    data = _smooth((1 << 16,))
    frame = bytes(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=256).encode(data))
    assert BloscHeader.parse(frame).nblocks == 1024
    fetch = Fetcher(frame)
    assert blosc_frames.read_range(fetch, len(frame), 1000, 1100, nbytes_hint=100) == data.tobytes()[1000:1100]
    assert len(fetch.calls) == 3


def _reorder_blocks(frame: bytes) -> bytes:
    """The same frame with its blocks stored in reverse order (as threads may write them)."""
    header = BloscHeader.parse(frame)
    parsed = BloscFrame.parse(frame)
    payloads = [frame[slice(*parsed.block_extent(b))] for b in range(header.nblocks)]
    starts, position, body = [0] * header.nblocks, header.index_size, b""
    for block in reversed(range(header.nblocks)):
        starts[block] = position
        body += payloads[block]
        position += len(payloads[block])
    return frame[:16] + struct.pack(f"<{header.nblocks}i", *starts) + body


def test_blocks_out_of_order() -> None:
    data = _random((16, 64, 64), "<f4")
    codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=16384)
    frame = _reorder_blocks(bytes(codec.encode(data)))
    assert bytes(codec.decode(frame)) == data.tobytes()  # still a valid frame for c-blosc
    for start, stop in _ranges(data.nbytes):
        assert blosc_frames.read_range(Fetcher(frame), len(frame), start, stop) == data.tobytes()[start:stop]


@pytest.mark.parametrize(
    "codec",
    [
        Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE),
        Blosc(cname="blosclz", clevel=5, shuffle=Blosc.SHUFFLE),
    ],
    ids=["bitshuffle", "blosclz"],
)
def test_frames_to_decode_whole(codec: Blosc) -> None:
    frame = bytes(codec.encode(DATA["smooth-f4"]))
    with pytest.raises(NotPartiallyDecodable):
        blosc_frames.read_range(Fetcher(frame), len(frame), 0, 100)


def test_broken_frames_are_errors() -> None:
    data = DATA["random-f4"]
    frame = bytes(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=16384).encode(data))
    with pytest.raises(BloscFrameError, match="truncated"):
        BloscHeader.parse(frame[:10])
    with pytest.raises(BloscFrameError, match="the object has"):
        blosc_frames.read_range(Fetcher(frame[:-100]), len(frame) - 100, 0, 100)
    first = BloscFrame.parse(frame).starts[0]
    long_stream = frame[:first] + struct.pack("<i", 1 << 30) + frame[first + 4 :]
    with pytest.raises(BloscFrameError, match="block 0: stream 0 of 1073741824 bytes"):
        blosc_frames.read_range(Fetcher(long_stream), len(long_stream), 0, 100)
    smooth = bytes(Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE).encode(DATA["smooth-f4"]))
    first = BloscFrame.parse(smooth).starts[0]
    garbled = smooth[: first + 4] + b"\xff" * 8 + smooth[first + 12 :]  # LZ4 tokens are checked
    with pytest.raises(BloscFrameError, match="block 0: lz4 stream does not decode"):
        blosc_frames.read_range(Fetcher(garbled), len(garbled), 0, 100)
    with pytest.raises(BloscFrameError, match="outside the frame"):
        blosc_frames.read_range(Fetcher(frame), len(frame), 0, data.nbytes + 1)
    with pytest.raises(BloscFrameError, match="implausible"):
        BloscHeader.parse(b"\x02\x01\x21\x04" + struct.pack("<iii", -1, 0, 0))


@pytest.mark.parametrize("piece", [1000, 65536 + 3, 1 << 20])
def test_a_range_in_pieces_reads_its_blocks_once(piece: int) -> None:
    """Pieces of at most ``piece`` bytes concatenate to the range, and the blocks' compressed bytes are read in
    one fetch (adjacent blocks: one range); a cache given keeps every block, so a second read fetches nothing."""
    data = DATA["smooth-f4"]
    frame_bytes = bytes(CODECS["lz4-small-blocks"].encode(data))
    fetch = Fetcher(frame_bytes)
    frame = blosc_frames.read_frame(fetch, len(frame_bytes), data.nbytes)
    fetch.calls.clear()
    start, stop = 1000, data.nbytes - 777
    pieces = []
    for offset, chunk in blosc_frames.iter_range(frame, fetch, start, stop, piece):
        assert offset == start + sum(map(len, pieces)) and len(chunk) <= piece
        pieces.append(chunk)
    assert b"".join(pieces) == data.tobytes()[start:stop]
    assert len(fetch.calls) == 1 and len(fetch.calls[0]) == 1

    kept: dict[int, bytes] = {}
    fetch.calls.clear()
    assert (
        b"".join(c for _, c in blosc_frames.iter_range(frame, fetch, start, stop, piece, kept))
        == data.tobytes()[start:stop]
    )
    assert sorted(kept) == list(frame.header.blocks_for(start, stop))
    fetch.calls.clear()
    assert blosc_frames.decode_range(frame, fetch, start, stop, kept) == data.tobytes()[start:stop]
    assert fetch.calls == []
