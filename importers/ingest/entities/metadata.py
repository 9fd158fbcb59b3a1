"""Metadata documents: config block ⊕ computed keys, and the write-once policy (metadata.md)."""

from __future__ import annotations

import copy
import json
from typing import Any

from importers.ingest.entities.context import Ingestion

JSON_CONTENT_TYPE = "application/json"
#: Keys that change on every run and so do not make a document different.
VOLATILE_KEYS = ("last_updated_at",)


class OverwriteRefused(Exception):
    """An existing output differs from what would be written and ``--force-overwrite`` was not given."""


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` wins; nested mappings merge recursively; ``base`` key order is kept."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def compose(ingestion: Ingestion, config_metadata: dict[str, Any], computed: dict[str, Any]) -> dict[str, Any]:
    """Config metadata deep-merged with computed keys, then ``deposition_id`` and ``last_updated_at``."""
    document = deep_merge(config_metadata, computed)
    document.setdefault("deposition_id", ingestion.deposition_id)
    document["last_updated_at"] = ingestion.now
    return document


def dumps(document: dict[str, Any]) -> bytes:
    """Portal style: 4-space indent, key order as composed."""
    return json.dumps(document, indent=4).encode()


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in VOLATILE_KEYS}


def existing_document(ingestion: Ingestion, key: str) -> dict[str, Any] | None:
    """The metadata already at ``key``, or None; JSON that does not parse counts as absent (a broken
    write). A read that fails raises: taking the document for absent would overwrite it unasked."""
    if not ingestion.output.exists(key):
        return None
    try:
        document = json.loads(ingestion.output.read(key))
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def is_current(ingestion: Ingestion, key: str, document: dict[str, Any]) -> bool:
    """True if ``key`` already holds ``document`` (timestamps aside); raises if it holds another
    document and overwriting was not asked for."""
    existing = existing_document(ingestion, key)
    if existing is None:
        return False
    if _comparable(existing) == _comparable(json.loads(dumps(document))):
        return True
    if not ingestion.options.force_overwrite:
        raise OverwriteRefused(f"{ingestion.output.url_of(key)} exists with other content (use --force-overwrite)")
    return False


def write_document(ingestion: Ingestion, key: str, document: dict[str, Any], what: str) -> None:
    """Write a metadata JSON unless an identical one is there; report the outcome."""
    if ingestion.options.dry_run:
        ingestion.report.planned(what, key)
        return
    if is_current(ingestion, key, document):
        ingestion.report.skipped(what, "unchanged")
        return
    ingestion.output.write(key, dumps(document), content_type=JSON_CONTENT_TYPE)
    ingestion.report.written(what, key)
