"""A validation session in pytest: discovery, one test per (check, entity), verdicts from the engine.

:func:`start` (called by the plugin when ``--dataset`` or ``--ingestion-config`` is given) lists and
prefetches the bucket once and registers a :class:`ValidationSession`. The session turns
``data_validation/suite.py::test_check`` into one :class:`CheckItem` per case (``CODE:entity/path``); once
pytest has selected its items (``-m``, ``-k``), the :class:`~data_validation.engine.Engine` evaluates exactly
those, many entities at once, and each item reports its case's verdict as the result arrives, through
pytest's own reports (terminal, ``--junitxml``, ``-x``) and the session's writers (``--results-jsonl``,
``--alluredir``, ``--io-report``).

An item is reported without pytest's per-test machinery (fixtures, output capture, setup and teardown
phases): a check's evaluation is the engine's business, and pytest's per-test cost would otherwise exceed
the checks' own. With ``-n N``, pytest-xdist does not distribute the suite's items (that would add a
report round trip per item to the controller, the bottleneck of a large session): the engine checks the
entities in N worker processes instead, and this process reports.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from data_validation import io_accounting
from data_validation.checks import CheckContext
from data_validation.checks.database import is_database_check
from data_validation.engine import Case, Engine, cases, discovery_results
from data_validation.outcomes import DISCOVERY_CODE, Result, Verdict, VerdictStatus, judge
from data_validation.reader import ObjectReader
from data_validation.registry import Severity, Tier
from data_validation.results import JsonlWriter, make_record
from data_validation.sampling import SampleSettings
from data_validation.snapshot import Snapshot, discover
from data_validation.source.session import offered
from data_validation.suite import SUITE_PATH
from data_validation.waivers import Waiver, WaiverError, load_waivers

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from data_validation.allure_labels import AllureWriter
    from data_validation.database import DatabaseTarget
from importers.storage import Bucket, reading_access

SESSION = pytest.StashKey["ValidationSession"]()
PLUGIN_NAME = "cryoet-validation"
#: The outcome category of a test whose warning is below ``--severity``: it passes, and is counted apart.
WARNED = "warned"


#: The keywords of every passed report, shared: the terminal reporter keeps each report to the end, and a
#: bucket-wide session has hundreds of thousands.
_NO_KEYWORDS: dict[str, int] = {}

#: Report categories the terminal reporter keeps only to count them, unless ``-r`` asks to list them (the
#: reportchars that list each): passed, skipped and warned reports make up nearly all of a session's ~1 KB a
#: test; at 1,000 runs (374,000 tests) they held ~220 MB to the end.
_COUNTED_CATEGORIES = {"passed": "pP", "skipped": "s", WARNED: ""}
#: What stands in the terminal reporter's lists for a report it only counts (one shared report per category).
_COUNTED = {
    category: pytest.TestReport(
        "", ("", 0, ""), _NO_KEYWORDS, "skipped" if category == "skipped" else "passed", None, "call"
    )
    for category in _COUNTED_CATEGORIES
}


@dataclass(frozen=True)
class Settings:
    """What the options say about judging and reading."""

    waivers: list[Waiver]
    fail_level: Severity
    sampling: SampleSettings
    budgets: dict[Tier, int | None]
    #: Worker processes of the engine (``-n``); 0: the checks run on threads of this process.
    processes: int = 0


def settings_of(config: pytest.Config) -> Settings:
    """The session's settings; a bad option value is a one-line usage error."""
    try:
        waivers_file = config.getoption("cryoet_waivers")
        return Settings(
            load_waivers(Path(waivers_file)) if waivers_file else [],
            Severity[config.getoption("cryoet_severity").upper()],
            SampleSettings(chunks=config.getoption("cryoet_sample_chunks")),
            io_accounting.parse_budgets(config.getoption("cryoet_io_budget")),
        )
    except (ValueError, WaiverError) as error:
        raise pytest.UsageError(str(error)) from None


def start(config: pytest.Config, dataset_ids: list[str]) -> None:
    """Discover what to check (``dataset_ids`` in the bucket, or the sources offered by the ingestion app) and
    register the session; option problems are one-line usage errors."""
    sources = offered(config)
    settings = settings_of(config)
    try:
        bucket = Bucket(
            sources.input_bucket if sources else config.getoption("cryoet_bucket"),
            endpoint_url=config.getoption("cryoet_endpoint_url"),
            read_only=True,
            anonymous=reading_access(config.getoption("cryoet_anon")),
        )
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    database = None if sources else _open_database(config, bucket)
    if sources is not None:
        snapshot = sources.discover(bucket)
    else:
        snapshot = discover(
            bucket,
            dataset_ids,
            run_glob=config.getoption("cryoet_run_glob"),
            voxel_spacing_glob=config.getoption("cryoet_voxel_spacing_glob"),
            stream=sys.stderr,
        )
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        # Without explicit paths, `pytest --dataset N` runs the suite, wherever pytest was started
        # (a path given as an option value can make pytest miss this project's ini file).
        config.args = [str(SUITE_PATH)]
    processes = getattr(config.option, "numprocesses", None)
    if getattr(config.option, "dist", "no") != "no":
        config.option.dist = "no"  # see the module docstring
    settings = dataclasses.replace(settings, processes=processes if isinstance(processes, int) else 0)
    _keep_pytest_out_of(bucket, config)
    _root_at_the_suite(config)
    session = ValidationSession(
        config, snapshot, CheckContext(ObjectReader(snapshot, bucket), database, settings.sampling), settings
    )
    config.stash[SESSION] = session
    config.pluginmanager.register(session, PLUGIN_NAME)


def _open_database(config: pytest.Config, bucket: Bucket) -> DatabaseTarget | None:
    """The database of the DB-* checks (``open_for_checks``); one that cannot be reached is a usage error."""
    from data_validation.database import open_for_checks
    from importers.db.connect import DatabaseError

    try:
        return open_for_checks(config.getoption("cryoet_db_url"), bucket, config.getoption("cryoet_https_prefix"))
    except DatabaseError as error:
        raise pytest.UsageError(f"--db-url: {error}") from None


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
    """Test ids are paths relative to pytest's rootdir, and JUnit classnames and Allure's history follow them:
    they must not depend on where pytest was started. Started above the checkout, ids would gain its folder
    (``checkout.data_validation.suite``); when a path among the option values made pytest choose a rootdir
    outside this project (see _keep_pytest_out_of), they would read ``../../x::test``. pytest has no public way
    to change the rootdir once chosen, hence the private attribute (pytest is pinned to 9.0.x; a test covers
    this)."""
    if config.rootpath != SUITE_PATH.parents[1]:
        config._rootpath = SUITE_PATH.parents[1]


class _NoParameters:
    """What pytest's fixture machinery finds as a :class:`CheckItem`'s ``callspec``: no parameters to group
    items by (without it, it raises and catches an AttributeError per item and scope)."""

    indices: dict[str, int] = {}  # noqa: RUF012  (read only)


class CheckItem(pytest.Item):
    """One case of the suite, or one discovery problem (``case`` None, ``problem`` its result).

    A bucket-wide session holds hundreds of thousands of these for its whole length, so an item keeps little of
    its own: its markers are a tuple shared by every case of the same kind and tier, and the containers pytest
    gives every node but nothing fills for these items are shared empty ones."""

    callspec = _NoParameters()
    cls = None  # not a method of a test class

    def __init__(
        self,
        *,
        case: Case | None = None,
        problem: Result | None = None,
        lineno: int = 0,
        marks: tuple[pytest.Mark, ...] = (),
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.problem = problem
        self.lineno = lineno
        self.marks = marks
        #: The case's place among the selected ones (the engine's index), once collection is done.
        self.index = -1
        self.extra_keyword_matches = _NOTHING  # type: ignore[assignment]
        self.user_properties = _NOTHING  # type: ignore[assignment]
        self._report_sections = _NOTHING  # type: ignore[assignment]

    def iter_markers_with_node(self, name: str | None = None) -> Iterator[tuple[Node, pytest.Mark]]:
        for mark in self.marks:
            if name is None or mark.name == name:
                yield self, mark
        yield from super().iter_markers_with_node(name)

    def runtest(self) -> None:
        """Only reached when another plugin runs pytest's own protocol for this item."""
        session = self.config.stash[SESSION]
        session.raise_outcome(session.outcome(self))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.lineno, self.name

    @property
    def location(self) -> tuple[str, int | None, str]:  # type: ignore[override]
        """As pytest's, made when asked instead of kept on each of a session's items (pytest caches it per item,
        where the same relative path serves them all)."""
        return self.session._node_location_to_relpath(self.path), self.lineno, self.name


#: The shared empty containers of every item (see CheckItem).
_NOTHING: frozenset = frozenset()


@dataclass(frozen=True)
class Outcome:
    """An item's judged result, and its report record when a writer wants one."""

    result: Result
    verdict: Verdict


class ValidationSession:
    """The registered pytest plugin of a validation session (see the module docstring)."""

    def __init__(self, config: pytest.Config, snapshot: Snapshot, context: CheckContext, settings: Settings) -> None:
        self.config = config
        self.snapshot = snapshot
        self.context = context
        self.settings = settings
        self.engine: Engine | None = None
        #: The terminal reporter's stats and the report categories it only counts (set at the first report).
        self._counted: tuple[dict[str, list[Any]], set[str]] | None = None
        self.io_report = io_accounting.IoReport()
        stats = context.reader.bucket.stats.snapshot()
        self.io_report.session_requests, self.io_report.session_bytes = stats["total_requests"], stats["bytes_read"]
        self.io_report.session_retries = stats["retries"]
        #: The warnings below ``--severity``, listed one line each with a count per code at the end of the session.
        self.findings: list[Result] = []
        path = config.getoption("cryoet_results_jsonl")
        self.jsonl = JsonlWriter(Path(path)) if path else None
        self.allure: AllureWriter | None = None
        if config.getoption("allure_report_dir", None):
            from data_validation.allure_labels import AllureWriter

            self.allure = AllureWriter.for_pytest(config, context.reader)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The one line saying the bucket is read unsigned for want of credentials (even with -q)."""
        notice = self.context.reader.bucket.notice
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if notice and reporter is not None:
            reporter.write_line(notice)

    # -- collection ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector: pytest.Collector, name: str, obj: object) -> list | None:
        if name != "test_check" or collector.path != SUITE_PATH:
            return None
        lineno = obj.__code__.co_firstlineno - 1  # type: ignore[attr-defined]
        marks = _Marks()
        items: list[CheckItem] = []
        for problem in discovery_results(self.snapshot):
            item_id = f"{DISCOVERY_CODE}:{problem.message.split(':')[0]}"
            items.append(CheckItem.from_parent(collector, name=f"{name}[{item_id}]", problem=problem, lineno=lineno))
        for case in cases(self.snapshot):
            items.append(
                CheckItem.from_parent(
                    collector, name=f"{name}[{case.id}]", case=case, lineno=lineno, marks=marks.of(case)
                )
            )
        return items

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Start evaluating the selected cases; items then take their results as they come."""
        selected = [item for item in session.items if isinstance(item, CheckItem) and item.case is not None]
        for index, item in enumerate(selected):
            item.index = index
        if not self.config.option.collectonly:
            cases = [item.case for item in selected]
            settings = self.settings
            self.engine = Engine(self.context, cases, budgets=settings.budgets, processes=settings.processes)
        # The snapshot and the items live to the end of the session: leaving them out of the cyclic
        # collector's passes saves a full scan of ~6 objects per item at every older-generation collection.
        gc.freeze()

    # -- running ------------------------------------------------------------------------------

    def outcome(self, item: CheckItem) -> Outcome:
        if item.problem is not None:
            result = item.problem
        else:
            assert self.engine is not None, "the engine starts when collection finishes"
            result = self.engine.result(item.index)
        return Outcome(result, judge(result, self.settings.waivers, self.settings.fail_level))

    @staticmethod
    def raise_outcome(outcome: Outcome) -> None:
        """The pytest outcome of a verdict: fail, skip, xfail (waived), or pass (a warning below --severity)."""
        result, verdict = outcome.result, outcome.verdict
        if verdict.status is VerdictStatus.SKIPPED:
            pytest.skip(f"{result.code} {result.entity}: {result.message}")
        if verdict.status is VerdictStatus.WAIVED:
            assert verdict.waiver is not None
            pytest.xfail(f"waived: {verdict.waiver.reason} — {result.line()}")
        if verdict.failing:
            if result.code == DISCOVERY_CODE:  # the problem names its dataset already
                pytest.fail(f"{DISCOVERY_CODE}: {result.message}", pytrace=False)
            waiver = verdict.waiver
            note = f" (waiver expired {waiver.expires}: {waiver.reason})" if waiver is not None else ""
            pytest.fail(result.line() + note, pytrace=False)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if not isinstance(item, CheckItem):
            return None
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        outcome = self.outcome(item)
        ihook.pytest_runtest_logreport(report=self._report(item, outcome))
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        self._record(item, outcome)
        return True

    def _report(self, item: CheckItem, outcome: Outcome) -> pytest.TestReport:
        """The item's one report, as pytest's own protocol would make it. Passes, skips and waivers are made
        here (the terminal reporter keeps every report to the end: they share what they can); a failure goes
        through pytest's makereport, for its usual representation."""
        result, verdict = outcome.result, outcome.verdict
        if verdict.warned:
            # Not a Python warning: pytest would print each with a source location and a header line.
            self.findings.append(result)
            return pytest.TestReport(
                item.nodeid, item.location, _NO_KEYWORDS, "passed", None, "call", duration=result.duration, warned=True
            )
        if verdict.outcome == "passed":  # an info below --severity is noted in the records only
            return pytest.TestReport(
                item.nodeid, item.location, _NO_KEYWORDS, "passed", None, "call", duration=result.duration
            )
        if verdict.status is VerdictStatus.SKIPPED:
            reason = (str(item.path), item.lineno + 1, f"Skipped: {result.code} {result.entity}: {result.message}")
            return pytest.TestReport(
                item.nodeid, item.location, _NO_KEYWORDS, "skipped", reason, "call", duration=result.duration
            )
        if verdict.status is VerdictStatus.WAIVED:
            assert verdict.waiver is not None
            report = pytest.TestReport(
                item.nodeid, item.location, _NO_KEYWORDS, "skipped", None, "call", duration=result.duration
            )
            report.wasxfail = f"waived: {verdict.waiver.reason} — {result.line()}"
            return report
        call = pytest.CallInfo.from_call(lambda: self.raise_outcome(outcome), when="call")
        report = item.ihook.pytest_runtest_makereport(item=item, call=call)
        report.duration = result.duration
        return report

    def _record(self, item: CheckItem, outcome: Outcome) -> None:
        result = outcome.result
        if item.case is not None and self.config.getoption("cryoet_io_report"):
            self.io_report.add(io_accounting.IoRecord.of(result, item.case.check.tier))
        if self.jsonl is None and self.allure is None:
            return
        record = make_record(result, outcome.verdict)
        if self.jsonl is not None:
            self.jsonl.write(record)
        if self.allure is not None:
            self.allure.write(record, item.case.entity if item.case is not None else None)

    # -- the end ------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Once the terminal reporter has counted a passed, skipped or warned report (and every other plugin has
        seen it), its list keeps a shared stand-in instead, unless ``-r`` lists that category or ``--durations``
        reads every report's duration."""
        if self._counted is None:
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            listed = set(getattr(reporter, "reportchars", ""))
            timed = self.config.getoption("durations", None) is not None
            categories = (
                set()
                if reporter is None or timed
                else {category for category, chars in _COUNTED_CATEGORIES.items() if not set(chars) & listed}
            )
            self._counted = (reporter.stats if reporter is not None else {}, categories)
        stats, categories = self._counted
        category = WARNED if getattr(report, "warned", False) else report.outcome
        kept = stats.get(category) if category in categories else None
        if kept and kept[-1] is report:
            kept[-1] = _COUNTED[category]

    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """A warning below ``--severity`` passes, counted as ``warned`` in the session's last line."""
        if getattr(report, "warned", False):
            return WARNED, "W", "WARNED"
        return None

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.findings:
            terminalreporter.write_sep(
                "=", f"cryoet warnings (below --severity {self.settings.fail_level.name.lower()})"
            )
            for result in self.findings:
                terminalreporter.write_line(result.line())
            terminalreporter.write_line("")
            terminalreporter.write_line("per code:")
            for code, count in sorted(Counter(result.code for result in self.findings).items()):
                terminalreporter.write_line(f"{count:>7}  {code}")
        if not self.config.getoption("cryoet_io_report"):
            return
        terminalreporter.write_sep("=", "cryoet I/O report")
        for line in self.io_report.lines(self.settings.budgets):
            terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # pytest collects garbage five times over at unconfigure (to surface unraisable exceptions);
        # the session's reports and results are not garbage, and scanning them costs ~1 s per 100 runs.
        gc.freeze()
        if self.engine is not None:
            self.engine.close()
        if self.jsonl is not None:
            self.jsonl.close()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.context.database is not None:
            self.context.database.close()


class _Marks:
    """The markers of a case: its entity kind, its tier, ``db``; one shared tuple per combination."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, ...], tuple[pytest.Mark, ...]] = {}

    def of(self, case: Case) -> tuple[pytest.Mark, ...]:
        names = (
            case.entity.kind.value,
            case.check.tier.name.lower(),
            *(["db"] if is_database_check(case.check.code) else []),
        )
        if names not in self._made:
            self._made[names] = tuple(getattr(pytest.mark, name).mark for name in names)
        return self._made[names]
