"""Image sizes from the first bytes of PNG, GIF and JPEG files (no decoding, no full read)."""

from __future__ import annotations

import struct

#: Bytes to read for the size: PNG's IHDR ends at 24, GIF's screen descriptor at 10; a JPEG's
#: frame header follows its APPn segments (EXIF can push it out to several KiB).
HEADER_BYTES = {"png": 33, "gif": 16, "jpg": 65536, "jpeg": 65536}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageFormatError(ValueError):
    """Not an image of a known format, or its size is not in the bytes given."""


def image_size(prefix: bytes) -> tuple[str, int, int]:
    """``(format, width, height)`` of an image from its first bytes."""
    if prefix.startswith(PNG_SIGNATURE):
        if len(prefix) < 24 or prefix[12:16] != b"IHDR":
            raise ImageFormatError("PNG without an IHDR chunk")
        width, height = struct.unpack(">II", prefix[16:24])
        return "png", width, height
    if prefix[:6] in (b"GIF87a", b"GIF89a"):
        if len(prefix) < 10:
            raise ImageFormatError("GIF header truncated")
        width, height = struct.unpack("<HH", prefix[6:10])
        return "gif", width, height
    if prefix[:2] == b"\xff\xd8":
        return ("jpeg", *_jpeg_size(prefix))
    raise ImageFormatError(f"not a PNG, GIF or JPEG (starts with {prefix[:8]!r})")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ImageFormatError(f"JPEG marker expected at byte {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        # SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    raise ImageFormatError("JPEG frame header not found in the bytes read")
