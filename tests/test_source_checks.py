"""Pre-ingest source checks (``pytest --ingestion-config CONFIG --input-bucket URL``): the sample's source
passes, each SRC-* check fails on its defect, garbage gives failures and never a session error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import trimesh
import yaml
import zarr

from data_validation.engine import Result, Status
from data_validation.registry import NOT_APPLICABLE, REGISTRY, Severity
from data_validation.source import is_source_check
from data_validation.source.validate import validate_sources
from importers.ingest.entities.context import IngestOptions
from importers.ingest.sources import plan_sources
from importers.storage import Bucket
from tests import cases_source
from tests.cases_source import CONFIG_NAME, RUN, SOURCE, extend_source
from tests.conftest import REPO_ROOT, shared_dir, upload_tree
from tests.corruptions import Corruption
from tests.real_files import PACKAGES, FetchError, fetch
from tests.test_points import imod_model
from tests.test_validation_suite import _recorder, run_suite

SAMPLE_CONFIG = REPO_ROOT / "dataset_configs" / CONFIG_NAME


def _results(root: Path, config: Path, **options: dict[str, list[str]]) -> list[Result]:
    bucket = Bucket(str(root), read_only=True)
    return validate_sources(bucket, plan_sources(bucket, config, options=IngestOptions(**options)))


def _failures(results: list[Result]) -> list[Result]:
    return [result for result in results if result.status is Status.FAILED]


def _not_applicable(result: Result) -> bool:
    return result.status is Status.SKIPPED and result.message.startswith(NOT_APPLICABLE)


@pytest.fixture
def extended(sample_source: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the sample source with movies and gains: (input root, config)."""
    return tmp_path, extend_source(sample_source, tmp_path)


@pytest.fixture(scope="module")
def sample_results(sample_source: Path) -> list[Result]:
    return _results(sample_source, SAMPLE_CONFIG)


@pytest.fixture(scope="module")
def extended_results(sample_source: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    root = tmp_path_factory.mktemp("extended-source")
    return _results(root, extend_source(sample_source, root))


def test_sample_source_passes_with_pytest(sample_source: Path) -> None:
    # As a curator runs it, from the repository.
    result = run_suite(
        "--ingestion-config", "dataset_configs/10001.yaml", "--input-bucket", f"file://{sample_source}", "-rA"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
    # Only source checks ran: the entity kinds discovered decide.
    ids = [line.split("[", 1)[1] for line in result.stdout.splitlines() if line.startswith("PASSED")]
    assert ids and all(test_id.startswith("SRC-") for test_id in ids), ids[:5]


def test_every_source_check_passes_where_it_applies(
    sample_results: list[Result], extended_results: list[Result]
) -> None:
    for results in (sample_results, extended_results):
        assert not _failures(results), "\n".join(r.line() for r in _failures(results))
        assert all(r.status is Status.PASSED or _not_applicable(r) for r in results), [
            r.line() for r in results if r.status is Status.SKIPPED and not _not_applicable(r)
        ]
    passed = {r.code for r in sample_results + extended_results if r.status is Status.PASSED}
    assert passed == {code for code in REGISTRY if is_source_check(code)}


def test_every_source_check_has_a_case() -> None:
    assert {c.code for c in cases_source.CASES} == {code for code in REGISTRY if is_source_check(code)}


@pytest.mark.parametrize("corruption", cases_source.CASES, ids=lambda c: f"{c.code}:{c.entity.rsplit('/', 1)[-1]}")
def test_source_check_fails_on_its_defect(corruption: Corruption, extended: tuple[Path, Path]) -> None:
    root, config = extended
    corruption.apply(root)
    failures = _failures(_results(root, config))
    entity = corruption.entity.format(config=config)
    targeted = [f for f in failures if f.code == corruption.code and f.entity == entity]
    assert targeted, f"{corruption.code} did not fail on {entity}; failures: {[f.line() for f in failures]}"
    assert any(f.severity is corruption.severity for f in targeted), [f.line() for f in targeted]
    assert all("\n" not in f.message and "internal error" not in f.message for f in failures)


def test_a_finder_matching_nothing_in_one_run_warns(extended: tuple[Path, Path]) -> None:
    """As the importer takes it: a CTF fit for some runs only is normal."""
    root, config = extended
    (root / SOURCE / "ctf/TS_001_ctffind4.txt").unlink()
    (finding,) = [f for f in _failures(_results(root, config)) if f.code == "SRC-SOURCES-FOUND"]
    assert finding.entity == RUN and finding.severity is Severity.WARNING
    assert "ctfs[0].sources[0]: source_glob 'sample_10001/ctf/TS_001_ctffind4.txt' matched nothing" in finding.message
    assert "(it matches in other runs)" in finding.message
    # The mdoc's tilt axis, its angles and the tilt series are still checked.
    assert len(_failures(_results(root, config))) == 1


def test_a_finder_matching_nothing_in_every_run_is_an_error(extended: tuple[Path, Path]) -> None:
    root, config = extended
    cases_source.set_list_glob("ctfs", "ctf/{run_name}_ctffind5.txt")(root)
    findings = [f for f in _failures(_results(root, config)) if f.code == "SRC-SOURCES-FOUND"]
    assert sorted(f.entity for f in findings) == ["10001/TS_001", "10001/TS_002"]
    assert all(f.severity is Severity.ERROR and "matched nothing in any run" in f.message for f in findings)


def test_an_mdoc_for_one_run_only_is_normal_where_nothing_needs_it(extended: tuple[Path, Path]) -> None:
    """The mdoc entry matches in TS_002 only: a warning for TS_001, whose tilt series still needs one (the
    importer's tilt-series metadata reads it): SRC-MDOC-PRESENT says so."""
    root, config = extended
    (root / cases_source.MDOC).unlink()
    failures = {(f.code, f.severity) for f in _failures(_results(root, config)) if f.entity == RUN}
    assert ("SRC-SOURCES-FOUND", Severity.WARNING) in failures
    assert ("SRC-MDOC-PRESENT", Severity.ERROR) in failures


def test_mixed_alignment_formats_are_normal(extended: tuple[Path, Path]) -> None:
    """An AreTomo entry beside the IMOD one, each matching in some runs: no error."""
    root, config = extended
    aretomo = {"metadata": {"format": "ARETOMO3"}, "sources": [{"source_glob": {"list_glob": "aln/{run_name}.aln"}}]}
    (root / SOURCE / "aln").mkdir()
    (root / SOURCE / "aln/TS_002.aln").write_text("# AreTomo Alignment\n")
    cases_source.config_edit(lambda data: data["alignments"].append(aretomo))(root)
    errors = [f for f in _failures(_results(root, config)) if f.severity is Severity.ERROR]
    assert not errors, [f.line() for f in errors]


def test_each_of_several_source_entries_must_match(extended: tuple[Path, Path]) -> None:
    root, config = extended
    second = {"source_glob": {"list_glob": "denoised/{run_name}.mrc"}}
    cases_source.config_edit(lambda data: data["tomograms"][0]["sources"].append(second))(root)
    failures = _failures(_results(root, config))
    assert sorted(f.entity for f in failures) == ["10001/TS_001", "10001/TS_002"]
    assert "tomograms[0].sources[1]: source_glob 'sample_10001/denoised/TS_001.mrc' matched nothing" in (
        failures[0].message
    )


def test_an_unreadable_input_is_one_failure(extended: tuple[Path, Path]) -> None:
    root, config = extended
    (root / cases_source.MDOC).write_bytes(b"\x00\x01 not an mdoc")
    failures = _failures(_results(root, config))
    assert [(f.code, f.entity) for f in failures] == [("SRC-MDOC-TILT-AXIS", RUN)], [f.line() for f in failures]
    assert "TS_001.mdoc" in failures[0].message


def test_an_empty_input_is_a_failed_discovery(tmp_path: Path) -> None:
    failures = _failures(_results(tmp_path, SAMPLE_CONFIG))
    assert [f.code for f in failures] == ["GEN-DISCOVERY"]
    assert "input sample_10001: nothing under" in failures[0].message


@pytest.mark.parametrize(("pages", "fails"), [(1, False), (2, True)])
def test_tiff_gains_are_read_by_their_ifds(extended: tuple[Path, Path], pages: int, fails: bool) -> None:
    tifffile = pytest.importorskip("tifffile")
    root, config = extended
    (root / cases_source.GAIN).unlink()
    tifffile.imwrite(root / SOURCE / "gains/TS_001_gain.tif", np.ones((pages, 8, 8), dtype=np.float32))
    cases_source.set_list_glob("gains", "gains/{run_name}_gain.*")(root)
    failures = _failures(_results(root, config))
    assert [f.line() for f in failures] == (
        [f"SRC-GAIN-READABLE [error] {RUN}: sample_10001/gains/TS_001_gain.tif: TIFF gain has 2 pages, expected 1"]
        if fails
        else []
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [("test-2.dm4", None), ("test-3.dm4", "DM data type 3 is not one a gain reference uses"), (None, "DM version")],
)
def test_dm4_gains_are_read_by_their_tag_directory(
    extended: tuple[Path, Path], name: str | None, problem: str | None
) -> None:
    """The portal converts a DM4 gain (dm2mrc): a real one (saved by DigitalMicrograph) passes, one of a type no
    gain has or a file that is no DM4 fails."""
    package = next(package for package in PACKAGES if package.name == "hyperspy")
    try:
        real = fetch(package)
    except (FetchError, OSError) as error:
        pytest.skip(f"real files of {package.name} {package.version} unavailable: {error}")
    root, config = extended
    gain = root / cases_source.GAIN
    (root / SOURCE / "gains/TS_001_gain.dm4").write_bytes((real / name).read_bytes() if name else gain.read_bytes())
    gain.unlink()
    cases_source.set_list_glob("gains", "gains/{run_name}_gain.*")(root)
    failures = [f.line() for f in _failures(_results(root, config))]
    if problem is None:
        assert failures == []
    else:
        assert len(failures) == 1 and failures[0].startswith(f"SRC-GAIN-READABLE [error] {RUN}: ")
        assert f"sample_10001/gains/TS_001_gain.dm4: {problem}" in failures[0]


def test_name_filters_narrow_the_runs(sample_source: Path) -> None:
    results = _results(sample_source, SAMPLE_CONFIG, name_filters={"run": ["TS_002"]})
    assert not _failures(results)
    entities = {r.entity for r in results if r.code != "SRC-CONFIG-VALID" and r.code != "SRC-RUNS-EXIST"}
    assert entities and all("TS_002" in entity for entity in entities), sorted(entities)
    result = run_suite(
        "--ingestion-config", str(SAMPLE_CONFIG), "--input-bucket", str(sample_source), "--exclude-run-name", "TS_"
    )
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("SRC-RUNS-EXIST"))
    assert "find no run under sample_10001 with --exclude-run-name TS_" in line


def test_only_headers_of_the_volumes_are_read(sample_source: Path) -> None:
    bucket = Bucket(str(sample_source), read_only=True)
    validate_sources(bucket, plan_sources(bucket, SAMPLE_CONFIG))
    volumes = sum(path.stat().st_size for path in (sample_source / SOURCE).rglob("*.mrc"))
    texts = sum(path.stat().st_size for path in (sample_source / SOURCE).rglob("*") if path.suffix != ".mrc")
    assert bucket.stats.snapshot()["bytes_read"] <= texts + 6 * 1024 < volumes


def test_garbage_gives_failures_not_errors(extended: tuple[Path, Path]) -> None:
    root, config = extended
    source = root / SOURCE
    (source / "tiltseries/TS_001.mrc").write_bytes(b"")
    header = bytearray((source / "tomograms/TS_002.mrc").read_bytes()[:1024])
    header[0:12] = (2**20).to_bytes(4, "little") * 3  # a header claiming a 4-exabyte volume
    (source / "tomograms/TS_002.mrc").write_bytes(bytes(header))
    (source / "tiltseries/TS_002.rawtlt").write_bytes(b"\xff\xfe\x00garbage")
    (source / "annotations/TS_001_ribosome.csv").write_bytes(bytes(range(256)) * 4)
    (source / "annotations/TS_002_membrane.mrc").write_bytes(b"MAP")
    (source / "gains/TS_002_gain.mrc").write_bytes(b"\x00" * 2000)
    result = run_suite("--ingestion-config", str(config), "--input-bucket", f"file://{root}", "-rs")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr and "Traceback" not in result.stdout
    failures = sorted(line.split(" ", 1)[0] for line in result.stdout.splitlines() if line.startswith("SRC-"))
    # One failure per broken input, by the check that owns it (a tomogram with no readable header leaves
    # the membrane mask of that run nothing to be compared with: it fails its parse anyway).
    assert failures == [
        "SRC-ANNO-PARSE",
        "SRC-ANNO-PARSE",
        "SRC-GAIN-READABLE",
        "SRC-TILT-RAWTLT-NONEMPTY",
        "SRC-TOMO-MRC-READABLE",
        "SRC-TS-MRC-READABLE",
    ], result.stdout


BROKEN_CONFIGS = {
    "yaml": b"runs: [unclosed\n",
    "list": b"- a list\n",
    "binary": b"\xff\xfe",
    "wrong types": json.dumps({"version": "1.3.0", "standardization_config": [], "runs": [1, 2]}).encode(),
}


@pytest.mark.parametrize("content", BROKEN_CONFIGS.values(), ids=BROKEN_CONFIGS)
def test_a_broken_config_is_a_failed_check(sample_source: Path, tmp_path: Path, content: bytes) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_bytes(content)
    failures = _failures(_results(sample_source, config))
    assert [f.code for f in failures if "internal error" not in f.message][:1] == ["SRC-CONFIG-VALID"]
    assert all(f.code in ("SRC-CONFIG-VALID", "SRC-RUNS-EXIST") for f in failures), [f.line() for f in failures]


def test_a_broken_config_is_no_session_error(sample_source: Path, tmp_path: Path) -> None:
    config = tmp_path / CONFIG_NAME
    config.write_bytes(BROKEN_CONFIGS["wrong types"])
    result = run_suite("--ingestion-config", str(config), "--input-bucket", str(sample_source))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr and "Traceback" not in result.stdout
    assert any(line.startswith(f"SRC-CONFIG-VALID [error] {config}: ") for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--ingestion-config", str(SAMPLE_CONFIG)], "--ingestion-config needs --input-bucket URL"),
        (["--ingestion-config", "nowhere.yaml", "--input-bucket", "/tmp"], "nowhere.yaml: no such file"),
        (["--ingestion-config", str(SAMPLE_CONFIG), "--input-bucket", "/tmp", "--dataset", "1"], "give one of them"),
        (["--ingestion-config", str(SAMPLE_CONFIG), "--input-bucket", "/tmp", "--filter-run-name", "("], "bad name"),
        (["--dataset", "10001", "--filter-run-name", "TS"], "need --ingestion-config"),
    ],
)
def test_usage_errors(arguments: list[str], message: str) -> None:
    result = run_suite(*arguments)
    assert result.returncode == 4 and message in result.stderr, result.stderr


def test_workers_get_the_source_snapshot(sample_source: Path, tmp_path: Path, sample_results: list[Result]) -> None:
    parallel = run_suite(
        "--ingestion-config", str(SAMPLE_CONFIG), "--input-bucket", f"file://{sample_source}", "-n", "2", cwd=tmp_path
    )
    assert parallel.returncode == 0, parallel.stdout + parallel.stderr
    passed = sum(r.status is Status.PASSED for r in sample_results)
    skipped = sum(r.status is Status.SKIPPED for r in sample_results)
    assert parallel.stdout.splitlines()[-1].split(" in ")[0] == f"{passed} passed, {skipped} skipped"


def test_source_checks_on_moto_only_read(sample_source: Path, s3_bucket: str, s3_endpoint: str) -> None:
    upload_tree(sample_source, s3_bucket)
    _recorder(s3_endpoint, "reset-recording")
    _recorder(s3_endpoint, "start-recording")
    try:
        result = run_suite("--ingestion-config", str(SAMPLE_CONFIG), "--input-bucket", s3_bucket)
    finally:
        _recorder(s3_endpoint, "stop-recording")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
    methods = [json.loads(line)["method"] for line in _recorder(s3_endpoint, "download-recording").splitlines()]
    assert methods and set(methods) <= {"GET", "HEAD"}, set(methods)


def test_destination_finders_need_an_output_bucket(extended: tuple[Path, Path], tmp_path: Path) -> None:
    """A deposition config finds its runs in the existing output: without one, SRC-RUNS-EXIST says so."""
    root, config = extended
    cases_source.config_edit(
        lambda data: data["runs"][0]["sources"].__setitem__(
            0, {"destination_glob": {"list_glob": "{output_path}10001/*", "name_regex": "(TS_.*)"}}
        )
    )(root)
    assert [f.code for f in _failures(_results(root, config))] == ["SRC-RUNS-EXIST"]
    output = tmp_path / "output"
    for run in ("TS_001", "TS_002"):
        (output / "10001" / run).mkdir(parents=True)
        (output / "10001" / run / "run_metadata.json").write_text("{}")
    bucket = Bucket(str(root), read_only=True)
    results = validate_sources(bucket, plan_sources(bucket, config, output=Bucket(str(output), read_only=True)))
    assert not _failures(results), [f.line() for f in _failures(results)]
    shutil.rmtree(output)


def test_the_portals_reference_upload_has_no_error(tmp_path: Path) -> None:
    """reference-90001's input with the portal's own config: what the portal ingested passes (its tilt series
    has ispg 1: info; its config calls an automated annotation ground truth and has an ORCID with a wrong check
    digit: the one warning)."""
    reference = shared_dir() / "reference-90001"
    (tmp_path / "anchor_synthetic").symlink_to(reference / "input", target_is_directory=True)
    results = _results(tmp_path, reference / "config.yaml")
    errors = [r for r in _failures(results) if r.severity is Severity.ERROR]
    assert not errors, [r.line() for r in errors]
    warned = {r.code for r in _failures(results) if r.severity is Severity.WARNING}
    assert warned == {"SRC-CONFIG-VALID"}
    noted = {r.code for r in _failures(results) if r.severity is Severity.INFO}
    assert "SRC-TS-MRC-SPACEGROUP" in noted


def _add_annotations(config: Path, shapes: list[dict], prefix: str) -> None:
    """One more annotation per source shape, with the first annotation's metadata and its own ingest id."""
    data = yaml.safe_load(config.read_text())
    template = data["annotations"][0]
    for number, shape in enumerate(shapes, start=2):
        entry = {"metadata": {**template["metadata"], "annotation_ingest_id": f"{prefix}-{number}"}, "sources": [shape]}
        data["annotations"].append(entry)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def test_zarr_masks_rescaled_masks_and_slicer_angle_models(extended: tuple[Path, Path]) -> None:
    """What the importer reads the source checks read: a mask in an OME-Zarr store (the tomogram's size: in the
    volume; rescaled: resampled, so no size to match), OrientedPoints from an IMOD model's slicer angles. A store
    without multiscales and a model without slicer angles fail SRC-ANNO-PARSE, naming the file."""
    root, config = extended
    with mrcfile.open(root / cases_source.MASK) as mrc:
        mask = mrc.data.copy()
    for name, data in (("full", mask), ("half", mask[::2, ::2, ::2])):
        group = zarr.open_group(str(root / SOURCE / "annotations" / f"TS_001_{name}.zarr"), mode="w", zarr_format=2)
        group.create_array("0", shape=data.shape, dtype=data.dtype)[:] = data
        scale = {"type": "scale", "scale": [13.48] * 3}
        group.attrs["multiscales"] = [{"datasets": [{"path": "0", "coordinateTransformations": [scale]}]}]
    broken = root / SOURCE / "annotations" / "TS_001_broken.zarr"
    shutil.copytree(root / SOURCE / "annotations" / "TS_001_full.zarr", broken)
    (broken / ".zattrs").write_text("{}")
    (root / SOURCE / "annotations" / "TS_001.mod").write_bytes(imod_model([], [((10.0, 0.0, 5.0), (4.0, 5.0, 6.0))]))
    (root / SOURCE / "annotations" / "TS_001_contours.mod").write_bytes(imod_model([[[(1.0, 2.0, 3.0)]]]))
    shapes = [
        {"SegmentationMask": {"file_format": "zarr", "glob_string": "annotations/{run_name}_full.zarr"}},
        {
            "SegmentationMask": {
                "file_format": "zarr",
                "glob_string": "annotations/{run_name}_half.zarr",
                "rescale": True,
            }
        },
        {"SegmentationMask": {"file_format": "zarr", "glob_string": "annotations/{run_name}_broken.zarr"}},
        {"OrientedPoint": {"file_format": "mod", "glob_string": "annotations/{run_name}.mod"}},
        {"OrientedPoint": {"file_format": "mod", "glob_string": "annotations/{run_name}_contours.mod"}},
    ]
    _add_annotations(config, shapes, "extra")
    results = _results(root, config)
    by_entity = {(r.code, r.entity.rsplit("/", 1)[-1]): r for r in results if r.code.startswith("SRC-ANNO")}
    for name in ("TS_001_full.zarr", "TS_001_half.zarr", "TS_001.mod"):
        assert by_entity[("SRC-ANNO-PARSE", name)].status is Status.PASSED, by_entity[("SRC-ANNO-PARSE", name)].line()
    assert by_entity[("SRC-ANNO-IN-VOLUME", "TS_001_full.zarr")].status is Status.PASSED
    assert _not_applicable(by_entity[("SRC-ANNO-IN-VOLUME", "TS_001_half.zarr")])
    assert by_entity[("SRC-ANNO-IN-VOLUME", "TS_001.mod")].status is Status.PASSED
    broken_result = by_entity[("SRC-ANNO-PARSE", "TS_001_broken.zarr")]
    assert broken_result.status is Status.FAILED and "multiscales" in broken_result.message
    contours = by_entity[("SRC-ANNO-PARSE", "TS_001_contours.mod")]
    assert contours.status is Status.FAILED and "slicer angles (SLAN chunks)" in contours.message


def test_mesh_sources_are_checked_as_the_importer_converts_them(extended: tuple[Path, Path]) -> None:
    """An obj mesh with a scale factor parses (the importer converts it); a VTK file of quads fails
    SRC-ANNO-PARSE naming the problem."""
    root, config = extended
    box = trimesh.creation.box(extents=(2.0, 3.0, 4.0))
    (root / SOURCE / "annotations" / "TS_001_box.obj").write_text(box.export(file_type="obj"))
    quads = "# vtk DataFile Version 4.2\nq\nASCII\nDATASET POLYDATA\nPOINTS 4 float\n0 0 0 1 0 0 1 1 0 0 1 0\n"
    (root / SOURCE / "annotations" / "TS_001_quads.vtk").write_text(quads + "POLYGONS 1 5\n4 0 1 2 3\n")
    shapes = [
        {"TriangularMesh": {"file_format": "obj", "glob_string": "annotations/{run_name}_box.obj", "scale_factor": 2}},
        {"TriangularMesh": {"file_format": "vtk", "glob_string": "annotations/{run_name}_quads.vtk"}},
    ]
    _add_annotations(config, shapes, "mesh")
    results = _results(root, config)
    by_entity = {r.entity.rsplit("/", 1)[-1]: r for r in results if r.code == "SRC-ANNO-PARSE"}
    assert by_entity["TS_001_box.obj"].status is Status.PASSED, by_entity["TS_001_box.obj"].line()
    quads_result = by_entity["TS_001_quads.vtk"]
    assert quads_result.status is Status.FAILED and "not triangles" in quads_result.message
