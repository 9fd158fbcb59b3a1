"""The pytest plugin behind ``pytest --dataset ID``: its options and markers.

pytest imports this module at every start-up (it is an entry point), with or without ``--dataset``, so it
imports nothing heavy: the session (discovery, the checks, the engine, the reports) lives in
:mod:`data_validation.session` and is imported only when a validation is asked for.
"""

from __future__ import annotations

import os

import pytest

from data_validation.registry import EntityKind, Tier
from data_validation.suite import SUITE_PATH
from importers.version import package_version

#: Where ingestion writes, so what a curator validates after it; the portal's published data is PUBLIC_BUCKET.
DEFAULT_BUCKET = "s3://cryoet-data-portal-staging"
PUBLIC_BUCKET = "s3://cryoet-data-portal-public"
#: Defaults shown in --help; the session takes the same values from the modules that own them.
DEFAULT_SAMPLE_CHUNKS = 2
DEFAULT_BUDGETS_HELP = "LIST=1.0 MiB, HEAD=1.0 MiB, HEADER=16.0 MiB, SAMPLE=64.0 MiB, FULL=none"
EMBEDDED_DATABASE_HELP = "./.local/cryoet.sqlite"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cryoet", "CryoET Data Portal bucket validation")
    group.addoption(
        "--dataset",
        "--datasets",
        dest="cryoet_datasets",
        action="append",
        default=[],
        metavar="IDS",
        help="dataset id(s) to validate, comma-separated; may be repeated",
    )
    group.addoption(
        "--bucket",
        dest="cryoet_bucket",
        default=os.environ.get("CRYOET_BUCKET", DEFAULT_BUCKET),
        metavar="URL",
        help=f"bucket root: s3://bucket[/prefix], file://… or a path (default: $CRYOET_BUCKET or {DEFAULT_BUCKET}, "
        f"where ingestion writes; the portal's public data: {PUBLIC_BUCKET} with --anon)",
    )
    group.addoption(
        "--anon",
        dest="cryoet_anon",
        action="store_true",
        help="read S3 with unsigned requests, as public data is read without an account (also $CRYOET_S3_ANON=1; "
        "without credentials the bucket is read so anyway, and the session says so)",
    )
    group.addoption(
        "--endpoint-url",
        dest="cryoet_endpoint_url",
        default=None,
        metavar="URL",
        help="S3 endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)",
    )
    group.addoption(
        "--run-glob",
        dest="cryoet_run_glob",
        default="*",
        metavar="GLOB",
        help="only runs whose name matches (default: *)",
    )
    group.addoption(
        "--voxel-spacing-glob",
        dest="cryoet_voxel_spacing_glob",
        default="*",
        metavar="GLOB",
        help="only voxel spacings matching, e.g. '13.480' or 'VoxelSpacing13*' (default: *)",
    )
    group.addoption(
        "--waivers",
        dest="cryoet_waivers",
        default=None,
        metavar="FILE",
        help="YAML list of accepted failures: {code, entity, reason, expires?} (code and entity are globs)",
    )
    group.addoption(
        "--severity",
        dest="cryoet_severity",
        default="error",
        choices=["error", "warning", "info"],
        help="lowest finding severity that fails a test (default: error; lower ones warn)",
    )
    group.addoption(
        "--db-url",
        dest="cryoet_db_url",
        default=None,
        metavar="URL",
        help=f"portal database for the DB-* checks; '' for none (default: $CRYOET_DATABASE_URL, else "
        f"{EMBEDDED_DATABASE_HELP} for the datasets it records as imported from --bucket)",
    )
    group.addoption(
        "--https-prefix",
        dest="cryoet_https_prefix",
        default=None,
        metavar="URL",
        help="prefix the database's https_* columns were imported with (default: the portal's)",
    )
    group.addoption(
        "--sample-chunks",
        dest="cryoet_sample_chunks",
        type=int,
        default=DEFAULT_SAMPLE_CHUNKS,
        metavar="N",
        help=f"chunks sampled per array by the SAMPLE-tier checks, one of them an edge chunk "
        f"(default: {DEFAULT_SAMPLE_CHUNKS}; 0 skips the SAMPLE tier)",
    )
    group.addoption(
        "--io-report",
        dest="cryoet_io_report",
        action="store_true",
        help="print the requests and bytes read per check and per entity at the end",
    )
    group.addoption(
        "--io-budget",
        dest="cryoet_io_budget",
        action="append",
        default=[],
        metavar="TIER=SIZE",
        help=f"bytes one check may read, per tier, e.g. SAMPLE=128MiB or FULL=none; repeatable (defaults: "
        f"{DEFAULT_BUDGETS_HELP})",
    )
    group.addoption(
        "--results-jsonl",
        dest="cryoet_results_jsonl",
        default=None,
        metavar="PATH",
        help="write one JSON line per check and entity: code, status, severity, entity, message, requests, "
        "bytes, duration (docs/reports.md)",
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Which version of the suite ran, and from where (a checkout or an installation)."""
    return f"cryoet-ingest {package_version()}, validation suite at {SUITE_PATH.parent}"


def dataset_ids(config: pytest.Config) -> list[str]:
    ids = []
    for value in config.getoption("cryoet_datasets"):
        ids += [part.strip() for part in value.split(",") if part.strip()]
    return ids


def pytest_configure(config: pytest.Config) -> None:
    for kind in EntityKind:
        config.addinivalue_line("markers", f"{kind.value}: checks of {kind.value} entities")
    for tier in Tier:
        config.addinivalue_line("markers", f"{tier.name.lower()}: checks of the {tier.name} I/O tier")
    config.addinivalue_line("markers", "db: database consistency checks (need --db-url or the embedded database)")
    from data_validation.source.session import offered

    datasets = dataset_ids(config)
    if datasets or offered(config) is not None:
        from data_validation import session

        session.start(config, datasets)
    elif _names_the_suite(config):
        # Decided here too, not only once collected: with -n, xdist's workers collect, and a usage error
        # raised there reaches the user as an internal error.
        raise _no_dataset()


def _names_the_suite(config: pytest.Config) -> bool:
    """Whether pytest's paths (given, or the ini file's testpaths) are the suite or its folder."""
    paths = {(config.invocation_params.dir / arg.split("::", 1)[0]).resolve() for arg in config.args}
    return bool(paths & {SUITE_PATH, SUITE_PATH.parent})


def _no_dataset() -> pytest.UsageError:
    return pytest.UsageError(
        "the validation suite needs a dataset: pytest --dataset ID [--bucket URL] (or --ingestion-config CONFIG "
        "--input-bucket URL for a lab's upload); the project's own tests run with: pytest tests"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The suite without a bucket to check would check nothing, and say it passed (reached through a
    broader path than ``_names_the_suite`` knows, e.g. ``pytest .``)."""
    if any(item.path == SUITE_PATH for item in items) and not config.pluginmanager.has_plugin("cryoet-validation"):
        raise _no_dataset()
