"""Source checks outside pytest's verdicts, as data: what ``pytest --ingestion-config`` runs."""

from __future__ import annotations

from pathlib import Path

from data_validation.checks import CheckContext
from data_validation.engine import Result, cases, discovery_results, evaluate
from data_validation.reader import ObjectReader
from data_validation.source.discovery import discover_sources
from importers.ingest.entities.context import IngestOptions
from importers.storage import Bucket


def validate_sources(
    bucket: Bucket, config_path: str | Path, *, options: IngestOptions | None = None, output: Bucket | None = None
) -> list[Result]:
    """Discover the config's sources in ``bucket`` and run every SRC-* check on them."""
    snapshot = discover_sources(bucket, config_path, options=options, output=output)
    context = CheckContext(ObjectReader(snapshot, bucket))
    return discovery_results(snapshot) + [evaluate(check, context, entity) for check, entity in cases(snapshot)]
