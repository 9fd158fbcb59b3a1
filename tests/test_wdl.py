"""The WDL workflows of infra/: ``miniwdl check`` on each, the example inputs, and the standardize -> db_import
-> validate chain (then sync) run by miniwdl with the bare backend (tasks are local processes, no Docker)
against a moto bucket and the test PostgreSQL server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest
import WDL

from tests.conftest import REPO_ROOT
from tests.db_support import private_schema_url

INFRA = REPO_ROOT / "infra"
WDL_FILES = sorted(INFRA.glob("*.wdl"))
FILE_NAME = re.compile(r"^(?P<workflow>[a-z_]+)-v(?P<version>\d+\.\d+\.\d+)\.wdl$")
BIN = Path(sys.executable).parent
MINIWDL = BIN / "miniwdl"


def test_the_four_workflows_are_there() -> None:
    names = {FILE_NAME.match(path.name).group("workflow") for path in WDL_FILES if FILE_NAME.match(path.name)}
    assert names == {"standardize_dirs", "db_import", "validate", "sync"}
    assert len(WDL_FILES) == 4, [path.name for path in WDL_FILES]


@pytest.mark.parametrize("path", WDL_FILES, ids=[path.name for path in WDL_FILES])
def test_miniwdl_check_passes(path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    checked = subprocess.run(
        [str(MINIWDL), "check", "--strict", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", WDL_FILES, ids=[path.name for path in WDL_FILES])
def test_workflow_conventions(path: Path) -> None:
    """Named as the file says, WDL 1.0, inputs documented, tasks call the project and declare resources."""
    document = WDL.load(str(path))
    assert document.wdl_version == "1.0"
    workflow = document.workflow
    assert workflow is not None and workflow.name == FILE_NAME.match(path.name).group("workflow")
    assert workflow.meta.get("version") == FILE_NAME.match(path.name).group("version")
    undocumented = {decl.name for decl in workflow.inputs or []} - set(workflow.parameter_meta)
    assert not undocumented, f"inputs without parameter_meta: {sorted(undocumented)}"
    for task in document.tasks:
        assert {"docker", "cpu", "memory"} <= set(task.runtime), task.name
        command = "".join(part for part in task.command.parts if isinstance(part, str))
        assert re.search(r"\b(cryoet-ingest \w|python -m (pytest|data_validation))", command), task.name


def test_example_inputs_are_accepted() -> None:
    examples = sorted((INFRA / "inputs").glob("*.json"))
    workflows = {FILE_NAME.match(path.name).group("workflow"): path for path in WDL_FILES}
    covered = set()
    for example in examples:
        inputs = json.loads(example.read_text())
        names = {key.split(".", 1)[0] for key in inputs}
        assert len(names) == 1, f"{example.name}: inputs of several workflows"
        (name,) = names
        workflow = WDL.load(str(workflows[name])).workflow
        # Raises on an unknown input, a value of the wrong type or a missing required input.
        WDL.values_from_json(inputs, workflow.available_inputs, workflow.required_inputs, namespace=name)
        covered.add(name)
    assert covered == set(workflows)


# -- the chain, run by miniwdl -------------------------------------------------------------------


def _miniwdl_run(workflow: str, inputs: dict, run_root: Path) -> dict:
    """``miniwdl run`` with the bare backend: tasks are processes on this machine, the venv's bin on PATH,
    the AWS settings of the test session (moto) in their environment. Returns the workflow's outputs."""
    path = next(path for path in WDL_FILES if path.name.startswith(f"{workflow}-v"))
    run_root.mkdir(parents=True, exist_ok=True)
    inputs_file = run_root / f"{workflow}.inputs.json"
    inputs_file.write_text(json.dumps({f"{workflow}.{key}": value for key, value in inputs.items()}))
    config = run_root / "miniwdl.cfg"
    config.write_text("[scheduler]\ncontainer_backend = bare\n[call_cache]\nget = false\nput = false\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PYTEST_", "MINIWDL"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MINIWDL_CFG=str(config),
        MINIWDL__SCHEDULER__CONTAINER_BACKEND="bare",
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    output = run_root / f"{workflow}.outputs.json"
    ran = subprocess.run(
        [str(MINIWDL), "run", str(path), "-i", str(inputs_file), "--dir", str(run_root), "-o", str(output)],
        capture_output=True,
        text=True,
        env=env,
        cwd=run_root,
        timeout=300,
    )
    assert ran.returncode == 0, f"miniwdl run {path.name} failed:\n{ran.stderr[-6000:]}\n{_task_logs(run_root)}"
    return json.loads(output.read_text())["outputs"]


def _task_logs(run_root: Path) -> str:
    """The tasks' stderr, for a failure message."""
    return "\n".join(f"== {log}\n{log.read_text()[-3000:]}" for log in sorted(run_root.rglob("stderr.txt")))


def _expected_counts(bucket_url: str, db_url: str) -> dict[str, Counter[str]]:
    """The suite's verdicts computed in this process with the engine, per dataset row of the report."""
    from data_validation.database import DatabaseTarget
    from data_validation.engine import validate
    from data_validation.outcomes import judge
    from data_validation.registry import Severity
    from importers.storage import Bucket

    database = DatabaseTarget.open(db_url, "https://files.cryoetdataportal.cziscience.com")
    try:
        results = validate(Bucket(bucket_url, read_only=True), ["10001"], database=database)
    finally:
        database.close()
    counts: dict[str, Counter[str]] = {}
    for result in results:
        row = "deposition 10001" if result.entity.startswith("depositions_metadata/") else "10001"
        counts.setdefault(row, Counter())[judge(result, [], Severity.ERROR).outcome] += 1
    return counts


def test_standardize_db_import_validate_chain_and_sync(
    sample_source: Path, s3_bucket: str, s3_endpoint: str, database_url: str, tmp_path: Path
) -> None:
    db_url = private_schema_url(database_url, "wdl_chain")
    runs = tmp_path / "runs"

    standardized = _miniwdl_run(
        "standardize_dirs",
        {
            "configs": [str(REPO_ROOT / "dataset_configs" / "10001.yaml")],
            "input_bucket": f"file://{sample_source}",
            "output_bucket": s3_bucket,
            "endpoint_url": s3_endpoint,
        },
        runs,
    )
    assert standardized["standardize_dirs.bucket_url"] == s3_bucket
    (log,) = standardized["standardize_dirs.logs"]
    assert re.search(r"^standardize: \d+ written", Path(log).read_text(), re.M), Path(log).read_text()[-2000:]

    imported = _miniwdl_run(
        "db_import",
        {"bucket": standardized["standardize_dirs.bucket_url"], "datasets": ["10001"], "db_url": db_url},
        runs,
    )
    import_log = Path(imported["db_import.log"]).read_text()
    assert "dataset 10001" in import_log and "nothing written" not in import_log

    validated = _miniwdl_run(
        "validate",
        {"bucket": s3_bucket, "datasets": ["10001"], "endpoint_url": s3_endpoint, "db_url": db_url},
        runs,
    )
    summary = json.loads(Path(validated["validate.summary"]).read_text())
    expected = _expected_counts(s3_bucket, db_url)
    for row, counts in expected.items():
        got = summary["datasets"][row]
        assert {outcome: got[outcome] for outcome in ("passed", "failed", "warned", "skipped")} == {
            outcome: counts.get(outcome, 0) for outcome in ("passed", "failed", "warned", "skipped")
        }, row
    assert expected["10001"]["passed"] > 100 and not summary["failures"]
    assert validated["validate.passed"] == sum(counts["passed"] for counts in expected.values())
    assert validated["validate.failed"] == 0 and summary["ok"]
    db_checks = [line for line in Path(validated["validate.results"][0]).read_text().splitlines() if '"DB-' in line]
    assert db_checks and all('"status": "passed"' in line for line in db_checks)  # the database took part
    report = Path(validated["validate.report"]).read_text()
    assert report.startswith("# Validation report: PASSED")
    assert f"| 10001 | {expected['10001']['passed']} | 0 |" in report

    # The same bucket as a two-shard audit: the same verdicts, gathered from both shards.
    audited = _miniwdl_run(
        "validate", {"bucket": s3_bucket, "audit_shards": 2, "endpoint_url": s3_endpoint, "db_url": db_url}, runs
    )
    audit_summary = json.loads(Path(audited["validate.summary"]).read_text())
    assert len(audit_summary["shards"]) == 2 and audit_summary["totals"] == summary["totals"]

    # Sync the validated dataset to another bucket (the deposition it references comes along).
    copy = f"s3://copy-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=copy.removeprefix("s3://"))
    synced = _miniwdl_run(
        "sync",
        {"source": s3_bucket, "destination": copy, "datasets": ["10001"], "endpoint_url": s3_endpoint},
        runs,
    )
    sync_log = Path(synced["sync.logs"][0]).read_text()
    assert " 0 failed" in sync_log and "depositions_metadata/10001/" in sync_log
    source_keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket.removeprefix("s3://"))
    copied_keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=copy.removeprefix("s3://"))
    assert copied_keys["KeyCount"] == source_keys["KeyCount"] > 300


# -- the gather step ---------------------------------------------------------------------------


def test_gather_counts_shards_of_both_formats(tmp_path: Path) -> None:
    from data_validation.gather import main

    def record(code: str, status: str, entity: str, severity: str = "error", message: str = "") -> str:
        dataset = entity.split("/", 1)[0] if entity[0].isdigit() else ""
        fields = {"code": code, "status": status, "severity": severity, "entity": entity, "message": message}
        return json.dumps({**fields, "dataset": dataset, "requests": 0})

    records = tmp_path / "results-10001.jsonl"
    records.write_text(
        "\n".join(
            [
                record("RUN-A", "passed", "10001/TS_001"),
                record("RUN-B", "failed", "10001/TS_001", message="size is 3, expected 4"),
                record("RUN-C", "failed", "10001/TS_001", severity="warning", message="odd"),
                record("RUN-F", "failed", "10001/TS_001", severity="info", message="noted"),
                record("RUN-D", "waived", "10001/TS_001", message="known"),
                record("RUN-E", "skipped", "10001/TS_002", message="no tomogram"),
                record("DEP-A", "passed", "depositions_metadata/10001"),
            ]
        )
        + "\n"
    )
    (tmp_path / "results-shard-1.jsonl").write_text("")  # an audit shard without datasets
    junit = tmp_path / "junit-10002.xml"
    junit.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="validate-10002" tests="4">'
        '<testcase classname="data_validation.suite" name="test_check[DS-A:10002]"/>'
        '<testcase classname="data_validation.suite" name="test_check[DS-B:10002]">'
        '<failure message="Failed: DS-B [error] 10002: title is empty">trace</failure></testcase>'
        '<testcase classname="data_validation.suite" name="test_check[DS-C:10002]">'
        '<skipped type="pytest.xfail" message="waived: ticket 1"/></testcase>'
        '<testcase classname="data_validation.suite" name="test_check[DS-D:10002]">'
        '<skipped type="pytest.skip" message="tier"/></testcase>'
        "</testsuite></testsuites>"
    )
    out = tmp_path / "gathered" / "summary.json"
    files = [str(records), str(tmp_path / "results-shard-1.jsonl"), str(junit)]
    assert main([str(out), *files, "--counts", str(tmp_path / "counts")]) == 0
    summary = json.loads(out.read_text())
    assert summary["ok"] is False
    assert summary["totals"] == {"passed": 4, "failed": 2, "warned": 1, "waived": 2, "skipped": 2, "total": 11}
    assert summary["datasets"]["10001"] == {
        "passed": 2,
        "failed": 1,
        "warned": 1,
        "waived": 1,
        "skipped": 1,
        "total": 6,
    }
    assert summary["datasets"]["deposition 10001"]["passed"] == 1
    assert summary["datasets"]["10002"]["failed"] == 1
    assert list(summary["shards"]) == ["10001", "shard-1", "junit-10002"]
    assert summary["shards"]["shard-1"]["total"] == 0
    assert [failure["message"] for failure in summary["failures"]] == [
        "RUN-B [error] 10001/TS_001: size is 3, expected 4",
        "DS-B [error] 10002: title is empty",
    ]
    report = out.with_suffix(".md").read_text()
    assert report.startswith("# Validation report: FAILED") and "* DS-B [error] 10002: title is empty" in report
    assert (tmp_path / "counts" / "failed.txt").read_text() == "2\n"
    # --severity warning: the warning fails too.
    assert main([str(out), str(records), "--severity", "warning"]) == 0
    assert json.loads(out.read_text())["totals"]["failed"] == 2
    assert main([str(out), str(tmp_path / "missing.jsonl")]) == 2


@pytest.mark.parametrize("severity", ["error", "warning", "info"])
def test_gather_judges_records_as_the_audit_does(tmp_path: Path, severity: str) -> None:
    """The gather step counts the records as the suite's one judgement does (Record.verdict), at each level, and
    fails as many as the audit does."""
    from data_validation.gather import OUTCOMES, main
    from data_validation.registry import Severity
    from data_validation.results import Record, read_records, write_records
    from data_validation.summary import Summary

    records = [
        Record(code, status, level, f"10001/TS_{index:03}", message="found")
        for index, (code, status, level) in enumerate(
            [
                ("RUN-A", "passed", "error"),
                ("RUN-B", "failed", "error"),
                ("RUN-C", "failed", "warning"),
                ("RUN-D", "failed", "info"),
                ("RUN-E", "waived", "error"),
                ("RUN-F", "waived", "warning"),
                ("RUN-G", "skipped", "warning"),
            ]
        )
    ]
    path = tmp_path / "results.jsonl"
    write_records(path, records)
    out = tmp_path / "summary.json"
    assert main([str(out), str(path), "--severity", severity]) == 0
    gathered = json.loads(out.read_text())["totals"]

    level = Severity[severity.upper()]
    outcomes = Counter(record.verdict(level).outcome for record in records)
    assert {outcome: gathered[outcome] for outcome in OUTCOMES} == {outcome: outcomes[outcome] for outcome in OUTCOMES}
    audit = Summary(fail_level=level)
    audit.add(read_records(path))
    assert gathered["failed"] == audit.totals.failing
    assert (gathered["waived"], gathered["skipped"]) == (audit.totals.waived, audit.totals.skipped)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"code": "A", "status": "broken", "severity": "error", "entity": "1"}', "status 'broken'"),
        ('{"code": "A", "status": "failed", "severity": "fatal", "entity": "1"}', "severity 'fatal'"),
        ('{"code": "A", "status": "failed", "entity": "1"}', "missing fields ['severity']"),
        ("[1, 2]", "a JSON list"),
    ],
)
def test_gather_names_the_line_of_a_bad_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str
) -> None:
    from data_validation.gather import main

    path = tmp_path / "results.jsonl"
    path.write_text('{"code": "A", "status": "passed", "severity": "error", "entity": "1"}\n' + line + "\n")
    assert main([str(tmp_path / "summary.json"), str(path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"gather: {path}:2: not a result record") and problem in error
    assert len(error.splitlines()) == 1
