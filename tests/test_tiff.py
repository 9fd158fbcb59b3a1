"""The TIFF/EER IFD-chain reader: page counts and sizes from ranged reads, on every TIFF layout."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from importers.formats.tiff import FIRST_READ, ReadMany, TiffFormatError, read_pages, read_pages_many
from tests.conftest import shared_dir
from tests.corruptions import tiff_bytes


def _tifffile(pages: int, *, bigtiff: bool, byteorder: str, shape: tuple[int, int] = (20, 30)) -> bytes:
    tifffile = pytest.importorskip("tifffile")
    buffer = io.BytesIO()
    data = np.zeros((pages, *shape), np.uint16)
    tifffile.imwrite(buffer, data, bigtiff=bigtiff, byteorder=byteorder, photometric="minisblack", metadata=None)
    return buffer.getvalue()


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_pages_of_classic_and_big_tiff_in_both_byte_orders(bigtiff: bool, byteorder: str) -> None:
    pages = read_pages(_tifffile(5, bigtiff=bigtiff, byteorder=byteorder))
    assert len(pages) == 5
    assert {(page.width, page.height) for page in pages} == {(30, 20)}


def test_pages_of_the_reference_movies() -> None:
    movie = shared_dir() / "reference-90001" / "output" / "90001" / "SYN_run1" / "Frames" / "SYN_run1_000.tif"
    pages = read_pages(movie.read_bytes())
    assert [(page.width, page.height) for page in pages] == [(32, 32), (32, 32)]


def _reader(files: dict[str, bytes], log: list[tuple[str, int, int]]) -> ReadMany:
    def read_many(requests: list[tuple[str, int, int]]) -> list[bytes | Exception]:
        log.extend(requests)
        return [files[key][start:end] for key, start, end in requests]

    return read_many


def test_many_files_are_walked_together_with_ranged_reads() -> None:
    large = tiff_bytes(6, 64, 64)  # IFDs spread over 25 KiB: beyond the first read
    files = {"a.tif": tiff_bytes(3), "b.tif": large}
    log: list[tuple[str, int, int]] = []
    results = read_pages_many({key: len(data) for key, data in files.items()}, _reader(files, log))
    assert [len(results["a.tif"]), len(results["b.tif"])] == [3, 6]
    assert results["b.tif"][0].width == 64
    # a.tif fits in its first read; b.tif needs one more read per IFD past the first 4 KiB.
    assert sum(1 for key, _, _ in log if key == "a.tif") == 1
    assert all(end - start <= max(FIRST_READ, 1024) for _, start, end in log)
    assert sum(end - start for _, start, end in log) < len(large) / 2


def test_truncated_and_foreign_files_are_errors() -> None:
    files = {"short.tif": tiff_bytes(3)[:150], "png.tif": b"\x89PNG\r\n\x1a\n" + bytes(40)}
    results = read_pages_many({key: len(data) for key, data in files.items()}, _reader(files, []))
    assert isinstance(results["short.tif"], TiffFormatError) and "beyond" in str(results["short.tif"])
    assert isinstance(results["png.tif"], TiffFormatError) and "not a TIFF" in str(results["png.tif"])


def test_a_looping_chain_is_an_error() -> None:
    data = bytearray(tiff_bytes(1))
    next_offset_at = 8 + 2 + 8 * 12
    data[next_offset_at : next_offset_at + 4] = struct.pack("<I", 8)
    with pytest.raises(TiffFormatError, match="loops"):
        read_pages(bytes(data))


def test_read_errors_are_returned_per_file() -> None:
    files = {"a.tif": tiff_bytes(2)}

    def failing(requests: list[tuple[str, int, int]]) -> list[bytes | Exception]:
        return [OSError("connection reset") for _ in requests]

    assert isinstance(read_pages_many({"a.tif": len(files["a.tif"])}, failing)["a.tif"], OSError)
