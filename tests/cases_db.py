"""One corruption per DB-* check code: a change to a clean import of the reference dataset (a row
deleted, a stale row added, a field changed), or, where only the bucket can make the defect, a change
to a copy of the bucket. ``test_every_check_has_a_corruption_case`` counts these too."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from importers.db import schema

DatabaseChange = Callable[[sa.Connection], None]


@dataclass(frozen=True)
class DbCorruption:
    code: str
    database: DatabaseChange | None = None
    bucket: Callable[[Path], None] | None = None


def _table(name: str) -> sa.Table:
    return schema.metadata.tables[name]


def _first(connection: sa.Connection, name: str) -> dict[str, Any]:
    table = _table(name)
    return dict(connection.execute(sa.select(table).order_by(table.c.id).limit(1)).mappings().one())


def delete_first(name: str) -> DatabaseChange:
    def change(connection: sa.Connection) -> None:
        table = _table(name)
        connection.execute(sa.delete(table).where(table.c.id == _first(connection, name)["id"]))

    return change


def update_first(name: str, /, **values: Any) -> DatabaseChange:
    def change(connection: sa.Connection) -> None:
        table = _table(name)
        connection.execute(sa.update(table).where(table.c.id == _first(connection, name)["id"]).values(values))

    return change


def _copy(connection: sa.Connection, name: str, /, **values: Any) -> int:
    row = _first(connection, name)
    del row["id"]
    return connection.execute(sa.insert(_table(name)).values(row | values)).inserted_primary_key[0]


def copy_first(name: str, /, **values: Any) -> DatabaseChange:
    """A copy of the first row with a changed key: a row no bucket entity has."""
    return lambda connection: _copy(connection, name, **values)


def copy_into_ghost_run(name: str) -> DatabaseChange:
    """For tables keyed by their run only: a copy of the first row in a run the bucket does not have."""
    return lambda connection: _copy(connection, name, run_id=_copy(connection, "run", name="GHOST"))


def add_identified_object(connection: sa.Connection) -> None:
    values = {"run_id": _first(connection, "run")["id"], "object_id": "GO:0005840", "object_name": "ribosome"}
    connection.execute(sa.insert(_table("identified_object")).values(values))


def delete_dataset_metadata(root: Path) -> None:
    (root / "90001/dataset_metadata.json").unlink()


def write_identified_objects(root: Path) -> None:
    records = [{"object_id": "GO:0005840", "object_name": "ribosome", "object_state": None}]
    (root / "90001/SYN_run1/IdentifiedObjects").mkdir()
    (root / "90001/SYN_run1/IdentifiedObjects/identified_objects.json").write_text(json.dumps(records))


CASES: list[DbCorruption] = [
    DbCorruption("DB-MISSING-DEPOSITION", delete_first("deposition_type")),
    DbCorruption("DB-MISSING-DATASET", delete_first("dataset")),
    DbCorruption("DB-MISSING-RUN", delete_first("run")),
    DbCorruption("DB-MISSING-VS", delete_first("tomogram_voxel_spacing")),
    DbCorruption("DB-MISSING-TS", delete_first("tiltseries")),
    DbCorruption("DB-MISSING-ALN", delete_first("alignment")),
    DbCorruption("DB-MISSING-TOMO", delete_first("tomogram")),
    DbCorruption("DB-MISSING-ANNO", delete_first("annotation")),
    DbCorruption("DB-MISSING-ANNO-SHAPE", delete_first("annotation_shape")),
    DbCorruption("DB-MISSING-ANNO-FILE", delete_first("annotation_file")),
    DbCorruption("DB-MISSING-FRAME", delete_first("frame")),
    DbCorruption("DB-MISSING-FRAME-ACQ-FILE", delete_first("frame_acquisition_file")),
    DbCorruption("DB-MISSING-GAIN", delete_first("gain_file")),
    DbCorruption("DB-MISSING-PSP", delete_first("per_section_parameters")),
    DbCorruption("DB-MISSING-PSAP", delete_first("per_section_alignment_parameters")),
    DbCorruption("DB-MISSING-IDO", bucket=write_identified_objects),
    DbCorruption("DB-MISSING-AUTHOR", delete_first("tomogram_author")),
    DbCorruption("DB-MISSING-FUNDING", delete_first("dataset_funding")),
    DbCorruption("DB-STALE-DEPOSITION", copy_first("deposition_type", type="tomogram")),
    DbCorruption("DB-STALE-DATASET", bucket=delete_dataset_metadata),
    DbCorruption("DB-STALE-RUN", copy_first("run", name="GHOST")),
    DbCorruption("DB-STALE-VS", copy_first("tomogram_voxel_spacing", voxel_spacing=99.0)),
    DbCorruption("DB-STALE-TS", copy_into_ghost_run("tiltseries")),
    DbCorruption("DB-STALE-ALN", copy_into_ghost_run("alignment")),
    DbCorruption("DB-STALE-TOMO", copy_first("tomogram", processing="denoised")),
    DbCorruption("DB-STALE-ANNO", copy_first("annotation", annotation_ingest_id="ghost-1")),
    DbCorruption("DB-STALE-ANNO-SHAPE", copy_first("annotation_shape", shape_type="OrientedPoint")),
    DbCorruption("DB-STALE-ANNO-FILE", copy_first("annotation_file", format="glb")),
    DbCorruption("DB-STALE-FRAME", copy_first("frame", acquisition_order=999)),
    DbCorruption("DB-STALE-FRAME-ACQ-FILE", copy_first("frame_acquisition_file", s3_mdoc_path="s3://output/x.mdoc")),
    DbCorruption("DB-STALE-GAIN", copy_first("gain_file", s3_file_path="s3://output/x_gain.mrc")),
    DbCorruption("DB-STALE-PSP", copy_first("per_section_parameters", z_index=999)),
    DbCorruption("DB-STALE-PSAP", copy_first("per_section_alignment_parameters", z_index=999)),
    DbCorruption("DB-STALE-IDO", add_identified_object),
    DbCorruption("DB-STALE-AUTHOR", copy_first("dataset_author", name="Ghost Author")),
    DbCorruption("DB-STALE-FUNDING", copy_first("dataset_funding", grant_id="ghost")),
    DbCorruption("DB-VS-VALUE", update_first("tomogram_voxel_spacing", voxel_spacing=13.4801)),
    DbCorruption("DB-VS-VALUE", update_first("tomogram", voxel_spacing=14.0)),
    DbCorruption("DB-SIZES", update_first("tomogram", size_x=65)),
    DbCorruption("DB-SIZES", update_first("tomogram", scale1_dimensions="32,32,31")),
    DbCorruption("DB-COUNTS", update_first("annotation", object_count=21)),
    DbCorruption("DB-COUNTS", delete_first("per_section_alignment_parameters")),
    DbCorruption("DB-PATHS", update_first("tomogram", https_mrc_file="https://elsewhere.example/x.mrc")),
    DbCorruption("DB-PATHS", update_first("run", s3_prefix="s3://another-bucket/90001/SYN_run1/")),
    DbCorruption("DB-FILE-SIZES", update_first("tomogram", file_size_mrc=1.0)),
    DbCorruption("DB-FIELDS", update_first("dataset", title="Changed")),
    DbCorruption("DB-FIELDS", update_first("alignment", affine_transformation_matrix="[[2,0,0,0]]")),
    DbCorruption("DB-FK", update_first("alignment", tiltseries_id=None)),
    DbCorruption("DB-FK", update_first("tomogram", alignment_id=None)),
    DbCorruption("DB-NG-INLINE", update_first("tomogram", neuroglancer_config="{}")),
]
