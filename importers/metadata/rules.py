"""Content rules of one metadata document beyond its model (config.md §6): author roles, date order, sample type.

Each rule takes a document (a config's metadata block or a metadata JSON file) and yields ``Finding``s whose path
is inside that document; the config rules run them on every block of a config, and the validation checks on the
files of a bucket. A rule skips values of the wrong type or templated values (the schema reports those), so every
rule tolerates malformed input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, Literal, NamedTuple

#: Where a value is in a document: its keys and list indexes from the top.
KeyPath = tuple[str | int, ...]
Severity = Literal["error", "warning"]


class Finding(NamedTuple):
    path: KeyPath
    message: str
    code: str
    severity: Severity = "error"


def _orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 MOD 11-2 check digit of an ORCID (its last character)."""
    total = 0
    for digit in orcid.replace("-", "")[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    return orcid[-1] == ("X" if check == 10 else str(check))


def author_roles(document: Mapping[str, Any]) -> Iterator[Finding]:
    """At least one primary and one corresponding author; an ORCID's check digit (a warning)."""
    authors = document.get("authors")
    if not isinstance(authors, list) or not authors:
        return
    people = [author for author in authors if isinstance(author, dict)]
    for role in ("primary_author_status", "corresponding_author_status"):
        if not any(author.get(role) is True for author in people):
            yield Finding(("authors",), f"at least one author needs {role}: true", "author-roles")
    for index, author in enumerate(authors):
        orcid = author.get("ORCID") if isinstance(author, dict) else None
        if (
            isinstance(orcid, str)
            and re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", orcid)
            and not _orcid_checksum_ok(orcid)
        ):
            yield Finding(
                ("authors", index, "ORCID"),
                f"ORCID {orcid} has a wrong check digit (typo?)",
                "orcid-checksum",
                "warning",
            )


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def date_order(document: Mapping[str, Any]) -> Iterator[Finding]:
    """Released and last modified no earlier than deposited (the latter a warning)."""
    dates = document.get("dates")
    if not isinstance(dates, dict):
        return
    deposited = _date(dates.get("deposition_date"))
    released = _date(dates.get("release_date"))
    modified = _date(dates.get("last_modified_date"))
    if deposited and released and released < deposited:
        yield Finding(
            ("dates", "release_date"),
            f"release_date {released} is before deposition_date {deposited}",
            "date-order",
        )
    if deposited and modified and modified < deposited:
        yield Finding(
            ("dates", "last_modified_date"),
            f"last_modified_date {modified} is before deposition_date {deposited}",
            "date-order",
            "warning",
        )


# sample_type -> the ontology object it implies (config.md §6.7).
SAMPLE_TYPE_NEEDS = {
    "organism": "tissue",
    "tissue": "tissue",
    "organoid": "tissue",
    "cell_line": "cell_strain",
    "primary_cell_culture": "cell_type",
    "organelle": "cell_component",
    "virus": "cell_component",
}


def sample_type(document: Mapping[str, Any]) -> Iterator[Finding]:
    """A dataset's sample type has the ontology object it implies; a development stage is ``unknown`` in full."""
    kind = document.get("sample_type")
    needed = SAMPLE_TYPE_NEEDS.get(kind) if isinstance(kind, str) else None
    if needed:
        value = document.get(needed)
        keys = ("id", "name") if needed == "tissue" else ("name",)
        missing = [k for k in keys if not (isinstance(value, dict) and value.get(k))]
        if missing:
            yield Finding(
                (needed,) if isinstance(value, dict) else ("sample_type",),
                f"sample_type {kind} needs {needed} with {' and '.join(missing)}",
                "sample-type",
            )
    stage = document.get("development_stage")
    if isinstance(stage, dict) and (stage.get("name") == "unknown") != (stage.get("id") == "unknown"):
        yield Finding(
            ("development_stage",),
            "development_stage name and id must both be 'unknown' or neither",
            "sample-type",
        )
