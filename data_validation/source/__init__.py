"""Pre-ingest source checks (checks.md §20): a lab's upload, found through an ingestion config's finders.

``pytest --ingestion-config CONFIG --input-bucket URL`` runs the same suite as ``pytest --dataset``, on other
entities: the config, its runs and their source volumes and annotation files (the ``source_*`` entity kinds).
The ingestion app plans them (its pytest plugin ``importers/ingest/preflight.py`` walks the config with the
importer's own finders in the controlling process) and fills ``snapshot``'s plain-data types; ``session`` is how
it hands them to the suite, ``checks`` registers the ``SRC-*`` checks and ``validate`` runs them outside pytest.
"""

from __future__ import annotations

from data_validation.registry import REGISTRY, EntityKind

SOURCE_KINDS = frozenset(
    {
        EntityKind.SOURCE_CONFIG,
        EntityKind.SOURCE_RUN,
        EntityKind.SOURCE_TILTSERIES,
        EntityKind.SOURCE_TOMOGRAM,
        EntityKind.SOURCE_ANNOTATION,
    }
)


def is_source_check(code: str) -> bool:
    """A check of a lab's upload (``SRC-*``), which never runs on a standardized bucket."""
    registered = REGISTRY.get(code)
    return registered is not None and registered.entity in SOURCE_KINDS
