"""Annotation, key image and viewer-state checks beyond one corruption per code (tests/cases_checks.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from data_validation.engine import Result, Status, validate
from data_validation.registry import NOT_APPLICABLE, REGISTRY
from importers.storage import Bucket
from tests.corruptions import (
    DATASET_METADATA,
    POINTS,
    POINTS_NDJSON,
    RUN,
    VOXEL_SPACING,
    edit_json,
)


def _results(root: Path, code: str) -> list[Result]:
    results = validate(Bucket(str(root), read_only=True), ["10001"], checks=[REGISTRY[code]])
    return [result for result in results if result.code == code]


def test_external_key_photos_are_not_fetched(bucket_copy: Path) -> None:
    urls = {"snapshot": "https://example.org/s.png", "thumbnail": "https://example.org/t.png"}
    edit_json(bucket_copy / DATASET_METADATA, lambda d: d.update(key_photos=urls))
    for key in bucket_copy.glob("10001/*/Reconstructions/*/Tomograms/*/tomogram_metadata.json"):
        edit_json(key, lambda d: d.update(key_photo=urls))
    (result,) = _results(bucket_copy, "KEY-IMAGE-VALID")
    assert result.status is Status.SKIPPED and result.message.startswith(NOT_APPLICABLE)


def _move_points_to(root: Path, spacing: str, scale: float) -> str:
    """The sample's point annotation, moved to another voxel spacing (no tomogram there) with its
    locations rescaled to that spacing's voxels; returns the new annotation folder."""
    target = f"{RUN}/Reconstructions/VoxelSpacing{spacing}/Annotations/100"
    shutil.copytree(root / POINTS, root / target)
    shutil.rmtree(root / POINTS)
    metadata = next((root / target).glob("*[0-9].json"))
    edit_json(metadata, lambda d: d["files"][0].update(path=d["files"][0]["path"].replace(POINTS, target)))
    ndjson = root / target / Path(POINTS_NDJSON).name
    records = [json.loads(line) for line in ndjson.read_text().splitlines()]
    for record in records:
        record["location"] = {axis: value * scale for axis, value in record["location"].items()}
    ndjson.write_text("\n".join(json.dumps(record) for record in records))
    return target


def test_points_of_a_spacing_without_tomogram_use_a_scaled_tomogram(bucket_copy: Path) -> None:
    # Half the tomogram's spacing: the 16 × 16 × 8 tomogram is 32 × 32 × 16 voxels there.
    target = _move_points_to(bucket_copy, "6.740", 2.0)
    (result,) = [r for r in _results(bucket_copy, "PT-IN-VOLUME") if r.entity == target]
    assert result.status is Status.PASSED, result.line()
    ndjson = bucket_copy / target / Path(POINTS_NDJSON).name
    lines = ndjson.read_text().splitlines()
    record = json.loads(lines[0])
    record["location"]["x"] = 31.5
    ndjson.write_text("\n".join([json.dumps(record), *lines[1:]]))
    (result,) = [r for r in _results(bucket_copy, "PT-IN-VOLUME") if r.entity == target]
    assert result.status is Status.FAILED
    assert "x [0, 31]" in result.message and "of another spacing, scaled" in result.message


def test_precomputed_sources_the_importer_writes_pass(bucket_copy: Path) -> None:
    results = [r for r in _results(bucket_copy, "NG-SOURCES-EXIST") if r.entity == VOXEL_SPACING]
    assert [r.status for r in results] == [Status.PASSED]
