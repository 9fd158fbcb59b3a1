"""Every finder of config.md §3 on small generated sources: what each finds, names and refuses."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import yaml
import zarr

from importers.ingest.config import load_config
from importers.ingest.entities.context import Ingestion, IngestOptions
from importers.ingest.entities.tree import Entity
from importers.ingest.finders import (
    FinderError,
    destination_filter,
    literal,
    source_glob,
    source_multi_glob,
    tomogram_header,
)
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT


def _mrc(path: Path, voxel_size: float, shape: tuple[int, int, int] = (2, 3, 4)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, data=np.zeros(shape, dtype=np.float32), overwrite=True) as mrc:
        mrc.voxel_size = (voxel_size + 1, voxel_size, voxel_size + 2)  # y is the one the portal reads


def _ome_zarr(path: Path, scale: list[float]) -> None:
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(2, 3, 4), dtype="f4")
    group.attrs["multiscales"] = [
        {"datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}]}
    ]


def _touch(root: Path, *keys: str) -> None:
    for key in keys:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(key)


def test_source_glob_names_with_name_regex_and_keeps_match_regex(tmp_path: Path) -> None:
    _touch(tmp_path, "up/ts/TS_1.mrc", "up/ts/TS_2.mrc", "up/ts/TS_2_odd.mrc", "up/ts/deep/TS_3.mrc", "up/ts/x.txt")
    found = source_glob(
        Bucket(str(tmp_path)),
        "up",
        {"list_glob": "{folder}/*.mrc", "match_regex": r"TS_\d\.mrc$", "name_regex": r"(TS_\d+)\.mrc"},
        {"folder": "ts"},
    )
    assert [(item.name, item.path) for item in found] == [("TS_1", "up/ts/TS_1.mrc"), ("TS_2", "up/ts/TS_2.mrc")]
    deep = source_glob(Bucket(str(tmp_path)), "up", {"list_glob": "ts/**/*.mrc"}, {})
    assert [item.name for item in deep] == ["TS_1.mrc", "TS_2.mrc", "TS_2_odd.mrc", "TS_3.mrc"]


def test_source_multi_glob_names_every_match_by_its_path(tmp_path: Path) -> None:
    _touch(tmp_path, "up/a/TS_1.xf", "up/a/TS_1.tlt", "up/b/TS_1.xtilt")
    found = source_multi_glob(
        Bucket(str(tmp_path)), "up", {"list_globs": ["a/{run_name}.*", "b/{run_name}.xtilt"]}, {"run_name": "TS_1"}
    )
    assert [item.name for item in found] == ["up/a/TS_1.tlt", "up/a/TS_1.xf", "up/b/TS_1.xtilt"]
    assert all(item.name == item.path for item in found)


def test_literal_lists_names_and_maps_names_to_paths() -> None:
    assert [(i.name, i.path) for i in literal({"value": [10001, "b"]})] == [("10001", None), ("b", None)]
    assert [(i.name, i.path) for i in literal({"value": {"snapshot": "s.png"}})] == [("snapshot", "s.png")]
    with pytest.raises(FinderError, match="a list or a mapping"):
        literal({"value": "x"})


def test_tomogram_header_reads_mrc_headers_and_ome_zarr_scales(tmp_path: Path) -> None:
    _mrc(tmp_path / "up/tomos/TS_1.mrc", 13.48)
    _mrc(tmp_path / "up/tomos/TS_1_bin2.mrc", 26.96)
    _ome_zarr(tmp_path / "up/tomos/TS_1.zarr", [7.0, 6.74, 7.0])
    bucket = Bucket(str(tmp_path))
    found = tomogram_header(bucket, "up", {"list_glob": "tomos/{run_name}*.mrc"}, {"run_name": "TS_1"})
    assert [(round(float(i.name), 3), i.path) for i in found] == [
        (13.48, "up/tomos/TS_1.mrc"),
        (26.96, "up/tomos/TS_1_bin2.mrc"),
    ]
    only = tomogram_header(bucket, "up", {"list_glob": "tomos/*", "match_regex": r"\.zarr$"}, {})
    assert [(i.name, i.path) for i in only] == [("6.74", "up/tomos/TS_1.zarr")]
    with pytest.raises(FinderError, match="header_key 'pixel_size'"):
        tomogram_header(bucket, "up", {"list_glob": "tomos/*.mrc", "header_key": "pixel_size"}, {})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not an mrc", "tomogram_header: up/t/bad.mrc:"),
        (None, "the header gives no voxel size"),
    ],
)
def test_tomogram_header_names_a_file_without_a_voxel_size(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "up/t/bad.mrc"
    _mrc(path, 0.0)
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(FinderError, match=problem):
        tomogram_header(Bucket(str(tmp_path)), "up", {"list_glob": "t/*.mrc"}, {})


def _stored_tiltseries(root: Path, identifier: int, document: dict) -> str:
    key = f"10001/TS_1/TiltSeries/{identifier}/tiltseries_metadata.json"
    (root / key).parent.mkdir(parents=True, exist_ok=True)
    (root / key).write_text(json.dumps(document))
    return key


def test_destination_filter_finds_stored_metadata_by_key_paths(tmp_path: Path) -> None:
    first = _stored_tiltseries(
        tmp_path,
        100,
        {"omezarr_dir": "10001/TS_1/TiltSeries/100/TS_1.zarr", "deposition_id": 10001, "authors": [{"name": "A"}]},
    )
    _stored_tiltseries(tmp_path, 101, {"omezarr_dir": "x.zarr", "deposition_id": 10002, "authors": [{"name": "B"}]})
    bucket = Bucket(str(tmp_path))
    found = destination_filter(
        bucket, "10001/TS_1", "tiltseries", {"filters": [{"key": ["deposition_id"], "value": 10001}]}
    )
    assert [(i.name, i.path, i.identifier) for i in found] == [("10001/TS_1/TiltSeries/100/TS_1.zarr", first, 100)]
    # Through a list: the key of each of its mappings, and the list must contain the value.
    by_author = destination_filter(
        bucket, "10001/TS_1", "tiltseries", {"filters": [{"key": ["authors", "name"], "value": "B"}]}
    )
    assert [i.identifier for i in by_author] == [101]
    with pytest.raises(FinderError, match="key \\(a list\\) and value"):
        destination_filter(bucket, "10001/TS_1", "tiltseries", {"filters": [{"key": "deposition_id", "value": 1}]})


def test_destination_finders_find_references_with_their_ids(tmp_path: Path) -> None:
    _stored_tiltseries(tmp_path, 103, {"omezarr_dir": "a.zarr", "deposition_id": 7})
    _touch(tmp_path, "10001/TS_1/Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram_metadata.json")
    config = {
        "standardization_config": {"deposition_id": 7, "source_prefix": "up"},
        "tiltseries": [{"sources": [{"destination_filter": {"filters": [{"key": ["deposition_id"], "value": 7}]}}]}],
        "voxel_spacings": [
            {
                "sources": [
                    {
                        "destination_glob": {
                            "list_glob": "{run_output_path}/Reconstructions/VoxelSpacing*",
                            "name_regex": "VoxelSpacing(.*)",
                        }
                    }
                ]
            }
        ],
    }
    bucket = Bucket(str(tmp_path))
    ingestion = Ingestion(config, tmp_path / "c.yaml", bucket, bucket, IngestOptions(dry_run=True))
    dataset = Entity("dataset", "10001", None, {})
    dataset.output_path = "10001"
    run = Entity("run", "TS_1", None, {}, dataset)
    run.output_path = "10001/TS_1"
    (tiltseries,) = ingestion.find("tiltseries", run)
    assert (tiltseries.name, tiltseries.identifier, tiltseries.reference) == ("a.zarr", 103, True)
    (spacing,) = ingestion.find("voxel_spacing", run)
    assert (spacing.name, spacing.reference) == ("13.480", True)
    config["voxel_spacings"][0]["sources"] = [{"destination_filter": {"filters": [{"key": ["a"], "value": 1}]}}]
    with pytest.raises(FinderError, match="finds tiltseries and tomograms, not voxel_spacings"):
        ingestion.find("voxel_spacing", run)


def test_a_new_alignment_names_the_stored_tilt_series_a_destination_filter_finds(
    sample_source: Path, bucket_copy: Path, tmp_path: Path
) -> None:
    """A deposition adding an alignment to a stored tilt series (found by ``destination_filter``): the tilt series is
    a reference, nothing of it is written again, and the new alignment names it."""
    config = load_config(REPO_ROOT / "dataset_configs" / "10001.yaml")
    config["standardization_config"]["deposition_id"] = 10002
    config["tiltseries"] = [
        {"sources": [{"destination_filter": {"filters": [{"key": ["deposition_id"], "value": 10001}]}}]}
    ]
    config_path = tmp_path / "deposition_10002.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    tiltseries = sorted(bucket_copy.glob("10001/TS_001/TiltSeries/*/*"))
    stream = io.StringIO()
    status, ingestion = standardize_config(
        config_path,
        str(sample_source),
        str(bucket_copy),
        options=IngestOptions(selected=frozenset({"alignment"})),
        stream=stream,
    )
    assert status == 0, ingestion.report.failures
    assert sorted(bucket_copy.glob("10001/TS_001/TiltSeries/*/*")) == tiltseries
    stored = json.loads((bucket_copy / "10001/TS_001/Alignments/101/alignment_metadata.json").read_text())
    assert stored["deposition_id"] == 10002
    assert stored["tiltseries_path"] == "10001/TS_001/TiltSeries/100/tiltseries_metadata.json"


def test_a_deposition_config_adds_to_the_stored_entities_it_references(bucket_copy: Path, tmp_path: Path) -> None:
    """dataset_configs/deposition_10002.yaml finds its dataset, runs, voxel spacings and alignments in the output: they
    are references, so their metadata stays as stored, and the new annotations name the stored alignment."""
    for run in ("TS_001", "TS_002"):
        picks = tmp_path / "input" / "sample_10002" / "picks" / f"{run}_ribosome_tm.csv"
        picks.parent.mkdir(parents=True, exist_ok=True)
        picks.write_text("1,2,3\n4,5,6\n")
    # (but the dataset's integrity manifest, which records the new objects too)
    stored = {path: path.read_bytes() for path in bucket_copy.rglob("*.json") if path.name != "dataset_manifest.json"}
    status, ingestion = standardize_config(
        REPO_ROOT / "dataset_configs" / "deposition_10002.yaml",
        str(tmp_path / "input"),
        str(bucket_copy),
        stream=io.StringIO(),
    )
    assert status == 0, ingestion.report.failures
    assert all(path.read_bytes() == data for path, data in stored.items())
    added = [
        json.loads(path.read_text())
        for path in bucket_copy.glob("10001/*/Reconstructions/VoxelSpacing13.480/Annotations/*/*-1.0.json")
        if path not in stored
    ]
    assert len(added) == 2 and all(document["deposition_id"] == 10002 for document in added)
    assert {document["alignment_metadata_path"] for document in added} == {
        f"10001/{run}/Alignments/100/alignment_metadata.json" for run in ("TS_001", "TS_002")
    }
