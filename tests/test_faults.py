"""Reliability under faults: S3 requests failing (503, 500, reset, cut answers) in front of moto, and
runs killed at random moments. Nothing is lost, and the outcome is the fault-free one.

The validation suite gives the fault-free verdicts, every one of them, whatever the faults' seed.
``standardize`` either finishes with exactly the clean output or exits non-zero leaving only objects of
the clean output, none of whose metadata names an object that is not there; a rerun converges.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import importers.storage
from importers.ingest.entities.context import IngestOptions
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT, output_files, upload_tree
from tests.s3_proxy import FaultPlan, S3Proxy

CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
SEEDS = (0, 1, 2)
#: The run that holds the defects: the suite is run on it alone, to keep four validations short.
RUN = "TS_001"
#: A faulty standardize and its rerun take ~25 s on moto: two seeds keep the test under a minute.
STANDARDIZE_SEEDS = (0, 1)


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-run sample source: small enough to standardize a few times in seconds."""
    from importers.ingest.sample import write_sample

    root = tmp_path_factory.mktemp("one-run-source")
    write_sample(root, runs=1, size=16, seed=11)
    return root


@pytest.fixture(scope="module")
def clean_output(one_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """What a fault-free run writes, as :func:`output_files` compares it."""
    output = tmp_path_factory.mktemp("one-run-clean")
    status, _ = standardize_config(CONFIG, str(one_run), str(output), stream=io.StringIO())
    assert status == 0
    return output_files(str(output))


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries back off for milliseconds, not seconds: the faults are many and the test short."""
    monkeypatch.setattr(importers.storage, "DEFAULT_BACKOFF_SECONDS", 0.001)


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[S3Proxy]:
    with S3Proxy(s3_endpoint) as running:
        yield running


def _standardize(input_url: str, output_url: str, endpoint: str | None = None) -> tuple[int, str]:
    stream = io.StringIO()
    status, _ = standardize_config(
        CONFIG, input_url, output_url, endpoint_url=endpoint, options=IngestOptions(), stream=stream
    )
    return status, stream.getvalue()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def inconsistencies(files: dict[str, bytes], clean: dict[str, bytes]) -> list[str]:
    """What an interrupted or failed run left that a clean run would not have: an object that is not the
    clean run's (another id, other content), a metadata document naming an object that is missing, or a
    manifest that does not record exactly the dataset's objects (it describes what the bucket holds)."""
    manifests = [key for key in files if key.endswith("/dataset_manifest.json")]
    problems = [
        f"{key}: not as a clean run writes it" for key in files if files[key] != clean.get(key) and key not in manifests
    ]
    for key in manifests:
        dataset = key.split("/")[0] + "/"
        present = {name.removeprefix(dataset) for name in files if name.startswith(dataset) and name != key}
        if set(json.loads(files[key])) != present:
            problems.append(f"{key}: does not record the objects present")
    for key, data in files.items():
        if not key.endswith(".json") or ".zarr/" in key:
            continue
        for value in _strings(json.loads(data)):
            target = f"{value}/.zattrs" if value.endswith(".zarr") else value
            if target in clean and target not in files:
                problems.append(f"{key} names {value}, which is missing")
    return problems


@pytest.fixture(scope="module")
def defective_tree(clean_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clean sample with a few real defects, so that there are failures for faults to hide."""
    import shutil

    from tests.cases_checks import (
        case_metadata_json_unparsable,
        case_mrc_voxel_spacing,
        case_referenced_path_missing,
        case_vol_nan_block,
    )

    root = tmp_path_factory.mktemp("defective") / "bucket"
    shutil.copytree(clean_tree, root)
    for case in (
        case_mrc_voxel_spacing,
        case_metadata_json_unparsable,
        case_referenced_path_missing,
        case_vol_nan_block,
    ):
        case().apply(root)
    return root


def test_suite_verdicts_under_s3_faults_are_the_fault_free_ones(
    defective_tree: Path, s3_bucket: str, proxy: S3Proxy
) -> None:
    """10% of requests fail (503, 500, reset, cut body or listing), each at most 3 times in a row: every
    verdict and message equals the fault-free run's, for each seed, and the retries are counted."""
    from data_validation.engine import validate
    from data_validation.io_accounting import IoReport

    upload_tree(defective_tree, s3_bucket)
    expected = validate(Bucket(s3_bucket, endpoint_url=proxy.url), ["10001"], run_glob=RUN)
    assert proxy.failures == 0 and any(result.status == "failed" for result in expected)
    reports = []
    for seed in SEEDS:
        proxy.configure(faults=FaultPlan(rate=0.1, seed=seed))
        report = IoReport()
        bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
        results = validate(bucket, ["10001"], run_glob=RUN, report=report)
        proxy.configure(faults=None)
        assert [result.line() for result in results] == [result.line() for result in expected], f"seed {seed}"
        assert [result.status for result in results] == [result.status for result in expected]
        assert proxy.failures > 0, f"seed {seed} injected no fault"
        reports.append(report)
        proxy.clear()
    # Counted over the seeds, not per seed: aiohttp itself resends a request that a reset cut on a reused
    # connection, so a seed whose few faults all fall there leaves nothing for our retries to count (the fault
    # placement hashes the session's random bucket name).
    assert sum(report.session_retries + report.check_retries for report in reports) > 0
    assert any(line.startswith("retried after a transient storage error") for r in reports for line in r.lines())


def test_standardize_under_s3_faults_converges_to_the_clean_output(
    one_run: Path, clean_output: dict[str, bytes], s3_bucket: str, proxy: S3Proxy, fast_retries: None
) -> None:
    """Per seed: a run under faults that outlast the retries (45% of requests, up to 10 times in a row)
    either gives the clean output or exits 1 leaving nothing inconsistent; then a rerun under ordinary
    faults (10%, of every kind, at most 3 in a row: the retries absorb them) gives exactly the clean output."""
    upload_tree(one_run, f"{s3_bucket}/input")
    failed = 0
    for seed in STANDARDIZE_SEEDS:
        output = f"{s3_bucket}/out-{seed}"
        proxy.configure(faults=FaultPlan(rate=0.45, seed=seed, max_repeats=10))
        status, log = _standardize(f"{s3_bucket}/input", output, proxy.url)
        proxy.configure(faults=None)
        files = output_files(output)
        if status != 0:
            failed += 1
            assert "error:" in log
            assert inconsistencies(files, clean_output) == []
        proxy.configure(faults=FaultPlan(rate=0.1, seed=seed))
        status, log = _standardize(f"{s3_bucket}/input", output, proxy.url)
        assert status == 0, log
        proxy.configure(faults=None)
        assert output_files(output) == clean_output
    assert failed > 0, "the faults should have outlasted the retries at least once"
    assert proxy.failures > 0


def test_a_run_killed_at_random_moments_is_finished_by_the_next(
    one_run: Path, clean_output: dict[str, bytes], tmp_path: Path
) -> None:
    """SIGKILL during a local run (seeded moments): what is left is consistent, temporary files
    included, and the next run gives exactly the clean output and removes the killed run's leftovers."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "importers.cli", "standardize", str(CONFIG), "--input", str(one_run)]
    for seed in SEEDS:
        output = tmp_path / f"out-{seed}"
        delay = random.Random(seed).uniform(1.5, 4.5)
        process = subprocess.Popen([*command, "--output", str(output)], env=environment, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        left = output_files(str(output)) if output.exists() else {}
        temporaries = [key for key in left if key.endswith(".partial")]
        assert inconsistencies({k: v for k, v in left.items() if k not in temporaries}, clean_output) == []
        status, log = _standardize(str(one_run), str(output))
        assert status == 0, log
        assert all(f"removed  {key}" in log for key in temporaries)
        assert output_files(str(output)) == clean_output
