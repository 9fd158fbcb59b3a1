"""Source checks outside pytest's verdicts, as data: what ``pytest --ingestion-config`` runs."""

from __future__ import annotations

from pathlib import Path

from data_validation.checks import CheckContext
from data_validation.engine import Engine, Result, cases, discovery_results
from data_validation.reader import ObjectReader
from data_validation.source.discovery import discover_sources
from importers.entities.context import IngestOptions
from importers.storage import Bucket


def validate_sources(
    bucket: Bucket, config_path: str | Path, *, options: IngestOptions | None = None, output: Bucket | None = None
) -> list[Result]:
    """Discover the config's sources in ``bucket`` and run every SRC-* check on them."""
    snapshot = discover_sources(bucket, config_path, options=options, output=output)
    with Engine(CheckContext(ObjectReader(snapshot, bucket)), cases(snapshot)) as engine:
        return discovery_results(snapshot) + list(engine)
