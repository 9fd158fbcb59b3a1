"""``pytest --ingestion-config CONFIG --input-bucket URL``: check a lab's upload before ingesting it (SRC-* checks).

The ingestion app's pytest plugin (entry point ``cryoet_ingest_sources``, beside the suite's): it adds these options
to the suite's option group and, when ``--ingestion-config`` is given, offers the validation suite a source session
(:mod:`data_validation.source.session`) whose source entities the app plans (:func:`importers.ingest.sources.
plan_sources`). The suite does the rest as for a bucket.

pytest imports this module at every start-up: only pytest is imported here, the app and the suite when the
options ask for them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from data_validation.source.session import SourceSession
    from data_validation.source.snapshot import SourceSnapshot
    from importers.storage import Bucket


@pytest.hookimpl(trylast=True)  # the suite's plugin creates the option group first
def pytest_addoption(parser: pytest.Parser) -> None:
    from importers.ingest.entities.tree import NAME_FILTERED  # standard library only: cheap at start-up

    group = parser.getgroup("cryoet")
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


@pytest.hookimpl(tryfirst=True)  # the suite's pytest_configure looks for the offered session
def pytest_configure(config: pytest.Config) -> None:
    session = _session(config)
    if session is not None:
        from data_validation.source.session import offer

        offer(config, session)


def _patterns(config: pytest.Config, verb: str) -> dict[str, list[str]]:
    from importers.ingest.entities.tree import NAME_FILTERED

    return {kind: patterns for kind in NAME_FILTERED if (patterns := config.getoption(f"cryoet_{verb}_{kind}"))}


def _session(config: pytest.Config) -> SourceSession | None:
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
    from importers.patterns import PatternError, compile_pattern

    for pattern in [p for patterns in (*filters.values(), *excludes.values()) for p in patterns]:
        try:
            compile_pattern(pattern)
        except PatternError as error:
            raise pytest.UsageError(f"bad name filter {error}") from None
    if config.getoption("cryoet_output_bucket"):
        try:
            _output_bucket(config)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    from data_validation.source.session import SourceSession

    return SourceSession(config.getoption("cryoet_input_bucket"), functools.partial(_plan, config))


def _plan(config: pytest.Config, bucket: Bucket) -> SourceSnapshot:
    """The app's plan of the config's sources in the input ``bucket``, with the session's options."""
    from importers.ingest.entities.context import IngestOptions
    from importers.ingest.sources import plan_sources

    options = IngestOptions(
        dry_run=True, name_filters=_patterns(config, "filter"), name_excludes=_patterns(config, "exclude")
    )
    return plan_sources(
        bucket,
        Path(config.getoption("cryoet_ingestion_config")),
        options=options,
        output=_output_bucket(config) if config.getoption("cryoet_output_bucket") else None,
    )


def _output_bucket(config: pytest.Config) -> Bucket:
    """The existing output that ``destination_glob`` entries search, read as the input is (``--anon``)."""
    from importers.storage import Bucket, reading_access

    return Bucket(
        config.getoption("cryoet_output_bucket"),
        endpoint_url=config.getoption("cryoet_endpoint_url"),
        read_only=True,
        anonymous=reading_access(config.getoption("cryoet_anon")),
    )
