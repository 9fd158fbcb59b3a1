"""Gatan DigitalMicrograph 4 images (gain references) and their MRC form as the portal stores them.

The portal converts a ``.dm4`` gain with IMOD's ``dm2mrc`` (formats.md §5), which runs ``raw2mrc -f``: the image's
rows are stored bottom first (MRC's origin is the lower left corner, DM's the upper left), 16-bit unsigned values
become signed by subtracting 32767, 32-bit integers and doubles become float32, and the pixel size is the x
calibration when its unit is nm (×10) or µm (×10⁴), else 1 Å.

The file is a tree of tags (DM4: sizes and type descriptions big-endian, values in the header's byte order). This
reader walks only the tags it needs and checks every length against what is left of the file, so that a damaged
file is a :class:`Dm4FormatError`: the ``dm4`` package (MIT, its only light alternative; rosettasciio and ncempy are
GPL-3 and pull dask/pint or matplotlib/h5py) builds a string as long as a length it reads, and a few changed bytes
of a 26 kB file make it allocate gigabytes (``tests/test_dm4.py`` reads the real files with both).
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from importers.formats.mrc import RunningStatistics, build_header

#: DM image data types (the ``DataType`` tag) that gain references use.
DM_TYPES = {1: "int16", 2: "float32", 7: "int32", 10: "uint16", 11: "uint32", 12: "float64"}
#: The MRC type ``dm2mrc`` writes each as.
WRITTEN_AS = {
    "int16": "int16",
    "float32": "float32",
    "int32": "float32",
    "uint16": "int16",
    "uint32": "float32",
    "float64": "float32",
}
#: ``raw2mrc`` makes unsigned 16-bit values signed by subtracting this (not 32768).
USHORT_OFFSET = 32767
#: Calibration units dm2mrc understands, as Å per unit.
UNIT_ANGSTROMS = {"nm": 10.0, "µm": 10000.0}
#: IMOD's header stamp (``imodStamp``, bytes 152-155) and the label raw2mrc writes, dated as IMOD dates it.
IMOD_STAMP = 1146047817
RAW2MRC_LABEL = "raw2mrc: Converted to mrc format."

#: Tag value types (the first word of a data tag's type description) → element type; 20 is an array, whose
#: description is ``20, element type, length``.
VALUE_TYPES = {
    2: "i2", 3: "i4", 4: "u2", 5: "u4", 6: "f4", 7: "f8", 8: "u1", 9: "i1", 10: "i1", 11: "i8", 12: "u8",
}  # fmt: skip
ARRAY = 20
DIRECTORY, DATA = 20, 21
#: Nesting deeper than any DigitalMicrograph file has: a damaged file is refused before Python's recursion limit.
MAX_DEPTH = 64
_FILE_HEADER = struct.Struct(">IQI")  # version, root length, byte order of values (1: little-endian)
_DIRECTORY_HEADER = struct.Struct(">BBQ")  # sorted, open, tag count


class Dm4FormatError(ValueError):
    """Not a DM4 image this importer can convert; the message says why in one line."""


@dataclass
class _Directory:
    """A tag directory: its tags by name, and its unnamed ones in file order (directories or data tags)."""

    named: dict[str, _Directory | _Data] = field(default_factory=dict)
    unnamed: list[_Directory | _Data] = field(default_factory=list)

    def directory(self, name: str) -> _Directory | None:
        tag = self.named.get(name)
        return tag if isinstance(tag, _Directory) else None

    def data(self, name: str) -> _Data | None:
        tag = self.named.get(name)
        return tag if isinstance(tag, _Data) else None


@dataclass(frozen=True)
class _Data:
    """A data tag: its type description and where its value's bytes are."""

    types: tuple[int, ...]
    offset: int
    size: int


class _TagReader:
    """Reads the tag tree from a seekable stream of ``size`` bytes, never past its end."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream, self.size = stream, size

    def take(self, count: int) -> bytes:
        position = self.stream.tell()
        if count > self.size - position:
            raise Dm4FormatError(f"truncated: {count} bytes wanted at byte {position} of {self.size}")
        return self.stream.read(count)

    def directory(self, depth: int = 0) -> _Directory:
        if depth > MAX_DEPTH:
            raise Dm4FormatError(f"tags nested deeper than {MAX_DEPTH}")
        _, _, count = _DIRECTORY_HEADER.unpack(self.take(_DIRECTORY_HEADER.size))
        tree = _Directory()
        for _ in range(count):
            kind = self.take(1)[0]
            if kind == 0:
                break
            (length,) = struct.unpack(">H", self.take(2))
            name = self.take(length).decode("latin-1") if length else None
            (size,) = struct.unpack(">Q", self.take(8))
            if kind == DIRECTORY:
                tag: _Directory | _Data = self.directory(depth + 1)
            elif kind == DATA:
                tag = self.data(size)
            else:
                raise Dm4FormatError(f"tag type {kind} at byte {self.stream.tell() - 11 - length}")
            if name is None:
                tree.unnamed.append(tag)
            else:
                tree.named[name] = tag
        return tree

    def data(self, size: int) -> _Data:
        start = self.stream.tell()
        if size > self.size - start or self.take(4) != b"%%%%":
            raise Dm4FormatError(f"data tag at byte {start} is damaged")
        (count,) = struct.unpack(">Q", self.take(8))
        if count > (size - 12) // 8:
            raise Dm4FormatError(f"data tag at byte {start} describes {count} types in {size} bytes")
        types = struct.unpack(f">{count}q", self.take(8 * count))
        offset = self.stream.tell()
        self.stream.seek(start + size)
        return _Data(types, offset, start + size - offset)


@dataclass(frozen=True)
class Dm4Layout:
    """What a DM4 file's tag directory says of its main image, without reading the image."""

    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    pixel_size: float | None
    #: Where the image's bytes are, and how many there are.
    data_offset: int
    data_size: int


@dataclass(frozen=True)
class Dm4Image:
    """The main image of a DM4 file: ``data`` (z, y, x) with its first row at the top, as DM shows it, and the
    pixel size (Å) its x calibration gives, if any."""

    data: np.ndarray
    pixel_size: float | None


def _value(reader: _TagReader, tag: _Data | None, byte_order: str) -> float | int | np.ndarray | None:
    """A simple value (a number) or an array of numbers; None for a missing tag or another kind of value."""
    if tag is None or not tag.types:
        return None
    kind = tag.types[0]
    if kind == ARRAY and len(tag.types) == 3 and tag.types[1] in VALUE_TYPES:
        element = np.dtype(byte_order + VALUE_TYPES[tag.types[1]])
        count = tag.types[2]
        if count < 0 or count * element.itemsize > tag.size:
            raise Dm4FormatError(f"an array of {count} values does not fit its tag of {tag.size} bytes")
        reader.stream.seek(tag.offset)
        return np.frombuffer(reader.take(count * element.itemsize), dtype=element)
    if len(tag.types) == 1 and kind in VALUE_TYPES:
        element = np.dtype(byte_order + VALUE_TYPES[kind])
        if element.itemsize > tag.size:
            raise Dm4FormatError(f"a value of {element.itemsize} bytes does not fit its tag of {tag.size} bytes")
        reader.stream.seek(tag.offset)
        return np.frombuffer(reader.take(element.itemsize), dtype=element)[0].item()
    return None


def _number(reader: _TagReader, tag: _Data | None, byte_order: str, what: str) -> float | int:
    value = _value(reader, tag, byte_order)
    if not isinstance(value, int | float):
        raise Dm4FormatError(f"{what} is not a number")
    return value


def _pixel_size(reader: _TagReader, image_data: _Directory, byte_order: str) -> float | None:
    calibrations = image_data.directory("Calibrations")
    dimensions = calibrations.directory("Dimension") if calibrations else None
    x = dimensions.unnamed[0] if dimensions and dimensions.unnamed else None
    if not isinstance(x, _Directory):
        return None
    units = _value(reader, x.data("Units"), byte_order)
    scale = _value(reader, x.data("Scale"), byte_order)
    if not isinstance(units, np.ndarray) or not isinstance(scale, float | int):
        return None
    # Strings are arrays of UTF-16 code units.
    factor = UNIT_ANGSTROMS.get(units.astype("<u2").tobytes().decode("utf-16-le", errors="replace").strip())
    if factor is None:
        return None
    # As dm3props: the float32 scale times the factor, kept as float32 and printed with 6 decimals.
    return float(f"{float(np.float32(np.float32(scale) * factor)):.6f}")


def _layout(stream: BinaryIO, size: int) -> Dm4Layout:
    reader = _TagReader(stream, size)
    version, _, little_endian = _FILE_HEADER.unpack(reader.take(_FILE_HEADER.size))
    if version != 4:
        raise Dm4FormatError(f"DM version {version}, not 4")
    byte_order = "<" if little_endian == 1 else ">"
    images = reader.directory().directory("ImageList")
    if images is None or not images.unnamed:
        raise Dm4FormatError("no ImageList")
    # The last image is the data (a thumbnail, if any, comes first), as dm2mrc reads it from the file's end.
    image = images.unnamed[-1]
    image_data = image.directory("ImageData") if isinstance(image, _Directory) else None
    data = image_data.data("Data") if image_data else None
    if image_data is None or data is None:
        raise Dm4FormatError("the last image has no ImageData with Data")
    code = _number(reader, image_data.data("DataType"), byte_order, "DataType")
    if code not in DM_TYPES:
        raise Dm4FormatError(
            f"DM data type {code} is not one a gain reference uses (int16, float32, int32, uint16, uint32, float64)"
        )
    dimensions = image_data.directory("Dimensions")
    tags = [tag for tag in dimensions.unnamed if isinstance(tag, _Data)] if dimensions else []
    values = [_number(reader, tag, byte_order, "an image dimension") for tag in tags]
    if not all(float(value).is_integer() for value in values):
        raise Dm4FormatError(f"image dimensions {values} are not whole numbers")
    shape = [int(value) for value in values]
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise Dm4FormatError(f"image dimensions {shape} are not 2-D or 3-D")
    x, y, z = [*shape, 1][:3]
    dtype = np.dtype(DM_TYPES[int(code)]).newbyteorder(byte_order)
    if len(data.types) != 3 or data.types[0] != ARRAY or data.types[1] not in VALUE_TYPES:
        raise Dm4FormatError("the image Data is not an array of numbers")
    stored = data.types[2] * np.dtype(VALUE_TYPES[data.types[1]]).itemsize
    if stored != x * y * z * dtype.itemsize or stored > data.size:
        raise Dm4FormatError(f"{stored} data bytes for a {'×'.join(map(str, shape))} {dtype.name} image")
    return Dm4Layout((z, y, x), dtype, _pixel_size(reader, image_data, byte_order), data.offset, stored)


def read_dm4_layout(stream: BinaryIO, size: int) -> Dm4Layout:
    """The main image's shape, type, pixel size and place from the tag directory of a DM4 file of ``size`` bytes
    (the image itself is skipped, not read); raises :class:`Dm4FormatError`."""
    try:
        return _layout(stream, size)
    except struct.error as error:  # a structure cut short by a stream that ends before ``size``
        raise Dm4FormatError(f"truncated ({error})") from None


def read_dm4(data: bytes) -> Dm4Image:
    """The main image of a DM4 file; raises :class:`Dm4FormatError` for anything else."""
    layout = read_dm4_layout(io.BytesIO(data), len(data))
    image = np.frombuffer(data, dtype=layout.dtype, count=layout.data_size // layout.dtype.itemsize,
                          offset=layout.data_offset)  # fmt: skip
    return Dm4Image(image.reshape(layout.shape_zyx).astype(layout.dtype.newbyteorder("="), copy=False),
                    layout.pixel_size)  # fmt: skip


def _converted(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.uint16:
        return (data.astype(np.int32) - USHORT_OFFSET).astype(np.int16)
    return data.astype(WRITTEN_AS[data.dtype.name], copy=False)


def raw2mrc_label(when: dt.datetime) -> str:
    """raw2mrc's label: the text padded to 55 characters, then `` %d-%b-%y  %H:%M:%S    ``."""
    return f"{RAW2MRC_LABEL:<55}{when.strftime(' %d-%b-%y  %H:%M:%S    ')}"


def dm2mrc(image: Dm4Image, when: dt.datetime | None = None) -> tuple[bytes, np.ndarray]:
    """The MRC header and data (z, y, x, first row = bottom) that ``dm2mrc`` makes of ``image``.

    Header values are raw2mrc's (mode, sizes, cell from the pixel size, space group 0, the IMOD stamp and label),
    except the statistics, which are exact: raw2mrc sums each section in float32, which stalls past 2²⁴ and would
    leave a large gain's dmean below its dmin.
    """
    data = _converted(image.data)
    statistics = RunningStatistics()
    statistics.add(data)
    pixel = image.pixel_size or 1.0
    extra2 = bytearray(84)
    extra2[40:44] = struct.pack("<i", IMOD_STAMP)
    header = build_header(
        data.shape,
        data.dtype,
        (pixel, pixel, pixel),
        statistics=statistics.result(),
        ispg=0,
        label=raw2mrc_label(when or dt.datetime.now(dt.UTC)),
        exttyp="",
        nversion=20140,
        extra2=bytes(extra2),
    )
    return header, data[:, ::-1, :]
