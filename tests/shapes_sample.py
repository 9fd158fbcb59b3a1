"""The sample with every annotation shape: dataset 10001 standardized from the sample source plus, per run,
oriented points, instance points, an instance mask, a mesh, captions and identified objects.

The clean sample (``tests/conftest.py::clean_tree``) has only point and semantic-mask annotations; the
checks of the other shapes (OPT-*, IPT-*, ISEG-*, MESH-GLB, CAP-JSON, IDO-*) run on this tree instead.
It is written once per process by the real importer, so its viewer states and key images include the
extra annotations, and :func:`on_shapes` lets a corruption start from it.
"""

from __future__ import annotations

import atexit
import functools
import io
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import trimesh
import yaml

from tests.corruptions import VOXEL_SPACING

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
EXTRA = "extra"
VOXEL_SIZE = 13.48
#: Tomograms of the sample (size 16) are z, y, x = 8, 16, 16 voxels.
SHAPE = (8, 16, 16)

#: Annotation dirs the extra annotations get in each run (after the sample's 100 and 101).
ORIENTED = f"{VOXEL_SPACING}/Annotations/102"
INSTANCES = f"{VOXEL_SPACING}/Annotations/103"
INSTANCE_MASK = f"{VOXEL_SPACING}/Annotations/104"
ORIENTED_NDJSON = f"{ORIENTED}/oriented_80s_ribosome-1.0_orientedpoint.ndjson"
ORIENTED_CAPTION = f"{ORIENTED}/oriented_80s_ribosome-1.0_orientedpoint_caption.json"
INSTANCES_NDJSON = f"{INSTANCES}/microtubule-1.0_instancesegmentation.ndjson"
MESH = f"{INSTANCES}/microtubule-1.0_triangularmesh.glb"
GLOBAL_CAPTION = f"{INSTANCES}/microtubule-1.0_globalcaption.json"
INSTANCE_MASK_MRC = f"{INSTANCE_MASK}/mitochondrion-2.0_instancesegmentationmask.mrc"
INSTANCE_MASK_ZARR = f"{INSTANCE_MASK}/mitochondrion-2.0_instancesegmentationmask.zarr"

STAR = """data_
loop_
_rlnCoordinateX
_rlnCoordinateY
_rlnCoordinateZ
_rlnAngleRot
_rlnAngleTilt
_rlnAnglePsi
4 5 6 90 0 0
8 8 3 0 90 0
12 3 1 30 45 60
"""


def glb() -> bytes:
    """A small binary glTF 2.0 mesh: a box of 12 triangles, inside the sample's volume (voxel units)."""
    box = trimesh.creation.box(extents=(6.0, 4.0, 3.0))
    box.apply_translation((8.0, 6.0, 4.0))
    return box.export(file_type="glb")


def _instance_mask(path: Path) -> None:
    labels = np.zeros(SHAPE, dtype=np.uint16)
    labels[1:3, 2:6, 2:6] = 3
    labels[5, 10, 12] = 7
    labels[4:8, 8:12, 1:4] = 12
    with mrcfile.new(path, data=labels, overwrite=True) as mrc:
        mrc.voxel_size = VOXEL_SIZE


def write_extra_sources(source: Path, runs: list[str]) -> None:
    """The extra lab files, under the sample source's ``sample_10001/extra/``."""
    extra = source / "sample_10001" / EXTRA
    extra.mkdir(parents=True, exist_ok=True)
    rows = ["run_name,object_id,object_name,object_state,object_description"]
    for run in runs:
        (extra / f"{run}_oriented.star").write_text(STAR)
        (extra / f"{run}_oriented_caption.json").write_text(json.dumps({"objects": [{"id": 1, "text": "ribosome"}]}))
        (extra / f"{run}_instances.csv").write_text("IDs,X,Y,Z\n1,1,1,1\n1,2,2,2\n9,3,3,3\n")
        (extra / f"{run}_global_caption.json").write_text(json.dumps({"captions": ["straight", "curved"]}))
        (extra / f"{run}.glb").write_bytes(glb())
        _instance_mask(extra / f"{run}_mitochondria.mrc")
        rows.append(f"{run},GO:0005739,mitochondrion,intact,large")
        rows.append(f"{run},GO:0005874,microtubule,,")
    (extra / "identified_objects.csv").write_text("\n".join(rows) + "\n")


def _annotation(ingest_id: str, annotation_object: dict[str, str], sources: list[dict], **extra: Any) -> dict:
    metadata = {
        "annotation_ingest_id": ingest_id,
        "annotation_object": annotation_object,
        "annotation_method": "drawn by hand for the validation tests",
        "method_type": "manual",
        "ground_truth_status": False,
        "version": 1.0,
        "authors": "*authors",
        "dates": "*dates",
        **extra,
    }
    return {"metadata": metadata, "sources": sources}


def _glob(name: str) -> str:
    return f"{EXTRA}/{{run_name}}{name}"


EXTRA_ANNOTATIONS = [
    _annotation(
        "ribosome-oriented-1",
        {"id": "GO:0022626", "name": "cytosolic ribosome", "description": "oriented 80S ribosome"},
        [
            {"OrientedPoint": {"file_format": "relion3_star", "glob_string": _glob("_oriented.star"),
                               "is_visualization_default": True}},
            {"AnnotationCaption": {"file_format": "json", "glob_string": _glob("_oriented_caption.json"),
                                   "companion_shape": "OrientedPoint"}},
        ],
        method_type="hybrid",
        method_links=[{"link": "https://example.org/averaging", "link_type": "documentation"}],
        confidence={"precision": 90.0, "recall": 80.0, "ground_truth_used": "the sample's own picks"},
    ),
    _annotation(
        "microtubule-1",
        {"id": "GO:0005874", "name": "microtubule"},
        [
            {"InstanceSegmentation": {"file_format": "tardis", "glob_string": _glob("_instances.csv"),
                                      "is_visualization_default": True}},
            {"TriangularMesh": {"file_format": "glb", "glob_string": _glob(".glb")}},
            {"GlobalCaption": {"file_format": "json", "glob_string": _glob("_global_caption.json")}},
        ],
    ),
    _annotation(
        "mitochondrion-1",
        {"id": "GO:0005739", "name": "mitochondrion"},
        [{"InstanceSegmentationMask": {"file_format": "mrc", "glob_string": _glob("_mitochondria.mrc"),
                                       "is_visualization_default": True}}],
        version=2.0,
    ),
]  # fmt: skip
IDENTIFIED_OBJECTS = [{"metadata": {}, "sources": [{"source_glob": {"list_glob": f"{EXTRA}/identified_objects.csv"}}]}]


def write_config(path: Path) -> Path:
    """The sample config with the extra annotations and identified objects."""
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    authors = config["annotations"][0]["metadata"]["authors"]
    dates = config["annotations"][0]["metadata"]["dates"]
    for entry in EXTRA_ANNOTATIONS:
        metadata = entry["metadata"] | {"authors": authors, "dates": dates}
        config["annotations"].append({"metadata": metadata, "sources": entry["sources"]})
    config["identified_objects"] = IDENTIFIED_OBJECTS
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def build(root: Path) -> Path:
    """Write the sample source with the extra files under ``root/source`` and standardize it into
    ``root/output``; returns the output folder."""
    from importers.ingest.sample import write_sample
    from importers.ingest.standardize import standardize_config

    source = root / "source"
    written = write_sample(source, runs=2, size=16, seed=7)
    write_extra_sources(source, written["runs"])
    output = root / "output"
    status, ingestion = standardize_config(
        write_config(root / "10001-shapes.yaml"), str(source), str(output), stream=io.StringIO()
    )
    if status != 0:
        raise RuntimeError(f"the every-shape sample did not standardize: {ingestion.report.failures}")
    return output


@functools.cache
def shapes_tree() -> Path:
    """The standardized every-shape sample, built once per process (treat as read-only)."""
    root = Path(tempfile.mkdtemp(prefix="shapes-sample-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return build(root)


def on_shapes(change: Callable[[Path], None]) -> Callable[[Path], None]:
    """A corruption of the every-shape sample: ``root`` (a copy of the clean sample) is replaced by a
    copy of it before ``change`` is applied."""

    def apply(root: Path) -> None:
        shutil.rmtree(root)
        shutil.copytree(shapes_tree(), root)
        change(root)

    return apply
