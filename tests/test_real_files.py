"""The project on files nobody on this team wrote (tests/real_files.py): EMDB maps and FEI images, SerialEM mdocs,
RELION STAR files, IMOD models, AreTomo alignments, IMOD transforms and AreTomo3 CTF fits.

Each is read, checked before ingestion and, for volumes, ingested and checked again: no error where the file is
valid, the right voxels under the right labels.
"""

from __future__ import annotations

import copy
import io
import shutil
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pandas
import pytest
import starfile
import yaml
from scipy.spatial.transform import Rotation

from data_validation.checks.volumes import MRC_SUITE
from data_validation.engine import Result, Status, validate
from data_validation.registry import REGISTRY, CheckFailed, Severity
from data_validation.source.checks import SOURCE_MRC_SUITE, SOURCE_TOMO, SOURCE_TS, SourceFamily
from data_validation.source.validate import validate_sources
from importers.formats.alignment_files import parse_aln, parse_xf
from importers.formats.ctf import parse_ctf
from importers.formats.mdoc import parse_mdoc
from importers.formats.mrc import MrcHeader, parse_header
from importers.formats.points import read_points, read_star
from importers.formats.tilt_angles import parse_tilt_angles
from importers.ingest.entities.alignment import aretomo_sections, imod_sections
from importers.ingest.sources import plan_sources
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.config.paths import DATA
from tests.real_files import PACKAGES, FetchError, Package, fetch

BY_NAME = {package.name: package for package in PACKAGES}


def _files(name: str) -> Path:
    package: Package = BY_NAME[name]
    try:
        return fetch(package)
    except (FetchError, OSError) as error:
        pytest.skip(f"real files of {package.name} {package.version} unavailable: {error}")


@pytest.fixture(scope="module")
def maps() -> Path:
    return _files("mrcfile")


# -- MRC: the header suite on real headers ----------------------------------------------------------------------


def _header(path: Path) -> MrcHeader:
    return parse_header(path.read_bytes()[:1024])


def _suite_errors(header: MrcHeader, family: SourceFamily, spacing: float, size: int) -> dict[str, str]:
    """The source MRC header suite's errors on one header: code suffix -> message."""
    errors = {}
    for suffix, _, _, _, function in MRC_SUITE:
        if suffix not in SOURCE_MRC_SUITE:
            continue
        try:
            function(header, family, spacing, size)
        except CheckFailed as failure:
            severity = failure.severity or REGISTRY[f"{family.prefix}-{suffix}"].severity
            if severity is Severity.ERROR:
                errors[suffix] = str(failure)
    return errors


@pytest.mark.parametrize("name", ["EMD-3197.map", "EMD-3001.map", "fei-extended.mrc", "epu2.9_example.mrc"])
def test_real_headers_parse_as_mrcfile_reads_them(maps: Path, name: str) -> None:
    header = _header(maps / name)
    with mrcfile.open(maps / name, header_only=True, permissive=True) as reference:
        expected = reference.header
        assert (header.nx, header.ny, header.nz, header.mode) == tuple(
            int(expected[k]) for k in ("nx", "ny", "nz", "mode")
        )
        assert (header.mapc, header.mapr, header.maps) == tuple(int(expected[k]) for k in ("mapc", "mapr", "maps"))
        assert header.nlabl == int(expected.nlabl) and header.nsymbt == int(expected.nsymbt)
    assert header.expected_file_size == (maps / name).stat().st_size


def test_an_emdb_map_is_a_valid_source_tomogram(maps: Path) -> None:
    """EMD-3197: labels padded with spaces, nversion 0, nxstart −2: conventions standardize rewrites (warnings)."""
    header = _header(maps / "EMD-3197.map")
    assert header.labels[1].strip() == "" and header.labels[1] != ""  # blank labels are spaces, as EMDB writes
    assert _suite_errors(header, SOURCE_TOMO, 11.4, (maps / "EMD-3197.map").stat().st_size) == {}


def test_a_permuted_crystallographic_map_has_only_its_real_errors(maps: Path) -> None:
    """EMD-3001 (P21, axes 3, 1, 2): its permuted axes are reordered by standardize (a warning); its skewed cell
    (β = 94.3°) and anisotropic voxels are what a portal tomogram cannot be."""
    header = _header(maps / "EMD-3001.map")
    errors = _suite_errors(header, SOURCE_TOMO, header.voxel_size[1], (maps / "EMD-3001.map").stat().st_size)
    assert set(errors) == {"MRC-CELL", "MRC-VOXEL-SPACING"}, errors


@pytest.mark.parametrize("name", ["fei-extended.mrc", "epu2.9_example.mrc"])
def test_fei_images_are_valid_source_stacks(maps: Path, name: str) -> None:
    """Single images from FEI/TFS software with FEI1/FEI2 extended headers, as one-section tilt-series stacks."""
    header = _header(maps / name)
    spacing = round(header.voxel_size[1], 3)
    assert _suite_errors(header, SOURCE_TS, spacing, (maps / name).stat().st_size) == {}


def test_a_truncated_real_map_is_an_error(maps: Path, tmp_path: Path) -> None:
    data = (maps / "EMD-3197.map").read_bytes()
    header = _header(maps / "EMD-3197.map")
    errors = _suite_errors(header, SOURCE_TOMO, 11.4, len(data) - 4)
    assert "MRC-FILE-SIZE" in errors and "-4" in errors["MRC-FILE-SIZE"]


# -- MRC: a tomogram-only upload of EMDB maps, checked and standardized -----------------------------------------


def _upload(root: Path, maps: Path, names: dict[str, str], voxel_spacings: dict[str, Any]) -> Path:
    """An upload of ``{run: map file}`` as source tomograms, with the minimal config's metadata; returns the config."""
    (root / "lab" / "maps").mkdir(parents=True)
    for run, name in names.items():
        shutil.copyfile(maps / name, root / "lab" / "maps" / f"{run}.map")
    config = copy.deepcopy(yaml.safe_load((DATA / "minimal.yaml").read_text()))
    for key in ("collection_metadata", "frames", "rawtilts", "tiltseries", "annotations"):
        config.pop(key, None)
    config["standardization_config"]["source_prefix"] = "lab"
    config["depositions"][0]["metadata"]["deposition_types"] = ["dataset", "tomogram"]
    config["runs"] = [{"sources": [{"source_glob": {"list_glob": "maps/*.map", "name_regex": r"(.*)\.map"}}]}]
    config["voxel_spacings"] = [{"sources": [voxel_spacings]}]
    tomogram = config["tomograms"][0]
    tomogram["sources"] = [{"source_glob": {"list_glob": "maps/{run_name}.map"}}]
    tomogram["metadata"]["voxel_spacing"] = round(_header(maps / next(iter(names.values()))).voxel_size[1], 3)
    path = root / "10999.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _errors(results: list[Result]) -> list[str]:
    return [r.line() for r in results if r.status is Status.FAILED and r.severity is Severity.ERROR]


def test_emdb_upload_with_tomogram_header_spacing_passes_and_ingests(maps: Path, tmp_path: Path) -> None:
    config = _upload(tmp_path, maps, {"EMD_3197": "EMD-3197.map"}, {"tomogram_header": {"list_glob": "maps/*.map"}})
    bucket = Bucket(str(tmp_path), read_only=True)
    assert _errors(validate_sources(bucket, plan_sources(bucket, config))) == []
    output = tmp_path / "out"
    status, ingestion = standardize_config(config, str(tmp_path), str(output), stream=io.StringIO())
    assert status == 0, ingestion.report.failures
    tomogram = output / "10999/EMD_3197/Reconstructions/VoxelSpacing11.400/Tomograms/100/EMD_3197.mrc"
    with mrcfile.open(tomogram, permissive=True) as written, mrcfile.open(maps / "EMD-3197.map") as source:
        np.testing.assert_array_equal(written.data, source.data.astype(np.float32))
    assert _errors(validate(Bucket(str(output), read_only=True), ["10999"])) == []


def test_a_templated_voxel_spacing_literal_ingests(maps: Path, tmp_path: Path) -> None:
    config = _upload(tmp_path, maps, {"EMD_3197": "EMD-3197.map"}, {"literal": {"value": ["float {spacing}"]}})
    (tmp_path / "lab" / "runs.csv").write_text("run_name,spacing\nEMD_3197,11.4\n")
    data = yaml.safe_load(config.read_text())
    data["standardization_config"]["run_data_map_file"] = "runs.csv"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    output = tmp_path / "out"
    status, ingestion = standardize_config(config, str(tmp_path), str(output), stream=io.StringIO())
    assert status == 0, ingestion.report.failures
    assert (output / "10999/EMD_3197/Reconstructions/VoxelSpacing11.400/Tomograms/100/tomogram_metadata.json").exists()


def test_a_permuted_map_is_reordered_never_mislabelled(maps: Path, tmp_path: Path) -> None:
    """EMD-3001 stores sections along y, rows along x, columns along z (maps, mapr, mapc = 2, 1, 3): the
    standardized volume holds the same voxels in (z, y, x) order under the labels 1, 2, 3."""
    config = _upload(tmp_path, maps, {"EMD_3001": "EMD-3001.map"}, {"literal": {"value": [0.4]}})
    data = yaml.safe_load(config.read_text())
    data["tomograms"][0]["metadata"]["voxel_spacing"] = 0.4
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    output = tmp_path / "out"
    status, ingestion = standardize_config(config, str(tmp_path), str(output), stream=io.StringIO())
    assert status == 0, ingestion.report.failures
    written = output / "10999/EMD_3001/Reconstructions/VoxelSpacing0.400/Tomograms/100/EMD_3001.mrc"
    with mrcfile.open(written, permissive=True) as standard, mrcfile.open(maps / "EMD-3001.map") as source:
        header = standard.header
        assert (int(header.mapc), int(header.mapr), int(header.maps)) == (1, 2, 3)
        # source.data is (sections, rows, columns) = (y, x, z); (z, y, x) takes its axes 2, 0, 1.
        np.testing.assert_array_equal(standard.data, source.data.transpose(2, 0, 1).astype(np.float32))
        assert (int(header.nx), int(header.ny), int(header.nz)) == (43, 25, 73)


def test_a_map_whose_axes_are_no_permutation_is_refused(maps: Path, tmp_path: Path) -> None:
    config = _upload(tmp_path, maps, {"EMD_3197": "EMD-3197.map"}, {"literal": {"value": [11.4]}})
    with mrcfile.open(tmp_path / "lab/maps/EMD_3197.map", mode="r+", permissive=True) as broken:
        broken.header.maps = 1
    status, ingestion = standardize_config(config, str(tmp_path), str(tmp_path / "out"), stream=io.StringIO())
    assert status == 1
    (failure,) = ingestion.report.failures
    assert "EMD_3197.map" in failure and "not a permutation of 1, 2, 3" in failure and "\n" not in failure


def test_relion_style_volume_headers_do_not_block_ingestion(maps: Path, tmp_path: Path) -> None:
    """RELION writes nversion 0 and ispg 0 on volumes; standardize writes both anew: info, never a problem."""
    config = _upload(tmp_path, maps, {"EMD_3197": "EMD-3197.map"}, {"literal": {"value": [11.4]}})
    with mrcfile.open(tmp_path / "lab/maps/EMD_3197.map", mode="r+", permissive=True) as volume:
        volume.header.ispg = 0
        volume.header.nversion = 0
    bucket = Bucket(str(tmp_path), read_only=True)
    results = validate_sources(bucket, plan_sources(bucket, config))
    assert _errors(results) == []
    noted = {r.code for r in results if r.status is Status.FAILED and r.severity is Severity.INFO}
    assert {"SRC-TOMO-MRC-SPACEGROUP", "SRC-TOMO-MRC-NVERSION"} <= noted


# -- SerialEM mdocs, RELION STAR, IMOD models --------------------------------------------------------------------


def test_serialem_tilt_series_mdoc() -> None:
    path = _files("mdocfile") / "tilt_series.mdoc"
    mdoc = parse_mdoc(path.read_text(), str(path))
    assert mdoc.tilt_axis == 85.3 and len(mdoc.sections) == 41
    assert [s.z_value for s in mdoc.sections] == list(range(41))
    assert mdoc.sections[0].sub_frame_path == "TS_01_000_0.0.mrc" and mdoc.sections[0].num_sub_frames == 8


@pytest.mark.parametrize("name", ["montage_section.mdoc", "montage_section_multiple.mdoc", "frame_set_multiple.mdoc"])
def test_other_serialem_mdocs_parse(name: str) -> None:
    path = _files("mdocfile") / name
    assert parse_mdoc(path.read_text(), str(path)).sections


@pytest.mark.parametrize("name", ["loop_double_quote.star", "loop_single_quote.star"])
def test_quoted_star_values(name: str) -> None:
    (table,) = read_star((_files("starfile") / name).read_text()).values()
    assert table.shape == (2, 8)
    assert table.loc[0, "quote_string"] == "quote string" and table.loc[0, "whitespace_string"] == " "
    assert table.loc[1, "empty_string_and_normal_string"] == "test"


def test_relion_3_1_particles_are_points() -> None:
    data = (_files("starfile") / "rln3.1_data_style.star").read_bytes()
    blocks = read_star(data.decode())
    assert {"block_1", "block_2", "block_3"} <= set(blocks)
    points = read_points(data, "relion3_star", path="rln3.1_data_style.star")
    assert len(points) > 0 and np.isfinite(points.locations).all()


def _relion_as_starfile_and_the_portal_read_it(path: Path, filter_value: str | None) -> tuple[Any, Any]:
    """(locations, rotations or None) from ``starfile.read`` with the portal converters' expressions: the particles
    block (the first with coordinates), rows of ``filter_value``, minus the pixel origins, scipy's inverse ZYZ."""
    blocks = starfile.read(path, always_dict=True)
    table = next(table for table in blocks.values() if "rlnCoordinateX" in table.columns)
    if filter_value is not None:
        table = table[table["rlnMicrographName"] == filter_value]
    locations = table[["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].to_numpy(dtype=float)
    if "rlnOriginX" in table.columns:
        locations = locations - table[["rlnOriginX", "rlnOriginY", "rlnOriginZ"]].to_numpy(dtype=float)
    rotations = None
    if "rlnAngleRot" in table.columns:
        angles = table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(dtype=float)
        rotations = Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix()
    return locations, rotations


@pytest.mark.parametrize(
    ("name", "filter_value", "count"),
    [
        ("one_loop.star", None, 16),
        ("one_loop.star", "tomo_ts01.mrc_15.00Apx.mrc", 16),
        ("one_loop.star", "other.mrc", 0),
        ("rln3.1_data_style.star", None, 2),
        ("rln3.1_data_style.star", "0002_sum.mrc", 1),
        ("single_line_middle_of_multiblock.star", None, 1),
        ("single_line_end_of_multiblock.star", None, 2),
    ],
)
def test_relion3_particles_agree_with_starfile(name: str, filter_value: str | None, count: int) -> None:
    """starfile's own RELION 3 particle files: our reader's coordinates and rotations are starfile's table put
    through the portal's expressions."""
    path = _files("starfile") / name
    points = read_points(path.read_bytes(), "relion3_star", path=name, filter_value=filter_value)
    locations, rotations = _relion_as_starfile_and_the_portal_read_it(path, filter_value)
    assert len(points) == len(locations) == count
    np.testing.assert_array_equal(points.locations, locations)
    if rotations is None:
        assert points.rotations is None
    else:
        np.testing.assert_allclose(points.rotations, rotations, atol=1e-12)


def test_relion4_particles_written_by_starfile_agree_with_it(tmp_path: Path) -> None:
    """A RELION 4 particle file (optics and particles blocks, two optics groups, Å shifts, random angles) written
    by starfile: ours equals starfile's table through the portal's ``_from_relion4_star``."""
    rng = np.random.default_rng(20)
    count = 40
    optics = pandas.DataFrame({"rlnOpticsGroup": [1, 2], "rlnImagePixelSize": [1.35, 2.7], "rlnVoltage": [300, 300]})
    particles = pandas.DataFrame(
        {
            "rlnTomoName": rng.choice(["TS_01", "TS_02"], count),
            "rlnCoordinateX": rng.uniform(0, 4000, count).round(3),
            "rlnCoordinateY": rng.uniform(0, 4000, count).round(3),
            "rlnCoordinateZ": rng.uniform(0, 1000, count).round(3),
            "rlnOriginXAngst": rng.normal(0, 5, count).round(4),
            "rlnOriginYAngst": rng.normal(0, 5, count).round(4),
            "rlnOriginZAngst": rng.normal(0, 5, count).round(4),
            "rlnAngleRot": rng.uniform(-180, 180, count).round(4),
            "rlnAngleTilt": rng.uniform(0, 180, count).round(4),
            "rlnAnglePsi": rng.uniform(-180, 180, count).round(4),
            "rlnOpticsGroup": rng.choice([1, 2], count),
        }
    )
    path = tmp_path / "particles.star"
    starfile.write({"optics": optics, "particles": particles}, path)
    points = read_points(path.read_bytes(), "relion4_star", path=path.name, filter_value="TS_01")

    blocks = starfile.read(path)
    table = blocks["particles"][blocks["particles"]["rlnTomoName"] == "TS_01"]
    pixel = blocks["optics"]["rlnImagePixelSize"][0]
    coordinates = table[["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].to_numpy()
    shifts = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    angles = table[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()
    assert 0 < len(points) == len(table) < count
    np.testing.assert_allclose(points.locations, coordinates - shifts / pixel, rtol=1e-15)
    expected = Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix()
    np.testing.assert_allclose(points.rotations, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("two_contour_example.mod", 25),
        ("multiple_objects_example.mod", 6),
        ("point_sizes_example.mod", 18),
        ("meshed_contour_example.mod", 286),
        ("slicer_angle_example.mod", 4),
    ],
)
def test_imod_models_are_points(name: str, count: int) -> None:
    points = read_points((_files("imodmodel") / name).read_bytes(), "mod", path=name)
    assert len(points) == count and np.isfinite(points.locations).all()


def test_imod_slicer_angles_are_oriented_points() -> None:
    """The portal's OrientedPoints from a .mod: one per slicer angle, at its centre (imodmodel's documented
    values), turned by the inverse of the slicer rotation (scipy, as the portal's ``from_oriented_mod``)."""
    data = (_files("imodmodel") / "slicer_angle_example.mod").read_bytes()
    points = read_points(data, "mod", path="slicer_angle_example.mod", oriented=True)
    assert len(points) == 4
    np.testing.assert_allclose(points.locations[0], [235.519577, 682.744141, 302.0], rtol=1e-6)
    np.testing.assert_allclose(points.locations[3], [240.129181, 679.927795, 324.0], rtol=1e-6)
    expected = Rotation.from_euler("xyz", [-13.1, 0.0, 30.2], degrees=True).as_matrix()
    np.testing.assert_allclose(points.rotations[0], expected, atol=1e-6)


# -- AreTomo and IMOD alignments, AreTomo3 CTF -------------------------------------------------------------------


def test_aretomo3_aln_with_dark_frames_pairs_rows_with_the_kept_sections() -> None:
    """AreTomo3 numbers SEC from 0 among the kept sections; 14 dark frames at the start: row 0 is raw section 14."""
    path = _files("alnfile") / "global_and_local.aln"
    aln = parse_aln(path.read_text(), str(path))
    assert aln.raw_size[2] == len(aln.sections) + len(aln.dark_frames) == 51
    assert aln.sections[0].sec == 0 and aln.z_indices == list(range(14, 51))
    assert [section["z_index"] for section in aretomo_sections(aln)] == list(range(14, 51))


def test_aretomo2_aln_and_its_imod_twins_agree() -> None:
    folder = _files("alnfile")
    aln = parse_aln((folder / "global_no_local.aln").read_text(), "aln")
    xf = parse_xf((folder / "global_no_local.xf").read_text(), "xf")
    tlt = parse_tilt_angles((folder / "global_no_local.tlt").read_text(), "tlt")
    assert aln.sections[0].sec == 1 and aln.z_indices == list(range(61))
    assert len(xf) == len(tlt) == len(aln.sections) == aln.raw_size[2]


def test_imod_alignment_sections_are_proper_rotations() -> None:
    folder = _files("cryoet-alignment")
    xf = parse_xf((folder / "tilt_1.xf").read_text(), "xf")
    sections = imod_sections(
        xf,
        parse_tilt_angles((folder / "tilt_1.tlt").read_text(), "tlt"),
        parse_tilt_angles((folder / "tilt_1.xtilt").read_text(), "xtilt"),
    )
    assert len(sections) == 59
    for section in sections:
        rotation = np.array(section["in_plane_rotation"])
        assert np.allclose(rotation @ rotation.T, np.eye(2), atol=1e-3) and abs(np.linalg.det(rotation) - 1) < 1e-3


@pytest.mark.parametrize(("name", "rows"), [("test_CTF.txt", 3), ("test_8col_CTF.txt", 31)])
def test_aretomo3_ctf_reads_as_the_portal_reads_it(name: str, rows: int) -> None:
    """The portal reads AreTomo3 CTF files as CTFFIND: columns 1-7 (an 8th, dfHand, is ignored)."""
    text = (_files("cryoet-alignment") / name).read_text()
    fits = parse_ctf(text, "CTFFIND", name)
    assert len(fits) == rows and [fit.section for fit in fits] == list(range(1, rows + 1))
    first = text.splitlines()[1].split()
    assert (fits[0].major_defocus, fits[0].minor_defocus, fits[0].max_resolution) == tuple(
        float(first[i]) for i in (1, 2, 6)
    )
