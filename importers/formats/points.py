"""Source point files of point annotations (formats.md §3.1): one reader per ``file_format``.

Every reader returns :class:`Points` in the source's own units and axis order; the annotation
importer then applies the config's ``order``/``columns`` and ``binning`` with
:meth:`Points.standardized`. A file that cannot be read raises :class:`PointFormatError` with a
one-line message that starts with the file's path.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from importers.formats.rotations import from_imod_slicer, from_relion, from_stopgap, reverse_axes

if TYPE_CHECKING:  # pandas costs 0.4 s to import: imported when a table is read (see _pandas), not at start-up
    import pandas as pd

AXIS_ORDERS = ("xyz", "zyx")
XYZ = ("x", "y", "z")


class PointFormatError(ValueError):
    """A point source that cannot be interpreted; the message names the file and the problem."""


class _Problem(Exception):
    """What is wrong inside a file; :func:`read_points` prefixes the path."""


@dataclass(frozen=True)
class Points:
    """Points of one source: ``locations`` ``(n, 3)``, optional ``rotations`` ``(n, 3, 3)`` acting on
    (x, y, z) and optional integer ``instance_ids`` ``(n,)``."""

    locations: np.ndarray
    rotations: np.ndarray | None = None
    instance_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.locations.shape[0])

    def standardized(self, *, binning: float = 1.0, order: str = "xyz") -> Points:
        """Columns read as ``order`` put back to x, y, z, and coordinates divided by ``binning``."""
        if order not in AXIS_ORDERS:
            raise ValueError(f"order must be one of {', '.join(AXIS_ORDERS)}, not {order!r}")
        if not binning or binning <= 0:
            raise ValueError(f"binning must be positive, not {binning!r}")
        locations, rotations = self.locations, self.rotations
        if order == "zyx":
            locations = locations[:, ::-1]
            rotations = None if rotations is None else reverse_axes(rotations)
        return replace(self, locations=locations / float(binning), rotations=rotations)


def _floats(table: pd.DataFrame, what: str) -> np.ndarray:
    """A string table as float64; Python's own float parsing keeps ``47.90`` → ``47.9`` exact."""
    try:
        values = table.to_numpy(dtype=object).astype(np.float64)
    except (TypeError, ValueError):
        for row, cells in enumerate(table.itertuples(index=False)):
            for column, cell in zip(table.columns, cells, strict=True):
                try:
                    float(cell)
                except (TypeError, ValueError):
                    raise _Problem(f"{what} row {row + 1}, column {column}: {cell!r} is not a number") from None
        raise
    if not np.isfinite(values).all():
        row = int(np.argwhere(~np.isfinite(values))[0][0])
        raise _Problem(f"{what} row {row + 1}: non-finite coordinate or angle")
    return values


def _integers(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(values == np.round(values)):
        row = int(np.argwhere(values != np.round(values))[0][0])
        raise _Problem(f"{what} row {row + 1}: instance id {float(values[row])!r} is not an integer")
    return values.astype(np.int64)


def _columns(table: pd.DataFrame, names: tuple[str, ...], what: str) -> np.ndarray:
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise _Problem(f"{what} has no column {', '.join(missing)}")
    return _floats(table[list(names)], what)


# -- delimited text ---------------------------------------------------------------------------


def _pandas() -> Any:
    import pandas

    return pandas


def _delimited(data: bytes, delimiter: str, *, header: bool) -> pd.DataFrame:
    pd = _pandas()
    separator = r"\s+" if delimiter.isspace() else delimiter
    try:
        return pd.read_csv(io.BytesIO(data), sep=separator, header=None, skiprows=1 if header else 0, dtype=str)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise _Problem(f"not a {delimiter!r}-delimited table: {str(error).strip().splitlines()[0]}") from None


def _first_columns(table: pd.DataFrame, count: int, what: str) -> np.ndarray:
    if table.empty:
        return np.zeros((0, count))
    if table.shape[1] < count:
        raise _Problem(f"{what} has {table.shape[1]} column(s), needs at least {count}")
    return _floats(table.iloc[:, :count], what)


def _read_csv(data: bytes, *, delimiter: str = ",", header: bool = False, **_: Any) -> Points:
    """``x,y,z`` rows (first three columns; ``csv_with_header`` skips one header line)."""
    return Points(_first_columns(_delimited(data, delimiter, header=header), 3, "table"))


def _read_tardis(data: bytes, **_: Any) -> Points:
    """TARDIS instance points: a header line, then ``instance_id, x, y, z`` rows."""
    values = _first_columns(_delimited(data, ",", header=True), 4, "table")
    return Points(values[:, 1:4], instance_ids=_integers(values[:, 0], "table"))


# -- STAR --------------------------------------------------------------------------------------


#: A STAR token: a quoted value (the quotes are not part of it), a comment (to the end of the line), or a word.
_STAR_TOKEN = re.compile(r"""'([^']*)'(?=\s|$)|"([^"]*)"(?=\s|$)|(#.*)|(\S+)""")


def _star_tokens(line: str) -> list[str]:
    """A STAR line's values, without quotes and comments (``"quote string"`` is one value; ``""`` an empty one)."""
    values = []
    for single, double, comment, word in _STAR_TOKEN.findall(line):
        if comment:
            break
        values.append(word or single or double)
    return values


def read_star(text: str) -> dict[str, pd.DataFrame]:
    """Every data block of a STAR file as a string table (loops; key-value blocks as one row)."""
    pd = _pandas()
    blocks: dict[str, pd.DataFrame] = {}
    lines = [_star_tokens(line) for line in text.splitlines()]
    index, name, pairs = 0, None, {}
    while index < len(lines):
        tokens = lines[index]
        index += 1
        if not tokens:
            continue
        first = tokens[0]
        if first.startswith("data_"):
            name, pairs = first[len("data_") :], {}
            continue
        if name is None:
            raise _Problem(f"line {index}: {first[:40]!r} before any data_ block")
        if first.startswith("loop_"):
            columns: list[str] = []
            while index < len(lines) and (not lines[index] or lines[index][0].startswith("_")):
                if lines[index]:
                    columns.append(lines[index][0][1:])
                index += 1
            rows = []
            while index < len(lines) and not (lines[index] and lines[index][0].startswith(("data_", "loop_", "_"))):
                if lines[index]:
                    row = lines[index]
                    if len(row) != len(columns):
                        raise _Problem(f"line {index + 1}: {len(row)} values for {len(columns)} loop columns")
                    rows.append(row)
                index += 1
            blocks[name] = pd.DataFrame(rows, columns=columns, dtype=object)
        elif first.startswith("_"):
            pairs[first[1:]] = " ".join(tokens[1:])
            blocks[name] = pd.DataFrame([pairs], dtype=object)
        else:
            raise _Problem(f"line {index}: unexpected {first[:40]!r}")
    return blocks


def _star(data: bytes) -> dict[str, pd.DataFrame]:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise _Problem("not a text STAR file") from None
    blocks = read_star(text)
    if not blocks:
        raise _Problem("no data_ block")
    return blocks


def _table_with(blocks: dict[str, pd.DataFrame], column: str, preferred: str) -> pd.DataFrame:
    """The block holding ``column`` (``preferred`` first: RELION 4 splits optics and particles)."""
    names = sorted(blocks, key=lambda name: name != preferred)
    for name in names:
        if column in blocks[name].columns:
            return blocks[name]
    raise _Problem(f"no data block has a {column} column")


def _matching(column: pd.Series, value: str) -> pd.Series:
    """Rows whose ``column`` equals ``value``, numerically when both are numbers (``'07'`` == ``7``)."""
    text = column.astype(str).str.strip()
    try:
        number = float(value)
    except ValueError:
        return text == value
    numbers = _pandas().to_numeric(text, errors="coerce")
    return (numbers == number) | (text == value)


def _filtered(table: pd.DataFrame, column: str, value: str | None) -> pd.DataFrame:
    if value is None:
        return table
    if column not in table.columns:
        raise _Problem(f"no {column} column to filter by {value!r}")
    return table[_matching(table[column], value)].reset_index(drop=True)


def _read_relion(
    data: bytes, *, filter_column: str, angstrom_origins: bool, filter_value: str | None = None, **_: Any
) -> Points:
    """Particles of a RELION STAR file, as the portal's converters read them: ``rlnCoordinateX/Y/Z`` minus the
    origin shift, oriented by ``rlnAngleRot/Tilt/Psi`` when given. RELION 3 shifts are ``rlnOriginX/Y/Z`` (pixels);
    RELION 4 shifts are ``rlnOriginX/Y/ZAngst`` over the first optics group's ``rlnImagePixelSize``, whichever group
    a particle names (the portal reads ``optics["rlnImagePixelSize"][0]``)."""
    blocks = _star(data)
    particles = _filtered(_table_with(blocks, "rlnCoordinateX", "particles"), filter_column, filter_value)
    what = "particles"
    locations = _columns(particles, ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"), what)
    if angstrom_origins and "rlnOriginXAngst" in particles.columns:
        shifts = _columns(particles, ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"), what)
        locations = locations - shifts / _pixel_size(blocks)
    elif not angstrom_origins and "rlnOriginX" in particles.columns:
        locations = locations - _columns(particles, ("rlnOriginX", "rlnOriginY", "rlnOriginZ"), what)
    rotations = None
    if "rlnAngleRot" in particles.columns:
        angles = _columns(particles, ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"), what)
        rotations = from_relion(angles[:, 0], angles[:, 1], angles[:, 2])
    return Points(locations, rotations)


def _pixel_size(blocks: dict[str, pd.DataFrame]) -> float:
    """The first optics group's pixel size (Å)."""
    sizes = _columns(_table_with(blocks, "rlnImagePixelSize", "optics"), ("rlnImagePixelSize",), "optics")[:, 0]
    if len(sizes) == 0:
        raise _Problem("the optics block is empty")
    return float(sizes[0])


def _read_stopgap(data: bytes, *, filter_value: str | None = None, **_: Any) -> Points:
    """STOPGAP motive list: ``orig_x/y/z`` + ``x/y/z_shift``, angles ``phi/the/psi``; rows of one
    tomogram selected by ``tomo_num``."""
    motl = _filtered(_table_with(_star(data), "orig_x", "stopgap_motivelist"), "tomo_num", filter_value)
    locations = _columns(motl, ("orig_x", "orig_y", "orig_z"), "motive list")
    locations = locations + _columns(motl, ("x_shift", "y_shift", "z_shift"), "motive list")
    angles = _columns(motl, ("phi", "the", "psi"), "motive list")
    return Points(locations, from_stopgap(angles[:, 0], angles[:, 1], angles[:, 2]))


# -- IMOD model --------------------------------------------------------------------------------

_MODEL_HEADER = 232  # bytes after the 8-byte "IMODV1.2" id (IMOD binspec)
_OBJECT_HEADER = 176
_CONTOUR = struct.Struct(">iIii")  # psize, flags, time, surf
_MESH = struct.Struct(">iiIhh")  # vsize, lsize, flag, time, surf
_SLICER_ANGLE = struct.Struct(">i3f3f")  # time, angles (x, y, z), centre (x, y, z); a 32-byte label follows


def _read_mod(data: bytes, *, oriented: bool = False, **_: Any) -> Points:
    """Every contour point of every object of a binary IMOD model (big-endian chunks: ``OBJT`` and
    ``CONT``/``MESH`` carry no size, every other chunk is ``id, size, bytes``). Oriented: one point per slicer angle
    (``SLAN``: time, angles about x, y, z, centre, label), in file order, as the portal reads them (imodmodel's
    ``annotation="slan"``)."""
    if data[:4] != b"IMOD":
        raise _Problem("not an IMOD model file (no IMOD magic)")
    offset, points, slicer = 0, [], []

    def take(size: int) -> bytes:
        nonlocal offset
        if offset + size > len(data):
            raise _Problem(f"truncated at byte {offset} (needs {size} more)")
        offset += size
        return data[offset - size : offset]

    take(8 + _MODEL_HEADER)
    while True:
        chunk = take(4)
        if chunk == b"IEOF":
            break
        if chunk == b"OBJT":
            take(_OBJECT_HEADER)
        elif chunk == b"CONT":
            count = _CONTOUR.unpack(take(_CONTOUR.size))[0]
            if count < 0:
                raise _Problem(f"contour with {count} points")
            points.append(np.frombuffer(take(12 * count), dtype=">f4").reshape(count, 3))
        elif chunk == b"MESH":
            vertices, indices = _MESH.unpack(take(_MESH.size))[:2]
            take(12 * vertices + 4 * indices)
        elif chunk == b"SLAN":
            body = take(struct.unpack(">i", take(4))[0])
            if len(body) < _SLICER_ANGLE.size:
                raise _Problem(f"SLAN chunk of {len(body)} bytes, under {_SLICER_ANGLE.size}")
            slicer.append(_SLICER_ANGLE.unpack(body[: _SLICER_ANGLE.size])[1:])
        elif chunk.isalnum():
            take(struct.unpack(">i", take(4))[0])
        else:
            raise _Problem(f"unknown chunk {chunk!r} at byte {offset - 4}")
    if oriented:
        if not slicer:
            raise _Problem("oriented points come from slicer angles (SLAN chunks), and the model has none")
        angles = np.asarray(slicer, dtype=np.float64)
        locations, rotations = angles[:, 3:], from_imod_slicer(angles[:, 0], angles[:, 1], angles[:, 2])
    else:
        locations = np.concatenate(points).astype(np.float64) if points else np.zeros((0, 3))
        rotations = None
    if not np.isfinite(locations).all() or (rotations is not None and not np.isfinite(rotations).all()):
        raise _Problem("non-finite point coordinate or angle")
    return Points(locations, rotations)


# -- copick ------------------------------------------------------------------------------------


def _read_copick(data: bytes, **_: Any) -> Points:
    """copick picks JSON, as the portal's converter reads it: ``points[].location`` as it is (Å: the config's
    ``binning`` is the voxel spacing), rotation = the 3×3 block of ``transformation_`` (identity without one), and
    instance ids numbered 0, 1, … in file order. copick's ``full_positions`` adds the transform's translation and
    its ``instance_ids`` are the points' ``instance_id``: the portal takes neither."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise _Problem(f"not JSON: {error}") from None
    picks = document.get("points") if isinstance(document, dict) else None
    if picks is None:
        picks = []
    if not isinstance(picks, list):
        raise _Problem("points is not a list")
    locations, rotations = np.zeros((len(picks), 3)), np.zeros((len(picks), 3, 3))
    for row, pick in enumerate(picks):
        try:
            location = pick["location"]
            transform = np.asarray(pick.get("transformation_") or np.eye(4), dtype=np.float64)
            locations[row] = [float(location[axis]) for axis in XYZ]
            rotations[row] = transform[:3, :3]
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise _Problem(f"points[{row}] needs location {{x, y, z}} and a 4x4 transformation_") from None
    if not (np.isfinite(locations).all() and np.isfinite(rotations).all()):
        raise _Problem("non-finite coordinate or transform")
    return Points(locations, rotations, np.arange(len(picks), dtype=np.int64))


Reader = Callable[..., Points]

#: ``file_format`` → reader (formats.md §3.1). Readers take keyword arguments ``delimiter``,
#: ``filter_value`` (row filter of STAR formats) and ``oriented`` (IMOD models), and ignore the rest.
READERS: dict[str, Reader] = {
    "csv": _read_csv,
    "csv_with_header": partial(_read_csv, header=True),
    "tardis": _read_tardis,
    # RELION 3 names each particle's micrograph; RELION 4 and TOMOMAN name its tomogram.
    "relion3_star": partial(_read_relion, filter_column="rlnMicrographName", angstrom_origins=False),
    "relion4_star": partial(_read_relion, filter_column="rlnTomoName", angstrom_origins=True),
    "tomoman_relion_star": partial(_read_relion, filter_column="rlnTomoName", angstrom_origins=False),
    "stopgap_star": _read_stopgap,
    "mod": _read_mod,
    "copick": _read_copick,
}


def read_points(
    data: bytes,
    file_format: str,
    *,
    path: str,
    delimiter: str = ",",
    filter_value: str | None = None,
    oriented: bool = False,
) -> Points:
    """Read one source point file (``oriented``: for an OrientedPoint annotation, which a format may read from other
    records, as IMOD models' slicer angles); raises :class:`PointFormatError` ``"{path}: {problem}"``."""
    reader = READERS.get(file_format)
    if reader is None:
        raise PointFormatError(f"{path}: point file_format {file_format!r} is not one of {', '.join(READERS)}")
    try:
        return reader(data, delimiter=delimiter, filter_value=filter_value, oriented=oriented)
    except _Problem as problem:
        raise PointFormatError(f"{path}: {file_format}: {problem}") from None
