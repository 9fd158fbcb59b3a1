"""Annotation and identified-object import: the reference dataset's annotations reproduced, every shape
from a synthetic config, re-runs, interrupted writes and per-entity errors."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import trimesh
import yaml
import zarr

from importers import layout
from importers.formats import ndjson
from importers.formats.mrc import parse_header
from importers.formats.precomputed_mesh import mesh_sharding, read_mesh_shard
from importers.ingest.entities.context import IngestOptions
from importers.ingest.mask_rescale import rescale_semantic, target_shape
from importers.ingest.standardize import standardize_config
from importers.metadata.models import METADATA_MODELS
from importers.storage import Bucket
from tests.conftest import shared_dir, upload_tree
from tests.shapes_sample import glb

# -- the reference dataset ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(reference output, our output) for the reference config and input."""
    reference = shared_dir() / "reference-90001"
    source = tmp_path_factory.mktemp("reference-input")
    (source / "anchor_synthetic").symlink_to(reference / "input", target_is_directory=True)
    output = tmp_path_factory.mktemp("reference-output")
    _, ingestion = standardize_config(reference / "config.yaml", str(source), str(output), stream=io.StringIO())
    assert not [failure for failure in ingestion.report.failures if "annotation" in failure]
    return reference / "output", output


def _annotation_files(root: Path) -> set[str]:
    return {
        path.relative_to(root).as_posix()
        for path in root.glob("*/*/Reconstructions/VoxelSpacing*/Annotations/**/*")
        if path.is_file()
    }


def _without_timestamp(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "last_updated_at"}


def _no_label(mrc: bytes) -> Any:
    """An MRC header without its labels, whose first one ends in the ingest time."""
    return dataclasses.replace(parse_header(mrc[:1024]), labels=())


def test_reference_annotations_have_the_same_paths(reference_run: tuple[Path, Path]) -> None:
    reference, ours = reference_run
    assert _annotation_files(reference) and _annotation_files(ours) == _annotation_files(reference)


def test_reference_annotation_metadata_and_points(reference_run: tuple[Path, Path]) -> None:
    reference, ours = reference_run
    compared = 0
    for key in sorted(_annotation_files(reference)):
        match = layout.parse(key)
        if match.template == "annotation_metadata":
            expected = _without_timestamp(json.loads((reference / key).read_text()))
            actual = _without_timestamp(json.loads((ours / key).read_text()))
            if actual["alignment_metadata_path"] is None and not (ours / expected["alignment_metadata_path"]).exists():
                # The run's alignment comes from the alignment importer; without it there is no path.
                del expected["alignment_metadata_path"], actual["alignment_metadata_path"]
            assert actual == expected, key
            compared += 1
        elif key.endswith(".ndjson"):
            assert (ours / key).read_bytes() == (reference / key).read_bytes(), key
            compared += 1
    assert compared == 6


def test_reference_mask_mrc_and_zarr(reference_run: tuple[Path, Path]) -> None:
    reference, ours = reference_run
    masks = sorted(key for key in _annotation_files(reference) if key.endswith("_segmentationmask.mrc"))
    assert len(masks) == 2
    for key in masks:
        expected, actual = ((root / key).read_bytes() for root in (reference, ours))
        assert _no_label(actual) == _no_label(expected) and actual[1024:] == expected[1024:], key
        # The label's last 39 characters are the ingest time.
        assert [label[:40] for label in parse_header(actual[:1024]).labels] == [
            label[:40] for label in parse_header(expected[:1024]).labels
        ]
        store = key.removesuffix(".mrc") + ".zarr"
        for member in (".zattrs", ".zgroup", "0/.zarray", "1/.zarray", "2/.zarray"):
            assert json.loads((ours / store / member).read_text()) == json.loads(
                (reference / store / member).read_text()
            )
        for level in "012":
            assert np.array_equal(
                zarr.open_array(str(ours / store / level), mode="r")[:],
                zarr.open_array(str(reference / store / level), mode="r")[:],
            )


# -- every shape from a synthetic config -------------------------------------------------------

RUNS = ("TS_1", "TS_2")
AUTHORS = [{"name": "A. Author", "primary_author_status": True, "corresponding_author_status": True}]
DATES = {"deposition_date": "2025-01-01", "release_date": "2025-01-02", "last_modified_date": "2025-01-02"}
SPACING = 10.0


def _annotation(ingest_id: str, name: str, sources: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "annotation_ingest_id": ingest_id,
            "annotation_object": {"id": "GO:0005575", "name": name},
            "annotation_method": "test",
            "method_type": "manual",
            "authors": AUTHORS,
            "dates": DATES,
            "version": 1.0,
            **metadata,
        },
        "sources": sources,
    }


def _config(path: Path, annotations: list[dict[str, Any]], **extra: Any) -> Path:
    document = {
        "version": "1.3.0",
        "standardization_config": {"deposition_id": 20001, "source_prefix": "lab"},
        "depositions": [{"sources": [{"literal": {"value": [20001]}}]}],
        "datasets": [{"sources": [{"literal": {"value": ["20001"]}}]}],
        "runs": [{"sources": [{"literal": {"value": list(RUNS)}}]}],
        "voxel_spacings": [{"sources": [{"literal": {"value": [SPACING]}}]}],
        "annotations": annotations,
        **extra,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _same_mesh(published: bytes, source: bytes) -> bool:
    """The published glb holds the source's triangles (trimesh's export of it, as the portal publishes it)."""
    ours, theirs = (trimesh.load(io.BytesIO(data), file_type="glb", force="mesh") for data in (published, source))
    return np.array_equal(ours.vertices, theirs.vertices) and np.array_equal(ours.faces, theirs.faces)


def _mrc(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, data=data, overwrite=True) as mrc:
        mrc.voxel_size = SPACING


STAR = "data_\nloop_\n_rlnMicrographName\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n_rlnAngleRot\n"
STAR += "_rlnAngleTilt\n_rlnAnglePsi\nTS_1.mrc 2 4 6 90 0 0\nTS_2.mrc 1 1 1 0 0 0\nTS_2.mrc 2 2 2 0 90 0\n"
STAR4 = "data_optics\nloop_\n_rlnImagePixelSize\n5.0\ndata_particles\nloop_\n_rlnTomoName\n_rlnCoordinateX\n"
STAR4 += (
    "_rlnCoordinateY\n_rlnCoordinateZ\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\nTS_1 1 2 3 0 0 0\nTS_2 4 5 6 0 0 0\n"
)


def _source_tree(root: Path) -> Path:
    """The lab's files for the synthetic config, under ``root/lab``."""
    lab = root / "lab"
    (lab / "picks").mkdir(parents=True)
    (lab / "captions").mkdir()
    (lab / "meshes").mkdir()
    (lab / "picks" / "all.star").write_text(STAR)
    (lab / "picks" / "particles.star").write_text(STAR4)
    (lab / "objects.csv").write_text(
        "run_name,object_id,object_name,object_state,object_description\n"
        "TS_1,GO:0005739,mitochondrion,,big\nTS_2,GO:0005783,endoplasmic reticulum,open,\nTS_1,GO:0005874,mt,,\n"
    )
    labels = np.zeros((4, 6, 8), dtype=np.int16)
    labels[1, 2, 3] = labels[2, 2, 3] = 2
    labels[0, 0, 0] = 1
    for number, run in enumerate(RUNS, start=1):
        (lab / "picks" / f"{run}.csv").write_text("".join(f"{2 * k},{4 * k},{6 * k}\n" for k in range(number + 2)))
        (lab / "picks" / f"{run}_instances.csv").write_text("IDs,X,Y,Z\n1,1,1,1\n1,2,2,2\n9,3,3,3\n")
        (lab / "picks" / f"{run}_broken.csv").write_text("1,2,3\n4,five,6\n" if run == "TS_1" else "7,8,9\n")
        (lab / "captions" / f"{run}_global.json").write_text(json.dumps({"captions": ["a", "b", "c", "d", "e"]}))
        (lab / "captions" / f"{run}_points.json").write_text(json.dumps({"objects": [{"id": 1}]}))
        (lab / "meshes" / f"{run}.glb").write_bytes(glb())
        _mrc(lab / "masks" / f"{run}_probability.mrc", np.linspace(0, 1, 4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8))
        _mrc(lab / "masks" / f"{run}_labels.mrc", labels)
        instances = np.zeros((4, 6, 8), dtype=np.uint16)
        instances[0, :2, :2], instances[3, 5, 7], instances[2, 3, 4] = 3, 7, 3 + number
        _mrc(lab / "masks" / f"{run}_instances.mrc", instances)
    return root


EVERY_SHAPE = [
    _annotation(
        "cytosolic-ribosome-1",
        "cytosolic ribosome",
        [
            {"Point": {"file_format": "csv", "glob_string": "picks/{run_name}.csv", "columns": "zyx", "binning": 2,
                       "is_visualization_default": True}},
            {"OrientedPoint": {"file_format": "relion3_star", "glob_string": "picks/all.star",
                               "filter_value": "{run_name}.mrc"}},
            {"InstanceSegmentation": {"file_format": "tardis", "glob_strings": ["picks/{run_name}_instances.csv"]}},
            {"GlobalCaption": {"file_format": "json", "glob_string": "captions/{run_name}_global.json",
                               "is_visualization_default": True}},
            {"AnnotationCaption": {"file_format": "json", "glob_string": "captions/{run_name}_points.json",
                                   "companion_shape": "Point"}},
        ],
    ),
    _annotation(
        "membrane-1",
        "membrane",
        [{"SemanticSegmentationMask": {"file_format": "mrc", "glob_string": "masks/{run_name}_probability.mrc",
                                       "threshold": 0.5, "is_visualization_default": True}}],
        annotation_object={"id": "GO:0016020", "name": "membrane", "description": "Lipid bilayer"},
    ),
    _annotation(
        "vesicle-1",
        "vesicle",
        [{"SegmentationMask": {"file_format": "mrc", "glob_string": "masks/{run_name}_labels.mrc", "mask_label": 2}}],
    ),
    _annotation(
        "microtubule-1",
        "microtubule",
        [{"InstanceSegmentationMask": {"file_format": "mrc", "glob_string": "masks/{run_name}_instances.mrc"}}],
    ),
    _annotation(
        "centriole-1",
        "centriole",
        [{"TriangularMesh": {"file_format": "glb", "glob_string": "meshes/{run_name}.glb"}}],
        version=None,
    ),
    _annotation(
        "proteasome-1",
        "proteasome",
        [{"OrientedPoint": {"file_format": "relion4_star", "glob_string": "picks/particles.star", "binning": 0.5}}],
    ),
    _annotation(
        "only-ts2-1",
        "nucleosome",
        [{"Point": {"file_format": "csv", "glob_string": "picks/{run_name}.csv"},
          "parent_filters": {"include": {"run": ["TS_2"]}}}],
    ),
    _annotation("broken-1", "actin", [{"Point": {"file_format": "csv", "glob_string": "picks/{run_name}_broken.csv"}}]),
]  # fmt: skip
EVERY_SHAPE_IDS = [entry["metadata"]["annotation_ingest_id"] for entry in EVERY_SHAPE]
IDENTIFIED_OBJECTS = [{"metadata": {}, "sources": [{"source_glob": {"list_glob": "objects.csv"}}]}]


def _standardize(config: Path, source: str, output: str, **options: bool) -> tuple[int, str, list[str]]:
    stream = io.StringIO()
    status, ingestion = standardize_config(config, source, output, options=IngestOptions(**options), stream=stream)
    return status, stream.getvalue(), ingestion.report.failures


@pytest.fixture
def every_shape(tmp_path: Path) -> tuple[Path, Path]:
    """(config, source root) of the synthetic every-shape deposition."""
    config = _config(tmp_path / "20001.yaml", EVERY_SHAPE, identified_objects=IDENTIFIED_OBJECTS)
    return config, _source_tree(tmp_path / "source")


def _annotations(output: Path, run: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """annotation_ingest_id → (metadata key, document) of one run."""
    found = {}
    for path in output.glob(f"20001/{run}/Reconstructions/VoxelSpacing10.000/Annotations/*/*.json"):
        key = path.relative_to(output).as_posix()
        if layout.parse(key).template == "annotation_metadata":
            document = json.loads(path.read_text())
            METADATA_MODELS["annotation"].model_validate(document)
            found[document["annotation_ingest_id"]] = (key, document)
    return found


def _files(document: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [
        (entry["path"].rsplit("/", 1)[-1], entry["format"], entry["shape"], entry["is_visualization_default"])
        for entry in document["files"]
    ]


def test_every_shape_is_ingested(every_shape: tuple[Path, Path], tmp_path: Path) -> None:
    config, source = every_shape
    output = tmp_path / "out"
    status, log, failures = _standardize(config, str(source), str(output))
    assert status == 1 and len(failures) == 1, log
    assert "annotation broken-1" in failures[0] and "TS_1" in failures[0]
    assert f"{source}/lab/picks/TS_1_broken.csv: csv: table row 2, column 1: 'five' is not a number" in failures[0]

    first, second = (_annotations(output, run) for run in RUNS)
    assert set(first) == set(EVERY_SHAPE_IDS) - {"only-ts2-1", "broken-1"}
    assert set(second) == set(EVERY_SHAPE_IDS)
    assert sorted(key.split("/")[-2] for key, _ in first.values()) == [str(n) for n in range(100, 106)]

    key, ribosome = first["cytosolic-ribosome-1"]
    folder = key.rsplit("/", 1)[0]
    assert key.endswith("/cytosolic_ribosome-1.0.json") and ribosome["deposition_id"] == 20001
    assert _files(ribosome) == [
        ("cytosolic_ribosome-1.0_point.ndjson", "ndjson", "Point", True),
        ("cytosolic_ribosome-1.0_orientedpoint.ndjson", "ndjson", "OrientedPoint", False),
        ("cytosolic_ribosome-1.0_instancesegmentation.ndjson", "ndjson", "InstanceSegmentation", False),
        ("cytosolic_ribosome-1.0_globalcaption.json", "json", "GlobalCaption", False),
        ("cytosolic_ribosome-1.0_point_caption.json", "json", "AnnotationCaption", False),
    ]
    assert ribosome["object_count"] == 5  # the five global captions outnumber every other source
    assert all(entry["path"].startswith(folder + "/") for entry in ribosome["files"])
    points = ndjson.loads((output / folder / "cytosolic_ribosome-1.0_point.ndjson").read_bytes(), "Point")
    # columns "zyx" and binning 2: the row "2,4,6" is z=1, y=2, x=3.
    assert [record["location"] for record in points] == [{"x": 0.0, "y": 0.0, "z": 0.0}, {"x": 3.0, "y": 2.0, "z": 1.0},
                                                         {"x": 6.0, "y": 4.0, "z": 2.0}]  # fmt: skip
    oriented = ndjson.loads((output / folder / "cytosolic_ribosome-1.0_orientedpoint.ndjson").read_bytes())
    assert len(oriented) == 1 and oriented[0]["location"] == {"x": 2.0, "y": 4.0, "z": 6.0}
    assert np.allclose(oriented[0]["xyz_rotation_matrix"], [[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    instances = ndjson.loads((output / folder / "cytosolic_ribosome-1.0_instancesegmentation.ndjson").read_bytes())
    assert ndjson.object_count("InstanceSegmentation", instances) == 2
    for name, source_name in (("globalcaption", "TS_1_global"), ("point_caption", "TS_1_points")):
        copied = (output / folder / f"cytosolic_ribosome-1.0_{name}.json").read_bytes()
        assert copied == (source / "lab/captions" / f"{source_name}.json").read_bytes()

    key, membrane = first["membrane-1"]
    assert key.endswith("/lipid_bilayer-1.0.json") and membrane["object_count"] == 0
    assert [name for name, *_ in _files(membrane)] == [
        "lipid_bilayer-1.0_segmentationmask.zarr",
        "lipid_bilayer-1.0_segmentationmask.mrc",
    ]
    mask = output / key.replace(".json", "_segmentationmask.mrc")
    header = parse_header(mask.read_bytes()[:1024])
    assert (header.mode, header.nx, header.ny, header.nz, header.ispg) == (0, 8, 6, 4, 1)
    assert header.voxel_size == pytest.approx((SPACING,) * 3)
    probability = np.linspace(0, 1, 4 * 6 * 8, dtype=np.float32)
    assert mask.read_bytes()[1024:] == (probability > 0.5).astype(np.int8).tobytes()

    key, vesicle = first["vesicle-1"]
    assert _files(vesicle)[0][2] == "SegmentationMask"
    level0 = zarr.open_array(str(output / key.replace(".json", "_segmentationmask.zarr/0")), mode="r")[:]
    assert level0.sum() == 2 and level0[1, 2, 3] == 1 and level0[0, 0, 0] == 0

    key, microtubule = first["microtubule-1"]
    store = output / key.replace(".json", "_instancesegmentationmask.zarr")
    colors = json.loads((store / ".zattrs").read_text())["multiscales"][0]["metadata"]["image-label"]["colors"]
    assert colors == [{"label-value": 3}, {"label-value": 4}, {"label-value": 7}] and microtubule["object_count"] == 3
    assert parse_header((output / key.replace(".json", "_instancesegmentationmask.mrc")).read_bytes()[:1024]).mode == 6

    key, centriole = first["centriole-1"]
    assert key.endswith("/centriole-none.json") and centriole["object_count"] == 1
    assert _files(centriole) == [("centriole-none_triangularmesh.glb", "glb", "TriangularMesh", False)]
    assert _same_mesh((output / key.replace(".json", "_triangularmesh.glb")).read_bytes(), glb())

    key, _ = first["proteasome-1"]
    relion4 = ndjson.loads((output / key.replace(".json", "_orientedpoint.ndjson")).read_bytes(), "OrientedPoint")
    assert [record["location"] for record in relion4] == [{"x": 2.0, "y": 4.0, "z": 6.0}]  # TS_1 only, binning 0.5
    assert second["proteasome-1"][1]["object_count"] == 1

    objects = output / "20001/TS_1/IdentifiedObjects"
    assert json.loads((objects / "identified_objects.json").read_text()) == [
        {"object_id": "GO:0005739", "object_name": "mitochondrion", "object_state": None, "object_description": "big"},
        {"object_id": "GO:0005874", "object_name": "mt", "object_state": None, "object_description": None},
    ]
    metadata = json.loads((objects / "identified_objects_metadata.json").read_text())
    METADATA_MODELS["identified_objects"].model_validate(metadata)
    assert metadata["object_count"] == 2 and metadata["identifier"] == 100 and metadata["file_format"] == "json"
    assert metadata["columns"] == ["object_id", "object_name", "object_state", "object_description"]
    assert metadata["source_file"] == f"{source}/lab/objects.csv"


def test_rerun_changes_nothing_and_interrupted_writes_are_removed(
    every_shape: tuple[Path, Path], tmp_path: Path
) -> None:
    config, source = every_shape
    output = tmp_path / "out"
    _standardize(config, str(source), str(output))
    before = {path: path.stat().st_mtime_ns for path in output.rglob("*") if path.is_file()}
    status, log, failures = _standardize(config, str(source), str(output))
    assert status == 1 and len(failures) == 1
    assert "written" not in log and "complete and unchanged" in log
    assert before == {path: path.stat().st_mtime_ns for path in output.rglob("*") if path.is_file()}

    annotations = output / "20001/TS_1/Reconstructions/VoxelSpacing10.000/Annotations"
    interrupted = annotations / "150" / "stale-1.0_point.ndjson"
    interrupted.parent.mkdir()
    interrupted.write_text("")
    key, _ = _annotations(output, "TS_1")["centriole-1"]
    (output / key).unlink()  # a mesh written, its metadata never
    status, log, _ = _standardize(config, str(source), str(output))
    assert status == 1 and log.count("deleted: data without metadata") == 2
    assert not interrupted.parent.exists() and not (output / key).parent.exists()
    key, _ = _annotations(output, "TS_1")["centriole-1"]  # imported again, under the next free id
    assert _same_mesh((output / key.replace(".json", "_triangularmesh.glb")).read_bytes(), glb())
    for folder in annotations.iterdir():
        names = [path.relative_to(output).as_posix() for path in folder.iterdir()]
        assert any(layout.parse(name).template == "annotation_metadata" for name in names), folder


def test_changed_annotation_is_refused_without_force(every_shape: tuple[Path, Path], tmp_path: Path) -> None:
    config, source = every_shape
    output = tmp_path / "out"
    _standardize(config, str(source), str(output))
    (source / "lab/captions/TS_2_global.json").write_text(json.dumps({"captions": ["only one"]}))
    _, log, failures = _standardize(config, str(source), str(output))
    assert any("cytosolic-ribosome-1" in failure and "--force-overwrite" in failure for failure in failures), log
    _standardize(config, str(source), str(output), force_overwrite=True)
    key, document = _annotations(output, "TS_2")["cytosolic-ribosome-1"]
    assert document["object_count"] == 4  # now the four csv points outnumber the one caption
    assert json.loads((output / key.replace(".json", "_globalcaption.json")).read_text()) == {"captions": ["only one"]}


def test_dry_run_writes_nothing(every_shape: tuple[Path, Path], tmp_path: Path) -> None:
    config, source = every_shape
    _, log, _ = _standardize(config, str(source), str(tmp_path / "out"), dry_run=True)
    assert "planned" in log and "cytosolic_ribosome-1.0_point.ndjson" in log
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("shape", "arguments", "problem"),
    [
        ("TriangularMesh", {"file_format": "obj", "glob_string": "captions/{run_name}_global.json"},
         "no triangles in this obj file"),
        ("TriangularMesh", {"file_format": "glb", "glob_string": "captions/{run_name}_global.json"},
         "not a readable glb file"),
        ("TriangularMesh", {"file_format": "vtk", "glob_string": "captions/{run_name}_global.json"},
         "not a legacy VTK POLYDATA file"),
        ("TriangularMeshGroup", {"file_format": "hff", "glob_string": "meshes/{run_name}.glb", "name": "x"},
         "not a readable hff (HDF5) file"),
        ("SemanticSegmentationMask", {"file_format": "tiff", "glob_string": "masks/{run_name}_labels.mrc"},
         "tiff masks are not supported (only mrc, zarr)"),
        ("InstanceSegmentationMask", {"file_format": "mrc", "glob_string": "masks/{run_name}_labels.mrc",
                                      "rescale": True}, "rescale needs the run's alignment volume_dimension"),
        ("SemanticSegmentationMask", {"file_format": "mrc", "glob_string": "picks/{run_name}.csv"},
         ".csv: header truncated"),
        ("SegmentationMask", {"file_format": "mrc", "glob_string": "masks/{run_name}_*.mrc"},
         "SegmentationMask takes one source file per voxel spacing; 3 match"),
        ("GlobalCaption", {"file_format": "json", "glob_string": "captions/{run_name}_points.json"},
         "a GlobalCaption file needs a 'captions' list"),
        ("OrientedPoint", {"file_format": "mod", "glob_string": "picks/{run_name}.csv"}, "not an IMOD model file"),
        ("Point", {"file_format": "csv", "glob_string": "picks/{missing}.csv"}, "unknown template variable {missing}"),
    ],
)  # fmt: skip
def test_unsupported_sources_fail_their_annotation_only(
    shape: str, arguments: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    config = _config(
        tmp_path / "c.yaml",
        [_annotation("bad-1", "bad", [{shape: arguments}]), EVERY_SHAPE[4]],
    )
    source = _source_tree(tmp_path / "source")
    status, log, failures = _standardize(config, str(source), str(tmp_path / "out"))
    assert status == 1 and len(failures) == 2 and all(problem in failure for failure in failures), log
    assert all("annotation bad-1" in failure for failure in failures)
    for run in RUNS:
        key, _ = _annotations(tmp_path / "out", run)["centriole-1"]
        folders = (tmp_path / "out" / key).parent.parent.iterdir()
        assert [folder.name for folder in folders] == [key.split("/")[-2]]  # nothing of bad-1 was written


def test_an_obj_mesh_is_published_as_a_scaled_glb_with_its_layer(tmp_path: Path) -> None:
    source = _source_tree(tmp_path / "source")
    box = trimesh.load(io.BytesIO(glb()), file_type="glb", force="mesh")
    for run in RUNS:
        (source / "lab" / "meshes" / f"{run}.obj").write_text(box.export(file_type="obj"))
    mesh = {
        "TriangularMesh": {
            "file_format": "obj",
            "glob_string": "meshes/{run_name}.obj",
            "scale_factor": 0.5,
            "is_visualization_default": True,
        }
    }
    config = _config(tmp_path / "c.yaml", [_annotation("centriole-1", "centriole", [mesh])])
    status, log, _ = _standardize(config, str(source), str(tmp_path / "out"))
    assert status == 0, log
    key, document = _annotations(tmp_path / "out", "TS_1")["centriole-1"]
    assert _files(document) == [("centriole-1.0_triangularmesh.glb", "glb", "TriangularMesh", True)]
    published = tmp_path / "out" / key.replace(".json", "_triangularmesh.glb")
    written = trimesh.load(io.BytesIO(published.read_bytes()), file_type="glb", force="mesh")
    assert len(written.vertices) == len(box.vertices) == 8 and np.allclose(written.bounds, box.bounds * 0.5)
    layer = (
        published.parent.parent.parent
        / "NeuroglancerPrecompute"
        / f"{published.parent.name}-centriole-1.0_triangularmesh"
    )
    assert json.loads((layer / "info").read_text())["scales"][0]["size"] == [6.0, 4.0, 3.0]  # ceil of the max bounds


def test_an_hff_mesh_group_is_imported_by_its_segment_name(tmp_path: Path) -> None:
    """The segment named in the config is published; a file without it is passed over (the portal's ``is_valid``)."""
    source = _source_tree(tmp_path / "source")
    fixture = Path(__file__).parent / "data" / "portal_meshes" / "triangular_mesh.hff"
    for run in RUNS:
        (source / "lab" / "meshes" / f"{run}.hff").write_bytes(fixture.read_bytes())
    group = {"file_format": "hff", "glob_string": "meshes/{run_name}.hff"}
    config = _config(
        tmp_path / "c.yaml",
        [
            _annotation("organelle-1", "organelle", [{"TriangularMeshGroup": {**group, "name": "special_name"}}]),
            _annotation("absent-1", "absent", [{"TriangularMeshGroup": {**group, "name": "another"}}]),
        ],
    )
    status, log, _ = _standardize(config, str(source), str(tmp_path / "out"))
    assert status == 0, log
    found = _annotations(tmp_path / "out", "TS_1")
    assert set(found) == {"organelle-1"}
    key, document = found["organelle-1"]
    assert _files(document) == [("organelle-1.0_triangularmesh.glb", "glb", "TriangularMesh", False)]
    mesh = trimesh.load(tmp_path / "out" / key.replace(".json", "_triangularmesh.glb"), force="mesh")
    assert len(mesh.faces) == 72


def test_oriented_points_with_a_mesh_source_get_an_oriented_mesh_layer(tmp_path: Path) -> None:
    """``mesh_source_path`` (templated, under the source prefix) names the mesh shown at every oriented point; a
    run whose mesh is missing gets no such layer and is not a failure (the portal warns)."""
    source = _source_tree(tmp_path / "source")
    particle = trimesh.creation.icosphere(subdivisions=1, radius=20.0)  # Å
    (source / "lab" / "meshes" / "TS_1_particle.glb").write_bytes(particle.export(file_type="glb"))
    oriented = {
        "file_format": "relion3_star",
        "glob_string": "picks/all.star",
        "filter_value": "{run_name}.mrc",
        "mesh_source_path": "meshes/{run_name}_particle.glb",
    }
    config = _config(tmp_path / "c.yaml", [_annotation("ribosome-1", "ribosome", [{"OrientedPoint": oriented}])])
    status, log, _ = _standardize(config, str(source), str(tmp_path / "out"))
    assert status == 0, log
    precompute = tmp_path / "out/20001/{run}/Reconstructions/VoxelSpacing10.000/NeuroglancerPrecompute"
    layer = Path(str(precompute).format(run="TS_1")) / "100-ribosome-1.0_orientedmesh"
    ((_, mesh),) = read_mesh_shard(mesh_sharding(1), (layer / "mesh/0.shard").read_bytes()).items()
    vertices = np.concatenate([fragment.vertices for fragment in mesh.lods[0]])
    # TS_1's one point at (2, 4, 6), rotated; the sphere's radius is 20 Å = 2 voxels.
    assert np.allclose(np.linalg.norm(vertices - [2, 4, 6], axis=1).max(), 2.0, atol=1e-3)
    assert (layer / "info").is_file() and (layer.parent / "100-ribosome-1.0_orientedpoint/info").is_file()
    assert not (Path(str(precompute).format(run="TS_2")) / "100-ribosome-1.0_orientedmesh").exists()
    assert "meshes/TS_2_particle.glb is missing" in log


def test_every_shape_on_s3_matches_the_local_output(
    every_shape: tuple[Path, Path], tmp_path: Path, s3_bucket: str
) -> None:
    config, source = every_shape
    upload_tree(source, f"{s3_bucket}/input")
    status, log, failures = _standardize(config, f"{s3_bucket}/input", f"{s3_bucket}/output")
    assert status == 1 and len(failures) == 1 and "s3://" in failures[0], log
    _standardize(config, str(source), str(tmp_path / "out"))
    remote = Bucket(f"{s3_bucket}/output")
    local = {path.relative_to(tmp_path / "out").as_posix() for path in (tmp_path / "out").rglob("*") if path.is_file()}
    assert set(remote.listing("")) == local
    for key in local:
        match = layout.parse(key)
        ours, theirs = (tmp_path / "out" / key).read_bytes(), remote.read(key)
        if match.template == "annotation_metadata":
            assert _without_timestamp(json.loads(ours)) == _without_timestamp(json.loads(theirs)), key
        elif key.endswith(".mrc"):  # the header's label carries the ingest time
            assert ours[1024:] == theirs[1024:] and _no_label(ours) == _no_label(theirs), key
        elif match.template in ("annotation_file", "annotation_zarr_member"):
            assert ours == theirs, key


# -- OME-Zarr and rescaled mask sources --------------------------------------------------------

#: The aligned volume (Å) the stored alignment states: (z, y, x) = (4, 6, 8) voxels at the spacing.
VOLUME_DIMENSION = {"x": 8 * SPACING, "y": 6 * SPACING, "z": 4 * SPACING}


def _ome_zarr_source(path: Path, data: np.ndarray, axes: str = "") -> None:
    """An OME-Zarr store as labs deposit masks (zarr v2, one level, chunks smaller than the array), with the
    ``axes`` named in that order (none: NGFF 0.3, read as z, y, x)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("s0", shape=data.shape, dtype=data.dtype, chunks=(1, 2, 3))[:] = data
    scale = {"type": "scale", "scale": [SPACING] * 3}
    multiscale = {"version": "0.4", "datasets": [{"path": "s0", "coordinateTransformations": [scale]}]}
    if axes:
        multiscale["axes"] = [{"name": axis, "type": "space"} for axis in axes]
    group.attrs["multiscales"] = [multiscale]


def _mask(output: Path, document: dict[str, Any]) -> np.ndarray:
    (path,) = (entry["path"] for entry in document["files"] if entry["format"] == "mrc")
    level0 = zarr.open_array(str(output / path.replace(".mrc", ".zarr") / "0"), mode="r")[:]
    with mrcfile.open(output / path) as mrc:
        assert np.array_equal(mrc.data, level0)
        return mrc.data.copy()


def test_zarr_and_rescaled_mask_sources(tmp_path: Path) -> None:
    """Masks from OME-Zarr stores read as from MRCs (in z, y, x order whatever the order of their axes); ``rescale``
    resamples a mask to the aligned volume's size (the stored alignment's volume_dimension, found by
    destination_glob) as the portal does: an upsampled mask repeats its voxels."""
    lab = tmp_path / "source" / "lab"
    rng = np.random.default_rng(7)
    half = rng.integers(0, 3, (2, 3, 4)).astype(np.int16)
    full = rng.integers(0, 3, (4, 6, 8)).astype(np.int16)
    probability = rng.uniform(0, 1, (2, 3, 4)).astype(np.float32)
    output = tmp_path / "out"
    for run in RUNS:
        _ome_zarr_source(lab / "masks" / f"{run}_half.zarr", half)
        _ome_zarr_source(lab / "masks" / f"{run}_xyz.zarr", half.transpose(2, 1, 0), axes="xyz")
        _mrc(lab / "masks" / f"{run}_half.mrc", half)
        _mrc(lab / "masks" / f"{run}_full.mrc", full)
        _mrc(lab / "masks" / f"{run}_probability.mrc", probability)
        alignment = output / f"20001/{run}/Alignments/100/alignment_metadata.json"
        alignment.parent.mkdir(parents=True)
        alignment.write_text(json.dumps({"volume_dimension": VOLUME_DIMENSION}))
    zarr_mask = {"file_format": "zarr", "glob_string": "masks/{run_name}_half.zarr", "mask_label": 2}
    annotations = [
        _annotation("from-zarr-1", "vesicle", [{"SegmentationMask": zarr_mask}]),
        _annotation("from-mrc-1", "vesicle", [{"SegmentationMask": {**zarr_mask, "file_format": "mrc",
                                                                    "glob_string": "masks/{run_name}_half.mrc"}}]),
        _annotation("xyz-zarr-1", "vesicle", [{"SegmentationMask": {**zarr_mask,
                                                                    "glob_string": "masks/{run_name}_xyz.zarr"}}]),
        _annotation("upsampled-1", "mitochondrion", [{"SegmentationMask": {**zarr_mask, "rescale": True}}]),
        _annotation("instances-1", "ribosome", [{"InstanceSegmentationMask": {
            "file_format": "zarr", "glob_string": "masks/{run_name}_half.zarr", "rescale": True}}]),
        _annotation("threshold-1", "membrane", [{"SemanticSegmentationMask": {
            "file_format": "mrc", "glob_string": "masks/{run_name}_probability.mrc", "threshold": 0.5,
            "rescale": True}}]),
        _annotation("same-size-1", "actin", [{"SegmentationMask": {
            "file_format": "mrc", "glob_string": "masks/{run_name}_full.mrc", "rescale": True}}]),
    ]  # fmt: skip
    alignments = [{"sources": [{"destination_glob": {"list_glob": "{run_output_path}/Alignments/100/*.json"}}]}]
    config = _config(tmp_path / "20001.yaml", annotations, alignments=alignments)
    status, log, _ = _standardize(config, str(tmp_path / "source"), str(output))
    assert status == 0, log

    def repeated(data: np.ndarray) -> np.ndarray:
        return data.repeat(2, axis=0).repeat(2, axis=1).repeat(2, axis=2)

    for run in RUNS:
        found = {ingest_id: document for ingest_id, (_, document) in _annotations(output, run).items()}
        assert {document["alignment_metadata_path"] for document in found.values()} == {
            f"20001/{run}/Alignments/100/alignment_metadata.json"
        }
        assert np.array_equal(_mask(output, found["from-zarr-1"]), (half == 2).astype(np.int8))
        assert np.array_equal(_mask(output, found["from-mrc-1"]), (half == 2).astype(np.int8))
        # A store whose axes are x, y, z is reordered, not written out under the wrong labels.
        assert np.array_equal(_mask(output, found["xyz-zarr-1"]), (half == 2).astype(np.int8))
        assert np.array_equal(_mask(output, found["upsampled-1"]), repeated(half == 2).astype(np.int8))
        instances = _mask(output, found["instances-1"])
        assert instances.dtype == np.uint16 and np.array_equal(instances, repeated(half))
        assert found["instances-1"]["object_count"] == len(set(half.flat) - {0})
        assert np.array_equal(_mask(output, found["threshold-1"]), repeated(probability >= 0.5).astype(np.int8))
        assert np.array_equal(_mask(output, found["same-size-1"]), (full == 1).astype(np.int8))
    # Nothing was written for the alignments found in the output: they are references.
    assert sorted(p.name for p in (output / "20001/TS_1/Alignments/100").iterdir()) == ["alignment_metadata.json"]


def test_rescale_downsamples_a_semantic_mask_where_any_source_voxel_is_set() -> None:
    data = np.zeros((4, 6, 8), dtype=np.int16)
    data[0, 0, 0] = data[3, 5, 7] = 1
    data[2, 2, 2] = 5
    rescaled = rescale_semantic(data, (2, 3, 4))
    expected = np.zeros((2, 3, 4), dtype=np.int8)
    expected[0, 0, 0] = expected[1, 2, 3] = 1
    assert rescaled.dtype == np.int8 and np.array_equal(rescaled, expected)
    expected = np.zeros((2, 3, 4), dtype=np.int8)
    expected[1, 1, 1] = 1  # source voxel (2, 2, 2) lies in target voxel (1, 1, 1)
    assert np.array_equal(rescale_semantic(data, (2, 3, 4), mask_label=5), expected)
    assert target_shape(VOLUME_DIMENSION, SPACING / 2) == (8, 12, 16)


def test_masks_without_their_label_are_passed_over_as_the_portal(tmp_path: Path) -> None:
    """The portal's ``is_valid``: a SemanticSegmentationMask without a voxel of its label (or at its threshold) and an
    InstanceSegmentationMask without a label are not imported in that run; the legacy SegmentationMask is."""
    lab = tmp_path / "source" / "lab"
    labels = np.zeros((4, 6, 8), dtype=np.int16)
    labels[1, 2, 3] = 2
    for run in RUNS:
        _mrc(lab / "masks" / f"{run}_labels.mrc", labels if run == "TS_1" else np.zeros_like(labels))
    mask = {"file_format": "mrc", "glob_string": "masks/{run_name}_labels.mrc"}
    annotations = [
        _annotation("semantic-1", "vesicle", [{"SemanticSegmentationMask": {**mask, "mask_label": 2}}]),
        _annotation("threshold-1", "vesicle", [{"SemanticSegmentationMask": {**mask, "threshold": 3}}]),
        _annotation("instances-1", "ribosome", [{"InstanceSegmentationMask": mask}]),
        _annotation("legacy-1", "membrane", [{"SegmentationMask": {**mask, "mask_label": 2}}]),
    ]
    status, log, _ = _standardize(
        _config(tmp_path / "20001.yaml", annotations), str(tmp_path / "source"), str(tmp_path / "out")
    )
    assert status == 0, log
    assert set(_annotations(tmp_path / "out", "TS_1")) == {"semantic-1", "instances-1", "legacy-1"}
    assert set(_annotations(tmp_path / "out", "TS_2")) == {"legacy-1"}


def test_copick_picks_are_converted_as_the_portal_converts_them(tmp_path: Path) -> None:
    """A copick picks file (copick's CopickPicksFile schema) with the config's binning equal to the voxel spacing, as
    the published configs give it: locations Å ÷ binning (once), the transforms' rotations, instances numbered in
    file order (the portal's ``_from_copick``)."""
    turn = [[0.0, -1.0, 0.0, 5.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    picks = {
        "pickable_object_name": "ribosome",
        "user_id": "curation",
        "session_id": "0",
        "run_name": "TS_1",
        "voxel_spacing": SPACING,
        "unit": "angstrom",
        "trust_orientation": True,
        "points": [
            {"location": {"x": 200.0, "y": 300.0, "z": 250.0}, "transformation_": turn, "instance_id": 7, "score": 1},
            {"location": {"x": 10.0, "y": 20.0, "z": 30.0}, "instance_id": 7, "score": 0.5},
        ],
    }
    lab = tmp_path / "source" / "lab"
    (lab / "copick").mkdir(parents=True)
    for run in RUNS:
        (lab / "copick" / f"{run}_ribosome.json").write_text(json.dumps(picks))
    source = {"file_format": "copick", "glob_string": "copick/{run_name}_ribosome.json", "binning": SPACING}
    annotations = [
        _annotation("points-1", "ribosome", [{"Point": source}]),
        _annotation("oriented-1", "ribosome", [{"OrientedPoint": source}]),
        _annotation("instances-1", "ribosome", [{"InstanceSegmentation": source}]),
    ]
    output = tmp_path / "out"
    status, log, _ = _standardize(_config(tmp_path / "20001.yaml", annotations), str(tmp_path / "source"), str(output))
    assert status == 0, log
    found = _annotations(output, "TS_1")

    def records(ingest_id: str) -> list[dict[str, Any]]:
        _, document = found[ingest_id]
        return [json.loads(line) for line in (output / document["files"][0]["path"]).read_text().splitlines()]

    locations = [{"x": 20.0, "y": 30.0, "z": 25.0}, {"x": 1.0, "y": 2.0, "z": 3.0}]
    assert [record["location"] for record in records("points-1")] == locations
    oriented = records("oriented-1")
    assert [record["location"] for record in oriented] == locations
    assert oriented[0]["xyz_rotation_matrix"] == [row[:3] for row in turn[:3]]
    assert oriented[1]["xyz_rotation_matrix"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert [record["instance_id"] for record in records("instances-1")] == [0, 1]
