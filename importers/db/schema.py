"""The portal's relational schema (shared/spec/db.md §2) as SQLAlchemy Core: the one table definition.

Each table's ``info`` carries what the importer and the consistency checks need besides columns:
``natural_key`` (the upsert identity, db.md §2), ``scope`` (the parent FK under which stale rows are
deleted, db.md §5) and, where the checks match rows differently, ``match_key`` (see :func:`match_key`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from importers.enums import (
    AlignmentMethod,
    AlignmentType,
    AnnotationFileFormat,
    AnnotationMethodType,
    AnnotationShape,
    DepositionType,
    FiducialAlignmentStatus,
    MethodLinkType,
    Processing,
    ReconstructionMethod,
    SampleType,
    database_values,
)

#: Constraint names are explicit so that PostgreSQL and SQLite get the same schema.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator):
    """timestamptz that reads back as an aware UTC datetime on both dialects (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        utc = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


#: Enum columns are VARCHAR + CHECK (db.md §1, metadata.md §10), with the database spellings.
ENUMS: dict[str, tuple[str, ...]] = {
    "deposition_type": database_values(DepositionType),
    "sample_type": database_values(SampleType),
    "processing": database_values(Processing),
    "reconstruction_method": database_values(ReconstructionMethod),
    "fiducial_alignment_status": database_values(FiducialAlignmentStatus),
    "alignment_type": database_values(AlignmentType),
    # `undefined` is stored as NULL (metadata.md §10).
    "alignment_method": tuple(v for v in database_values(AlignmentMethod) if v != "undefined"),
    "annotation_method_type": database_values(AnnotationMethodType),
    "shape_type": database_values(AnnotationShape),
    "annotation_file_format": database_values(AnnotationFileFormat),
    "annotation_file_source": ("dataset_author", "community", "portal_standard"),
    "link_type": database_values(MethodLinkType),
}


def _enum(column: str, enum: str, *, nullable: bool = True) -> sa.Column:
    kind = sa.Enum(*ENUMS[enum], name=column, native_enum=False, create_constraint=True, length=32)
    return sa.Column(column, kind, nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _fk(column: str, target: str, *, nullable: bool = True, on_delete: str = "CASCADE") -> sa.Column:
    """A foreign key; ownership and required references cascade, optional references are cleared."""
    return sa.Column(column, sa.ForeignKey(f"{target}.id", ondelete=on_delete), nullable=nullable, index=True)


def _text(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Text) for name in names]


def _float(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Double) for name in names]


def _int(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer) for name in names]


def _bool(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.Boolean, nullable=False, server_default=sa.false()) for name in names]


DATE_COLUMNS = ("deposition_date", "release_date", "last_modified_date")


def _dates(*required: str) -> list[sa.Column]:
    return [sa.Column(name, UtcDateTime, nullable=name not in required) for name in DATE_COLUMNS]


def _url_pair(*suffixes: str) -> list[sa.Column]:
    """``s3_{suffix}`` and ``https_{suffix}`` columns."""
    return [sa.Column(f"{scheme}_{suffix}", sa.Text) for suffix in suffixes for scheme in ("s3", "https")]


def _table(name: str, *columns: Any, natural_key: tuple[str, ...], scope: str | None = None, **info: Any) -> sa.Table:
    table = sa.Table(name, metadata, *columns, info={"natural_key": natural_key, "scope": scope, **info})
    # Upserts select by natural key; this index keeps that one lookup per row cheap on large tables.
    if natural_key != ("id",):
        sa.Index(f"ix_{name}_natural_key", *(table.c[column] for column in natural_key))
    return table


def _author_table(parent: str) -> sa.Table:
    column = f"{parent}_id"
    return _table(
        f"{parent}_author",
        _id(),
        _fk(column, parent, nullable=False),
        sa.Column("author_list_order", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        *_text("orcid", "email", "affiliation_name", "affiliation_address", "affiliation_identifier", "kaggle_id"),
        *_bool("corresponding_author_status", "primary_author_status"),
        natural_key=(column, "name"),
        scope=column,
    )


deposition = _table(
    "deposition",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("title", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("tag", sa.Text),
    sa.Column("deposition_publications", sa.Text),
    sa.Column("related_database_entries", sa.Text),
    *_dates("last_modified_date"),
    sa.Column("key_photo_url", sa.Text),
    sa.Column("key_photo_thumbnail_url", sa.Text),
    natural_key=("id",),
)
deposition_author = _author_table("deposition")
deposition_type = _table(
    "deposition_type",
    _id(),
    _fk("deposition_id", "deposition", nullable=False),
    _enum("type", "deposition_type", nullable=False),
    natural_key=("deposition_id", "type"),
    scope="deposition_id",
)

dataset = _table(
    "dataset",
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    _fk("deposition_id", "deposition", nullable=False),
    *_text("title", "description", "organism_name"),
    sa.Column("organism_taxid", sa.Integer),
    *_text(
        "tissue_name",
        "tissue_id",
        "cell_name",
        "cell_type_id",
        "cell_strain_name",
        "cell_strain_id",
        "cell_component_name",
        "cell_component_id",
        "assay_label",
        "assay_ontology_id",
        "development_stage_name",
        "development_stage_ontology_id",
        "disease_name",
        "disease_ontology_id",
    ),
    _enum("sample_type", "sample_type"),
    *_text("sample_preparation", "grid_preparation", "other_setup", "dataset_publications", "related_database_entries"),
    *_dates(),
    *_text("key_photo_url", "key_photo_thumbnail_url"),
    *_url_pair("prefix"),
    *_float("file_size"),
    natural_key=("id",),
)
dataset_author = _author_table("dataset")
dataset_funding = _table(
    "dataset_funding",
    _id(),
    _fk("dataset_id", "dataset", nullable=False),
    *_text("funding_agency_name", "grant_id"),
    natural_key=("dataset_id", "funding_agency_name", "grant_id"),
    scope="dataset_id",
)

run = _table(
    "run",
    _id(),
    _fk("dataset_id", "dataset", nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    *_url_pair("prefix"),
    natural_key=("dataset_id", "name"),
    scope="dataset_id",
)

frame_acquisition_file = _table(
    "frame_acquisition_file",
    _id(),
    _fk("run_id", "run", nullable=False),
    *_url_pair("mdoc_path"),
    natural_key=("run_id", "s3_mdoc_path"),
    scope="run_id",
)
frame = _table(
    "frame",
    _id(),
    _fk("run_id", "run", nullable=False),
    _fk("deposition_id", "deposition", nullable=False),
    sa.Column("acquisition_order", sa.Integer),
    *_float("accumulated_dose", "exposure_dose"),
    *_bool("is_gain_corrected"),
    *_url_pair("frame_path"),
    *_float("file_size"),
    natural_key=("run_id", "acquisition_order"),
    scope="run_id",
)
gain_file = _table(
    "gain_file",
    _id(),
    _fk("run_id", "run", nullable=False),
    *_url_pair("file_path"),
    natural_key=("run_id", "s3_file_path"),
    scope="run_id",
)

tiltseries = _table(
    "tiltseries",
    _id(),
    _fk("run_id", "run", nullable=False),
    _fk("deposition_id", "deposition"),
    *_url_pair("omezarr_dir", "mrc_file", "angle_list"),
    *_float("file_size_omezarr", "file_size_mrc"),
    sa.Column("acceleration_voltage", sa.Integer),
    *_float("spherical_aberration_constant"),
    *_text(
        "microscope_manufacturer",
        "microscope_model",
        "microscope_energy_filter",
        "microscope_phase_plate",
        "microscope_image_corrector",
        "microscope_additional_info",
        "camera_manufacturer",
        "camera_model",
    ),
    *_float("tilt_min", "tilt_max", "tilt_range", "tilt_step"),
    sa.Column("tilting_scheme", sa.Text),
    *_float("tilt_axis", "total_flux"),
    *_text("data_acquisition_software", "related_empiar_entry"),
    *_float("binning_from_frames"),
    *_int("tilt_series_quality"),
    *_bool("is_aligned"),
    *_float("pixel_spacing"),
    *_int("aligned_tiltseries_binning", "size_x", "size_y", "size_z"),
    natural_key=("run_id",),
    scope="run_id",
)
per_section_parameters = _table(
    "per_section_parameters",
    _id(),
    _fk("tiltseries_id", "tiltseries", nullable=False),
    _fk("run_id", "run", nullable=False),
    _fk("frame_id", "frame", nullable=False),
    sa.Column("z_index", sa.Integer, nullable=False),
    sa.Column("raw_angle", sa.Double, nullable=False),
    *_float("astigmatic_angle", "major_defocus", "minor_defocus", "max_resolution", "phase_shift"),
    natural_key=("frame_id", "run_id", "tiltseries_id"),
    scope="tiltseries_id",
    # The checks pair rows by section, so that a row pointing at the wrong frame is a DB-FK finding.
    match_key=("tiltseries_id", "z_index"),
)

alignment = _table(
    "alignment",
    _id(),
    _fk("run_id", "run", nullable=False),
    _fk("deposition_id", "deposition"),
    _fk("tiltseries_id", "tiltseries", on_delete="SET NULL"),
    _enum("alignment_type", "alignment_type"),
    _enum("alignment_method", "alignment_method"),
    *_float(
        "volume_x_dimension",
        "volume_y_dimension",
        "volume_z_dimension",
        "volume_x_offset",
        "volume_y_offset",
        "volume_z_offset",
        "x_rotation_offset",
        "tilt_offset",
    ),
    sa.Column("affine_transformation_matrix", sa.Text),
    *_url_pair("alignment_metadata"),
    *_bool("is_portal_standard"),
    natural_key=("run_id", "deposition_id"),
    scope="run_id",
)
per_section_alignment_parameters = _table(
    "per_section_alignment_parameters",
    _id(),
    _fk("alignment_id", "alignment", nullable=False),
    sa.Column("z_index", sa.Integer, nullable=False),
    *_float("x_offset", "y_offset", "volume_x_rotation"),
    sa.Column("in_plane_rotation", sa.Text),
    *_float("tilt_angle"),
    natural_key=("alignment_id", "z_index"),
    scope="alignment_id",
)

identified_object = _table(
    "identified_object",
    _id(),
    _fk("run_id", "run", nullable=False),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("object_name", sa.Text, nullable=False),
    *_text("object_description", "object_state"),
    natural_key=("run_id", "object_id"),
    scope="run_id",
)

tomogram_voxel_spacing = _table(
    "tomogram_voxel_spacing",
    _id(),
    _fk("run_id", "run", nullable=False),
    sa.Column("voxel_spacing", sa.Double, nullable=False),
    *_url_pair("prefix"),
    natural_key=("run_id", "voxel_spacing"),
    scope="run_id",
)

tomogram = _table(
    "tomogram",
    _id(),
    _fk("run_id", "run", nullable=False),
    _fk("tomogram_voxel_spacing_id", "tomogram_voxel_spacing", nullable=False),
    _fk("alignment_id", "alignment", on_delete="SET NULL"),
    _fk("deposition_id", "deposition", nullable=False),
    sa.Column("name", sa.Text),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("size_x", "size_y", "size_z")),
    sa.Column("voxel_spacing", sa.Double, nullable=False),
    _enum("fiducial_alignment_status", "fiducial_alignment_status"),
    _enum("reconstruction_method", "reconstruction_method"),
    sa.Column("reconstruction_software", sa.Text, nullable=False),
    _enum("processing", "processing"),
    sa.Column("processing_software", sa.Text),
    *_float("tomogram_version"),
    *_bool("is_portal_standard", "is_author_submitted", "is_visualization_default", "ctf_corrected"),
    *(sa.Column(name, sa.Integer, nullable=False) for name in ("offset_x", "offset_y", "offset_z")),
    *_url_pair("omezarr_dir", "mrc_file"),
    *_float("file_size_omezarr", "file_size_mrc"),
    *_text("scale0_dimensions", "scale1_dimensions", "scale2_dimensions"),
    *_text("key_photo_url", "key_photo_thumbnail_url", "neuroglancer_config", "publications"),
    sa.Column("related_database_entries", sa.Text),
    *_dates(),
    # Ours includes alignment_id (db.md §6): the portal's key merges tomograms differing only by alignment.
    natural_key=(
        "deposition_id",
        "processing",
        "processing_software",
        "reconstruction_method",
        "run_id",
        "tomogram_voxel_spacing_id",
        "alignment_id",
    ),
    scope="tomogram_voxel_spacing_id",
    # The checks use the portal's key, so that a wrong alignment_id is a DB-FK finding.
    match_key=(
        "deposition_id",
        "processing",
        "processing_software",
        "reconstruction_method",
        "run_id",
        "tomogram_voxel_spacing_id",
    ),
)
tomogram_author = _author_table("tomogram")

annotation = _table(
    "annotation",
    _id(),
    _fk("run_id", "run", nullable=False),
    _fk("tomogram_voxel_spacing_id", "tomogram_voxel_spacing"),
    _fk("deposition_id", "deposition"),
    sa.Column("annotation_ingest_id", sa.Text, nullable=False),
    sa.Column("s3_metadata_path", sa.Text, nullable=False),
    sa.Column("https_metadata_path", sa.Text, nullable=False),
    sa.Column("annotation_publication", sa.Text),
    sa.Column("annotation_method", sa.Text, nullable=False),
    _enum("method_type", "annotation_method_type"),
    *_bool("ground_truth_status"),
    sa.Column("object_id", sa.Text, nullable=False),
    sa.Column("object_name", sa.Text, nullable=False),
    *_text("object_description", "object_state"),
    sa.Column("object_count", sa.Integer),
    *_float("confidence_precision", "confidence_recall"),
    *_text("ground_truth_used", "annotation_software"),
    *_bool("is_curator_recommended"),
    *_dates(*DATE_COLUMNS),
    natural_key=("run_id", "deposition_id", "annotation_ingest_id"),
    scope="tomogram_voxel_spacing_id",
)
annotation_shape = _table(
    "annotation_shape",
    _id(),
    _fk("annotation_id", "annotation", nullable=False),
    _enum("shape_type", "shape_type"),
    natural_key=("annotation_id", "shape_type"),
    scope="annotation_id",
)
annotation_file = _table(
    "annotation_file",
    _id(),
    _fk("annotation_shape_id", "annotation_shape", nullable=False),
    _fk("tomogram_voxel_spacing_id", "tomogram_voxel_spacing"),
    _fk("alignment_id", "alignment", on_delete="SET NULL"),
    _enum("format", "annotation_file_format", nullable=False),
    sa.Column("s3_path", sa.Text, nullable=False),
    sa.Column("https_path", sa.Text, nullable=False),
    *_float("file_size"),
    *_bool("is_visualization_default"),
    _enum("source", "annotation_file_source"),
    natural_key=("format", "tomogram_voxel_spacing_id", "annotation_shape_id"),
    scope="annotation_shape_id",
)
annotation_author = _author_table("annotation")
annotation_method_link = _table(
    "annotation_method_link",
    _id(),
    _fk("annotation_id", "annotation", nullable=False),
    sa.Column("link", sa.Text, nullable=False),
    _enum("link_type", "link_type"),
    sa.Column("name", sa.Text),
    natural_key=("annotation_id", "link"),
    scope="annotation_id",
)

#: Parents before children: the order rows are written in and identities are resolved in.
TABLES: list[sa.Table] = list(metadata.sorted_tables)


def natural_key(table: sa.Table) -> tuple[str, ...]:
    return table.info["natural_key"]


def match_key(table: sa.Table) -> tuple[str, ...]:
    """The key the consistency checks pair bucket rows and database rows by (usually the natural key)."""
    return table.info.get("match_key", table.info["natural_key"])


def scope_column(table: sa.Table) -> str | None:
    return table.info["scope"]


def has_natural_id(table: sa.Table) -> bool:
    """Depositions and datasets use the metadata's identifier as their id."""
    return natural_key(table) == ("id",)


def references(table: sa.Table) -> dict[str, sa.Table]:
    """FK column -> the table it points at."""
    return {fk.parent.name: fk.column.table for fk in table.foreign_keys}


def row_references(table: sa.Table) -> dict[str, sa.Table]:
    """FK columns that point at surrogate-id rows (resolved through other rows, not given by metadata)."""
    return {column: target for column, target in references(table).items() if not has_natural_id(target)}


def cascading_children(table: sa.Table) -> list[tuple[sa.Table, str]]:
    """``(child table, FK column)`` of every FK that deletes its rows together with ``table``'s."""
    return [
        (child, fk.parent.name)
        for child in TABLES
        for fk in child.foreign_keys
        if fk.column.table is table and fk.ondelete == "CASCADE"
    ]


#: Ids per IN (...) list: far below SQLite's bound-parameter limit and PostgreSQL's comfort zone.
CHUNK = 500


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """Ids, sorted, in lists of at most CHUNK (for IN (...) conditions)."""
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def create_schema(engine: sa.Engine) -> None:
    """Create every missing table (existing tables are left as they are)."""
    metadata.create_all(engine, checkfirst=True)
