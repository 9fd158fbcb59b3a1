"""Identified objects (checks.md §18): a run's ``IdentifiedObjects/identified_objects.json`` (a JSON array,
formats.md §5) and its ``identified_objects_metadata.json`` (metadata.md §9). IDO-FILES owns both."""

from __future__ import annotations

import re
from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, not_applicable
from importers import layout
from importers.metadata.patterns import PATTERNS

OBJECT_ID = re.compile(PATTERNS["annotation_object_id"][0])


def _keys(run: Entity) -> tuple[str, str]:
    fields = {"dataset_id": run["dataset_id"], "run_name": run["run_name"]}
    return layout.build("identified_objects", **fields), layout.build("identified_objects_metadata", **fields)


def records(context: CheckContext, key: str) -> list[Any]:
    """The parsed JSON array of identified objects; anything else is :class:`Unreadable`."""
    document = context.reader.json_value(key)
    if not isinstance(document, list):
        raise Unreadable(key, f"JSON is a {type(document).__name__}, not an array")
    return document


@check(
    "IDO-FILES",
    entity=EntityKind.RUN,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="identified_objects.json and its metadata come together; a JSON array of object_count records "
    "with the metadata's columns",
)
def identified_object_files(context: CheckContext, run: Entity) -> None:
    data_key, metadata_key = _keys(run)
    has_data, has_metadata = context.reader.exists(data_key), context.reader.exists(metadata_key)
    if not has_data and not has_metadata:
        not_applicable("no IdentifiedObjects/ files")
    if has_data != has_metadata:
        present, absent = (data_key, metadata_key) if has_data else (metadata_key, data_key)
        fail(f"{present} exists but {absent} does not")
    items = records(context, data_key)
    metadata = context.metadata(metadata_key)
    count = metadata.get("object_count")
    if count != len(items):
        fail(f"object_count is {count!r}, {data_key} holds {len(items)} records", observed=count, expected=len(items))
    columns = metadata.get("columns")
    for index, item in enumerate(items):
        keys = list(item) if isinstance(item, dict) else None
        if keys != columns:
            fail(
                f"record {index + 1} has keys {keys}, metadata columns are {columns}",
                observed=keys,
                expected=columns,
            )


@check(
    "IDO-IDS",
    entity=EntityKind.RUN,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="each object_id is an annotation-object id (GO:, UniProtKB:, …) and object_name is non-empty",
)
def identified_object_ids(context: CheckContext, run: Entity) -> None:
    data_key, _ = _keys(run)
    if not context.reader.exists(data_key):
        not_applicable("no identified_objects.json")
    problems = []
    for index, item in enumerate(records(context, data_key)):
        item = item if isinstance(item, dict) else {}
        object_id, name = item.get("object_id"), item.get("object_name")
        if not isinstance(object_id, str) or not OBJECT_ID.match(object_id):
            problems.append(f"record {index + 1}: object_id {object_id!r}")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"record {index + 1}: object_name {name!r}")
    if problems:
        shown = "; ".join(problems[:5])
        fail(f"{len(problems)} problems in {data_key} (ids must match {OBJECT_ID.pattern}): {shown}", observed=problems)
