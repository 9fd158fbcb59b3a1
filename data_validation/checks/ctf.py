"""CTF fits beside a tilt series, ``{run}_{FMT}_ctf.txt`` (checks.md §10), read with the importer's parser.

CTF-PARSE owns the files' readability. The other checks read the file ``ctf_path`` names (or the
folder's only CTF file); a tilt series without one has nothing to check.
"""

from __future__ import annotations

import math
from typing import Any

from data_validation.checks.acquisition import (
    basename,
    is_number,
    parsed,
    rawtlt,
    sections,
    size_of,
    tiltseries_document,
)
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, not_applicable, skip
from importers import layout
from importers.formats.ctf import CTF_FORMATS, MISSING_FIELDS, CtfSection, parse_ctf

TS = EntityKind.TILTSERIES
CTF_SUFFIX = "_ctf.txt"
DEFOCUS_ORDER_TOLERANCE = 0.5
DEFOCUS_PLAUSIBLE = 200_000.0
AGREE_RTOL = 1e-6
PSP = "per_section_parameter"
#: per_section_parameter field -> CtfSection attribute.
PSP_FIELDS = {
    "major_defocus": "major_defocus",
    "minor_defocus": "minor_defocus",
    "astigmatic_angle": "astigmatic_angle",
    "phase_shift": "phase_shift",
    "cross_correlation": "cross_correlation",
    "max_resolution": "max_resolution",
}


def _ctf_keys(context: CheckContext, tiltseries: Entity) -> list[str]:
    return context.files_with_suffix(tiltseries, CTF_SUFFIX)


def _format(key: str) -> str:
    """FMT of ``{run}_{FMT}_ctf.txt``; a name outside the layout is unreadable (CTF-PARSE reports it)."""
    match = layout.parse(key)
    if match is None or match.template != "ctf":
        raise Unreadable(key, f"name is not {{run}}_{{FMT}}_ctf.txt with FMT in {', '.join(CTF_FORMATS)}")
    return match.fields["ctf_format"]


def _rows(context: CheckContext, key: str) -> list[CtfSection]:
    ctf_format = _format(key)
    return parsed(context, key, f"ctf-{ctf_format}", lambda text, source: parse_ctf(text, ctf_format, source))


def _ctf(context: CheckContext, tiltseries: Entity) -> tuple[str, list[CtfSection]]:
    """The tilt series' CTF file (the one ``ctf_path`` names, else the only one) and its rows."""
    keys = _ctf_keys(context, tiltseries)
    if not keys:
        not_applicable(f"no *{CTF_SUFFIX} in {tiltseries.path}")
    try:
        named = tiltseries_document(context, tiltseries).get("ctf_path")
    except Unreadable:
        named = None
    named = layout.strip_bucket_name(named) if isinstance(named, str) else None
    if named in keys:
        return named, _rows(context, named)
    if len(keys) > 1:
        skip(f"several CTF files {[basename(k) for k in keys]} and ctf_path names none (see TS-SIDECAR-PATHS)")
    return keys[0], _rows(context, keys[0])


@check(
    "CTF-PARSE",
    entity=TS,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="every {run}_{FMT}_ctf.txt parses per its FMT (CTFFIND, Gctf, IMOD; owns the files' readability)",
)
def ctf_parse(context: CheckContext, tiltseries: Entity) -> None:
    keys = _ctf_keys(context, tiltseries)
    if not keys:
        not_applicable(f"no *{CTF_SUFFIX} in {tiltseries.path}")
    for key in keys:
        _rows(context, key)


@check(
    "CTF-SECTIONS",
    entity=TS,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="CTF sections are unique and ≤ size.z; one row per rawtlt angle",
)
def ctf_sections(context: CheckContext, tiltseries: Entity) -> None:
    _, rows = _ctf(context, tiltseries)
    numbers = [row.section for row in rows]
    depth = size_of(tiltseries_document(context, tiltseries))["z"]
    problems = []
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        problems.append(f"sections repeated: {repeated[:5]}")
    beyond = [n for n in numbers if n > depth]
    if beyond:
        problems.append(f"sections beyond the {depth} tilt-series sections: {beyond[:5]}")
    try:
        lines = len(rawtlt(context, tiltseries))
    except Unreadable:
        lines = None
    if lines is not None and len(rows) != lines:
        problems.append(f"{len(rows)} rows for {lines} rawtlt angles")
    if problems:
        fail("; ".join(problems), observed=problems)


def _parameters(context: CheckContext, tiltseries: Entity) -> list[dict[str, Any]]:
    try:
        return sections(tiltseries_document(context, tiltseries), PSP)
    except Unreadable:
        return []


@check(
    "CTF-DEFOCUS-ORDER",
    entity=TS,
    tier=Tier.HEADER,
    title="major defocus ≥ minor defocus (−0.5 Å) in every CTF row and per-section parameter",
)
def ctf_defocus_order(context: CheckContext, tiltseries: Entity) -> None:
    _, rows = _ctf(context, tiltseries)
    problems = [
        f"section {row.section}: {row.major_defocus:g} < {row.minor_defocus:g}"
        for row in rows
        if row.major_defocus < row.minor_defocus - DEFOCUS_ORDER_TOLERANCE
    ]
    for parameter in _parameters(context, tiltseries):
        major, minor = parameter.get("major_defocus"), parameter.get("minor_defocus")
        if is_number(major) and is_number(minor) and major < minor - DEFOCUS_ORDER_TOLERANCE:
            problems.append(f"per-section z_index {parameter.get('z_index')}: {major:g} < {minor:g}")
    if problems:
        more = f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
        fail(f"{len(problems)} major defoci below the minor: {'; '.join(problems[:3])}{more}", observed=problems)


@check(
    "CTF-DEFOCUS-RANGE",
    entity=TS,
    tier=Tier.HEADER,
    title="CTF defocus values > 0 Å (above 200 000 Å: warning)",
)
def ctf_defocus_range(context: CheckContext, tiltseries: Entity) -> None:
    _, rows = _ctf(context, tiltseries)
    values = [(row.section, value) for row in rows for value in (row.major_defocus, row.minor_defocus)]
    negative = [f"section {section}: {value:g}" for section, value in values if not value > 0]
    large = [f"section {section}: {value:g}" for section, value in values if value > DEFOCUS_PLAUSIBLE]
    if negative:
        fail(f"{len(negative)} defocus values are not > 0 Å: {'; '.join(negative[:3])}", observed=negative)
    if large:
        fail(
            f"{len(large)} defocus values exceed {DEFOCUS_PLAUSIBLE:g} Å: {'; '.join(large[:3])}",
            observed=large,
            severity=Severity.WARNING,
        )


def _agrees(stored: Any, expected: float | None, missing: bool) -> bool:
    """``missing``: the format has no such column, so the row holds the portal's 0.0 and metadata.md's null is
    right too."""
    if stored is None:
        return expected is None or missing
    return (
        expected is not None and is_number(stored) and math.isclose(stored, expected, rel_tol=AGREE_RTOL, abs_tol=1e-9)
    )


@check(
    "CTF-PSP-AGREE",
    entity=TS,
    tier=Tier.HEADER,
    title="per-section CTF fields equal the CTF row with section − 1 == z_index (rel 1e-6; null without one; "
    "0.0 or null for a column the format lacks)",
)
def ctf_psp_agree(context: CheckContext, tiltseries: Entity) -> None:
    key, rows = _ctf(context, tiltseries)
    missing = MISSING_FIELDS[_format(key)]
    by_section = {row.section: row for row in rows}
    problems = []
    for parameter in sections(tiltseries_document(context, tiltseries), PSP):
        row = by_section.get(parameter.get("z_index", -1) + 1) if isinstance(parameter.get("z_index"), int) else None
        for field, attribute in PSP_FIELDS.items():
            expected = getattr(row, attribute) if row is not None else None
            if not _agrees(parameter.get(field), expected, attribute in missing):
                problems.append(f"z_index {parameter.get('z_index')}: {field} {parameter.get(field)!r} ≠ {expected!r}")
    if problems:
        more = f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
        fail(
            f"{len(problems)} per-section CTF values differ from the CTF file: {'; '.join(problems[:3])}{more}",
            observed=problems,
        )
