"""Checks every metadata document of a dataset must pass (checks.md §1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, fail_summary
from data_validation.snapshot import DEPOSITIONS_PREFIX, is_metadata_json
from importers import layout
from importers.metadata.rules import author_roles, date_order

#: Keys whose values are bucket paths (layout.md §5), with the ones holding lists or mappings of paths.
PATH_KEYS = {
    "mrc_file",
    "omezarr_dir",
    "alignment_metadata_path",
    "neuroglancer_config_path",
    "tiltseries_path",
    "alignment_path",
    "tilt_path",
    "tiltx_path",
    "raw_tlt_path",
    "ctf_path",
    "frames_acquisition_file",
}
PATH_CONTAINERS = {"key_photo", "key_photos", "files", "frames"}
AUTHORED_KINDS = ("deposition", "dataset", "tomogram", "annotation")
ENTITY_DIRS = ("TiltSeries", "Alignments", "Tomograms", "Annotations", "Images")


def _paths(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(key path, value)`` of every path a metadata document references."""
    for key, value in document.items():
        if key in PATH_KEYS and isinstance(value, str):
            yield key, value
        elif key in PATH_CONTAINERS:
            items = value.items() if isinstance(value, dict) else enumerate(value if isinstance(value, list) else [])
            for index, item in items:
                if isinstance(item, str):
                    yield f"{key}.{index}", item
                elif isinstance(item, dict) and isinstance(item.get("path"), str):
                    yield f"{key}[{index}].path", item["path"]


@check(
    "GEN-JSON-PARSE",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="every metadata JSON of the dataset parses as a JSON object",
)
def json_documents_parse(context: CheckContext, dataset: Entity) -> None:
    broken = []
    for key in sorted(context.reader.keys_under(dataset.path)):
        # identified_objects.json is a JSON array by design (formats.md §5), IDO-FILES' to read.
        if is_metadata_json(key) and getattr(layout.parse(key), "template", None) != "identified_objects":
            try:
                context.reader.json(key)
            except Unreadable as unreadable:
                broken.append(f"{key} ({unreadable.reason})")
    fail_summary(broken, "unreadable metadata documents")


@check(
    "GEN-JSON-SCHEMA",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="every metadata JSON validates against its schema (schema/metadata); unknown keys warn",
)
def json_documents_schema(context: CheckContext, dataset: Entity) -> None:
    # Building the models costs half a second: not at start-up, only when this check runs.
    from pydantic import ValidationError

    from importers.metadata.models import METADATA_MODELS

    errors, unknown = [], []
    for key, kind, document in context.metadata_documents(dataset.path):
        model = METADATA_MODELS[kind]
        try:
            model.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            errors.append(f"{key}: {where}: {first['msg']} ({error.error_count()} errors)")
        extra = sorted(set(document) - set(model.model_fields))
        if extra:
            unknown.append(f"{key}: {', '.join(extra)}")
    fail_summary(errors, "documents violate their schema")
    if unknown:
        fail(f"unknown keys: {'; '.join(unknown[:5])}", observed=unknown, severity=Severity.WARNING)


@check(
    "GEN-DEFAULTS",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="deposition_id is an int > 0 and last_updated_at an int in every metadata JSON",
)
def json_documents_defaults(context: CheckContext, dataset: Entity) -> None:
    problems = []
    for key, kind, document in context.metadata_documents(dataset.path):
        deposition = document.get("deposition_id")
        if not (isinstance(deposition, int) and not isinstance(deposition, bool) and deposition > 0):
            problems.append(f"{key}: deposition_id {deposition!r}")
        updated = document.get("last_updated_at")
        if (kind != "run" or "last_updated_at" in document) and not (
            isinstance(updated, int) and not isinstance(updated, bool)
        ):
            problems.append(f"{key}: last_updated_at {updated!r}")
    fail_summary(problems, "documents lack their defaults")


@check(
    "GEN-PATH-RELATIVE",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="every path in metadata is bucket-relative; a bucket-name prefix warns",
)
def paths_are_relative(context: CheckContext, dataset: Entity) -> None:
    errors, legacy = [], []
    for key, _, document in context.metadata_documents(dataset.path):
        for field, value in _paths(document):
            if value.startswith(("s3://", "/", "http://", "https://")) or ".." in value.split("/"):
                errors.append(f"{key}: {field} = {value!r}")
            elif layout.strip_bucket_name(value) != value:
                legacy.append(f"{key}: {field} = {value!r}")
    fail_summary(errors, "paths are not bucket-relative")
    if legacy:
        fail(f"{len(legacy)} paths start with a bucket name: {'; '.join(legacy[:3])}", severity=Severity.WARNING)


@check(
    "GEN-PATH-EXISTS",
    entity=EntityKind.DATASET,
    tier=Tier.HEAD,
    title="every path referenced in metadata resolves to an object (a zarr store: its .zattrs)",
)
def referenced_paths_exist(context: CheckContext, dataset: Entity) -> None:
    missing = []
    for key, _, document in context.metadata_documents(dataset.path):
        for field, value in _paths(document):
            path = layout.strip_bucket_name(value).rstrip("/")
            target = f"{path}/.zattrs" if path.endswith(".zarr") else path
            if not context.reader.exists(target):
                missing.append(f"{key}: {field} -> {value}")
    fail_summary(missing, "referenced paths do not exist")


@check(
    "GEN-DEPOSITION-REF",
    entity=EntityKind.DATASET,
    tier=Tier.HEAD,
    title="every referenced deposition_id has its deposition_metadata.json",
)
def referenced_depositions_exist(context: CheckContext, dataset: Entity) -> None:
    missing = {}
    for key, _, document in context.metadata_documents(dataset.path):
        deposition = document.get("deposition_id")
        target = f"{DEPOSITIONS_PREFIX}/{deposition}/{layout.DEPOSITION_METADATA}"
        if isinstance(deposition, int) and not context.reader.exists(target):
            missing.setdefault(deposition, key)
    fail_summary([f"{d} (referenced by {key})" for d, key in missing.items()], "depositions have no metadata")


def _authored(context: CheckContext, entity: Entity) -> Iterator[tuple[str, dict[str, Any]]]:
    prefix = entity.path
    for key, kind, document in context.metadata_documents(prefix):
        if kind in AUTHORED_KINDS:
            yield key, document


@check(
    "GEN-AUTHORS",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="authors: non-empty list with names, >= 1 primary and >= 1 corresponding author",
)
def authors_rule(context: CheckContext, dataset: Entity) -> None:
    problems = []
    for key, document in _authored(context, dataset):
        authors = document.get("authors")
        if not isinstance(authors, list) or not authors:
            problems.append(f"{key}: authors missing or empty")
            continue
        if not all(isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"] for a in authors):
            problems.append(f"{key}: an author has no name")
        problems += [f"{key}: {finding.message}" for finding in author_roles(document) if finding.severity == "error"]
    fail_summary(problems, "author lists break the rule")


DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@check(
    "GEN-DATES",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="dates are YYYY-MM-DD and deposition <= release; last_modified < deposition warns",
)
def dates_rule(context: CheckContext, dataset: Entity) -> None:
    errors, warnings = [], []
    for key, document in _authored(context, dataset):
        dates = document.get("dates")
        if not isinstance(dates, dict):
            errors.append(f"{key}: dates missing")
            continue
        for name in ("deposition_date", "release_date", "last_modified_date"):
            if not (isinstance(dates.get(name), str) and DATE.match(dates[name])):
                errors.append(f"{key}: {name} = {dates.get(name)!r}")
        for finding in date_order(document):
            (errors if finding.severity == "error" else warnings).append(f"{key}: {finding.message}")
    fail_summary(errors, "date problems")
    if warnings:
        fail("; ".join(warnings[:5]), observed=warnings, severity=Severity.WARNING)


@check(
    "GEN-ID-DIR",
    entity=EntityKind.DATASET,
    tier=Tier.LIST,
    title="numeric entity dirs (TiltSeries/, Alignments/, Tomograms/, Annotations/, Images/) are integers >= 100",
)
def entity_ids_are_valid(context: CheckContext, dataset: Entity) -> None:
    bad = set()
    for key in context.reader.keys_under(dataset.path):
        parts = key.split("/")
        for index, part in enumerate(parts[:-1]):
            if part not in ENTITY_DIRS or index + 1 >= len(parts) - 1:
                continue
            if part == "Images" and (index < 2 or not parts[index - 1].startswith("VoxelSpacing")):
                continue  # dataset/deposition Images/ hold files, not id dirs
            name = parts[index + 1]
            if not name.isdigit() or int(name) < layout.MIN_ENTITY_ID:
                bad.add("/".join(parts[: index + 2]))
    fail_summary(sorted(bad), "entity dirs are not integers >= 100")


@check(
    "GEN-ORPHAN",
    entity=EntityKind.DATASET,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="every key under the dataset follows a layout template (no stray files)",
)
def keys_follow_the_layout(context: CheckContext, dataset: Entity) -> None:
    strays = sorted(key for key in context.reader.keys_under(dataset.path) if layout.parse(key) is None)
    fail_summary(strays, "keys match no layout template")
