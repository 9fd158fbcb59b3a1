"""TIFF page structure (also EER, a TIFF variant) from the IFD chain alone, read with ranged reads.

A movie's pages are counted and sized without downloading its image data: only the 8/16-byte file
header and each image file directory (IFD: entry count, 12/20-byte entries, next-IFD offset) are read,
and the strip (or tile) tables of pages that keep them outside the IFD, so that where each page's image
data lies, and how much of it there is, can be compared with the file (a truncated movie).
Classic TIFF and BigTIFF, either byte order. :class:`IfdWalker` is a small state machine that says
which bytes it needs next, so that the IFD chains of many files can be walked together, one batch of
concurrent ranged reads per step (:func:`read_pages_many`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

#: The first read of a file: the header and, for small or front-loaded files, several IFDs.
FIRST_READ = 4096
#: The first read of an IFD outside what is buffered; later IFDs read the size of the previous one.
IFD_READ = 1024
#: A chain longer than this is taken as corrupt (a cycle the offsets do not repeat exactly).
MAX_PAGES = 1_000_000

#: A strip or tile table longer than this is taken as corrupt.
MAX_BLOCKS = 1 << 20

_IMAGE_WIDTH = 256
_IMAGE_LENGTH = 257
_BITS_PER_SAMPLE = 258
_COMPRESSION = 259
_SAMPLES_PER_PIXEL = 277
#: Tables of where a page's image data lies: (offsets, byte counts) of its strips, or of its tiles.
_BLOCK_TABLES = {
    273: ("strips", "offsets"),
    279: ("strips", "counts"),
    324: ("tiles", "offsets"),
    325: ("tiles", "counts"),
}
#: Integer field types a size tag may use: SHORT, LONG, LONG8 (BigTIFF) -> struct code.
_INTEGER_TYPES = {3: "H", 4: "I", 16: "Q"}


class TiffFormatError(ValueError):
    """Not a TIFF, or an IFD chain that cannot be followed; the message says where in one line."""


@dataclass(frozen=True)
class TiffPage:
    """One IFD: where it is, the page's size (None when the tag is absent) and its image data."""

    offset: int
    width: int | None
    height: int | None
    #: ``(offset, bytes)`` of each strip (or tile) of the page's image data.
    blocks: tuple[tuple[int, int], ...] = ()
    compression: int | None = None
    bits_per_sample: int | None = None
    samples_per_pixel: int | None = None

    @property
    def data_end(self) -> int:
        """The byte after the page's last image data (0 without any)."""
        return max((offset + count for offset, count in self.blocks), default=0)

    @property
    def data_bytes(self) -> int:
        return sum(count for _, count in self.blocks)

    @property
    def uncompressed_bytes(self) -> int | None:
        """The bytes an uncompressed, stripped page of this size and depth holds; None if unknown."""
        if self.compression not in (None, 1) or None in (self.width, self.height, self.bits_per_sample):
            return None
        row = math.ceil((self.width or 0) * (self.samples_per_pixel or 1) * (self.bits_per_sample or 0) / 8)
        return row * (self.height or 0)


@dataclass(frozen=True)
class _Layout:
    byte_order: str
    big: bool

    @property
    def count_size(self) -> int:
        return 8 if self.big else 2

    @property
    def entry_size(self) -> int:
        return 20 if self.big else 12

    @property
    def offset_size(self) -> int:
        return 8 if self.big else 4

    def unpack(self, code: str, data: bytes, at: int = 0) -> int:
        return struct.unpack_from(self.byte_order + code, data, at)[0]


def _layout(head: bytes) -> tuple[_Layout, int]:
    """Byte order, classic/BigTIFF and the first IFD offset from the file header."""
    if len(head) < 8:
        raise TiffFormatError(f"file of {len(head)} bytes is shorter than a TIFF header")
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise TiffFormatError(f"not a TIFF (starts with {head[:4]!r})")
    version = struct.unpack_from(order + "H", head, 2)[0]
    if version == 42:
        return _Layout(order, big=False), struct.unpack_from(order + "I", head, 4)[0]
    if version == 43:
        if len(head) < 16:
            raise TiffFormatError("BigTIFF header truncated")
        offset_size, reserved = struct.unpack_from(order + "HH", head, 4)
        if (offset_size, reserved) != (8, 0):
            raise TiffFormatError(f"BigTIFF header has offset size {offset_size}, expected 8")
        return _Layout(order, big=True), struct.unpack_from(order + "Q", head, 8)[0]
    raise TiffFormatError(f"TIFF version {version} is neither 42 (TIFF) nor 43 (BigTIFF)")


class IfdWalker:
    """Follows one file's IFD chain: :meth:`request` names the bytes needed next (None when done),
    :meth:`feed` hands them over; :attr:`pages` holds the IFDs read so far."""

    def __init__(self, size: int, *, max_pages: int = MAX_PAGES) -> None:
        self.size = size
        self.max_pages = max_pages
        self.pages: list[TiffPage] = []
        self._buffers: list[tuple[int, bytes]] = []
        self._layout: _Layout | None = None
        self._next: int | None = None
        self._seen: set[int] = set()
        self._ifd_read = IFD_READ
        #: Block tables kept outside their IFD, still to be read: (page, which, offset, count, field type).
        self._tables: list[tuple[int, str, int, int, int]] = []
        #: Per page, the block tables read so far: {"offsets": [...], "counts": [...]}.
        self._blocks: list[dict[str, list[int]]] = []

    def _bytes(self, start: int, end: int) -> bytes | None:
        for buffer_start, data in self._buffers:
            if buffer_start <= start and end <= buffer_start + len(data):
                return data[start - buffer_start : end - buffer_start]
        return None

    def feed(self, start: int, data: bytes) -> None:
        self._buffers.append((start, data))
        # Only recent windows are useful: IFDs are walked forwards through the chain.
        del self._buffers[:-4]

    def request(self) -> tuple[int, int] | None:
        """The byte range ``[start, end)`` to read next, or None when the chain is walked."""
        if self._layout is None:
            head = self._bytes(0, min(16, self.size))
            if head is None:
                return (0, min(FIRST_READ, self.size))
            self._layout, self._next = _layout(head)
        layout = self._layout
        while self._next:
            offset = self._next
            if offset in self._seen:
                raise TiffFormatError(f"IFD chain loops back to offset {offset}")
            if len(self.pages) >= self.max_pages:
                raise TiffFormatError(f"more than {self.max_pages} IFDs")
            count_end = offset + layout.count_size
            if count_end > self.size:
                raise TiffFormatError(f"IFD {len(self.pages)} at offset {offset} lies beyond the {self.size}-byte file")
            raw_count = self._bytes(offset, count_end)
            if raw_count is None:
                return (offset, min(self.size, offset + self._ifd_read))
            count = layout.unpack("Q" if layout.big else "H", raw_count)
            end = count_end + count * layout.entry_size + layout.offset_size
            if end > self.size:
                raise TiffFormatError(f"IFD {len(self.pages)} at offset {offset} ({count} entries) runs past the file")
            ifd = self._bytes(offset, end)
            if ifd is None:
                return (offset, min(self.size, max(end, offset + self._ifd_read)))
            self._seen.add(offset)
            self.pages.append(self._page(offset, ifd, count))
            self._next = layout.unpack("Q" if layout.big else "I", ifd, len(ifd) - layout.offset_size)
            self._ifd_read = end - offset + 16
        return self._table_request()

    def _table_request(self) -> tuple[int, int] | None:
        """The next block table kept outside its IFD, once the chain is walked."""
        layout = self._layout
        assert layout is not None
        while self._tables:
            page, which, offset, count, field_type = self._tables[0]
            end = offset + count * struct.calcsize(_INTEGER_TYPES[field_type])
            if end > self.size:
                raise TiffFormatError(f"IFD {page}: its strip/tile table at offset {offset} runs past the file")
            raw = self._bytes(offset, end)
            if raw is None:
                return (offset, end)
            self._tables.pop(0)
            self._record(
                page, which, list(struct.unpack_from(layout.byte_order + _INTEGER_TYPES[field_type] * count, raw))
            )
        return None

    def _record(self, page: int, which: str, values: list[int]) -> None:
        tables = self._blocks[page]
        tables[which] = values
        if "offsets" in tables and "counts" in tables:
            blocks = tuple(zip(tables["offsets"], tables["counts"], strict=False))
            self.pages[page] = replace(self.pages[page], blocks=blocks)

    def _page(self, offset: int, ifd: bytes, count: int) -> TiffPage:
        layout = self._layout
        assert layout is not None
        number = len(self.pages)
        values: dict[int, int] = {}
        tables: dict[str, list[int]] = {}
        for index in range(count):
            at = layout.count_size + index * layout.entry_size
            tag, field_type = struct.unpack_from(layout.byte_order + "HH", ifd, at)
            if field_type not in _INTEGER_TYPES:
                continue
            length = layout.unpack("Q" if layout.big else "I", ifd, at + 4)
            value_at = at + 4 + layout.offset_size
            code = _INTEGER_TYPES[field_type]
            inline = length * struct.calcsize(code) <= layout.offset_size
            if tag in _BLOCK_TABLES:
                kind, which = _BLOCK_TABLES[tag]
                if length > MAX_BLOCKS:
                    raise TiffFormatError(f"IFD {number}: {length} {kind}, more than {MAX_BLOCKS}")
                if inline:
                    tables[which] = list(struct.unpack_from(layout.byte_order + code * length, ifd, value_at))
                else:
                    pointer = layout.unpack("Q" if layout.big else "I", ifd, value_at)
                    self._tables.append((number, which, pointer, length, field_type))
            elif inline and length >= 1:
                values[tag] = layout.unpack(code, ifd, value_at)  # the first value (BitsPerSample: sample 0's)
        self._blocks.append(tables)
        blocks = tuple(zip(tables["offsets"], tables["counts"], strict=False)) if len(tables) == 2 else ()
        return TiffPage(
            offset,
            values.get(_IMAGE_WIDTH),
            values.get(_IMAGE_LENGTH),
            blocks=blocks,
            compression=values.get(_COMPRESSION),
            bits_per_sample=values.get(_BITS_PER_SAMPLE),
            samples_per_pixel=values.get(_SAMPLES_PER_PIXEL),
        )


ReadMany = Callable[[list[tuple[str, int, int]]], list["bytes | Exception"]]


def read_pages_many(sizes: Mapping[str, int], read_many: ReadMany) -> dict[str, list[TiffPage] | Exception]:
    """The pages of every file (key -> object size), walking all chains together: each step reads the
    next needed range of every unfinished file in one ``read_many`` call. A file that cannot be
    walked maps to its exception (:class:`TiffFormatError` or what ``read_many`` returned)."""
    walkers = {key: IfdWalker(size) for key, size in sizes.items()}
    results: dict[str, list[TiffPage] | Exception] = {}
    while True:
        requests: list[tuple[str, int, int]] = []
        for key, walker in walkers.items():
            if key in results:
                continue
            try:
                needed = walker.request()
            except TiffFormatError as error:
                results[key] = error
                continue
            if needed is None:
                results[key] = walker.pages
            else:
                requests.append((key, *needed))
        if not requests:
            return results
        for (key, start, end), data in zip(requests, read_many(requests), strict=True):
            if isinstance(data, Exception):
                results[key] = data
            elif len(data) != end - start:
                results[key] = TiffFormatError(f"bytes [{start}, {end}) read as {len(data)} bytes")
            else:
                walkers[key].feed(start, data)


def read_pages(data: bytes) -> list[TiffPage]:
    """The pages of a TIFF held in memory; raises :class:`TiffFormatError`."""
    walker = IfdWalker(len(data))
    walker.feed(0, data)
    if walker.request() is not None:
        raise TiffFormatError("IFD chain needs bytes the data does not hold")
    return walker.pages
