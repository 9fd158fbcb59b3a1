"""``pytest --dataset`` end to end, as users run it: exit codes, one-line failures, S3, xdist."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import buckets
from tests.cases_checks import case_mrc_voxel_spacing
from tests.conftest import REPO_ROOT, shared_dir, upload_tree


def run_suite(*arguments: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=os.environ.copy())


def test_clean_sample_passes(clean_tree: Path) -> None:
    result = run_suite("--dataset", "10001", "--bucket", f"file://{clean_tree}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_altered_voxel_size_fails_with_a_clear_message(bucket_copy: Path) -> None:
    case_mrc_voxel_spacing().apply(bucket_copy)
    result = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}")
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("TOMO-MRC-VOXEL-SPACING"))
    assert "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100" in line
    assert "14.0000" in line and "expected 13.480" in line
    assert "Traceback" not in result.stdout


def test_suite_runs_from_any_directory_and_with_workers(clean_tree: Path, tmp_path: Path) -> None:
    result = run_suite("--dataset", "10001", "--bucket", str(clean_tree), "-n", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    serial = run_suite("--dataset", "10001", "--bucket", f"file://{clean_tree}")
    assert result.stdout.splitlines()[-1].split(" in ")[0] == serial.stdout.splitlines()[-1].split(" in ")[0]


def test_garbage_bucket_gives_failures_not_errors(bucket_copy: Path) -> None:
    tomogram = bucket_copy / "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100"
    (tomogram / "TS_001.mrc").write_bytes(b"")
    (tomogram / "TS_001.zarr/.zattrs").write_text("{not json")
    other = bucket_copy / "10001/TS_002/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_002.mrc"
    header = bytearray(other.read_bytes()[:1024])
    header[0:12] = (2**20).to_bytes(4, "little") * 3  # a header claiming a 4-exabyte volume
    other.write_bytes(bytes(header))
    (bucket_copy / "10001/TS_002/run_metadata.json").write_bytes(b"\xff\xfe")
    result = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr and "Traceback" not in result.stdout
    failures = [line for line in result.stdout.splitlines() if line.startswith(("TOMO-", "GEN-", "RUN-", "DS-"))]
    # The four objects are not what standardize recorded: one DS-MANIFEST failure names them all.
    (manifest_failure,) = [f for f in failures if f.startswith("DS-MANIFEST")]
    assert "4 of " in manifest_failure and "(4 resized)" in manifest_failure
    failures.remove(manifest_failure)
    assert len(failures) == 4, failures  # one failure per defect, by the check that owns the input
    assert any(
        f.startswith("TOMO-MRC-READABLE") and "TS_001.mrc: not an MRC header (header truncated" in f for f in failures
    )
    assert any(
        f.startswith("TOMO-MRC-READABLE") and "TS_002.mrc: not an MRC header (implausible dimensions" in f
        for f in failures
    )
    (json_failure,) = [f for f in failures if f.startswith("GEN-JSON-PARSE")]
    assert "run_metadata.json (not valid JSON" in json_failure
    (zarr_failure,) = [f for f in failures if f.startswith("TOMO-ZARR-PATHS")]
    assert "TS_001.zarr/.zattrs: not valid JSON" in zarr_failure


def test_copies_of_the_reference_dataset_print_no_warning(tmp_path: Path) -> None:
    """Valid data is silent, in the form CI uses (``--junitxml``): no pytest warning per test, no finding."""
    bucket = buckets.build(12, tmp_path / "bucket", shared_dir() / "reference-90001" / "output")
    junit = tmp_path / "junit.xml"
    result = run_suite("--dataset", "90001", "--bucket", f"file://{bucket}", "--junitxml", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warn" not in (result.stdout + result.stderr).lower(), result.stdout
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) > 2000 and not any(child.tag in ("failure", "error") for case in cases for child in case)


def test_a_finding_below_the_severity_is_one_line_and_counted(bucket_copy: Path) -> None:
    (bucket_copy / "10001/TS_001/notes.txt").write_text("a stray file\n")
    (bucket_copy / "10001/TS_002/notes.txt").write_text("a stray file\n")
    result = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    (finding,) = [line for line in lines if line.startswith("GEN-ORPHAN")]
    assert finding.startswith("GEN-ORPHAN [warning] 10001: 2 keys match no layout template: 10001/TS_001/notes.txt")
    counts = lines[lines.index("per code:") + 1 :]
    assert ["1", "GEN-ORPHAN"] in [line.split() for line in counts]
    warned = len([line for line in lines if " [warning] " in line])
    assert "warnings summary" not in result.stdout and "session.py" not in result.stdout
    assert f", {warned} warned in " in lines[-1], lines[-1]
    severe = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}", "--severity", "warning")
    assert severe.returncode == 1 and "GEN-ORPHAN [warning] 10001: 2 keys" in severe.stdout


def test_unknown_dataset_is_a_failed_discovery_check(tmp_path: Path) -> None:
    result = run_suite("--dataset", "424242", "--bucket", f"file://{tmp_path}")
    assert result.returncode == 1
    assert "GEN-DISCOVERY: dataset 424242: nothing under" in result.stdout


def _recorder(endpoint: str, action: str) -> bytes:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request) as response:
        return response.read()


def test_suite_on_moto_only_reads(clean_tree: Path, s3_bucket: str, s3_endpoint: str) -> None:
    upload_tree(clean_tree, s3_bucket)
    _recorder(s3_endpoint, "reset-recording")
    _recorder(s3_endpoint, "start-recording")
    try:
        result = run_suite("--dataset", "10001", "--bucket", s3_bucket)
    finally:
        _recorder(s3_endpoint, "stop-recording")
    assert result.returncode == 0, result.stdout + result.stderr
    methods = [json.loads(line)["method"] for line in _recorder(s3_endpoint, "download-recording").splitlines()]
    assert methods and set(methods) <= {"GET", "HEAD"}, set(methods)


@pytest.mark.parametrize("option", ["--dataset", "--datasets"])
def test_dataset_option_accepts_lists(clean_tree: Path, option: str) -> None:
    result = run_suite(option, "10001,10001", "--bucket", f"file://{clean_tree}", "--co")
    assert result.returncode == 0 and "TOMO-MRC-VOXEL-SPACING" in result.stdout


def test_suite_never_writes_into_a_local_bucket(bucket_copy: Path) -> None:
    before = {path: path.stat().st_mtime_ns for path in bucket_copy.rglob("*")}
    # A bare path (not file://) can become pytest's rootdir, where its cache would be written.
    command = [sys.executable, "-m", "pytest", "-q", "--dataset", "10001", "--bucket", str(bucket_copy)]
    result = subprocess.run(command, cwd=bucket_copy, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout
    assert {path: path.stat().st_mtime_ns for path in bucket_copy.rglob("*")} == before


def test_waivers_accept_a_failure_until_they_expire(bucket_copy: Path, tmp_path: Path) -> None:
    case_mrc_voxel_spacing().apply(bucket_copy)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- code: TOMO-MRC-*\n  entity: '10001/TS_001/*'\n  reason: known header defect, ticket 12\n")
    waived = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}", "--waivers", str(waivers), "-rx")
    assert waived.returncode == 0, waived.stdout
    assert "waived: known header defect, ticket 12" in waived.stdout and " xfailed" in waived.stdout
    waivers.write_text(waivers.read_text() + "  expires: 2000-01-01\n")
    expired = run_suite("--dataset", "10001", "--bucket", f"file://{bucket_copy}", "--waivers", str(waivers))
    assert expired.returncode == 1
    assert "(waiver expired 2000-01-01: known header defect, ticket 12)" in expired.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- code: X\n", "waivers.yaml:1: waiver 1: unknown keys [], missing keys ['entity', 'reason']"),
        ("{a: 1}\n", "expected a list of waivers"),
        ("- {code: X, entity: '*', reason: r, expires: soon}\n", ":1: waiver 1: expires 'soon' is not YYYY-MM-DD"),
        ("- {code: A, entity: '*', reason: r}\n\n- {code: B, entity: '*', reason: ''}\n", ":3: waiver 2: code, entity"),
        ("- code: A\n  entity: '*'\n  reason: r: s\n", "waivers.yaml:3: invalid YAML: mapping values are not allowed"),
    ],
)
def test_bad_waivers_file_is_a_one_line_usage_error(tmp_path: Path, content: str, message: str) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(content)
    result = run_suite("--dataset", "10001", "--bucket", f"file://{tmp_path}", "--waivers", str(waivers))
    assert result.returncode == 4
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_suite_without_a_dataset_is_a_usage_error(workers: list[str]) -> None:
    result = run_suite(*workers)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "ERROR: the validation suite needs a dataset: pytest --dataset ID" in result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--run-glob", "XX*", "--run-glob 'XX*' matches none of its runs (TS_001, TS_002)"),
        ("--voxel-spacing-glob", "99*", "--voxel-spacing-glob '99*' matches none of its voxel spacings (13.480)"),
    ],
)
def test_a_glob_that_selects_nothing_fails_discovery(clean_tree: Path, option: str, value: str, problem: str) -> None:
    result = run_suite("--dataset", "10001", "--bucket", f"file://{clean_tree}", option, value)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"GEN-DISCOVERY: dataset 10001: {problem}" in result.stdout.splitlines()


def test_ids_do_not_depend_on_where_pytest_starts(clean_tree: Path, tmp_path: Path) -> None:
    """JUnit classnames and Allure's history ids follow the test ids: started above the checkout, with -n and
    the outputs outside it, they must be those of a run from the checkout."""
    identities = []
    for cwd, workers in ((REPO_ROOT, []), (REPO_ROOT.parent, ["-n", "2"])):
        junit, allure = tmp_path / f"{len(identities)}.xml", tmp_path / f"allure-{len(identities)}"
        outputs = ["--junitxml", str(junit), "--alluredir", str(allure), "-k", "TOMO-MRC-VOXEL-SPACING"]
        result = run_suite("--dataset", "10001", "--bucket", f"file://{clean_tree}", *workers, *outputs, cwd=cwd)
        assert result.returncode == 0, result.stdout + result.stderr
        cases = re.findall(r'<testcase classname="([^"]+)" name="([^"]+)"', junit.read_text())
        history = {json.loads(path.read_text())["historyId"] for path in allure.glob("*-result.json")}
        identities.append((sorted(cases), history))
    assert identities[0] == identities[1] and identities[0][0][0][0] == "data_validation.suite", identities


PROBE_PLUGIN = """
import os
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    stats = session.config.pluginmanager.get_plugin("terminalreporter").stats
    with open(os.environ["CRYOET_PROBE_OUT"], "w") as out:
        for category in ("passed", "skipped"):
            kept = stats.get(category, [])
            out.write(f"PROBE {category} {len(kept)} {len({id(report) for report in kept})}\\n")
"""


def test_passed_and_skipped_reports_are_counted_not_kept_unless_listed(clean_tree: Path, tmp_path: Path) -> None:
    """The terminal reporter's lists keep one shared stand-in per passed or skipped test (a bucket-wide session has
    hundreds of thousands), with the same counts; ``-rA`` lists every test, from its real report, and
    ``--durations`` times every one."""
    (tmp_path / "cryoet_probe.py").write_text(PROBE_PLUGIN)
    arguments = ("-p", "cryoet_probe", "--dataset", "10001", "--bucket", f"file://{clean_tree}")
    probe = tmp_path / "probe.txt"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["CRYOET_PROBE_OUT"] = str(probe)
    runs = {}
    for extra in ((), ("-rA",), ("--durations=0", "--durations-min=0")):
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *arguments, *extra]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        probes = {line.split()[1]: line.split()[2:] for line in probe.read_text().splitlines()}
        runs[extra] = (probes, result.stdout.splitlines()[-1].split(" in ")[0], result.stdout)
    (counted, summary, _), (listed, listed_summary, listed_out) = runs[()], runs[("-rA",)]
    assert summary == listed_summary
    for category in ("passed", "skipped"):
        total, distinct = map(int, counted[category])
        assert total > 10 and distinct == 1
        assert listed[category] == [str(total), str(total)]
    assert sum(line.startswith("PASSED ") for line in listed_out.splitlines()) == int(counted["passed"][0])
    timed, _, timed_out = runs[("--durations=0", "--durations-min=0")]
    assert timed["passed"] == listed["passed"]  # --durations reads every report
    assert sum(" call " in line for line in timed_out.splitlines()) >= int(counted["passed"][0])
