"""Which bucket each dataset of the embedded database was imported from.

The embedded default database is used without being named, so it must not be trusted for a bucket it was
not made from: a leftover file with the same dataset id would compare the wrong bucket. ``db-import``
records, beside the file (``cryoet.sqlite.imports.json``), the bucket URL of each dataset it imported;
the DB-* checks use the embedded database only for the datasets it records as imported from the bucket
being checked. A database given explicitly (``--db-url``, ``$CRYOET_DATABASE_URL``) is taken as given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SUFFIX = ".imports.json"


def record_path(database: Path) -> Path:
    """The record beside a SQLite file."""
    return database.with_name(database.name + SUFFIX)


def imports_of(database: Path) -> dict[str, str]:
    """Dataset id -> the bucket URL it was imported from; empty when there is no readable record."""
    try:
        recorded = json.loads(record_path(database).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {str(dataset): url for dataset, url in recorded.items() if isinstance(url, str)}


def record_import(database: Path, dataset_id: str, bucket_url: str) -> None:
    """Note that ``dataset_id`` was imported from ``bucket_url`` (replacing an earlier bucket), atomically."""
    recorded = imports_of(database) | {dataset_id: bucket_url}
    path = record_path(database)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def datasets_imported_from(database: Path, bucket_url: str) -> frozenset[str]:
    """The datasets the database records as imported from ``bucket_url``."""
    return frozenset(dataset for dataset, url in imports_of(database).items() if url == bucket_url)
