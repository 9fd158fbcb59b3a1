"""Tilt-angle lists: ``.rawtlt`` (raw angles), ``.tlt`` (aligned, IMOD), ``.xtilt``/``.tltx`` (x-axis tilt).

One angle in degrees per line, in tilt-series section order: line *i* (blank lines aside) is ``z_index`` *i*
(formats.md §4).
"""

from __future__ import annotations

from importers.formats.text_table import TextFormatError, numeric_rows


def parse_tilt_angles(text: str, source: str) -> list[float]:
    """The angles of a tilt-angle file; raises :class:`TextFormatError` for an empty or malformed file."""
    rows = numeric_rows(text, source, widths={1}, comments=())
    if rows.empty:
        raise TextFormatError(f"{source}: no tilt angles")
    return [float(angle) for angle in rows[0]]
