"""Neuroglancer viewer states: the builder against the portal's reference output, and ingestion."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

from importers.cli import main
from importers.formats import neuroglancer
from importers.ingest.entities.context import Ingestion, IngestOptions
from importers.ingest.entities.images import StoredTomogram
from importers.ingest.entities.tree import Entity
from importers.ingest.entities.viewer import annotation_layers, coarsest_level_slab, tomogram_viewer_state
from importers.storage import Bucket
from tests.conftest import REPO_ROOT, shared_dir
from tests.test_key_images import REFERENCE_PREFIX, REFERENCE_SPACING, reference_run

__all__ = ["reference_run"]  # a fixture, shared with test_key_images

RUNS = ("SYN_run1", "SYN_run2")
#: Float tolerance of the comparison: our MRC statistics and scikit-learn's float32 mixture fit
#: agree with the portal's to ~1e-7 relative, not bit for bit.
RELATIVE = 1e-6


def _config_key(run: str) -> str:
    return f"90001/{run}/{REFERENCE_SPACING}/NeuroglancerPrecompute/100-neuroglancer_config.json"


def _reference(run: str) -> dict[str, Any]:
    return json.loads((shared_dir() / "reference-90001" / "output" / _config_key(run)).read_text())


def assert_same_state(ours: Any, theirs: Any, path: str = "") -> None:
    """Equal JSON, timestamps aside and floats to :data:`RELATIVE`; names the first difference."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) - {"last_updated_at"} == set(theirs) - {"last_updated_at"}, path
        for key in theirs.keys() - {"last_updated_at"}:
            assert_same_state(ours[key], theirs[key], f"{path}/{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for index, (mine, other) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_state(mine, other, f"{path}[{index}]")
    elif isinstance(theirs, float) and not isinstance(ours, bool):
        assert math.isclose(ours, theirs, rel_tol=RELATIVE), (path, ours, theirs)
    else:
        assert ours == theirs and type(ours) is type(theirs), (path, ours, theirs)


def _reference_tomogram(run: str) -> tuple[Ingestion, Entity, StoredTomogram]:
    """An ingestion that reads the portal's own output (read-only), and that output's tomogram."""
    root = shared_dir() / "reference-90001"
    output = Bucket(str(root / "output"), read_only=True)
    ingestion = Ingestion(
        {"standardization_config": {"deposition_id": 90001}},
        root / "config.yaml",
        Bucket(str(root / "input"), read_only=True),
        output,
        IngestOptions(https_prefix=REFERENCE_PREFIX),
    )
    dataset = Entity("dataset", "90001", None, {})
    run_entity = Entity("run", run, None, {}, parent=dataset)
    fields = {"dataset_id": "90001", "run_name": run, "voxel_spacing": "13.480", "tomogram_id": "100"}
    document = json.loads(output.read(f"90001/{run}/{REFERENCE_SPACING}/Tomograms/100/tomogram_metadata.json"))
    return ingestion, run_entity, StoredTomogram(fields, document)


@pytest.mark.parametrize("run", RUNS)
def test_state_of_the_reference_output_equals_the_portals(run: str) -> None:
    state = tomogram_viewer_state(*_reference_tomogram(run))
    assert_same_state(
        state, {k: v for k, v in _reference(run).items() if k not in ("deposition_id", "last_updated_at")}
    )


def test_layer_colours_are_the_portals() -> None:
    layers = annotation_layers(*_reference_tomogram("SYN_run1"))
    assert [(layer.name, layer.color) for layer in layers] == [
        ("100 cytosolic ribosome point", "#33ef77"),
        ("101 membrane segmentation", "#ff00ff"),
    ]
    assert layers[1].mrc_path is not None and layers[1].mrc_path.endswith("membrane-1.0_segmentationmask.mrc")


def test_volume_contrast_uses_the_central_slices_of_the_coarsest_level() -> None:
    ingestion, _, tomogram = _reference_tomogram("SYN_run1")
    slab, voxels = coarsest_level_slab(ingestion.output, tomogram.document["omezarr_dir"])
    store = zarr.open_group(str(shared_dir() / "reference-90001/output" / tomogram.document["omezarr_dir"]), mode="r")
    np.testing.assert_array_equal(slab, store["2"][:])  # 16 slices: all within ±15 of the centre
    assert voxels == 16**3
    limits = neuroglancer.volume_contrast_limits(slab, voxels)
    reference = _reference("SYN_run1")["layers"][0]["shaderControls"]["contrast_3D"]["range"]
    assert limits == pytest.approx(reference, rel=RELATIVE)


def test_volume_contrast_slab_is_15_slices_either_side_of_the_centre() -> None:
    assert neuroglancer.volume_contrast_slab(64) == (17, 47)  # centre 31.5
    assert neuroglancer.volume_contrast_slab(16) == (0, 16)


def test_annotations_of_another_spacing_keep_their_own_scale() -> None:
    layer = neuroglancer.AnnotationLayer(
        annotation_id=100,
        object_name="membrane",
        shape="SegmentationMask",
        path="1/r/Reconstructions/VoxelSpacing6.740/Annotations/100/membrane-1.0_segmentationmask.zarr",
        precompute="1/r/Reconstructions/VoxelSpacing6.740/NeuroglancerPrecompute/100-membrane-1.0_segmentationmask",
        spacing=6.74,
        visible=False,
        color="#ff00ff",
    )
    (state,) = neuroglancer.annotation_layers(layer, "https://h", 13.48)
    transform = state["source"]["transform"]
    assert transform["inputDimensions"]["x"] == [6.74e-10, "m"] and transform["outputDimensions"]["x"][0] == 1.348e-09
    assert state["source"]["url"] == f"precomputed://https://h/{layer.precompute}" and state["visible"] is False


def test_oriented_points_with_meshes_show_the_mesh() -> None:
    layer = neuroglancer.AnnotationLayer(
        annotation_id=102,
        object_name="ribosome",
        shape="OrientedPoint",
        path="a_orientedpoint.ndjson",
        precompute="p/102-ribosome-1.0_orientedpoint",
        spacing=10.0,
        visible=True,
        color="#123456",
        oriented_mesh="p/102-ribosome-1.0_orientedmesh",
    )
    mesh, points = neuroglancer.annotation_layers(layer, "https://h", 10.0)
    assert (mesh["name"], mesh["type"], mesh["visible"]) == ("102 ribosome orientedmesh", "segmentation", True)
    assert (points["name"], points["visible"]) == ("102 ribosome orientedpoint", False)
    assert "setEndpointMarkerColor(vec4(defaultColor(), opacity));" in points["shader"]


@pytest.mark.parametrize("run", RUNS)
def test_ingested_reference_state_equals_the_portals(reference_run: Path, run: str) -> None:
    ours = json.loads((reference_run / _config_key(run)).read_text())
    assert_same_state(ours, _reference(run))


def test_default_https_prefix_and_the_cli_option(clean_tree: Path, sample_source: Path, tmp_path: Path) -> None:
    key = "10001/TS_001/Reconstructions/VoxelSpacing13.480/NeuroglancerPrecompute/100-neuroglancer_config.json"
    state = json.loads((clean_tree / key).read_text())
    url = state["layers"][0]["source"]["url"]
    assert (
        url
        == f"zarr://https://files.cryoetdataportal.cziscience.com/{key.split('/Neuro')[0]}/Tomograms/100/TS_001.zarr"
    )
    config = str(REPO_ROOT / "dataset_configs" / "10001.yaml")
    arguments = ["standardize", config, "--input", str(sample_source), "--output", str(tmp_path)]
    assert main([*arguments, "--https-prefix", "https://mirror.example/bucket/"]) == 0
    urls = [layer["source"]["url"] for layer in json.loads((tmp_path / key).read_text())["layers"]]
    assert urls and all(u.split("://", 1)[1].startswith("https://mirror.example/bucket/10001/") for u in urls)
