"""``cryoet-ingest audit``: a 3-dataset bucket audited, changed, audited again; shards, exit codes, the
summary's new / fixed, and the HTML report rendered by headless Chromium."""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from data_validation import io_accounting
from data_validation.allure_labels import entity_picture
from data_validation.audit import AuditOptions, options_from, register, run_audit, select_datasets, shard_of
from data_validation.reader import ObjectReader
from data_validation.registry import EntityKind, Tier
from data_validation.results import read_records
from data_validation.snapshot import discover
from data_validation.summary import summarize
from importers.cli import main as cli_main
from importers.storage import Bucket
from tests.cases_checks import case_points_outside_the_tomogram
from tests.conftest import REPO_ROOT

DATASETS = ("10001", "10002", "10003")
CHANGED_TOMOGRAM = "10002/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100"
CHANGED_CHUNK = f"{CHANGED_TOMOGRAM}/TS_001.zarr/0/0/0/0"


@pytest.fixture(scope="module")
def three_datasets(sample_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample standardized as datasets 10001, 10002 and 10003 (one deposition) into one bucket."""
    from importers.ingest.standardize import standardize_config

    bucket = tmp_path_factory.mktemp("three-datasets") / "bucket"
    configs = tmp_path_factory.mktemp("configs")
    for dataset_id in DATASETS:
        config = yaml.safe_load((REPO_ROOT / "dataset_configs" / "10001.yaml").read_text())
        config["datasets"][0]["metadata"]["dataset_identifier"] = int(dataset_id)
        config["datasets"][0]["sources"] = [{"literal": {"value": [dataset_id]}}]
        path = configs / f"{dataset_id}.yaml"
        path.write_text(yaml.safe_dump(config))
        status, ingestion = standardize_config(path, str(sample_source), str(bucket), stream=io.StringIO())
        assert status == 0, ingestion.report.failures
    return bucket


@pytest.fixture
def bucket(three_datasets: Path, tmp_path: Path) -> Path:
    """A private copy; modification times are kept, so local ETags (mtime-size) are those of the original."""
    target = tmp_path / "bucket"
    shutil.copytree(three_datasets, target, copy_function=shutil.copy2)
    return target


class RecordingBucket(Bucket):
    """A Bucket that remembers the key of every read and the prefix of every listing."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[str] = []
        self.listed: list[str] = []

    def read(self, key: str) -> bytes:
        self.reads.append(key)
        return super().read(key)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        self.reads.append(key)
        return super().read_range(key, start, end)

    def read_many(self, ranges):
        self.reads.extend(key for key, _, _ in ranges)
        return super().read_many(ranges)

    def _list_uncached(self, prefix: str):
        self.listed.append(prefix)
        return super()._list_uncached(prefix)


def audit(root: Path, report: Path, previous: Path | None = None, **options) -> tuple:
    recording = RecordingBucket(f"file://{root}", read_only=True)
    outcome = run_audit(recording, AuditOptions(report=report, previous=previous, allure=False, **options), None)
    return outcome, recording


def test_second_audit_rereads_only_the_changed_entity(bucket: Path, tmp_path: Path) -> None:
    first, first_io = audit(bucket, tmp_path / "night-1")
    assert first.datasets == list(DATASETS) and first.exit_code == 0, first.summary.lines()
    assert {key.split("/")[0] for key in first_io.reads} == {*DATASETS, "depositions_metadata"}
    assert first.summary.carried_over == 0

    chunk = bucket / CHANGED_CHUNK
    original = chunk.read_bytes()
    chunk.write_bytes(original[:16] + b"\xff" * 64 + original[80:])  # one object changes: a broken chunk
    second, second_io = audit(bucket, tmp_path / "night-2", previous=tmp_path / "night-1")

    # The unchanged datasets cost their listing and nothing else; the deposition is listed once.
    assert Counter(second_io.listed) == Counter([*DATASETS, "depositions_metadata/10001"])
    assert {key.split("/")[0] for key in second_io.reads} <= {"10002", "depositions_metadata"}
    # In the changed dataset: the changed tomogram's volumes, and small objects of its ancestors (metadata
    # documents for the dataset-wide checks, key photos): never another entity's volume data.
    volumes = [key for key in second_io.reads if ".zarr/" in key or key.endswith(".mrc")]
    assert volumes and all(key.startswith(CHANGED_TOMOGRAM + "/") for key in volumes)
    assert CHANGED_CHUNK in second_io.reads
    assert second_io.stats.total_requests * 5 < first_io.stats.total_requests
    records = read_records(second.results)
    evaluated = {r.entity for r in records if not r.carried_over}
    assert CHANGED_TOMOGRAM in evaluated
    assert not any(r.entity.startswith(("10001", "10003", "10002/TS_002/")) for r in records if not r.carried_over)
    assert not any(r.entity.startswith("depositions_metadata") for r in records if not r.carried_over)
    assert sum(r.requests for r in records if r.carried_over) == 0

    # The summary marks the chunk's failure as new; a third night, with the chunk restored, as fixed.
    new = {(c.code, c.entity) for c in second.summary.new}
    assert ("TOMO-VOL-CHUNK-DECODE", CHANGED_TOMOGRAM) in new
    assert {entity for _, entity in new} == {CHANGED_TOMOGRAM} and not second.summary.fixed
    assert second.summary.datasets["10002"].new == len(new) and second.summary.datasets["10001"].new == 0
    assert second.exit_code == 1
    summary_file = json.loads((tmp_path / "night-2" / "summary.json").read_text())
    assert summary_file["exit_code"] == 1 and summary_file["totals"]["new"] == len(new)

    chunk.write_bytes(original)
    third, _ = audit(bucket, tmp_path / "night-3", previous=tmp_path / "night-2" / "results.jsonl")
    assert {(c.code, c.entity) for c in third.summary.fixed} == new and not third.summary.new
    assert third.exit_code == 0 and third.summary.checks["TOMO-VOL-CHUNK-DECODE"].fixed == 1


def test_full_reads_everything_again(bucket: Path, tmp_path: Path) -> None:
    _, first_io = audit(bucket, tmp_path / "a", datasets=["10001"])
    again, again_io = audit(bucket, tmp_path / "b", previous=tmp_path / "a", datasets=["10001"], full=True)
    assert again.summary.carried_over == 0 and len(again_io.reads) == len(first_io.reads)
    assert not again.summary.new and not again.summary.fixed


def test_waivers_are_applied_again_to_carried_over_results(bucket: Path, tmp_path: Path) -> None:
    from data_validation.waivers import Waiver

    (bucket / CHANGED_CHUNK).write_bytes(b"broken")
    first, _ = audit(bucket, tmp_path / "a", datasets=["10002"])
    assert first.exit_code == 1
    waivers = [
        Waiver("TOMO-VOL-*", CHANGED_TOMOGRAM, "re-ingest scheduled"),
        Waiver("DS-MANIFEST", "10002", "re-ingest scheduled"),  # the chunk is not the size recorded
    ]
    second, io_ = audit(bucket, tmp_path / "b", previous=tmp_path / "a", datasets=["10002"], waivers=waivers)
    assert second.exit_code == 0 and second.summary.totals.waived >= 1 and second.summary.carried_over > 0
    assert not io_.reads  # nothing changed: judged again from the previous results alone


def test_shards_partition_the_datasets(bucket: Path, tmp_path: Path) -> None:
    storage = Bucket(f"file://{bucket}", read_only=True)
    for shards in (1, 2, 3, 5):
        parts = [select_datasets(storage, None, shards, k) for k in range(shards)]
        assert sorted(d for part in parts for d in part) == list(DATASETS)
    assert shard_of("10002", 4) == shard_of("10002", 4)  # stable: the id alone decides
    seen = []
    for k in range(2):
        outcome, _ = audit(bucket, tmp_path / f"shard-{k}", shards=2, shard=k)
        assert outcome.datasets == select_datasets(storage, None, 2, k)
        seen += {r.dataset for r in read_records(outcome.results) if r.dataset}
    assert sorted(seen) == list(DATASETS)


def test_rotating_content_coverage_reaches_every_slice_in_k_nights(bucket: Path, tmp_path: Path) -> None:
    budgets = {**io_accounting.DEFAULT_BUDGETS, Tier.SAMPLE: None}
    previous = None
    chunk_nights: dict[str, set[int]] = {}
    tilt_series = "10001/TS_001/TiltSeries/100/TS_001.zarr/"  # 41 sections: 41 chunks per level, sampled
    for night in (700, 701, 702):
        report = tmp_path / f"night-{night}"
        outcome, io_ = audit(
            bucket, report, previous=previous, datasets=["10001"], rotate=3, night=night, budgets=budgets
        )
        for key in io_.reads:
            if key.startswith(tilt_series) and not key.rsplit("/", 1)[-1].startswith("."):
                chunk_nights.setdefault(key, set()).add(night)
        assert outcome.exit_code == 0, outcome.summary.lines()
        records = read_records(outcome.results)
        content = [r for r in records if r.tier == "SAMPLE" and r.coverage is not None]
        assert content and not any(r.carried_over for r in content)  # tonight's slice is read, never carried
        assert all(r.carried_over for r in records if r.tier == "HEADER") == (previous is not None)
        assert all(r.coverage["slice"] == [night % 3, 3] for r in content)
        text = (report / "summary.txt").read_text()
        previous = report
    assert all(set(r.coverage["nights"].values()) == {700, 701, 702} for r in content)
    # The three nights read every chunk; each on the one night of its slice, but for the samples (every night).
    assert len(chunk_nights) == 3 * 41
    every_night = [key for key, nights in chunk_nights.items() if len(nights) == 3]
    assert len(every_night) <= 3 * 2  # --sample-chunks 2 per level
    for key, nights in chunk_nights.items():
        if key not in every_night:
            assert nights == {next(n for n in (700, 701, 702) if n % 3 == int(key.split("/")[-3]) % 3)}, key
    assert f"slice {702 % 3} of 3;" in text and "(100.0 %); oldest verification 2 nights ago" in text, text
    assert "content coverage" in (report / "report.html").read_text()


def test_command_exit_codes_outputs_and_progress(
    bucket: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["audit", "--bucket", f"file://{bucket}", "--no-allure", "--datasets", "10001,10003"]
    assert cli_main([*arguments, "--report", str(tmp_path / "ok")]) == 0
    out, err = capsys.readouterr()
    assert "audit [1/2 datasets] 10001" in err and "audit [2/2 datasets] 10003" in err and "ETA" in err
    assert "entities/s" in err and " passed, " in out
    for name in ("results.jsonl", "summary.json", "summary.txt", "report.html"):
        assert (tmp_path / "ok" / name).is_file()
    (bucket / "10003" / "dataset_metadata.json").write_text("{broken")
    assert cli_main([*arguments, "--report", str(tmp_path / "bad"), "--previous", str(tmp_path / "ok")]) == 1
    out, _ = capsys.readouterr()
    assert "new (" in out and "GEN-JSON-PARSE [error] 10003" in out
    assert cli_main([*arguments, "--shards", "2", "--shard", "2"]) == 2
    assert "--shard 2 --shards 2" in capsys.readouterr().err
    assert cli_main([*arguments, "--db-url", "postgresql://postgres@127.0.0.1:1/portal"]) == 2
    err = capsys.readouterr().err  # an unreachable database: one line, not a failure per DB check and dataset
    assert err.count("\n") == 1 and "127.0.0.1:1/portal: cannot connect: " in err
    bad_previous = tmp_path / "bad.jsonl"
    bad_previous.write_text("not json\n")
    assert cli_main([*arguments, "--report", str(tmp_path / "x"), "--previous", str(bad_previous)]) == 2
    assert "bad.jsonl:1: not a result record" in capsys.readouterr().err


def test_summary_new_and_fixed_semantics() -> None:
    from data_validation.results import Record

    def record(code: str, status: str, entity: str = "10001/TS_001") -> Record:
        return Record(code=code, status=status, severity="error", entity=entity, dataset=entity.split("/")[0])

    before = [
        record("A", "failed"),
        record("B", "passed"),
        record("C", "failed"),
        record("D", "failed"),
        record("E", "failed", "10001/TS_009"),  # entity gone since
        record("F", "failed", "20002/TS_001"),  # a dataset not audited now: not compared
    ]
    now = [record("A", "failed"), record("B", "failed"), record("C", "passed"), record("D", "waived")]
    before.append(record("G", "failed"))
    now.append(record("G", "skipped"))  # a broken input blocked the check: not fixed, unverified
    summary = summarize(now, before)
    assert [(c.code, c.before, c.now) for c in summary.new] == [("B", "passed", "failed")]
    assert sorted((c.code, c.now) for c in summary.fixed) == [("C", "passed"), ("E", "gone")]
    assert [(c.code, c.before, c.now) for c in summary.unverified] == [("G", "failed", "skipped")]
    assert summary.totals.failed == 2 and summary.totals.waived == 1 and summary.exit_code == 1
    assert summarize(now).new == [] and not summarize(now).has_previous


def test_a_check_skipped_after_a_failure_is_unverified_not_fixed(bucket: Path, tmp_path: Path) -> None:
    store = bucket / CHANGED_TOMOGRAM / "TS_001.zarr"
    (store / "0/0/0/0").write_bytes(b"broken")
    first, _ = audit(bucket, tmp_path / "night-1", datasets=["10002"])
    assert ("TOMO-VOL-CHUNK-DECODE", CHANGED_TOMOGRAM) in {
        (r.code, r.entity) for r in read_records(first.results) if r.failed
    }
    (store / "0/.zarray").write_text("garbage")  # the check that read the chunk can no longer run
    second, _ = audit(bucket, tmp_path / "night-2", previous=tmp_path / "night-1", datasets=["10002"])
    assert not any(c.code == "TOMO-VOL-CHUNK-DECODE" for c in second.summary.fixed)
    assert ("TOMO-VOL-CHUNK-DECODE", "skipped") in {(c.code, c.now) for c in second.summary.unverified}
    text = (tmp_path / "night-2" / "summary.txt").read_text()
    assert "unverified: failed before, skipped now (" in text and "TS_001.zarr/0/.zarray" in text
    html = second.html.read_text()
    assert "Unverified: failed in the previous run, skipped now (" in html
    skipped = html.split("<h2>Skipped (", 1)[1]
    assert "TOMO-VOL-CHUNK-DECODE" in skipped and "reported elsewhere" in skipped
    assert "not applicable" not in skipped  # checks whose subject an entity lacks are not listed


def run_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "importers.cli", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ.copy(), check=False)


@pytest.mark.parametrize("where", ["missing", "empty", "unreachable"])
def test_a_bucket_that_shows_no_dataset_is_not_audited(where: str, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    url = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path / "empty"), "unreachable": "s3://portal"}
    report = tmp_path / "report"
    arguments = ["--bucket", url[where], "--endpoint-url", "http://127.0.0.1:9", "--no-allure", "--report", str(report)]
    completed = run_command("audit", *arguments)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("audit: not audited: ")
    problem = "cannot list s3://portal: list failed" if where == "unreachable" else "no dataset in file://"
    assert problem in completed.stderr and not completed.stdout
    summary = json.loads((report / "summary.json").read_text())
    assert summary["exit_code"] == 2 and summary["not_audited"] in completed.stderr
    html = (report / "report.html").read_text()
    assert "not audited: " in html and "no failing check" not in html
    assert not (report / "results.jsonl").exists()  # no results for a later --previous to trust


def test_html_report_renders_in_headless_chromium(bucket: Path, tmp_path: Path) -> None:
    (bucket / CHANGED_CHUNK).write_bytes(b"broken")
    outcome, _ = audit(bucket, tmp_path / "report", datasets=["10002"])
    html = outcome.html.read_text()
    assert "TOMO-VOL-CHUNK-DECODE" in html and "http" not in html.split("<body>", 1)[0]  # self-contained
    # The failing tomogram's picture is on the page, inline: its central slab, as Allure attaches it.
    assert "<h2>Pictures of failing entities (1)</h2>" in html
    inline = re.search(rf'<img src="data:image/png;base64,([^"]+)" alt="picture of {CHANGED_TOMOGRAM}">', html)
    assert inline is not None
    storage = Bucket(f"file://{bucket}", read_only=True)
    snapshot = discover(storage, ["10002"])
    tomogram = next(e for e in snapshot.entities[EntityKind.TOMOGRAM] if e.path == CHANGED_TOMOGRAM)
    assert base64.b64decode(inline.group(1)) == entity_picture(ObjectReader(snapshot, storage), tomogram)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (scripts/install-chromium.sh installs Debian's package)")
    screenshot = tmp_path / "report.png"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1600",
        f"--screenshot={screenshot}",
        outcome.html.as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert screenshot.is_file(), completed.stderr[-2000:]
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1600, 1280)
    assert pixels.std() > 5  # not a blank page
    # The failing verdict's red-tinted box (#fde4e1) is on the page.
    red = (np.abs(pixels - np.array([0xFD, 0xE4, 0xE1])).sum(axis=2) < 12).sum()
    assert red > 500
    # The picture: a block of mid-grey pixels (text antialiasing makes far fewer).
    grey = (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])
    assert (grey & (pixels[..., 0] > 40) & (pixels[..., 0] < 215)).sum() > 30_000


def _inline_picture(html: str, entity: str) -> Image.Image:
    found = re.search(rf'<img src="data:image/png;base64,([^"]+)" alt="picture of {re.escape(entity)}">', html)
    assert found is not None, f"no picture of {entity}"
    return Image.open(io.BytesIO(base64.b64decode(found.group(1)))).convert("RGB")


def test_a_point_outside_the_volume_is_pictured_where_it_lies(bucket: Path, tmp_path: Path) -> None:
    """Not the annotation's generic picture: the slab nearest the point, on a canvas that shows the volume's
    edge and the point ringed beyond it (x = 16 in a tomogram 16 voxels wide)."""
    corruption = case_points_outside_the_tomogram()
    corruption.apply(bucket)
    outcome, _ = audit(bucket, tmp_path / "report", datasets=["10001"])
    picture = _inline_picture(outcome.html.read_text(), corruption.entity)
    storage = Bucket(f"file://{bucket}", read_only=True)
    snapshot = discover(storage, ["10001"])
    annotation = next(e for e in snapshot.entities[EntityKind.ANNOTATION] if e.path == corruption.entity)
    generic = Image.open(io.BytesIO(entity_picture(ObjectReader(snapshot, storage), annotation)))
    assert picture.width > generic.width and picture.height > generic.height
    pixels = np.asarray(picture).astype(int)
    ring = (np.abs(pixels - np.array([0xFF, 0x3B, 0x30])).sum(axis=2) < 30).nonzero()
    edge = (pixels == 255).all(axis=2).any(axis=0).nonzero()[0]  # the columns of the volume's white border
    assert len(ring[1]) > 20 and ring[1].mean() > edge.max() - 4, (ring[1].mean(), edge.max())


def test_unchanged_s3_bucket_costs_its_listings(three_datasets: Path, s3_bucket: str) -> None:
    from tests.conftest import upload_tree

    upload_tree(three_datasets, s3_bucket)
    report = three_datasets.parent / "s3-report"
    first = run_audit(Bucket(s3_bucket, read_only=True), AuditOptions(report=report / "1", allure=False), None)
    assert first.datasets == list(DATASETS) and first.exit_code == 0, first.summary.lines()
    storage = Bucket(s3_bucket, read_only=True)
    second = run_audit(storage, AuditOptions(report=report / "2", previous=report / "1", allure=False), None)
    assert second.summary.evaluated == len(second.summary.new) == 0
    assert second.summary.carried_over == first.summary.evaluated
    # One delimited listing of the root, one listing per dataset and one of the deposition: no GET.
    assert storage.stats.requests == {"list": 1 + len(DATASETS) + 1}


@pytest.mark.parametrize(
    ("arguments", "sample_budget"),
    [
        ([], io_accounting.DEFAULT_BUDGETS[Tier.SAMPLE]),
        (["--rotate", "7"], None),
        (["--full-content"], None),
        (["--full-content", "--io-budget", "sample=1GiB"], 1 << 30),
    ],
)
def test_rotating_coverage_lifts_the_sample_budget_unless_one_is_given(
    arguments: list[str], sample_budget: int | None
) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["audit", *arguments])
    assert options_from(args).budgets[Tier.SAMPLE] == sample_budget
