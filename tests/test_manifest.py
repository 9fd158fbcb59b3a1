"""The dataset integrity manifest: written by standardize and `cryoet-ingest manifest`, compared by DS-MANIFEST
with one listing, without reading data."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from data_validation.engine import Result, Status, validate
from data_validation.registry import NOT_APPLICABLE, REGISTRY, Severity
from importers import manifest
from importers.cli import main
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket, ObjectInfo
from tests.conftest import REPO_ROOT, shared_dir, upload_tree
from tests.corruptions import DATASET, TOMOGRAM_MRC, TOMOGRAM_ZARR

CHECK = REGISTRY["DS-MANIFEST"]
MANIFEST = f"{DATASET}/dataset_manifest.json"


def _check(bucket_url: str, dataset: str = DATASET) -> Result:
    (result,) = validate(Bucket(bucket_url, read_only=True), [dataset], checks=[CHECK])
    return result


@pytest.fixture
def standardized_s3(sample_source: Path, s3_bucket: str) -> str:
    status, _ = standardize_config(
        REPO_ROOT / "dataset_configs" / "10001.yaml", str(sample_source), s3_bucket, stream=io.StringIO()
    )
    assert status == 0
    return s3_bucket


def test_standardize_records_every_object_with_its_checksum(standardized_s3: str) -> None:
    bucket = Bucket(standardized_s3, read_only=True)
    listing = bucket.listing(DATASET)
    recorded = manifest.parse(bucket.read(MANIFEST), DATASET)
    assert set(recorded) == set(listing) - {MANIFEST}
    assert all(entry.size == listing[key].size and entry.etag == listing[key].etag for key, entry in recorded.items())
    assert all(re.fullmatch(r"[0-9a-f]{32}", entry.etag or "") for entry in recorded.values())
    result = _check(standardized_s3)
    assert result.status is Status.PASSED, result.line()


def test_replaced_truncated_and_missing_objects_are_caught_without_a_data_read(standardized_s3: str) -> None:
    bucket = Bucket(standardized_s3)
    chunk, mrc, metadata = f"{TOMOGRAM_ZARR}/0/0/0/0", TOMOGRAM_MRC, f"{DATASET}/TS_002/run_metadata.json"
    original = bucket.read(chunk)
    bucket.write(chunk, bytes([original[0] ^ 0xFF]) + original[1:])  # same size, other content
    bucket.write(mrc, bucket.read(mrc)[:-100])  # an upload cut short
    bucket.fs.rm(bucket.path(metadata))
    result = _check(standardized_s3)
    assert result.status is Status.FAILED and result.severity is Severity.ERROR, result.line()
    assert "3 of " in result.message and "(1 missing, 1 resized, 1 replaced)" in result.message
    for named in (f"{chunk}: checksum", f"{mrc}: ", f"{metadata}: missing"):
        assert named in result.message
    # The check read nothing: the session's listing and its prefetched small documents (the manifest among
    # them; never a chunk or MRC data) are all it compares.
    assert result.requests == 0 and result.bytes_read == 0


def test_the_portal_reference_without_a_manifest_is_not_applicable() -> None:
    result = _check(str(shared_dir() / "reference-90001" / "output"), "90001")
    assert result.status is Status.SKIPPED and result.message.startswith(NOT_APPLICABLE), result.line()
    assert "cryoet-ingest manifest --bucket URL --dataset 90001" in result.message


def test_manifest_command_records_a_dataset_ingested_before(s3_bucket: str, capsys) -> None:
    upload_tree(shared_dir() / "reference-90001" / "output", s3_bucket)
    assert main(["manifest", "--bucket", s3_bucket, "--dataset", "90001"]) == 0
    assert re.fullmatch(r"manifest: s3://.*/90001/dataset_manifest.json: \d+ objects\n", capsys.readouterr().out)
    assert _check(s3_bucket, "90001").status is Status.PASSED
    full = validate(Bucket(s3_bucket, read_only=True), ["90001"], checks=[REGISTRY["GEN-ORPHAN"], CHECK])
    assert all(r.status is Status.PASSED for r in full), [r.line() for r in full]  # a layout file, no run


@pytest.mark.parametrize(
    ("dataset", "status", "message"),
    [("abc", 2, "error: dataset id 'abc' is not a number"), ("12345", 1, "error: nothing under ")],
)
def test_manifest_command_bad_input_is_one_line(tmp_path: Path, dataset: str, status: int, message: str, capsys):
    assert main(["manifest", "--bucket", str(tmp_path), "--dataset", dataset]) == status
    error = capsys.readouterr().err
    assert error.startswith(message) and error.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_local_manifests_record_sizes_only(bucket_copy: Path) -> None:
    document = json.loads((bucket_copy / MANIFEST).read_text())
    assert document["format"] == manifest.FORMAT and document["dataset_id"] == DATASET
    assert all(entry["etag"] is None for entry in document["objects"].values())
    assert _check(str(bucket_copy)).status is Status.PASSED


def test_malformed_manifest_fails_the_check_naming_it(bucket_copy: Path) -> None:
    (bucket_copy / MANIFEST).write_text('{"format": "something else"}')
    result = _check(str(bucket_copy))
    assert result.status is Status.FAILED and MANIFEST in result.message and "\n" not in result.message


def test_objects_written_after_the_manifest_are_a_warning(bucket_copy: Path) -> None:
    (bucket_copy / f"{DATASET}/TS_001/run_metadata.json").rename(bucket_copy / f"{DATASET}/TS_001/moved.json")
    result = _check(str(bucket_copy))
    assert result.status is Status.FAILED and result.severity is Severity.ERROR  # the recorded one is missing
    (bucket_copy / f"{DATASET}/TS_001/moved.json").rename(bucket_copy / f"{DATASET}/TS_001/run_metadata.json")
    (bucket_copy / f"{DATASET}/TS_001/extra.json").write_text("{}")
    result = _check(str(bucket_copy))
    assert result.status is Status.FAILED and result.severity is Severity.WARNING and "extra.json" in result.message


def test_etags_are_compared_only_in_the_same_form() -> None:
    md5, other = "a" * 32, "b" * 32

    def differences(recorded: str, listed: str) -> manifest.Differences:
        entries = {"1/x": manifest.Entry(10, recorded)}
        return manifest.compare(entries, {"1/x": ObjectInfo("1/x", 10, listed)}, "1/dataset_manifest.json")

    assert differences(md5, other).replaced
    assert differences(f"{md5}-3", f"{other}-3").replaced
    assert not differences(f"{md5}-3", f"{other}-2").lost  # a copy uploaded in other parts
    assert not differences(md5, f"{other}-2").lost
    assert not differences(md5, "1733.5-10").lost  # a local file: no checksum in its listing
