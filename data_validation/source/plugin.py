"""The options of ``pytest --ingestion-config CONFIG --input-bucket URL`` and what the session does with them.

``data_validation/plugin.py`` adds these options to its own group and, when ``--ingestion-config`` is given,
opens the input bucket instead of ``--bucket`` and discovers with :meth:`SourceRequest.discover` instead of
listing datasets; everything else (snapshot hand-off to xdist workers, parametrization, verdicts, waivers,
I/O accounting) is the bucket suite's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from data_validation.source import checks  # noqa: F401  (registers the SRC-* checks)
from data_validation.source.discovery import SourceSnapshot, discover_sources
from importers.entities.context import IngestOptions
from importers.patterns import PatternError, compile_pattern
from importers.standardize import NAME_FILTERED
from importers.storage import Bucket


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--ingestion-config",
        dest="cryoet_ingestion_config",
        default=None,
        metavar="FILE",
        help="check a lab's upload before ingestion: the source files this config's finders find (SRC-* checks)",
    )
    group.addoption(
        "--input-bucket",
        dest="cryoet_input_bucket",
        default=None,
        metavar="URL",
        help="input bucket of --ingestion-config: s3://bucket[/prefix], file://… or a path",
    )
    group.addoption(
        "--output-bucket",
        dest="cryoet_output_bucket",
        default=None,
        metavar="URL",
        help="existing output that destination_* finders of --ingestion-config search (default: those are not run)",
    )
    for kind in NAME_FILTERED:
        flag = kind.replace("_", "-")
        for verb, what in (("filter", "only"), ("exclude", "skip")):
            group.addoption(
                f"--{verb}-{flag}-name",
                dest=f"cryoet_{verb}_{kind}",
                action="append",
                default=[],
                metavar="REGEX",
                help=f"with --ingestion-config: {what} {kind.replace('_', ' ')}s whose name matches (searched; "
                "repeatable), as `cryoet-ingest standardize` does",
            )


@dataclass(frozen=True)
class SourceRequest:
    """A source session: the config, where its sources are, and the importer's options."""

    config_path: Path
    input_bucket: str
    output_bucket: str | None
    endpoint_url: str | None
    options: IngestOptions

    def discover(self, bucket: Bucket) -> SourceSnapshot:
        output = None
        if self.output_bucket:
            output = Bucket(self.output_bucket, endpoint_url=self.endpoint_url, read_only=True)
        return discover_sources(bucket, self.config_path, options=self.options, output=output)


def _patterns(config: pytest.Config, verb: str) -> dict[str, list[str]]:
    return {kind: patterns for kind in NAME_FILTERED if (patterns := config.getoption(f"cryoet_{verb}_{kind}"))}


def request(config: pytest.Config) -> SourceRequest | None:
    """The source session the options ask for; None without ``--ingestion-config``. A usage error for
    options that do not go together, a missing config file or a bad name filter."""
    path = config.getoption("cryoet_ingestion_config")
    filters, excludes = _patterns(config, "filter"), _patterns(config, "exclude")
    if path is None:
        if filters or excludes or config.getoption("cryoet_input_bucket"):
            raise pytest.UsageError("--input-bucket and --filter/--exclude-<kind>-name need --ingestion-config")
        return None
    if config.getoption("cryoet_datasets"):
        raise pytest.UsageError(
            "--ingestion-config checks a lab's upload, --dataset a standardized bucket: give one of them"
        )
    if not config.getoption("cryoet_input_bucket"):
        raise pytest.UsageError("--ingestion-config needs --input-bucket URL (where the lab's files are)")
    if not Path(path).is_file():
        raise pytest.UsageError(f"--ingestion-config {path}: no such file")
    for pattern in [p for patterns in (*filters.values(), *excludes.values()) for p in patterns]:
        try:
            compile_pattern(pattern)
        except PatternError as error:
            raise pytest.UsageError(f"bad name filter {error}") from None
    output = config.getoption("cryoet_output_bucket")
    endpoint = config.getoption("cryoet_endpoint_url")
    if output:
        try:
            Bucket(output, endpoint_url=endpoint, read_only=True)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    options = IngestOptions(dry_run=True, name_filters=filters, name_excludes=excludes)
    return SourceRequest(Path(path), config.getoption("cryoet_input_bucket"), output, endpoint, options)
