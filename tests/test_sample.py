"""The sample source-dataset generator (importers/ingest/sample.py) and its config (dataset_configs/10001.yaml)."""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest

from importers.ingest import sample as sample_module
from importers.ingest.config import load_config
from importers.ingest.sample import (
    DOSE_PER_TILT,
    EXPOSURE_TIME,
    PIXEL_SIZE,
    SOURCE_PREFIX,
    TILT_AXIS,
    VOXEL_SIZE,
    register,
    write_sample,
)

CONFIG = Path(__file__).resolve().parents[1] / "dataset_configs" / "10001.yaml"
SIZE = 32


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return write_sample(tmp_path_factory.mktemp("sample"), runs=2, size=SIZE, seed=0)


def _digests(root: str | Path) -> dict[str, str]:
    root = Path(root)
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _read(sample: dict[str, Any], relative: str) -> np.ndarray:
    with mrcfile.open(Path(sample["root"]) / relative) as mrc:
        return mrc.data.copy()


def _mdoc_sections(text: str) -> list[dict[str, str]]:
    sections = []
    for block in re.split(r"^\[ZValue = ", text, flags=re.MULTILINE)[1:]:
        z_value, _, body = block.partition("]")
        entries = dict(line.split(" = ", 1) for line in body.strip().splitlines())
        sections.append({"ZValue": z_value, **entries})
    return sections


def test_same_seed_gives_identical_bytes_and_other_seed_differs(sample: dict[str, Any], tmp_path: Path) -> None:
    again = write_sample(tmp_path / "again", runs=2, size=SIZE, seed=0)
    other = write_sample(tmp_path / "other", runs=2, size=SIZE, seed=1)
    reference = _digests(sample["root"])
    assert _digests(again["root"]) == reference
    changed = _digests(other["root"])
    assert changed.keys() == reference.keys()
    for relative in ("tomograms/TS_001.mrc", "tiltseries/TS_001.mrc", "annotations/TS_001_ribosome.csv"):
        assert changed[relative] != reference[relative]


def test_summary_lists_every_file_written(sample: dict[str, Any]) -> None:
    assert Path(sample["root"]).name == SOURCE_PREFIX
    assert sample["runs"] == ["TS_001", "TS_002"]
    assert sorted(sample["files"]) == sorted(_digests(sample["root"]))
    assert sample["bytes"] == sum((Path(sample["root"]) / f).stat().st_size for f in sample["files"])


def test_runs_and_size_arguments_shape_the_output(tmp_path: Path) -> None:
    summary = write_sample(tmp_path, runs=3, size=9, seed=5)
    assert summary["runs"] == ["TS_001", "TS_002", "TS_003"]
    root = Path(summary["root"])
    assert sorted(p.name for p in (root / "tomograms").iterdir()) == [
        "TS_001.mrc",
        "TS_002.mrc",
        "TS_003.mrc",
    ]
    assert _read(summary, "tomograms/TS_003.mrc").shape == (4, 9, 9)
    assert _read(summary, "annotations/TS_003_membrane.mrc").shape == (4, 9, 9)
    assert _read(summary, "tiltseries/TS_003.mrc").shape == (41, 18, 18)


def test_rewriting_replaces_a_previous_sample(tmp_path: Path) -> None:
    write_sample(tmp_path, runs=2, size=8)
    summary = write_sample(tmp_path, runs=1, size=8)
    assert sorted(_digests(summary["root"])) == sorted(summary["files"])


def test_output_does_not_depend_on_the_slab_size(
    sample: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large sizes are written three planes at a time; they must match the single-slab path used here.
    monkeypatch.setattr(sample_module, "_SLAB_VOXELS", 3 * SIZE * SIZE)
    sliced = _digests(write_sample(tmp_path, runs=2, size=SIZE, seed=0)["root"])
    assert sliced == _digests(sample["root"])


@pytest.mark.parametrize(("runs", "size", "seed"), [(0, 16, 0), (1, 7, 0), (1, 16, -1)])
def test_invalid_arguments_are_rejected(tmp_path: Path, runs: int, size: int, seed: int) -> None:
    with pytest.raises(ValueError):
        write_sample(tmp_path, runs=runs, size=size, seed=seed)


@pytest.mark.parametrize(
    ("relative", "mode", "ispg", "voxel_size", "shape"),
    [
        ("tomograms/TS_001.mrc", 2, 1, VOXEL_SIZE, (SIZE // 2, SIZE, SIZE)),
        ("annotations/TS_001_membrane.mrc", 0, 1, VOXEL_SIZE, (SIZE // 2, SIZE, SIZE)),
        ("tiltseries/TS_001.mrc", 2, 0, PIXEL_SIZE, (41, 2 * SIZE, 2 * SIZE)),
    ],
)
def test_mrc_headers(
    sample: dict[str, Any], relative: str, mode: int, ispg: int, voxel_size: float, shape: tuple[int, ...]
) -> None:
    path = Path(sample["root"]) / relative
    with mrcfile.open(path) as mrc:
        header, data = mrc.header, mrc.data.astype(np.float64)
        assert data.shape == shape
        assert int(header.mode) == mode
        assert int(header.ispg) == ispg
        for axis in "xyz":
            assert getattr(mrc.voxel_size, axis) == pytest.approx(voxel_size, abs=1e-3)
        assert float(header.dmin) == data.min()
        assert float(header.dmax) == data.max()
        assert float(header.dmean) == pytest.approx(data.mean(), rel=1e-5, abs=1e-6)
        assert float(header.rms) == pytest.approx(data.std(), rel=1e-5)
        labels = [bytes(label) for label in header.label[: int(header.nlabl)]]
    # A clock-derived label (mrcfile's default) would break reproducibility.
    assert labels == [b"cryoet-ingest sample TS_001 seed 0"]
    assert mrcfile.validate(str(path), print_file=io.StringIO())


def test_tomogram_has_dense_particles_and_membrane(sample: dict[str, Any]) -> None:
    tomogram = _read(sample, "tomograms/TS_001.mrc")
    mask = _read(sample, "annotations/TS_001_membrane.mrc")
    points = np.loadtxt(Path(sample["root"]) / "annotations/TS_001_ribosome.csv", delimiter=",", ndmin=2)
    assert len(points) >= 12
    x, y, z = np.round(points).astype(int).T
    grid = np.stack(np.indices(tomogram.shape)[::-1], axis=-1)  # (z, y, x, 3) holding x, y, z
    near_particle = np.zeros(tomogram.shape, dtype=bool)
    for point in points:
        near_particle |= np.linalg.norm(grid - point, axis=-1) < 6
    background = tomogram[~near_particle & (mask == 0)]
    assert background.size > tomogram.size // 4
    assert tomogram[z, y, x].mean() - background.mean() > 3 * background.std()
    assert tomogram[mask == 1].mean() - background.mean() > 1.5 * background.std()


def test_tilt_images_show_the_particles_where_the_alignment_puts_them(sample: dict[str, Any]) -> None:
    root = Path(sample["root"])
    stack = _read(sample, "tiltseries/TS_001.mrc")
    points = np.loadtxt(root / "annotations/TS_001_ribosome.csv", delimiter=",", ndmin=2)
    tlt = np.radians(np.loadtxt(root / "alignments/TS_001.tlt"))
    xf = np.loadtxt(root / "alignments/TS_001.xf")
    relative = points - (np.array([SIZE, SIZE, SIZE // 2]) - 1) / 2
    for section in (0, 20, 40):
        # Projection about the tomogram's y axis, 1 voxel = 2 tilt pixels, then IMOD's raw = Mᵀ(a − d).
        x, y, z = relative.T
        aligned = 2 * np.stack([x * np.cos(tlt[section]) + z * np.sin(tlt[section]), y], axis=1)
        matrix = xf[section, :4].reshape(2, 2)
        raw = (aligned - xf[section, 4:]) @ matrix + (2 * SIZE - 1) / 2
        columns, rows = np.round(raw).astype(int).T
        image = stack[section]
        assert image[rows, columns].mean() - np.median(image) > 2 * image.std() / np.sqrt(len(points))


def test_membrane_mask_is_binary_and_not_empty(sample: dict[str, Any]) -> None:
    mask = _read(sample, "annotations/TS_001_membrane.mrc")
    assert mask.dtype == np.int8
    assert set(np.unique(mask).tolist()) == {0, 1}


def test_points_lie_inside_the_tomogram(sample: dict[str, Any]) -> None:
    nz, ny, nx = _read(sample, "tomograms/TS_002.mrc").shape
    text = (Path(sample["root"]) / "annotations/TS_002_ribosome.csv").read_text()
    assert not text.startswith(("x", "X"))
    points = np.loadtxt(text.splitlines(), delimiter=",", ndmin=2)
    assert points.shape[1] == 3
    assert np.all(points >= 0)
    assert np.all(points <= [nx - 1, ny - 1, nz - 1])


def test_acquisition_files_agree(sample: dict[str, Any]) -> None:
    root = Path(sample["root"])
    rawtlt = [float(line) for line in (root / "tiltseries/TS_001.rawtlt").read_text().splitlines()]
    assert rawtlt == sorted(rawtlt)
    assert len(rawtlt) == 41
    assert (rawtlt[0], rawtlt[-1]) == (-60.0, 60.0)

    mdoc_text = (root / "tiltseries/TS_001.mdoc").read_text()
    assert f"Tilt axis angle = {TILT_AXIS}" in mdoc_text
    assert "ImageFile = TS_001.mrc" in mdoc_text
    sections = _mdoc_sections(mdoc_text)
    assert [int(s["ZValue"]) for s in sections] == list(range(41))
    mdoc_angles = [float(s["TiltAngle"]) for s in sections]
    assert mdoc_angles[:5] == [0.0, 3.0, -3.0, 6.0, -6.0]  # dose-symmetric acquisition order
    assert sorted(mdoc_angles) == rawtlt
    for section in sections:
        assert float(section["ExposureTime"]) == EXPOSURE_TIME
        assert float(section["ExposureDose"]) == DOSE_PER_TILT
        assert float(section["PixelSpacing"]) == PIXEL_SIZE
    basenames = [re.split(r"[\\/]", s["SubFramePath"])[-1] for s in sections]
    assert len(set(basenames)) == 41
    assert basenames[1] == "TS_001_001_3.0.tif"

    ctf_lines = (root / "ctf/TS_001_ctffind4.txt").read_text().splitlines()
    assert ctf_lines[0].startswith("# Columns: #1 micrograph number")
    rows = np.array([line.split() for line in ctf_lines[1:]], dtype=float)
    assert rows.shape == (41, 8)
    assert rows[:, 0].tolist() == list(range(1, 42))
    assert np.all(rows[:, 1] >= rows[:, 2])

    tlt = np.loadtxt(root / "alignments/TS_001.tlt")
    assert tlt.shape == (41,)
    assert np.all(np.abs(tlt - rawtlt) <= 0.2 + 1e-9)
    xf = np.loadtxt(root / "alignments/TS_001.xf")
    assert xf.shape == (41, 6)
    angle = np.radians(TILT_AXIS)
    assert np.allclose(xf[:, :4], [np.cos(angle), np.sin(angle), -np.sin(angle), np.cos(angle)], atol=1e-6)


def _globs(entity: str, block: dict[str, Any]) -> list[str]:
    found = []
    for source in block["sources"]:
        if "source_glob" in source:
            found.append(source["source_glob"]["list_glob"])
        elif "source_multi_glob" in source:
            found.extend(source["source_multi_glob"]["list_globs"])
        elif entity == "annotations":
            (shape,) = source.values()
            found.append(shape["glob_string"])
    return found


def test_config_loads_and_its_globs_match_the_sample(sample: dict[str, Any]) -> None:
    config = load_config(CONFIG)
    assert config["version"] == "1.3.0"
    assert config["standardization_config"] == {"deposition_id": 10001, "source_prefix": SOURCE_PREFIX}
    assert config["depositions"][0]["sources"] == [{"literal": {"value": [10001]}}]
    assert config["datasets"][0]["sources"] == [{"literal": {"value": ["10001"]}}]
    root = Path(sample["root"])

    (runs_source,) = config["runs"][0]["sources"]
    finder = runs_source["source_glob"]
    names = sorted(
        re.match(finder["name_regex"], Path(path).name).group(1) for path in glob.glob(str(root / finder["list_glob"]))
    )
    assert names == sample["runs"]

    checked = set()
    for entity, blocks in config.items():
        if not isinstance(blocks, list) or entity == "runs":
            continue
        for block in blocks:
            for pattern in _globs(entity, block):
                for run in sample["runs"]:
                    matches = glob.glob(str(root / pattern.format(run_name=run)))
                    assert len(matches) == 1, (entity, pattern, run)
                checked.add(entity)
    expected = {
        "collection_metadata",
        "rawtilts",
        "tiltseries",
        "ctfs",
        "alignments",
        "tomograms",
        "annotations",
    }
    assert checked == expected


def test_config_metadata_matches_the_generator() -> None:
    config = load_config(CONFIG)
    tiltseries = config["tiltseries"][0]["metadata"]
    assert tiltseries["pixel_spacing"] == PIXEL_SIZE
    assert tiltseries["tilt_axis"] == TILT_AXIS
    assert tiltseries["total_flux"] == pytest.approx(41 * DOSE_PER_TILT)
    frames = config["frames"][0]["metadata"]
    assert frames["dose_rate"] * EXPOSURE_TIME == pytest.approx(DOSE_PER_TILT)
    assert config["tomograms"][0]["metadata"]["voxel_spacing"] == VOXEL_SIZE
    assert config["voxel_spacings"][0]["sources"] == [{"literal": {"value": [VOXEL_SIZE]}}]
    authors = config["datasets"][0]["metadata"]["authors"]
    assert any(a.get("primary_author_status") for a in authors)
    assert any(a.get("corresponding_author_status") for a in authors)


def _cli() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cryoet-ingest")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_writes_sample_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli().parse_args(["sample", str(tmp_path), "--runs", "2", "--size", "8", "--seed", "3"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["TS_001", "TS_002"]
    assert len(lines) == 3
    assert str(tmp_path / SOURCE_PREFIX) in lines[2]
    assert "MB" in lines[2]
    assert (tmp_path / SOURCE_PREFIX / "tomograms" / "TS_002.mrc").is_file()


@pytest.mark.parametrize("bad", [["--runs", "0"], ["--size", "7"], ["--size", "big"], ["--seed", "-2"]])
def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli().parse_args(["sample", str(tmp_path), *bad])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cryoet-ingest sample: error: argument ")
    assert not (tmp_path / SOURCE_PREFIX).exists()


def test_cli_help_points_to_standardize(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _cli().parse_args(["sample", "--help"])
    assert "cryoet-ingest standardize dataset_configs/10001.yaml --input OUT" in capsys.readouterr().out
