"""Reports of ``pytest --dataset``: the JSON Lines results (``--results-jsonl``) and the Allure results
(``--alluredir``), with ``-n``; the record schema and its documentation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_validation.engine import discovery_results
from data_validation.outcomes import Result, Status, judge
from data_validation.registry import REGISTRY, EntityKind, Severity
from data_validation.results import Record, RecordStatus, jsonable, make_record, read_records, write_records
from data_validation.snapshot import Snapshot
from data_validation.waivers import Waiver
from tests.cases_checks import case_mrc_voxel_spacing
from tests.conftest import REPO_ROOT
from tests.test_validation_suite import run_suite

WAIVED_TOMOGRAM = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100"
BROKEN_RUN_METADATA = "10001/TS_002/run_metadata.json"


def documented_fields() -> list[str]:
    """The field names of the JSONL table in docs/reports.md, in order."""
    text = (REPO_ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    section = text.split("## JSON Lines results", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)


def test_record_fields_are_the_documented_ones() -> None:
    assert documented_fields() == [f.name for f in dataclasses.fields(Record)]


@dataclasses.dataclass
class Session:
    stdout: str
    records: list[dict]
    allure: Path


@pytest.fixture(scope="module")
def reported_session(clean_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    """One suite run with ``-n 2`` on a sample with a waived failure and a real one."""
    root = tmp_path_factory.mktemp("reports")
    bucket = root / "bucket"
    shutil.copytree(clean_tree, bucket)
    case_mrc_voxel_spacing().apply(bucket)  # TS_001's voxel size: waived below
    (bucket / BROKEN_RUN_METADATA).write_bytes(b"{not json")  # GEN-JSON-PARSE fails
    waivers = root / "waivers.yaml"
    waivers.write_text(f"- code: TOMO-MRC-VOXEL-SPACING\n  entity: '{WAIVED_TOMOGRAM}'\n  reason: ticket 7\n")
    results, allure = root / "results.jsonl", root / "allure"
    run = run_suite(
        "--dataset",
        "10001",
        "--bucket",
        f"file://{bucket}",
        "--waivers",
        str(waivers),
        "--results-jsonl",
        str(results),
        "--alluredir",
        str(allure),
        "-n",
        "2",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    records = [json.loads(line) for line in results.read_text().splitlines()]
    return Session(run.stdout, records, allure)


def test_jsonl_has_one_record_per_test_with_the_documented_fields(reported_session: Session) -> None:
    counts = dict(
        (word, int(number))
        for number, word in re.findall(
            r"(\d+) (passed|failed|skipped|xfailed|warned)", reported_session.stdout.splitlines()[-1]
        )
    )
    records = reported_session.records
    assert len(records) == sum(counts.values())
    assert len({(r["code"], r["entity"]) for r in records}) == len(records)
    assert all(list(record) == documented_fields() for record in records)
    statuses = {status: sum(r["status"] == status for r in records) for status in RecordStatus}
    assert statuses["waived"] == counts["xfailed"] == 1
    assert statuses["skipped"] == counts["skipped"]
    # Findings below --severity (pytest: warned, or passed for an info) are failed records too.
    assert statuses["failed"] == counts["failed"] + counts.get("warned", 0) + sum(
        r["status"] == "failed" and r["severity"] == "info" for r in records
    )
    assert counts["failed"] >= 1
    assert statuses["passed"] > 100
    assert {r["severity"] for r in records} <= {"error", "warning", "info"}
    assert all(r["duration"] >= 0 and r["requests"] >= 0 and r["bytes"] >= 0 for r in records)
    # What each check read is in its record.
    assert any(r["tier"] == "SAMPLE" and r["bytes"] > 0 and r["requests"] > 0 for r in records)


def test_jsonl_waived_and_failed_records_carry_their_evidence(reported_session: Session) -> None:
    by_key = {(r["code"], r["entity"]): r for r in reported_session.records}
    waived = by_key[("TOMO-MRC-VOXEL-SPACING", WAIVED_TOMOGRAM)]
    assert waived["status"] == "waived" and waived["waiver"] == "ticket 7"
    assert waived["severity"] == "error" and "expected 13.480" in waived["message"]
    assert waived["observed"] is not None and waived["expected"] is not None
    assert waived["dataset"] == "10001" and waived["kind"] == "tomogram" and waived["tier"] == "HEADER"
    assert waived["title"] == REGISTRY["TOMO-MRC-VOXEL-SPACING"].title
    failed = by_key[("GEN-JSON-PARSE", "10001")]
    assert failed["status"] == "failed" and "run_metadata.json" in failed["message"]
    skipped = [r for r in reported_session.records if r["status"] == "skipped"]
    assert skipped and all(r["message"] for r in skipped)


def _allure_results(directory: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in directory.glob("*-result.json")]


def test_allure_results_carry_labels_titles_evidence_and_pictures(reported_session: Session) -> None:
    results = _allure_results(reported_session.allure)
    assert len(results) == len(reported_session.records)
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        assert {"check", "entity", "check_severity", "severity", "entity_kind"} <= set(labels)
        assert labels["check"] in result["name"] and "[" in result["name"]  # a human title, not the test id
    by_key = {}
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        by_key[(labels["check"], labels["entity"])] = result
    failed = by_key[("GEN-JSON-PARSE", "10001")]
    assert failed["status"] == "failed"
    (evidence,) = [a for a in failed["attachments"] if a["name"] == "evidence"]
    document = json.loads((reported_session.allure / evidence["source"]).read_text())
    assert document["code"] == "GEN-JSON-PARSE" and "message" in document
    waived = by_key[("TOMO-MRC-VOXEL-SPACING", WAIVED_TOMOGRAM)]
    (evidence,) = [a for a in waived["attachments"] if a["name"] == "evidence"]
    document = json.loads((reported_session.allure / evidence["source"]).read_text())
    assert document["observed"] is not None and document["expected"] is not None
    # A picture per tomogram and annotation entity (on its first check), annotations drawn over it.
    pictures: dict[str, Image.Image] = {}
    for result in results:
        labels = {label["name"]: label["value"] for label in result["labels"]}
        for attachment in result.get("attachments", []):
            if attachment["type"] == "image/png":
                pictures[labels["entity"]] = Image.open(reported_session.allure / attachment["source"]).convert("RGB")
    tomograms = {r["entity"] for r in reported_session.records if r["kind"] == EntityKind.TOMOGRAM}
    annotations = {r["entity"] for r in reported_session.records if r["kind"] == EntityKind.ANNOTATION}
    assert tomograms and annotations and tomograms | annotations <= set(pictures)
    for entity in tomograms | annotations:
        assert min(pictures[entity].size) >= 64
    plain = np.asarray(pictures[WAIVED_TOMOGRAM.replace("TS_001", "TS_002")])
    points = np.asarray(pictures["10001/TS_002/Reconstructions/VoxelSpacing13.480/Annotations/100"])
    # Grey tomogram; coloured overlays on the annotation's picture.
    assert np.all(plain[..., 0] == plain[..., 1])
    assert np.any(points[..., 0] != points[..., 1])


# -- units -------------------------------------------------------------------------------------


def test_values_become_plain_json() -> None:
    value = {
        "array": np.arange(3, dtype=np.int64),
        "scalar": np.float32(1.5),
        "nan": float("nan"),
        "set": {2, 1},
        "tuple": (1, "a"),
        "bytes": b"\x00\xff",
        "date": dt.date(2025, 1, 2),
        "severity": Severity.WARNING,
        "other": object,
    }
    converted = jsonable(value)
    assert json.loads(json.dumps(converted, allow_nan=False)) == converted
    assert converted["array"] == [0, 1, 2] and converted["scalar"] == 1.5 and converted["nan"] == "nan"
    assert converted["set"] == [1, 2] and converted["bytes"] == "0x00ff" and converted["severity"] == "warning"


def test_records_round_trip_and_bad_lines_are_named(tmp_path: Path) -> None:
    result = Result("TOMO-MRC-VOXEL-SPACING", WAIVED_TOMOGRAM, Status.FAILED, Severity.ERROR, "x", (14.0,), 13.48)
    result = dataclasses.replace(result, requests=2, bytes_read=1024, duration=0.5)
    record = make_record(result, judge(result, [], Severity.ERROR))
    path = tmp_path / "r.jsonl"
    write_records(path, [record])
    assert read_records(path) == [record]
    assert (record.requests, record.bytes, record.duration) == (2, 1024, 0.5)
    assert record.observed == [14.0] and record.kind == "tomogram" and record.dataset == "10001"
    path.write_text(record.to_json() + "\n[1]\n")
    with pytest.raises(ValueError, match=r"r.jsonl:2: not a result record"):
        read_records(path)


def test_verdicts_follow_the_suite() -> None:
    failure = Result("TOMO-MRC-VOXEL-SPACING", WAIVED_TOMOGRAM, Status.FAILED, Severity.ERROR, "x")
    warning = dataclasses.replace(failure, severity=Severity.WARNING)
    current = Waiver("TOMO-MRC-*", "10001/*", "ticket 1")
    expired = Waiver("TOMO-MRC-*", "10001/*", "ticket 2", dt.date(2000, 1, 1))
    assert judge(failure, [current], Severity.ERROR).status is RecordStatus.WAIVED
    assert judge(failure, [expired], Severity.ERROR).status is RecordStatus.FAILED
    assert judge(failure, [expired], Severity.ERROR).waiver is expired
    below = judge(warning, [current], Severity.ERROR)  # a warning: reported, not waived, not failing
    assert below.status is RecordStatus.FAILED and below.below_threshold and not below.failing
    assert judge(failure, [], Severity.ERROR).failing
    assert judge(warning, [current], Severity.WARNING).status is RecordStatus.WAIVED
    record = make_record(failure, judge(failure, [expired], Severity.ERROR))
    assert record.waiver == "ticket 2" and record.waiver_expires == "2000-01-01"
    assert record.result() == failure
    # A stored record is judged again with the waiver decision it was written with.
    waived = make_record(failure, judge(failure, [current], Severity.ERROR))
    assert waived.verdict(Severity.ERROR).status is RecordStatus.WAIVED
    assert make_record(warning, below).verdict(Severity.WARNING).failing


def test_discovery_problems_name_their_dataset_or_deposition() -> None:
    snapshot = Snapshot("file:///x", None)
    snapshot.discovery_errors += [
        "dataset 424242: nothing under file:///x/424242",
        "deposition 7: cannot list s3://b/depositions_metadata/7: denied",
    ]
    dataset, result = discovery_results(snapshot)
    assert dataset.entity == "424242"
    record = make_record(result, judge(result, [], Severity.ERROR))
    assert record.entity == "depositions_metadata/7" and record.dataset == "" and record.kind == "deposition"
