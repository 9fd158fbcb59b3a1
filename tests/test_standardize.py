"""``cryoet-ingest standardize`` on the sample: local folder and moto bucket, re-runs, refusals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import zarr

from importers.cli import main
from importers.formats.mrc import parse_header
from importers.ingest.entities.context import IngestOptions
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT, upload_tree

CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
TOMOGRAM = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100"


def _run(input_url: str, output_url: str, **options: bool) -> tuple[int, str]:
    stream = io.StringIO()
    status, _ = standardize_config(CONFIG, input_url, output_url, options=IngestOptions(**options), stream=stream)
    return status, stream.getvalue()


def test_sample_standardizes_to_the_portal_layout(clean_tree: Path, sample_source: Path) -> None:
    tomogram = json.loads((clean_tree / TOMOGRAM / "tomogram_metadata.json").read_text())
    assert tomogram["mrc_file"] == f"{TOMOGRAM}/TS_001.mrc"
    assert tomogram["omezarr_dir"] == f"{TOMOGRAM}/TS_001.zarr"
    assert tomogram["size"] == {"z": 8, "y": 16, "x": 16}
    assert tomogram["voxel_spacing"] == 13.48 and tomogram["deposition_id"] == 10001
    header = parse_header((clean_tree / TOMOGRAM / "TS_001.mrc").read_bytes()[:1024])
    assert header.ispg == 1 and header.mode == 2 and header.labels[0].startswith("Validated by cryoET data portal.")
    source = parse_header((sample_source / "sample_10001/tomograms/TS_001.mrc").read_bytes()[:1024])
    level0 = zarr.open_group(str(clean_tree / TOMOGRAM / "TS_001.zarr"), mode="r")["0"][:]
    mrc_data = (clean_tree / TOMOGRAM / "TS_001.mrc").read_bytes()[1024:]
    assert level0.tobytes() == mrc_data and source.shape == level0.shape
    for key in (
        "10001/dataset_metadata.json",
        "10001/TS_002/run_metadata.json",
        "depositions_metadata/10001/deposition_metadata.json",
    ):
        assert json.loads((clean_tree / key).read_text())["deposition_id"] == 10001


def test_rerun_changes_nothing(sample_source: Path, tmp_path: Path) -> None:
    assert _run(str(sample_source), str(tmp_path))[0] == 0
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    status, log = _run(str(sample_source), str(tmp_path))
    assert status == 0 and "written" not in log
    assert before == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}


def test_changed_output_is_not_overwritten_without_force(sample_source: Path, tmp_path: Path) -> None:
    assert _run(str(sample_source), str(tmp_path))[0] == 0
    metadata = tmp_path / TOMOGRAM / "tomogram_metadata.json"
    document = json.loads(metadata.read_text())
    metadata.write_text(json.dumps(document | {"reconstruction_software": "other"}))
    status, log = _run(str(sample_source), str(tmp_path))
    assert status == 1 and "--force-overwrite" in log
    assert json.loads(metadata.read_text())["reconstruction_software"] == "other"
    assert _run(str(sample_source), str(tmp_path), force_overwrite=True)[0] == 0
    assert json.loads(metadata.read_text())["reconstruction_software"] != "other"


def test_partial_write_is_finished_by_the_next_run(sample_source: Path, tmp_path: Path) -> None:
    assert _run(str(sample_source), str(tmp_path))[0] == 0
    (tmp_path / TOMOGRAM / "tomogram_metadata.json").unlink()
    (tmp_path / TOMOGRAM / "TS_001.zarr/.zattrs").unlink()
    status, log = _run(str(sample_source), str(tmp_path))
    assert status == 0 and "Tomograms/100" in log
    assert (tmp_path / TOMOGRAM / "TS_001.zarr/.zattrs").exists()


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(sample_source: Path, tmp_path: Path) -> None:
    """A local run killed mid-write leaves ``.{name}.{host}-{pid}-{token}.partial`` beside the target;
    the next run removes it (its writer is gone) and says so; a live writer's file stays."""
    import os
    import socket
    import subprocess
    import sys

    assert _run(str(sample_source), str(tmp_path))[0] == 0
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname().replace(".", "_")
    leftover = tmp_path / TOMOGRAM / f".TS_001.mrc.{host}-{gone.pid}-00ff00ff.partial"
    alive = tmp_path / TOMOGRAM / f".TS_001.mrc.{host}-{os.getpid()}-00ff00ff.partial"
    for path in (leftover, alive):
        path.write_bytes(b"MRC half written")
    status, log = _run(str(sample_source), str(tmp_path))
    assert status == 0 and f"removed  {TOMOGRAM}/{leftover.name}" in log
    assert not leftover.exists() and alive.exists()


def test_dry_run_writes_nothing(sample_source: Path, tmp_path: Path) -> None:
    status, log = _run(str(sample_source), str(tmp_path / "out"), dry_run=True)
    assert status == 0 and "planned" in log
    assert not (tmp_path / "out").exists()


def test_broken_source_is_reported_and_other_entities_continue(sample_source: Path, tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    (source / "sample_10001/tomograms/TS_001.mrc").write_bytes(b"garbage")
    status, log = _run(str(source), str(tmp_path / "out"))
    assert status == 1
    failure = [line for line in log.splitlines() if line.startswith("error:")]
    assert len(failure) == 1 and "TS_001" in failure[0] and "header truncated" in failure[0]
    assert (tmp_path / "out" / TOMOGRAM.replace("TS_001", "TS_002") / "tomogram_metadata.json").exists()


def test_source_is_never_modified(sample_source: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in sample_source.rglob("*") if p.is_file()}
    _run(str(sample_source), str(tmp_path))
    assert before == {p: p.read_bytes() for p in sample_source.rglob("*") if p.is_file()}


def test_standardize_from_and_to_moto(sample_source: Path, s3_bucket: str) -> None:
    upload_tree(sample_source, f"{s3_bucket}/input")
    status, log = _run(f"{s3_bucket}/input", f"{s3_bucket}/output")
    assert status == 0, log
    output = Bucket(f"{s3_bucket}/output")
    assert f"{TOMOGRAM}/TS_001.zarr/.zattrs" in output.listing("")
    assert json.loads(output.read(f"{TOMOGRAM}/tomogram_metadata.json"))["run_name"] == "TS_001"
    rerun_status, rerun_log = _run(f"{s3_bucket}/input", f"{s3_bucket}/output")
    assert rerun_status == 0 and "written" not in rerun_log and "skipped" in rerun_log.splitlines()[-1]


@pytest.mark.parametrize(
    "arguments",
    [
        ["standardize", "missing.yaml", "--input", ".", "--output", "out"],
        ["standardize", str(CONFIG), "--input", "ftp://x", "--output", "out"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "\n" not in error


@pytest.mark.parametrize("where", ["missing", "empty", "unreachable"])
def test_an_input_that_holds_nothing_is_refused_before_anything_is_written(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty" / "elsewhere").mkdir(parents=True)  # files, but none under the config's source_prefix
    (tmp_path / "empty" / "elsewhere" / "file").write_text("x")
    url = {"missing": str(tmp_path / "missing"), "empty": str(tmp_path / "empty"), "unreachable": "s3://lab"}[where]
    output = tmp_path / "output"
    closed_port = ["--endpoint-url", "http://127.0.0.1:9"]
    assert main(["standardize", str(CONFIG), "--input", url, "--output", str(output), *closed_port]) == 2
    error = capsys.readouterr().err
    problem = "cannot list the input s3://lab/sample_10001" if where == "unreachable" else "holds no file"
    assert error.count("\n") == 1 and error.startswith("error: ") and problem in error, error
    assert "nothing written" in error and not output.exists()


def test_a_dataset_without_runs_is_a_failure_and_is_not_written(sample_source: Path, tmp_path: Path) -> None:
    status, log = _run(str(sample_source), str(tmp_path), name_filters={"run": ["NO_SUCH_RUN"]})
    assert status == 1
    assert "error: deposition 10001 / dataset 10001: finding runs: no run found" in log
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]
