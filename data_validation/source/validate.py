"""Source checks outside pytest's verdicts, as data: what ``pytest --ingestion-config`` runs."""

from __future__ import annotations

from data_validation.checks import CheckContext
from data_validation.engine import Engine, Result, cases, discovery_results
from data_validation.reader import ObjectReader
from data_validation.source.snapshot import SourceSnapshot, prefetch_sources
from importers.storage import Bucket


def validate_sources(bucket: Bucket, snapshot: SourceSnapshot) -> list[Result]:
    """Prefetch what the checks read of the sources planned in ``snapshot`` (found in the input ``bucket``) and
    run every SRC-* check on them."""
    prefetch_sources(bucket, snapshot)
    with Engine(CheckContext(ObjectReader(snapshot, bucket)), cases(snapshot)) as engine:
        return discovery_results(snapshot) + list(engine)
