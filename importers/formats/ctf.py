"""Per-section CTF fits: CTFFIND, Gctf and IMOD ``.defocus`` files (formats.md §4).

Every format becomes the same rows: 1-based section, defocus values in Å, astigmatism azimuth in degrees,
phase shift in radians, cross correlation and max resolution. A value the format does not have is 0.0, as the
portal's converters store it (metadata.md says null: ``MISSING_FIELDS`` names them, where both are right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from importers.formats.text_table import TextFormatError, numeric_rows, whole_number

if TYPE_CHECKING:
    import pandas as pd

#: Canonical spellings, as used in file names (``{run}_{FORMAT}_ctf.txt``) and in the config.
CTF_FORMATS = ("CTFFIND", "Gctf", "IMOD")

# IMOD .defocus flag bits (ctfplotter documentation).
_ASTIGMATISM = 1
_ASTIGMATISM_RADIANS = 2
_PHASE_SHIFT = 4
_PHASE_SHIFT_RADIANS = 8
_CUT_ON_FREQUENCY = 32
_NM_TO_ANGSTROM = 10.0


#: CtfSection fields each format has no column for (0.0 in its rows); a stored null is right there too.
MISSING_FIELDS = {
    "CTFFIND": frozenset(),
    "Gctf": frozenset(),
    "IMOD": frozenset({"cross_correlation", "max_resolution"}),
}


@dataclass(frozen=True)
class CtfSection:
    """The CTF fit of one tilt-series section."""

    section: int
    major_defocus: float
    minor_defocus: float
    astigmatic_angle: float
    phase_shift: float
    cross_correlation: float
    max_resolution: float


def canonical_format(name: object) -> str:
    """``name`` spelled as in :data:`CTF_FORMATS` (matched case-insensitively); raises ValueError."""
    for known in CTF_FORMATS:
        if str(name).upper() == known.upper():
            return known
    raise ValueError(f"unknown CTF format {name!r} (expected one of {', '.join(CTF_FORMATS)})")


def parse_ctf(text: str, ctf_format: str, source: str) -> list[CtfSection]:
    """The rows of a CTF file in ``ctf_format``; raises :class:`TextFormatError` naming the line."""
    parser = {"CTFFIND": _ctffind, "Gctf": _gctf, "IMOD": _imod}[canonical_format(ctf_format)]
    sections = parser(text, source)
    if not sections:
        raise TextFormatError(f"{source}: no CTF rows")
    return sections


def _section(value: float, source: str, line: int) -> int:
    section = whole_number(value, "section", source, line)
    if section < 1:
        raise TextFormatError(f"{source}: line {line}: section {section} is not 1-based")
    return section


def _ctffind(text: str, source: str) -> list[CtfSection]:
    """``#`` header lines, then ``section defocus1 defocus2 azimuth phase_shift cc max_res [...]``."""
    rows = numeric_rows(text, source, min_width=7)
    return [
        CtfSection(_section(row[0], source, line), *(float(value) for value in row[1:7]))
        for line, row in rows.iterrows()
    ]


def _gctf(text: str, source: str) -> list[CtfSection]:
    """7 columns as CTFFIND, or 6 without the phase shift (then 0)."""
    rows = numeric_rows(text, source, widths={6, 7}, comments=("#", ";", "%"))
    sections = []
    for line, row in rows.iterrows():
        values = row.dropna().tolist()
        if len(values) == 6:
            values.insert(4, 0.0)
        sections.append(CtfSection(_section(values[0], source, line), *values[1:]))
    return sections


def _imod_columns(flag: int) -> tuple[int, int | None, int | None, int]:
    """Column of defocus 2, azimuth and phase shift for ``flag``, and the row width."""
    if flag & _ASTIGMATISM:
        defocus2, azimuth, width = 5, 6, 7
    else:
        defocus2, azimuth, width = 4, None, 5
    phase = None
    if flag & _PHASE_SHIFT:
        phase, width = width, width + 1
    if flag & _CUT_ON_FREQUENCY:
        width += 1
    return defocus2, azimuth, phase, width


def _is_imod_header(row: pd.Series) -> bool:
    """A version-3 header ``flag 0 0.0 0.0 0.0 version``: the view, tilt and defocus fields are 0."""
    return row.notna().sum() >= 6 and all(row[i] == 0 for i in (1, 2, 3, 4))


def _imod(text: str, source: str) -> list[CtfSection]:
    """Rows ``startView endView startTilt endTilt defocus…`` (nm), laid out per the v3 header flag."""
    rows = numeric_rows(text, source, min_width=5)
    flag = 0
    if not rows.empty and _is_imod_header(rows.iloc[0]):
        flag = whole_number(rows.iloc[0, 0], "flag", source, int(rows.index[0]))
        rows = rows.iloc[1:]
    defocus2, azimuth, phase, width = _imod_columns(flag)
    sections = []
    for position, (line, row) in enumerate(rows.iterrows()):
        found = int(row.notna().sum())
        # A header-less file (the original layout) may carry its version number on the first row.
        allowed = {width, width + 1} if position == 0 and flag == 0 else {width}
        if found not in allowed:
            raise TextFormatError(f"{source}: line {line}: expected {width} columns for flag {flag}, found {found}")
        view = whole_number(row[0], "view", source, line)
        if view < 1:
            raise TextFormatError(f"{source}: line {line}: view {view} is not 1-based (pre-IMOD-4.1 file?)")
        angle = float(row[azimuth]) if azimuth is not None else 0.0
        if flag & _ASTIGMATISM_RADIANS:
            angle = math.degrees(angle)
        shift = float(row[phase]) if phase is not None else 0.0
        if phase is not None and not flag & _PHASE_SHIFT_RADIANS:
            shift = math.radians(shift)
        sections.append(
            CtfSection(
                section=view,
                major_defocus=float(row[4]) * _NM_TO_ANGSTROM,
                minor_defocus=float(row[defocus2]) * _NM_TO_ANGSTROM,
                astigmatic_angle=angle,
                phase_shift=shift,
                cross_correlation=0.0,
                max_resolution=0.0,
            )
        )
    return sections
