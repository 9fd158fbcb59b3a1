"""The pytest plugin behind ``pytest --dataset ID``: options, discovery, parametrization, verdicts.

Discovery and prefetching run once in the controlling process; with ``-n`` the snapshot file is
handed to every xdist worker, which loads it instead of listing the bucket again.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data_validation import allure_labels, io_accounting, results, sampling
from data_validation.checks import CheckContext
from data_validation.database import DatabaseTarget, is_database_check
from data_validation.engine import DISCOVERY_CODE, Status, cases, evaluate
from data_validation.entities import Entity
from data_validation.reader import ObjectReader
from data_validation.registry import Check, EntityKind, Severity, Tier
from data_validation.snapshot import Snapshot, discover
from data_validation.source import plugin as source_plugin
from data_validation.waivers import Waiver, WaiverError, find_waiver, load_waivers
from importers.db.connect import EMBEDDED_DATABASE, URL_VARIABLE, DatabaseError, resolve_url
from importers.db.mapping import DEFAULT_HTTPS_PREFIX
from importers.storage import Bucket

SUITE_PATH = Path(__file__).with_name("suite.py")
DEFAULT_BUCKET = "s3://cryoet-data-portal-staging"
SNAPSHOT_INPUT = "cryoet_snapshot"
SESSION = pytest.StashKey["ValidationSession"]()


class ValidationWarning(UserWarning):
    """A check finding below the ``--severity`` threshold: reported, not failing."""


@dataclass(frozen=True)
class Case:
    """One test: a check on an entity, or a discovery problem to report as a failure."""

    check: Check | None
    entity: Entity | None
    problem: str = ""


@dataclass
class ValidationSession:
    snapshot: Snapshot
    context: CheckContext
    fail_level: Severity
    snapshot_path: Path | None = None
    waivers: list[Waiver] = field(default_factory=list)


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
        help=f"bucket root: s3://bucket[/prefix], file://… or a path (default: $CRYOET_BUCKET or {DEFAULT_BUCKET})",
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
        help=f"portal database for the DB-* checks (default: ${URL_VARIABLE}, else {EMBEDDED_DATABASE} if present)",
    )
    group.addoption(
        "--https-prefix",
        dest="cryoet_https_prefix",
        default=DEFAULT_HTTPS_PREFIX,
        metavar="URL",
        help=f"prefix the database's https_* columns were imported with (default: {DEFAULT_HTTPS_PREFIX})",
    )
    _add_io_options(group)
    source_plugin.add_options(group)
    results.add_options(group)


def _dataset_ids(config: pytest.Config) -> list[str]:
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
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSnapshotHandOff(), "cryoet-xdist-snapshot")
    _configure_io(config)
    results.configure(config)
    allure_labels.configure(config)
    dataset_ids = _dataset_ids(config)
    # --ingestion-config: the same suite on a lab's upload, found through the config (data_validation/source).
    sources = source_plugin.request(config)
    if not dataset_ids and sources is None:
        return
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        # Without explicit paths, `pytest --dataset N` runs the suite, wherever pytest was started
        # (a path given as an option value can make pytest miss this project's ini file).
        config.args = [str(SUITE_PATH)]
    try:
        bucket = Bucket(
            sources.input_bucket if sources else config.getoption("cryoet_bucket"),
            endpoint_url=config.getoption("cryoet_endpoint_url"),
            read_only=True,
        )
        waivers_file = config.getoption("cryoet_waivers")
        waivers = load_waivers(Path(waivers_file)) if waivers_file else []
    except (ValueError, WaiverError) as error:
        raise pytest.UsageError(str(error)) from None
    workerinput = getattr(config, "workerinput", None)
    snapshot_path = None
    if workerinput is not None and SNAPSHOT_INPUT in workerinput:
        snapshot = Snapshot.load(Path(workerinput[SNAPSHOT_INPUT]))
    else:
        if sources is not None:
            snapshot = sources.discover(bucket)
        else:
            snapshot = discover(
                bucket,
                dataset_ids,
                run_glob=config.getoption("cryoet_run_glob"),
                voxel_spacing_glob=config.getoption("cryoet_voxel_spacing_glob"),
            )
        snapshot_path = Path(tempfile.mkdtemp(prefix="cryoet-validate-")) / "snapshot.pickle"
        snapshot.save(snapshot_path)
    _keep_pytest_out_of(bucket, config)
    _root_at_the_suite(config)
    fail_level = Severity[config.getoption("cryoet_severity").upper()]
    config.stash[SESSION] = ValidationSession(
        snapshot,
        CheckContext(ObjectReader(snapshot, bucket), None if sources else _open_database(config)),
        fail_level,
        snapshot_path,
        waivers,
    )


def _open_database(config: pytest.Config) -> DatabaseTarget | None:
    """The database of the DB-* checks: --db-url, $CRYOET_DATABASE_URL or an existing embedded one."""
    url = resolve_url(config.getoption("cryoet_db_url"), embedded_must_exist=True)
    if url is None:
        return None
    try:
        return DatabaseTarget.open(url, config.getoption("cryoet_https_prefix"))
    except DatabaseError as error:
        raise pytest.UsageError(str(error)) from None


def _keep_pytest_out_of(bucket: Bucket, config: pytest.Config) -> None:
    """The suite never writes to the bucket it checks. A bare local path given to --bucket can become
    pytest's rootdir (it is chosen before this plugin's options are known), and pytest's cache plugins
    would then write .pytest_cache into the bucket: they are switched off for such a session."""
    bucket_root = bucket.local_path("")
    if bucket_root is None or not config.rootpath.resolve().is_relative_to(bucket_root.resolve()):
        return
    for name in ("lfplugin", "nfplugin", "stepwiseplugin"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def _root_at_the_suite(config: pytest.Config) -> None:
    """Test ids are paths relative to pytest's rootdir; when a path among the option values made pytest
    choose a rootdir outside this project (see _keep_pytest_out_of), ids would read ``../../x::test``.
    pytest has no public way to change the rootdir once chosen, hence the private attribute (pytest
    is pinned to 9.0.x; a test covers this)."""
    if not SUITE_PATH.is_relative_to(config.rootpath):
        config._rootpath = SUITE_PATH.parents[1]


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None and session.snapshot_path is not None:
        shutil.rmtree(session.snapshot_path.parent, ignore_errors=True)
    if session is not None and session.context.database is not None:
        session.context.database.close()


class _XdistSnapshotHandOff:
    """Gives each xdist worker the path of the controller's snapshot."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:
        session = node.config.stash.get(SESSION, None)
        if session is not None and session.snapshot_path is not None:
            node.workerinput[SNAPSHOT_INPUT] = str(session.snapshot_path)


def _cases(session: ValidationSession) -> list:
    params = [
        pytest.param(Case(None, None, problem), id=f"{DISCOVERY_CODE}:{problem.split(':')[0]}")
        for problem in session.snapshot.discovery_errors
    ]
    for registered, entity in cases(session.snapshot):
        marks = [getattr(pytest.mark, entity.kind.value), getattr(pytest.mark, registered.tier.name.lower())]
        if is_database_check(registered.code):
            marks.append(pytest.mark.db)
        params.append(pytest.param(Case(registered, entity), id=f"{registered.code}:{entity.path}", marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check_case" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash.get(SESSION, None)
    params = _cases(session) if session is not None else []
    metafunc.parametrize("check_case", params)


@pytest.fixture(scope="session")
def validation_session(pytestconfig: pytest.Config) -> ValidationSession:
    session = pytestconfig.stash.get(SESSION, None)
    if session is None:
        pytest.skip("no --dataset given")
    return session


def run_case(case: Case, session: ValidationSession, record_property=None) -> None:
    """Run one check and turn its result into a pytest verdict with a one-line message.

    A failure at or above ``--severity`` fails the test unless a waiver accepts it (then it is
    reported as xfailed, with the waiver's reason); an expired waiver is named in the failure.
    ``record_property`` (pytest's fixture) carries the Result to the reports (results.py).
    """
    if case.check is None:
        if record_property is not None:
            record_property(results.RESULT_PROPERTY, results.result_property(results.discovery_result(case.problem)))
        pytest.fail(f"{DISCOVERY_CODE}: {case.problem}", pytrace=False)
    result = evaluate(case.check, session.context, case.entity)
    if record_property is not None:
        record_property(results.RESULT_PROPERTY, results.result_property(result))
    if result.status is Status.SKIPPED:
        pytest.skip(f"{result.code} {result.entity}: {result.message}")
    if result.status is not Status.FAILED:
        return
    if result.severity < session.fail_level:
        warnings.warn(ValidationWarning(result.line()), stacklevel=1)
        return
    waiver = find_waiver(session.waivers, result.code, result.entity)
    if waiver is None:
        pytest.fail(result.line(), pytrace=False)
    if waiver.expired(dt.date.today()):
        pytest.fail(f"{result.line()} (waiver expired {waiver.expires}: {waiver.reason})", pytrace=False)
    pytest.xfail(f"waived: {waiver.reason} — {result.line()}")


# -- content sampling and I/O accounting (--sample-chunks, --io-report, --io-budget) ----------

IO_PROPERTY = "cryoet_io"


def _add_io_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--sample-chunks",
        dest="cryoet_sample_chunks",
        type=int,
        default=sampling.DEFAULT_SAMPLE_CHUNKS,
        metavar="N",
        help=f"chunks sampled per array by the SAMPLE-tier checks, one of them an edge chunk "
        f"(default: {sampling.DEFAULT_SAMPLE_CHUNKS}; 0 skips the SAMPLE tier)",
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
        help="bytes one check may read, per tier, e.g. SAMPLE=128MiB or FULL=none; repeatable (defaults: "
        + ", ".join(f"{t.name}={io_accounting.format_bytes(b)}" for t, b in io_accounting.DEFAULT_BUDGETS.items())
        + ")",
    )


def _configure_io(config: pytest.Config) -> None:
    try:
        sampling.configure(chunks=config.getoption("cryoet_sample_chunks"))
        budgets = io_accounting.parse_budgets(config.getoption("cryoet_io_budget"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    config.pluginmanager.register(_IoAccounting(config, budgets), "cryoet-io-accounting")


class _IoAccounting:
    """Counts each check's requests and bytes, enforces the tier budgets and prints ``--io-report``.

    The counts of a test travel as a user property of its report, so that with xdist the controller
    sums what the workers read."""

    def __init__(self, config: pytest.Config, budgets: dict[Tier, int | None]) -> None:
        self.config = config
        self.budgets = budgets
        self.report = io_accounting.IoReport()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        validation = self.config.stash.get(SESSION, None)
        if validation is not None and validation.snapshot_path is not None:
            # The controlling process: what discovery and prefetch read, before any check.
            stats = validation.context.reader.bucket.stats.snapshot()
            self.report.session_requests, self.report.session_bytes = stats["total_requests"], stats["bytes_read"]
            self.report.session_retries = stats["retries"]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("check_case") if callspec is not None else None
        if not isinstance(case, Case) or case.check is None:
            return (yield)
        usage = io_accounting.usage_for(case.check, case.entity, self.budgets)
        try:
            with io_accounting.accounting(usage):
                result = yield
        finally:
            item.user_properties.append((IO_PROPERTY, usage.record_of().as_property()))
        if usage.over_budget:  # a check that swallowed BudgetExceeded
            pytest.fail(f"{case.check.code} [error] {case.entity.path}: {usage.over_budget_message()}", pytrace=False)
        return result

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == IO_PROPERTY:
                self.report.add(io_accounting.IoRecord(**value))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.config.getoption("cryoet_io_report") or self.config.stash.get(SESSION, None) is None:
            return
        terminalreporter.write_sep("=", "cryoet I/O report")
        for line in self.report.lines(self.budgets):
            terminalreporter.write_line(line)
