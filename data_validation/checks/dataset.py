"""Dataset checks (checks.md §3)."""

from __future__ import annotations

import re
from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.checks.images import check_key_photos
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Severity, Tier, check, fail
from importers import layout
from importers.enums import SampleType, values
from importers.metadata.computed import ONTOLOGY_KEYS
from importers.metadata.rules import sample_type as sample_type_rule

#: Id patterns of the dataset's ontology objects (metadata.md §3); placeholders are always allowed.
ONTOLOGY_ID_PATTERNS = {
    "tissue": r"(BTO|CL|UBERON|WBbt|ZFA):\d{7}|FBbt:\d{8}",
    "cell_type": r"(CL|WBbt|ZFA|UBERON):\d{7}|FBbt:\d{8}",
    "cell_strain": r"NCBITaxon:\d+|CVCL_[A-Z0-9]{4,}|WBStrain\d{8}|CC-\d{4}",
    "cell_component": r"GO:\d{7}",
    "assay": r"EFO:\d{7}",
    "development_stage": r"unknown|(UBERON|HsapDv|MmusDv|WBls|ZFS):\d{7}|FBdv:\d{8}",
    "disease": r"(MONDO|PATO):\d{7}",
}
PLACEHOLDERS = {"not_reported", "unknown"}


def _metadata(context: CheckContext, dataset: Entity) -> dict[str, Any]:
    return context.metadata(dataset.key(layout.DATASET_METADATA))


@check("DS-METADATA-EXISTS", entity=EntityKind.DATASET, tier=Tier.LIST, title="dataset_metadata.json exists")
def dataset_metadata_exists(context: CheckContext, dataset: Entity) -> None:
    if not context.reader.exists(dataset.key(layout.DATASET_METADATA)):
        fail(f"{dataset.key(layout.DATASET_METADATA)} is missing")


@check(
    "DS-FIELDS",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="dataset_title, dataset_description and dataset_identifier are set",
)
def dataset_fields(context: CheckContext, dataset: Entity) -> None:
    document = _metadata(context, dataset)
    empty = [key for key in ("dataset_title", "dataset_description", "dataset_identifier") if not document.get(key)]
    if empty:
        fail(f"empty or missing: {', '.join(empty)}", observed=empty)


@check("DS-ID-MATCH", entity=EntityKind.DATASET, tier=Tier.HEADER, title="dataset_identifier equals the folder name")
def dataset_id_match(context: CheckContext, dataset: Entity) -> None:
    observed = _metadata(context, dataset).get("dataset_identifier")
    if str(observed) != dataset["dataset_id"]:
        fail(
            f"dataset_identifier is {observed!r}, folder is {dataset['dataset_id']}",
            observed=observed,
            expected=int(dataset["dataset_id"]),
        )


@check(
    "DS-SAMPLE-TYPE",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="sample_type is known, its implied ontology object is set, ontology ids follow their patterns",
)
def dataset_sample_type(context: CheckContext, dataset: Entity) -> None:
    document = _metadata(context, dataset)
    kind = document.get("sample_type")
    if kind not in values(SampleType):
        fail(f"sample_type {kind!r} is not one of {sorted(values(SampleType))}", observed=kind)
    problems = [finding.message for finding in sample_type_rule(document)]
    for key, pattern in ONTOLOGY_ID_PATTERNS.items():
        value = document.get(key)
        identifier = value.get("id") if isinstance(value, dict) else None
        if identifier is not None and identifier not in PLACEHOLDERS and not re.fullmatch(pattern, str(identifier)):
            problems.append(f"{key}.id {identifier!r} does not match {pattern}")
    for key in ONTOLOGY_KEYS:
        if key in document and not isinstance(document[key], dict):
            problems.append(f"{key} is not an object")
    if problems:
        fail("; ".join(problems), observed=problems)


@check(
    "DS-KEYPHOTO",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="key_photos.snapshot / thumbnail exist and are images (under 50×50 px: warning)",
)
def dataset_key_photos(context: CheckContext, dataset: Entity) -> None:
    check_key_photos(
        context, _metadata(context, dataset).get("key_photos"), {"snapshot": (50, 50), "thumbnail": (50, 50)}
    )


@check(
    "DS-HAS-RUNS",
    entity=EntityKind.DATASET,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="the dataset has at least one run with run_metadata.json",
)
def dataset_has_runs(context: CheckContext, dataset: Entity) -> None:
    runs = [
        name
        for name in context.reader.children(dataset.path)
        if context.reader.exists(dataset.key(f"{name}/{layout.RUN_METADATA}"))
    ]
    if not runs:
        fail("no run folder with run_metadata.json")
