"""Tilt-series alignment files: IMOD ``.xf`` transforms and AreTomo3 ``.aln`` files (formats.md §4).

Both are turned into the portal's per-section convention: an in-plane rotation matrix (rows) and x/y
offsets in pixels applied after it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from importers.formats.text_table import TextFormatError, numeric_rows, whole_number

XF_COLUMNS = ("a11", "a12", "a21", "a22", "dx", "dy")
ALN_COLUMNS = ("sec", "rot", "gmag", "tx", "ty", "smean", "sfit", "scale", "base", "tilt")


@dataclass(frozen=True)
class XfTransform:
    """One ``.xf`` row: the IMOD 2-D transform ``M = [[a11, a12], [a21, a22]]`` and shift ``d`` (px)."""

    a11: float
    a12: float
    a21: float
    a22: float
    dx: float
    dy: float

    @property
    def in_plane_rotation(self) -> list[list[float]]:
        """``R = Mᵀ``: IMOD maps raw to aligned images, the portal stores the inverse rotation."""
        return [[self.a11, self.a21], [self.a12, self.a22]]

    @property
    def offsets(self) -> tuple[float, float]:
        """``R·(−d)``: the IMOD shift expressed after the portal's rotation."""
        return (
            self.a11 * -self.dx + self.a21 * -self.dy,
            self.a12 * -self.dx + self.a22 * -self.dy,
        )


def parse_xf(text: str, source: str) -> list[XfTransform]:
    """The transforms of an ``.xf`` file, one per section; raises :class:`TextFormatError`."""
    rows = numeric_rows(text, source, widths={len(XF_COLUMNS)}, comments=())
    if rows.empty:
        raise TextFormatError(f"{source}: no transforms")
    return [XfTransform(*(float(value) for value in row)) for row in rows.itertuples(index=False)]


def rotation_matrix(degrees: float) -> list[list[float]]:
    """The 2×2 rotation by ``degrees`` (counter-clockwise), as rows."""
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    return [[cos, -sin], [sin, cos]]


@dataclass(frozen=True)
class AlnSection:
    """One global-alignment row of an ``.aln`` file."""

    sec: int
    rot: float
    gmag: float
    tx: float
    ty: float
    smean: float
    sfit: float
    scale: float
    base: float
    tilt: float

    @property
    def in_plane_rotation(self) -> list[list[float]]:
        return rotation_matrix(self.rot)


@dataclass(frozen=True)
class AlnFile:
    """An AreTomo3 alignment: header values, global rows and the size of the local-alignment block."""

    raw_size: tuple[int, int, int]
    alpha_offset: float
    beta_offset: float
    #: Raw section indices (0-based, first number of each ``# DarkFrame`` line) AreTomo excluded as dark.
    dark_frames: list[int]
    sections: list[AlnSection]
    local_rows: int

    @property
    def z_indices(self) -> list[int]:
        """The tilt-series section (0-based) of each global row, as the portal's converter pairs them: the rows
        follow the raw sections that are not dark frames, in order. SEC is no raw index: it counts the kept
        sections (from 0 in AreTomo3, from 1 in AreTomo2), so SEC − 1 is wrong as soon as a frame is dark."""
        dark = set(self.dark_frames)
        kept = (index for index in itertools.count() if index not in dark)
        return [next(kept) for _ in self.sections]


def _header_value(line: str, number: int, source: str) -> str:
    _, equals, value = line.partition("=")
    if not equals or not value.strip():
        raise TextFormatError(f"{source}: line {number}: expected '# Name = value', found {line.strip()!r}")
    return value.strip()


def _header_numbers(line: str, number: int, source: str, count: int) -> list[float]:
    parts = _header_value(line, number, source).split()
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise TextFormatError(f"{source}: line {number}: {line.strip()!r} holds a value that is not a number") from None
    if len(values) < count:
        raise TextFormatError(f"{source}: line {number}: expected {count} numbers in {line.strip()!r}")
    return values


def parse_aln(text: str, source: str) -> AlnFile:
    """Parse an AreTomo3 ``.aln``: ``# RawSize``, ``# AlphaOffset``, ``# BetaOffset``, ``# DarkFrame``
    header lines, then ``SEC ROT GMAG TX TY SMEAN SFIT SCALE BASE TILT`` rows, then an optional
    ``# Local Alignment`` block. Raises :class:`TextFormatError`."""
    raw_size: tuple[int, int, int] | None = None
    alpha = beta = 0.0
    dark: list[int] = []
    lines = text.splitlines()
    local_start = len(lines)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("# Local Alignment"):
            local_start = number - 1
            break
        if stripped.startswith("# RawSize"):
            nx, ny, nsec = _header_numbers(line, number, source, 3)[:3]
            raw_size = tuple(whole_number(v, "RawSize", source, number) for v in (nx, ny, nsec))
        elif stripped.startswith("# AlphaOffset"):
            alpha = _header_numbers(line, number, source, 1)[0]
        elif stripped.startswith("# BetaOffset"):
            beta = _header_numbers(line, number, source, 1)[0]
        elif stripped.startswith("# DarkFrame"):
            dark.append(whole_number(_header_numbers(line, number, source, 3)[0], "DarkFrame", source, number))
    if raw_size is None:
        raise TextFormatError(f"{source}: no '# RawSize = nx ny nsections' line")
    # Blanking the local block keeps the line numbers of the global rows.
    global_block = "\n".join(lines[:local_start])
    rows = numeric_rows(global_block, source, widths={len(ALN_COLUMNS)})
    if rows.empty:
        raise TextFormatError(f"{source}: no global alignment rows")
    sections = [
        AlnSection(whole_number(row.iloc[0], "SEC", source, line), *(float(v) for v in row.iloc[1:]))
        for line, row in rows.iterrows()
    ]
    local_rows = sum(1 for line in lines[local_start + 1 :] if line.strip() and not line.strip().startswith("#"))
    return AlnFile(raw_size, alpha, beta, dark, sections, local_rows)
