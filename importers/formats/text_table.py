"""Whitespace-separated numeric rows of the acquisition text files, each with the line it came from.

The acquisition sidecars (rawtlt, tlt, xf, aln, CTF fits) are small tables of numbers. They are read
with pandas, but rows keep their 1-based line numbers so that a bad value is reported where a person
can find it in the file.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas costs 0.4 s to import: when a table is read, not at start-up
    import pandas as pd


class TextFormatError(ValueError):
    """An acquisition text file that cannot be interpreted; the message names the file and the line."""


def decode_text(data: bytes) -> str:
    """Text of a sidecar file; SerialEM and older tools write Latin-1 (e.g. ``Å``) as often as UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _expected(widths: Collection[int] | None, min_width: int) -> str:
    if widths is not None:
        return " or ".join(str(w) for w in sorted(widths))
    return f"at least {min_width}"


def numeric_rows(
    text: str,
    source: str,
    *,
    widths: Collection[int] | None = None,
    min_width: int = 1,
    comments: tuple[str, ...] = ("#",),
) -> pd.DataFrame:
    """Every data line of ``text`` as a row of floats, indexed by its 1-based line number (``line``).

    Blank lines and lines starting with one of ``comments`` are skipped. A row must have one of
    ``widths`` fields (or at least ``min_width``); shorter rows are padded with NaN. Raises
    :class:`TextFormatError` for a wrong field count or a field that is not a number.
    """
    numbers: list[int] = []
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (comments and stripped.startswith(comments)):
            continue
        parts = stripped.split()
        if (widths is not None and len(parts) not in widths) or len(parts) < min_width:
            raise TextFormatError(
                f"{source}: line {number}: expected {_expected(widths, min_width)} columns, found {len(parts)}"
            )
        numbers.append(number)
        rows.append([_number(part, source, number) for part in parts])
    import pandas as pd

    width = max((len(row) for row in rows), default=0)
    padded = np.full((len(rows), width), np.nan)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row
    return pd.DataFrame(padded, index=pd.Index(numbers, name="line"), columns=range(width))


def _number(text: str, source: str, line: int) -> float:
    # float() also takes "1_000", which no acquisition program writes and pandas would refuse.
    try:
        if "_" not in text:
            return float(text)
    except ValueError:
        pass
    raise TextFormatError(f"{source}: line {line}: {text!r} is not a number")


def whole_number(value: float, what: str, source: str, line: int) -> int:
    """``value`` as an int; raises if it has a fractional part (a section or view number)."""
    number = float(value)
    if not number.is_integer():
        raise TextFormatError(f"{source}: line {line}: {what} {number!r} is not a whole number")
    return int(number)
