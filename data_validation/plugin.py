"""The pytest plugin behind ``pytest --dataset ID``: options, discovery, parametrization, verdicts.

Discovery and prefetching run once in the controlling process; with ``-n`` the snapshot file is
handed to every xdist worker, which loads it instead of listing the bucket again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_validation.checks import CheckContext
from data_validation.engine import DISCOVERY_CODE, Status, cases, evaluate
from data_validation.entities import Entity
from data_validation.reader import ObjectReader
from data_validation.registry import Check, EntityKind, Severity, Tier
from data_validation.snapshot import Snapshot, discover
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
        "--severity",
        dest="cryoet_severity",
        default="error",
        choices=["error", "warning", "info"],
        help="lowest finding severity that fails a test (default: error; lower ones warn)",
    )


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
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistSnapshotHandOff(), "cryoet-xdist-snapshot")
    dataset_ids = _dataset_ids(config)
    if not dataset_ids:
        return
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        # Without explicit paths, `pytest --dataset N` runs the suite, wherever pytest was started
        # (a path given as an option value can make pytest miss this project's ini file).
        config.args = [str(SUITE_PATH)]
    bucket = Bucket(
        config.getoption("cryoet_bucket"), endpoint_url=config.getoption("cryoet_endpoint_url"), read_only=True
    )
    workerinput = getattr(config, "workerinput", None)
    snapshot_path = None
    if workerinput is not None and SNAPSHOT_INPUT in workerinput:
        snapshot = Snapshot.load(Path(workerinput[SNAPSHOT_INPUT]))
    else:
        snapshot = discover(
            bucket,
            dataset_ids,
            run_glob=config.getoption("cryoet_run_glob"),
            voxel_spacing_glob=config.getoption("cryoet_voxel_spacing_glob"),
        )
        snapshot_path = Path(tempfile.mkdtemp(prefix="cryoet-validate-")) / "snapshot.pickle"
        snapshot.save(snapshot_path)
    fail_level = Severity[config.getoption("cryoet_severity").upper()]
    config.stash[SESSION] = ValidationSession(
        snapshot, CheckContext(ObjectReader(snapshot, bucket)), fail_level, snapshot_path
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None and session.snapshot_path is not None:
        shutil.rmtree(session.snapshot_path.parent, ignore_errors=True)


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


def run_case(case: Case, session: ValidationSession) -> None:
    """Run one check and turn its result into a pytest verdict with a one-line message."""
    if case.check is None:
        pytest.fail(f"{DISCOVERY_CODE}: {case.problem}", pytrace=False)
    result = evaluate(case.check, session.context, case.entity)
    if result.status is Status.SKIPPED:
        pytest.skip(f"{result.code} {result.entity}: {result.message}")
    if result.status is Status.FAILED:
        if result.severity >= session.fail_level:
            pytest.fail(result.line(), pytrace=False)
        warnings.warn(ValidationWarning(result.line()), stacklevel=1)
