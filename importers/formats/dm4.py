"""Gatan DigitalMicrograph 4 images (gain references) and their MRC form as the portal stores them.

The portal converts a ``.dm4`` gain with IMOD's ``dm2mrc`` (formats.md §5), which runs ``raw2mrc -f``: the image's
rows are stored bottom first (MRC's origin is the lower left corner, DM's the upper left), 16-bit unsigned values
become signed by subtracting 32767, 32-bit integers and doubles become float32, and the pixel size is the x
calibration when its unit is nm (×10) or µm (×10⁴), else 1 Å. The tag tree is read with the ``dm4`` package.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from dm4 import DM4File, DM4TagDir

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


class Dm4FormatError(ValueError):
    """Not a DM4 image this importer can convert; the message says why in one line."""


@dataclass(frozen=True)
class Dm4Image:
    """The main image of a DM4 file: ``data`` (z, y, x) with its first row at the top, as DM shows it, and the
    pixel size (Å) its x calibration gives, if any."""

    data: np.ndarray
    pixel_size: float | None


def _units(value: object) -> str:
    # DM4 stores strings as arrays of UTF-16 code units.
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-16-le") if value is not None else ""  # type: ignore[call-overload]
    except (TypeError, UnicodeDecodeError):
        return ""


def _pixel_size(reader: DM4File, image_data: DM4TagDir) -> float | None:
    calibrations = image_data.named_subdirs.get("Calibrations")
    dimensions = calibrations.named_subdirs.get("Dimension") if calibrations else None
    if dimensions is None or not dimensions.unnamed_subdirs:
        return None
    x = dimensions.unnamed_subdirs[0].named_tags
    if "Scale" not in x or "Units" not in x:
        return None
    factor = UNIT_ANGSTROMS.get(_units(reader.read_tag_data(x["Units"])).strip())
    if factor is None:
        return None
    # As dm3props: the float32 scale times the factor, kept as float32 and printed with 6 decimals.
    return float(f"{float(np.float32(np.float32(reader.read_tag_data(x['Scale'])) * factor)):.6f}")


@dataclass(frozen=True)
class Dm4Layout:
    """What a DM4 file's tag directory says of its main image, without reading the image."""

    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    pixel_size: float | None


def _layout(reader: DM4File) -> tuple[Dm4Layout, DM4TagDir]:
    if reader.header.version != 4:
        raise Dm4FormatError(f"DM version {reader.header.version}, not 4")
    images = reader.read_directory().named_subdirs.get("ImageList")
    if images is None or not images.unnamed_subdirs:
        raise Dm4FormatError("no ImageList")
    # The last image is the data (a thumbnail, if any, comes first), as dm2mrc reads it from the file's end.
    image_data = images.unnamed_subdirs[-1].named_subdirs.get("ImageData")
    if image_data is None or not {"Data", "DataType"} <= set(image_data.named_tags):
        raise Dm4FormatError("the last image has no ImageData with Data and DataType")
    code = int(reader.read_tag_data(image_data.named_tags["DataType"]))
    if code not in DM_TYPES:
        raise Dm4FormatError(
            f"DM data type {code} is not one a gain reference uses (int16, float32, int32, uint16, uint32, float64)"
        )
    dimensions = image_data.named_subdirs.get("Dimensions")
    shape = [int(reader.read_tag_data(tag)) for tag in dimensions.unnamed_tags] if dimensions else []
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise Dm4FormatError(f"image dimensions {shape} are not 2-D or 3-D")
    x, y, z = [*shape, 1][:3]
    return Dm4Layout((z, y, x), np.dtype(DM_TYPES[code]), _pixel_size(reader, image_data)), image_data


def _read(data: bytes) -> Dm4Image:
    reader = DM4File(io.BytesIO(data))
    layout, image_data = _layout(reader)
    values = np.frombuffer(reader.read_tag_data(image_data.named_tags["Data"]), dtype=np.uint8)
    expected = int(np.prod(layout.shape_zyx)) * layout.dtype.itemsize
    if values.size != expected:
        shape = "×".join(map(str, layout.shape_zyx[::-1]))
        raise Dm4FormatError(f"{values.size} data bytes for a {shape} {layout.dtype} image")
    return Dm4Image(values.view(layout.dtype).reshape(layout.shape_zyx), layout.pixel_size)


#: What the dm4 package raises on a file that is not DM4 or is cut short.
_READ_ERRORS = (
    ValueError,
    TypeError,
    AssertionError,
    KeyError,
    IndexError,
    EOFError,
    struct.error,
    UnicodeDecodeError,
    RecursionError,
    OverflowError,
)


def read_dm4_layout(stream: BinaryIO) -> Dm4Layout:
    """The main image's shape, type and pixel size from the tag directory (the image data is skipped, not read);
    raises :class:`Dm4FormatError` for a file :func:`read_dm4` would refuse before its data."""
    try:
        return _layout(DM4File(stream))[0]
    except Dm4FormatError:
        raise
    except _READ_ERRORS as error:
        raise Dm4FormatError(f"not a readable DM4 file ({type(error).__name__}: {error})") from None


def read_dm4(data: bytes) -> Dm4Image:
    """The main image of a DM4 file; raises :class:`Dm4FormatError` for anything else."""
    try:
        return _read(data)
    except Dm4FormatError:
        raise
    except _READ_ERRORS as error:
        raise Dm4FormatError(f"not a readable DM4 file ({type(error).__name__}: {error})") from None


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
