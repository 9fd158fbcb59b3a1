"""Hostile input: what a bucket, a source folder or a config may hold to make the tools read outside
their root, hang, or crash. Each is a failed check or a one-line error naming the file, never a read
outside, a hang or a traceback."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from data_validation.engine import Status, validate
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT

SAMPLE_CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
DATASET_METADATA = "10001/dataset_metadata.json"
#: A path that ``(a+)+b`` almost matches: Python's re tries 2^40 ways before it gives up.
CATASTROPHIC_NAME = "a" * 40


def _edit_json(path: Path, change: dict) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | change))


def test_the_suite_never_follows_a_path_out_of_the_bucket(bucket_copy: Path, tmp_path: Path) -> None:
    """Key photos ``../../../../etc/passwd`` and ``../secret.png`` (an image beside the bucket): neither is
    read, nothing of them reaches a message, and both checks that follow them fail."""
    secret = bucket_copy.parent / "secret.png"
    shutil.copy(bucket_copy / "10001/Images/snapshot.png", secret)
    photos = {"snapshot": "../../../../../../../../etc/passwd", "thumbnail": "../secret.png"}
    _edit_json(bucket_copy / DATASET_METADATA, {"key_photos": photos})
    results = {result.code: result for result in validate(Bucket(f"file://{bucket_copy}", read_only=True), ["10001"])}
    for code in ("GEN-PATH-EXISTS", "DS-KEYPHOTO"):
        assert results[code].status is Status.FAILED, results[code]
        assert "passwd" in results[code].message and "secret.png" in results[code].message
    assert "outside the bucket root" in results["DS-KEYPHOTO"].message
    assert not any("root:" in result.message or "PNG" in result.message for result in results.values())


def _catastrophic_config(tmp_path: Path) -> Path:
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    config["runs"][0]["sources"][0]["source_glob"] |= {"list_glob": "tomograms/*", "match_regex": "(a+)+b"}
    path = tmp_path / "10001.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _source_with_an_almost_match(sample_source: Path, tmp_path: Path) -> Path:
    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    (source / "sample_10001/tomograms" / CATASTROPHIC_NAME).write_bytes(b"")
    return source


def test_a_catastrophic_match_regex_neither_hangs_standardize_nor_passes_validate_config(
    sample_source: Path, tmp_path: Path
) -> None:
    config = _catastrophic_config(tmp_path)
    source = _source_with_an_almost_match(sample_source, tmp_path)
    started = time.monotonic()
    status, ingestion = standardize_config(config, str(source), str(tmp_path / "out"), stream=io.StringIO())
    assert time.monotonic() - started < 30
    # Nothing matches: no run, so the dataset is a failure, not a dataset without runs.
    assert status == 1 and "no run found" in ingestion.report.failures[0]
    checked = subprocess.run(
        [sys.executable, "-m", "importers.cli", "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "match_regex: regular expression '(a+)+b' has a quantifier inside a repeated group" in checked.stdout


def test_a_catastrophic_match_regex_does_not_hang_the_source_checks(sample_source: Path, tmp_path: Path) -> None:
    config = _catastrophic_config(tmp_path)
    source = _source_with_an_almost_match(sample_source, tmp_path)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--ingestion-config", str(config)]
    result = subprocess.run(
        [*command, "--input-bucket", f"file://{source}"], capture_output=True, text=True, timeout=90, cwd=REPO_ROOT
    )
    assert "SRC-CONFIG-VALID" in result.stdout and "quantifier inside a repeated group" in result.stdout
    assert "Traceback" not in result.stdout and result.returncode == 1


# -- objects too large or too deep to read ------------------------------------------------------------

TOMOGRAM_ZARR = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_001.zarr"
ANNOTATIONS = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations"


def _sparse(path: Path, size: int) -> None:
    with open(path, "wb") as handle:
        handle.truncate(size)  # a hole: the listing says 200 MB, the disk holds nothing


def _zarray_shape(root: Path) -> None:
    path = root / TOMOGRAM_ZARR / "0/.zarray"
    _edit_json(path, {"shape": [10**12, 16, 16]})


def _deep_first_record(root: Path) -> None:
    """The first record of a point file nested 100,000 deep (the other records, and so the count, kept)."""
    path = next((root / ANNOTATIONS).rglob("*.ndjson"))
    lines = path.read_text().splitlines()
    deep = '{"type": "point", "location": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path.write_text("\n".join([deep, *lines[1:]]) + "\n")


HOSTILE = {
    "JSON nested 100,000 deep": (
        lambda root: (root / "10001/TS_001/run_metadata.json").write_text("[" * 100_000 + "]" * 100_000),
        "GEN-JSON-PARSE",
        "10001/TS_001/run_metadata.json (JSON nested deeper than the 32 levels a metadata JSON may have)",
    ),
    "JSON nested 40 deep": (
        lambda root: (root / "10001/TS_001/run_metadata.json").write_text(
            '{"run_name": "TS_001", "x": ' + "[" * 40 + "]" * 40 + "}"
        ),
        "GEN-JSON-PARSE",
        "run_metadata.json (JSON nested 41 levels deep, over the 32 levels a metadata JSON may have)",
    ),
    "200 MB metadata JSON": (
        lambda root: _sparse(root / "10001/TS_001/run_metadata.json", 200 << 20),
        "GEN-JSON-PARSE",
        "run_metadata.json (200.0 MiB, over the 16.0 MiB limit of a metadata JSON (not read))",
    ),
    ".zarray of shape 10^12": (
        _zarray_shape,
        "TOMO-ZARR-PATHS",
        "0/.zarray: .zarray shape [1000000000000, 16, 16] is outside [0, 1048576] on an axis",
    ),
    "NDJSON record nested 100,000 deep": (
        _deep_first_record,
        "PT-RECORD",
        "line 1: JSON nested deeper than a record can be",
    ),
}


@pytest.fixture(scope="module")
def clean_failures(clean_tree: Path) -> set[tuple[str, str]]:
    """The failed (code, entity) of the clean sample, beyond which a corruption must fail only its check."""
    return {
        (r.code, r.entity)
        for r in validate(Bucket(str(clean_tree), read_only=True), ["10001"])
        if r.status is Status.FAILED
    }


@pytest.mark.parametrize(("apply", "code", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_an_object_over_its_limits_is_one_named_failure(
    bucket_copy: Path, clean_failures: set[tuple[str, str]], apply, code: str, message: str
) -> None:
    apply(bucket_copy)
    started = time.monotonic()
    results = validate(Bucket(str(bucket_copy), read_only=True), ["10001"])
    assert time.monotonic() - started < 30
    new = [r for r in results if r.status is Status.FAILED and (r.code, r.entity) not in clean_failures]
    # The object changed after ingestion, so the dataset's integrity manifest names it too.
    assert sorted(r.code for r in new) == sorted([code, "DS-MANIFEST"]), [r.line() for r in new]
    (finding,) = [r for r in new if r.code == code]
    assert message in finding.message
    assert not any("internal error" in r.message for r in results)


# -- movies: frames are data, checked against their headers and the mdoc --------------------------------

FRAMES = "90001/SYN_run1/Frames"
MOVIE = f"{FRAMES}/SYN_run1_003.tif"


def _patch_tag(path: Path, page: int, tag: int, value: int) -> None:
    """Set a one-value SHORT/LONG tag of page ``page`` of a classic little-endian TIFF."""
    data = bytearray(path.read_bytes())
    offset = struct.unpack_from("<I", data, 4)[0]
    for _ in range(page):
        count = struct.unpack_from("<H", data, offset)[0]
        offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    for index in range(struct.unpack_from("<H", data, offset)[0]):
        at = offset + 2 + 12 * index
        if struct.unpack_from("<H", data, at)[0] == tag:
            kind = struct.unpack_from("<H", data, at + 2)[0]
            struct.pack_into("<H" if kind == 3 else "<I", data, at + 8, value)
    path.write_bytes(bytes(data))


def _cut(keep: float) -> object:
    return lambda path: path.write_bytes(path.read_bytes()[: int(len(path.read_bytes()) * keep)])


def _drop_last_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    first = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, first)[0]
    struct.pack_into("<I", data, first + 2 + 12 * count, 0)
    path.write_bytes(bytes(data))


#: Each edit of one movie and the checks that catch it (a cut that reaches an IFD makes it unreadable).
MOVIE_EDITS = {
    "last bytes cut": (_cut(0.97), {"FRAME-CONSISTENT"}),
    "cut in half": (_cut(0.5), {"FRAME-CONSISTENT"}),
    "emptied": (lambda path: path.write_bytes(b""), {"FRAME-CONSISTENT"}),
    "width edited": (lambda path: _patch_tag(path, 0, 256, 48), {"FRAME-CONSISTENT", "FRAME-DATA-SIZE"}),
    "depth edited": (lambda path: _patch_tag(path, 1, 258, 16), {"FRAME-DATA-SIZE"}),
    "strip bytes edited": (lambda path: _patch_tag(path, 1, 279, 1 << 20), {"FRAME-DATA-SIZE"}),
    "strip moved out": (lambda path: _patch_tag(path, 0, 273, 1 << 20), {"FRAME-DATA-SIZE"}),
    "a page dropped": (_drop_last_page, {"FRAME-NUMSUBFRAMES"}),
}


@pytest.mark.parametrize(("edit", "codes"), MOVIE_EDITS.values(), ids=MOVIE_EDITS.keys())
def test_a_truncated_or_edited_movie_fails(tmp_path: Path, edit, codes: set[str]) -> None:
    """The reference movies, one edited: an error that names it (they passed unnoticed, 15 of 15)."""
    from tests.conftest import shared_dir

    root = tmp_path / "bucket"
    shutil.copytree(shared_dir() / "reference-90001/output", root)
    (root / MOVIE).chmod(0o644)
    edit(root / MOVIE)
    results = validate(Bucket(str(root), read_only=True), ["90001"], run_glob="SYN_run1")
    failures = [r for r in results if r.status is Status.FAILED and r.severity.name == "ERROR"]
    assert {r.code for r in failures} == codes, [r.line() for r in failures]
    assert all("SYN_run1_003.tif" in r.message for r in failures)
