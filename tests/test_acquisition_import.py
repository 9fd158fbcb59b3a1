"""Acquisition entities of ``cryoet-ingest standardize``: the portal's reference output reproduced, re-runs,
broken sources, default alignment, AreTomo3, DM4 gains and run-data-map templating."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import yaml
import zarr

from data_validation.engine import Status, validate
from data_validation.registry import REGISTRY, Severity
from importers.formats.mrc import parse_header
from importers.ingest.entities.context import IngestOptions
from importers.ingest.entities.templating import TemplateError, expand_metadata
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT, output_files, shared_dir, upload_tree
from tests.real_files import PACKAGES, FetchError, fetch

SAMPLE_CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
#: The reference config's input bucket; its key photos are given as paths in it.
REFERENCE_BUCKET = "test-public-bucket"
#: Output folders of the acquisition entities (the rest of the reference belongs to other importers).
ACQUISITION_DIRS = ("Frames", "Gains", "TiltSeries", "Alignments")


def _standardize(config: Path, input_url: str, output: Path, **options: bool) -> tuple[int, list[str], str]:
    stream = io.StringIO()
    status, ingestion = standardize_config(
        config, input_url, str(output), options=IngestOptions(**options), stream=stream
    )
    return status, ingestion.report.failures, stream.getvalue()


def _files(root: Path) -> dict[str, Path]:
    """Files of the acquisition entities under ``root``, by bucket key."""
    return {
        path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_file()
        and len(path.relative_to(root).parts) > 2
        and path.relative_to(root).parts[2] in ACQUISITION_DIRS
    }


def _assert_same(ours: Any, theirs: Any, where: str) -> None:
    """Same keys and values; floats within 1e-6 relative; ``last_updated_at`` ignored."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), f"{where}: keys {set(ours) ^ set(theirs)}"
        for key in theirs:
            if key != "last_updated_at":
                _assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: length"
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            _assert_same(mine, other, f"{where}[{index}]")
    elif isinstance(theirs, float) or isinstance(ours, float):
        assert ours is not None and math.isclose(ours, theirs, rel_tol=1e-6), f"{where}: {ours} != {theirs}"
    else:
        assert ours == theirs and type(ours) is type(theirs), f"{where}: {ours!r} != {theirs!r}"


@pytest.fixture(scope="module")
def reference_output(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference config standardized from a moto bucket (as the portal read it) to a local folder."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    if REFERENCE_BUCKET not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=REFERENCE_BUCKET)
    upload_tree(shared_dir() / "reference-90001" / "input", f"s3://{REFERENCE_BUCKET}/anchor_synthetic")
    output = tmp_path_factory.mktemp("reference-output")
    status, failures, _ = _standardize(
        shared_dir() / "reference-90001" / "config.yaml", f"s3://{REFERENCE_BUCKET}", output
    )
    assert status == 0, failures
    return output


def test_reference_acquisition_files_match_the_portal(reference_output: Path) -> None:
    output = reference_output
    portal = shared_dir() / "reference-90001" / "output"
    theirs, ours = _files(portal), _files(output)
    assert set(ours) == set(theirs)
    for key, path in theirs.items():
        name = path.name
        if name.endswith(".json") or name in (".zattrs", ".zarray", ".zgroup"):
            _assert_same(json.loads(ours[key].read_text()), json.loads(path.read_text()), key)
        elif ".zarr/" in key or (name.endswith(".mrc") and "/TiltSeries/" in key):
            continue  # compared as volumes below
        else:
            assert ours[key].read_bytes() == path.read_bytes(), key


@pytest.mark.parametrize("run", ["SYN_run1", "SYN_run2"])
def test_reference_tilt_series_volumes_match_the_portal(reference_output: Path, run: str) -> None:
    output = reference_output
    stem = f"90001/{run}/TiltSeries/100/{run}"
    portal = shared_dir() / "reference-90001" / "output"
    theirs = parse_header((portal / f"{stem}.mrc").read_bytes()[:1024])
    ours = parse_header((output / f"{stem}.mrc").read_bytes()[:1024])
    for name in theirs.__dataclass_fields__:
        if name in ("dmean", "rms"):
            assert math.isclose(getattr(ours, name), getattr(theirs, name), rel_tol=1e-6), name
        elif name != "labels":
            assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.labels[0][:40] == theirs.labels[0][:40]
    assert (output / f"{stem}.mrc").read_bytes()[1024:] == (portal / f"{stem}.mrc").read_bytes()[1024:]
    for level in "012":
        mine = zarr.open_group(str(output / f"{stem}.zarr"), mode="r")[level][:]
        other = zarr.open_group(str(portal / f"{stem}.zarr"), mode="r")[level][:]
        assert mine.dtype == other.dtype and np.array_equal(mine, other), level


def test_reference_tomograms_point_at_the_alignment(reference_output: Path) -> None:
    output = reference_output
    for run in ("SYN_run1", "SYN_run2"):
        key = f"90001/{run}/Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram_metadata.json"
        portal = json.loads((shared_dir() / "reference-90001" / "output" / key).read_text())
        ours = json.loads((output / key).read_text())
        assert ours["alignment_metadata_path"] == portal["alignment_metadata_path"]


def test_reference_rerun_changes_nothing(reference_output: Path) -> None:
    output = reference_output
    before = {key: path.stat().st_mtime_ns for key, path in _files(output).items()}
    config = shared_dir() / "reference-90001" / "config.yaml"
    status, failures, log = _standardize(config, f"s3://{REFERENCE_BUCKET}", output)
    assert status == 0, failures
    assert before == {key: path.stat().st_mtime_ns for key, path in _files(output).items()}
    assert not [line for line in log.splitlines() if line.lstrip().startswith("written")]


# --- the sample (dataset_configs/10001.yaml) -------------------------------------------------------------


def test_sample_ingests_acquisition_entities(clean_tree: Path) -> None:
    run = clean_tree / "10001/TS_001"
    tiltseries = json.loads((run / "TiltSeries/100/tiltseries_metadata.json").read_text())
    assert tiltseries["size"] == {"z": 41, "y": 32, "x": 32} and tiltseries["frames_count"] == 0
    assert len(tiltseries["per_section_parameter"]) == 41 and tiltseries["pixel_spacing"] == 6.74
    assert tiltseries["ctf_path"] == "10001/TS_001/TiltSeries/100/TS_001_CTFFIND_ctf.txt"
    frames = json.loads((run / "Frames/frames_metadata.json").read_text())
    assert len(frames["frames"]) == 41 and {f["path"] for f in frames["frames"]} == {None}
    alignment = json.loads((run / "Alignments/100/alignment_metadata.json").read_text())
    assert alignment["files"] == ["10001/TS_001/Alignments/100/TS_001.xf", "10001/TS_001/Alignments/100/TS_001.tlt"]
    assert alignment["volume_dimension"] == {"x": 215.68, "y": 215.68, "z": 107.84}
    assert alignment["tiltseries_path"] == "10001/TS_001/TiltSeries/100/tiltseries_metadata.json"
    tomogram = json.loads((run / "Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram_metadata.json").read_text())
    assert tomogram["alignment_metadata_path"] == "10001/TS_001/Alignments/100/alignment_metadata.json"


def _sample_copy(sample_source: Path, tmp_path: Path) -> Path:
    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    return source


def _config(tmp_path: Path, change: Any) -> Path:
    """The sample config with ``change(config)`` applied, written beside the test's files."""
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_pixel_spacing_defaults_to_the_source_header(sample_source: Path, tmp_path: Path) -> None:
    def without_pixel_spacing(config: dict[str, Any]) -> None:
        del config["tiltseries"][0]["metadata"]["pixel_spacing"]

    output = tmp_path / "out"
    status, failures, _ = _standardize(_config(tmp_path, without_pixel_spacing), str(sample_source), output)
    assert status == 0, failures
    document = json.loads((output / "10001/TS_001/TiltSeries/100/tiltseries_metadata.json").read_text())
    assert document["pixel_spacing"] == 6.74
    zattrs = json.loads((output / "10001/TS_001/TiltSeries/100/TS_001.zarr/.zattrs").read_text())
    assert zattrs["multiscales"][0]["datasets"][2]["coordinateTransformations"][0]["scale"] == [6.74, 26.96, 26.96]


def test_malformed_mdoc_and_rawtlt_are_reported_and_what_needs_them_waits(
    sample_source: Path, clean_tree: Path, tmp_path: Path
) -> None:
    """Each broken file is one failure. The tilt series that needs it is not written, nor what needs the
    tilt series (the alignment, then the tomograms and annotations that name the alignment), nor the
    metadata above them; once the files are fixed, a rerun gives exactly the clean output."""
    source = _sample_copy(sample_source, tmp_path)
    mdoc = source / "sample_10001/tiltseries/TS_001.mdoc"
    mdoc.write_text(mdoc.read_text().replace("TiltAngle = 0.00", "TiltAngle = zero"))
    rawtlt = source / "sample_10001/tiltseries/TS_002.rawtlt"
    rawtlt.write_text("-60.00\n-57.00 1\n")
    output = tmp_path / "out"
    status, failures, log = _standardize(SAMPLE_CONFIG, str(source), output)
    assert status == 1
    assert len(failures) == 2, failures
    assert f"{mdoc}: line 12: TiltAngle = 'zero' is not a number" in failures[0]
    assert f"{rawtlt}: line 2: expected 1 columns, found 2" in failures[1]
    for run in ("TS_001", "TS_002"):
        tomogram = output / f"10001/{run}/Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram_metadata.json"
        assert not tomogram.exists() and not (output / f"10001/{run}/Alignments/100/alignment_metadata.json").exists()
        assert (output / f"10001/{run}/TiltSeries/100/{run}.mrc").exists()
        assert not (output / f"10001/{run}/TiltSeries/100/tiltseries_metadata.json").exists()
        assert not (output / f"10001/{run}/run_metadata.json").exists()
    assert not (output / "10001/dataset_metadata.json").exists()
    assert not (output / "10001/TS_001/Frames").exists()
    assert (output / "10001/TS_002/Frames/frames_metadata.json").exists()
    assert "could not be imported" in log and "needs the run's tiltseries, which was not imported" in log

    shutil.copy(sample_source / "sample_10001/tiltseries/TS_001.mdoc", mdoc)
    shutil.copy(sample_source / "sample_10001/tiltseries/TS_002.rawtlt", rawtlt)
    status, failures, _ = _standardize(SAMPLE_CONFIG, str(source), output)
    assert status == 0, failures
    assert output_files(str(output)) == output_files(str(clean_tree))


def test_a_failed_alignment_leaves_its_tomograms_and_annotations_for_the_rerun(
    sample_source: Path, clean_tree: Path, tmp_path: Path
) -> None:
    """Tomograms and annotations name the alignment (and count it in their identity): written without it,
    a fixed rerun would add Tomograms/101 and Annotations/102 beside them. They wait for it instead."""
    source = _sample_copy(sample_source, tmp_path)
    xf = source / "sample_10001/alignments/TS_001.xf"
    xf.write_text("1 0 0 1 0\n")
    output = tmp_path / "out"
    status, failures, log = _standardize(SAMPLE_CONFIG, str(source), output)
    assert status == 1 and len(failures) == 1 and str(xf) in failures[0], failures
    run = output / "10001/TS_001"
    assert (run / "TiltSeries/100/tiltseries_metadata.json").exists()
    assert not list(run.glob("Alignments/*/alignment_metadata.json"))
    assert not list(run.glob("Reconstructions/*/Tomograms/*/tomogram_metadata.json"))
    assert not list(run.glob("Reconstructions/*/Annotations/*/*.json"))
    assert "needs the run's alignment, which was not imported" in log
    assert (output / "10001/TS_002/run_metadata.json").exists()

    shutil.copy(sample_source / "sample_10001/alignments/TS_001.xf", xf)
    status, failures, _ = _standardize(SAMPLE_CONFIG, str(source), output)
    assert status == 0, failures
    assert output_files(str(output)) == output_files(str(clean_tree))


def test_changed_sidecar_is_not_overwritten_without_force(sample_source: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert _standardize(SAMPLE_CONFIG, str(sample_source), output)[0] == 0
    rawtlt = output / "10001/TS_001/TiltSeries/100/TS_001.rawtlt"
    rawtlt.write_text("edited\n")
    status, failures, _ = _standardize(SAMPLE_CONFIG, str(sample_source), output)
    assert status == 1 and "--force-overwrite" in failures[0] and rawtlt.read_text() == "edited\n"
    assert _standardize(SAMPLE_CONFIG, str(sample_source), output, force_overwrite=True)[0] == 0
    assert rawtlt.read_bytes() == (sample_source / "sample_10001/tiltseries/TS_001.rawtlt").read_bytes()


def test_default_alignment(sample_source: Path, tmp_path: Path) -> None:
    def default_alignment(config: dict[str, Any]) -> None:
        config["alignments"] = [{"sources": [{"literal": {"value": ["default"]}}]}]

    output = tmp_path / "out"
    status, failures, _ = _standardize(_config(tmp_path, default_alignment), str(sample_source), output)
    assert status == 0, failures
    document = json.loads((output / "10001/TS_001/Alignments/100/alignment_metadata.json").read_text())
    assert "format" not in document and document["method_type"] == "undefined"
    assert document["per_section_alignment_parameters"] == [] and document["files"] == [None]
    assert document["alignment_path"] is None and document["affine_transformation_matrix"][3] == [0, 0, 0, 1]
    assert document["volume_dimension"] == {"x": 215.68, "y": 215.68, "z": 107.84}
    assert document["tiltseries_path"] == "10001/TS_001/TiltSeries/100/tiltseries_metadata.json"
    assert sorted(p.name for p in (output / "10001/TS_001/Alignments/100").iterdir()) == ["alignment_metadata.json"]


def test_no_default_alignment_without_a_tomogram(sample_source: Path, tmp_path: Path) -> None:
    def without_tomograms(config: dict[str, Any]) -> None:
        config["alignments"] = [{"sources": [{"literal": {"value": ["default"]}}]}]
        for key in ("tomograms", "annotations"):
            config.pop(key)

    output = tmp_path / "out"
    status, failures, log = _standardize(_config(tmp_path, without_tomograms), str(sample_source), output)
    assert status == 0, failures
    assert not (output / "10001/TS_001/Alignments").exists() and "no tomogram" in log


ALN = """# AreTomo Alignment / Priims bprmMn
# RawSize = 32 32 41
# NumPatches = 0
# DarkFrame =     0    0   -60.00
# AlphaOffset =     0.50
# BetaOffset =     0.00
# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT
"""


def test_aretomo3_alignment(sample_source: Path, tmp_path: Path) -> None:
    source = _sample_copy(sample_source, tmp_path)
    row = "{:5d}   84.7000    1.00000      1.500     -2.000     1.00     1.00     1.00     0.00  {:8.2f}\n"
    # AreTomo3 numbers SEC from 0 among the kept sections: with raw section 0 dark, row SEC 0 is raw section 1.
    rows = "".join(row.format(sec, -57 + 3 * sec) for sec in range(40))
    (source / "sample_10001/alignments/TS_001.aln").write_text(ALN + rows)

    def aretomo(config: dict[str, Any]) -> None:
        config["alignments"] = [
            {
                "metadata": {"format": "ARETOMO3", "method_type": "projection_matching"},
                "sources": [{"source_glob": {"list_glob": "alignments/{run_name}.aln"}}],
            }
        ]

    output = tmp_path / "out"
    status, failures, _ = _standardize(_config(tmp_path, aretomo), str(source), output)
    assert status == 0, failures
    document = json.loads((output / "10001/TS_001/Alignments/100/alignment_metadata.json").read_text())
    assert document["files"] == ["10001/TS_001/Alignments/100/TS_001.aln"]
    assert document["alignment_path"] == "10001/TS_001/Alignments/100/TS_001.aln" and document["tilt_path"] is None
    assert document["tilt_offset"] == 0.5 and document["x_rotation_offset"] == 0.0
    sections = document["per_section_alignment_parameters"]
    assert len(sections) == 40 and sections[0]["z_index"] == 1 and sections[0]["tilt_angle"] == -57.0
    assert (sections[0]["x_offset"], sections[0]["y_offset"]) == (1.5, -2.0)
    rotation = sections[0]["in_plane_rotation"]
    assert math.degrees(math.atan2(rotation[1][0], rotation[0][0])) == pytest.approx(84.7)
    # Our own output passes: x_rotation_offset is AreTomo's float BetaOffset, z_index is never SEC − 1 = −1.
    errors = [
        r.line()
        for r in validate(Bucket(str(output), read_only=True), ["10001"])
        if r.status is Status.FAILED and r.severity is Severity.ERROR
    ]
    assert errors == []
    # TS_002 has no .aln: it gets the default alignment (identity, no files; config.md §3).
    default = json.loads((output / "10001/TS_002/Alignments/100/alignment_metadata.json").read_text())
    assert default["files"] == [None] and default["per_section_alignment_parameters"] == []
    assert "format" not in default


def _dm4_gain_config(tmp_path: Path) -> Path:
    def gains(config: dict[str, Any]) -> None:
        config["gains"] = [{"sources": [{"source_glob": {"list_glob": "gains/{run_name}_gain.dm4"}}]}]

    return _config(tmp_path, gains)


def test_dm4_gain_is_stored_as_the_portals_dm2mrc_mrc(sample_source: Path, tmp_path: Path) -> None:
    """A real DM4 (saved by DigitalMicrograph) becomes ``Gains/{stem}.mrc``: rows bottom first, as dm2mrc writes;
    no ``.dm4`` in the output; the gain checks pass; a rerun keeps it."""
    package = next(package for package in PACKAGES if package.name == "hyperspy")
    try:
        real = fetch(package) / "test-2.dm4"
    except (FetchError, OSError) as error:
        pytest.skip(f"real files of {package.name} {package.version} unavailable: {error}")
    source = _sample_copy(sample_source, tmp_path)
    (source / "sample_10001/gains").mkdir()
    shutil.copy(real, source / "sample_10001/gains/TS_001_gain.dm4")
    output, config = tmp_path / "out", _dm4_gain_config(tmp_path)
    status, failures, _ = _standardize(config, str(source), output)
    assert (status, failures) == (0, [])
    gains = output / "10001/TS_001/Gains"
    assert sorted(path.name for path in gains.iterdir()) == ["TS_001_gain.mrc"]
    with mrcfile.open(gains / "TS_001_gain.mrc", permissive=False) as mrc:
        assert mrc.data.tolist() == [[3.0, 4.0], [1.0, 2.0]] and int(mrc.header.ispg) == 0
    checks = [check for code, check in REGISTRY.items() if code.startswith("GAIN-")]
    results = validate(Bucket(str(output), read_only=True), ["10001"], checks=checks)
    assert {r.code for r in results} == {"GAIN-NO-DM4", "GAIN-EXT", "GAIN-NZ", "GAIN-FRAME-MATCH"}
    assert [r.line() for r in results if r.status is Status.FAILED and r.severity is Severity.ERROR] == []
    status, failures, log = _standardize(config, str(source), output)
    assert (status, failures) == (0, []) and "Gains/TS_001_gain.mrc (converted from DM4)  (same size)" in log


def test_broken_dm4_gain_is_one_line_naming_the_file(sample_source: Path, tmp_path: Path) -> None:
    source = _sample_copy(sample_source, tmp_path)
    (source / "sample_10001/gains").mkdir()
    (source / "sample_10001/gains/TS_001_gain.dm4").write_bytes(b"\x00\x00\x00\x04DM4")
    output = tmp_path / "out"
    status, failures, _ = _standardize(_dm4_gain_config(tmp_path), str(source), output)
    assert status == 1 and len(failures) == 1
    assert "TS_001_gain.dm4: truncated: 16 bytes wanted at byte 0 of 7" in failures[0] and "\n" not in failures[0]
    assert (output / "10001/TS_001/TiltSeries/100/tiltseries_metadata.json").exists()
    assert not (output / "10001/TS_001/Gains").exists()


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../../../../etc/passwd", "run_data_map/../../config.tsv"])
def test_map_files_outside_the_input_and_the_config_folder_are_refused(
    sample_source: Path, tmp_path: Path, name: str
) -> None:
    (tmp_path / "config.tsv").write_text("run_name\tcamera\nTS_001\tsecret\n")

    def templated(config: dict[str, Any]) -> None:
        config["standardization_config"]["run_data_map_file"] = name
        config["tiltseries"][0]["metadata"]["camera"]["model"] = "{camera}"

    folder = tmp_path / "configs"
    folder.mkdir()
    output = tmp_path / "out"
    status, failures, _ = _standardize(_config(folder, templated), str(sample_source), output)
    assert status == 1 and failures
    assert all(f"map file {name!r}: give a path inside the input root or the config's folder" in f for f in failures)
    assert "secret" not in "".join(path.read_text() for path in output.rglob("*.json"))


def test_run_data_map_templates(sample_source: Path, tmp_path: Path) -> None:
    source = _sample_copy(sample_source, tmp_path)
    (source / "sample_10001/run_data.tsv").write_text(
        "run_name\tmin_tilt\tcamera\tdose\tquality\nTS_001\t-60.0\tK3\t3\t4\nTS_002\t-57\tK2\t3.0\t3\n"
    )

    def templated(config: dict[str, Any]) -> None:
        config["standardization_config"]["run_data_map_file"] = "run_data.tsv"
        metadata = config["tiltseries"][0]["metadata"]
        metadata["tilt_range"]["min"] = "float {min_tilt}"
        metadata["camera"]["model"] = "{camera}"
        metadata["tilt_series_quality"] = "int {quality}"
        config["frames"][0]["metadata"]["dose_rate"] = "float {dose}"

    output = tmp_path / "out"
    status, failures, _ = _standardize(_config(tmp_path, templated), str(source), output)
    assert status == 0, failures
    second = json.loads((output / "10001/TS_002/TiltSeries/100/tiltseries_metadata.json").read_text())
    assert second["tilt_range"] == {"min": -57.0, "max": 60.0} and second["camera"]["model"] == "K2"
    assert second["tilt_series_quality"] == 3
    frames = json.loads((output / "10001/TS_002/Frames/frames_metadata.json").read_text())
    assert frames["dose_rate"] == 3.0 and frames["frames"][1]["accumulated_dose"] == 3.0


@pytest.mark.parametrize(
    ("row", "template", "message"),
    [
        ({"a": "1"}, "float {b}", "run_data_map_file has no column 'b'"),
        (None, "{a}", "needs the run's row of run_data_map_file"),
        ({"a": "x"}, "int {a}", "'x' is not int"),
    ],
)
def test_template_errors(row: dict[str, str] | None, template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        expand_metadata({"key": [template]}, row)


def test_templates_keep_plain_strings_and_cast() -> None:
    row = {"a": "1.5", "n": "2"}
    metadata = {"x": "float {a}", "y": {"z": "int  {n} "}, "w": ["{a} A", 3, "plain {}"], "v": "no braces"}
    assert expand_metadata(metadata, row) == {"x": 1.5, "y": {"z": 2}, "w": ["1.5 A", 3, "plain {}"], "v": "no braces"}
