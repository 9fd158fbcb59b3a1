"""Bucket -> rows (shared/spec/db.md §3-4): the one mapping used by ``db-import`` and by the DB checks.

The importer writes the rows this module computes; the consistency checks compute the same rows
from the same bucket and compare them with the database. Rows reference their parent rows as
objects (surrogate ids exist only once written); :func:`identity` turns a row into the
dialect-free key the checks pair rows by.
"""

from __future__ import annotations

import bisect
import datetime as dt
import fnmatch
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import sqlalchemy as sa

from importers import layout
from importers.db import schema
from importers.storage import Bucket, ObjectInfo, StorageError

DEFAULT_HTTPS_PREFIX = "https://files.cryoetdataportal.cziscience.com"
STAGING_HTTPS_PREFIX = "https://files.cryoet.staging.si.czi.technology"


class BucketView(Protocol):
    """What the mapping reads: a recursive listing (with sizes) and whole small objects.

    :class:`~importers.storage.Bucket` is one; the validation suite adapts its snapshot to it.
    """

    def listing(self, prefix: str) -> Mapping[str, ObjectInfo]: ...

    def read(self, key: str) -> bytes: ...


class MappingError(Exception):
    """The bucket cannot be turned into rows; names the object and the problem."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class Urls:
    """How bucket keys become the ``s3_*`` and ``https_*`` column values (db.md §1)."""

    bucket_name: str
    https_prefix: str = DEFAULT_HTTPS_PREFIX

    @classmethod
    def of(cls, bucket: Bucket, https_prefix: str = DEFAULT_HTTPS_PREFIX) -> Urls:
        """The bucket's own name (with its root prefix, if any); a local folder is named by its folder."""
        name = bucket.root if bucket.protocol == "s3" else bucket.root.rstrip("/").rsplit("/", 1)[-1]
        return cls(name, https_prefix.rstrip("/"))

    def s3(self, key: str) -> str:
        return f"s3://{self.bucket_name}/{key}"

    def https(self, key: str) -> str:
        return f"{self.https_prefix}/{key}"


@dataclass(eq=False)
class Row:
    """One row to write: mapped column values, and the rows its surrogate-id FK columns point at."""

    table: sa.Table
    values: dict[str, Any]
    refs: dict[str, Row | None] = field(default_factory=dict)
    #: The bucket key the row was read from, for messages.
    source: str = ""

    @cached_property
    def identity(self) -> tuple:
        """(table, match key values), FK columns replaced by the referenced row's identity."""
        return identity(self.table, self.values, self.ref_identity)

    def ref_identity(self, column: str) -> tuple | None:
        parent = self.refs.get(column)
        return parent.identity if parent is not None else None

    def describe(self) -> str:
        key = ", ".join(f"{c}={self.values[c]!r}" for c in schema.match_key(self.table) if c in self.values)
        return f"{self.table.name}({key}) from {self.source}" if key else f"{self.table.name} from {self.source}"


def identity(table: sa.Table, values: Mapping[str, Any], resolve: Callable[[str], tuple | None]) -> tuple:
    """The pairing key of a row of ``table``: values of its match key, with FK columns to surrogate-id
    rows resolved by ``resolve(column)``; floats rounded to the layout's 3 decimals."""
    references = schema.row_references(table)
    parts = []
    for column in schema.match_key(table):
        value = resolve(column) if column in references else values.get(column)
        parts.append(round(value, 3) if isinstance(value, float) else value)
    return (table.name, tuple(parts))


@dataclass
class DatasetRows:
    """Every row one dataset yields, parents first, and referenced depositions the bucket lacks."""

    dataset_id: int
    rows: list[Row]
    #: deposition id -> a key that references it, for depositions without deposition_metadata.json.
    missing_depositions: dict[int, str]


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _coerce(column: sa.Column, value: Any) -> Any:
    """A metadata value as the column stores it, so that a value read back compares equal."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False if value is None else _boolean(value)
    if value is None:
        return None
    if isinstance(kind, sa.Integer):
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{column.name}={value!r} is not an integer")
        return int(number)
    if isinstance(kind, sa.Double):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{column.name}={value!r} is not a finite number")
        return number
    if isinstance(kind, sa.String):
        return value if isinstance(value, str) else compact_json(value)
    return value


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _date(value: Any) -> dt.datetime | None:
    """``YYYY-MM-DD`` -> midnight UTC (db.md §1)."""
    if value is None:
        return None
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _get(document: Any, *path: str) -> Any:
    """A nested value; missing levels (or non-objects on the way) give None."""
    value: Any = document
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def _numeric_order(key: str) -> tuple:
    """Sort entity dirs numerically (``TiltSeries/99`` before ``TiltSeries/100``)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in key.split("/"))


class _Mapper:
    def __init__(self, source: BucketView, dataset_id: str, urls: Urls) -> None:
        self.source = source
        self.dataset_id = dataset_id
        self.urls = urls
        self.objects = dict(source.listing(dataset_id))
        self.keys = sorted(self.objects)
        self.rows: list[Row] = []
        self.depositions: dict[int, str] = {}
        #: alignment_metadata.json key -> its row, for tomograms and annotation files that point at it.
        self.alignments: dict[str, Row] = {}
        self.children: dict[str, set[str]] = defaultdict(set)
        for key in self.keys:
            parts = key.split("/")
            for depth in range(1, len(parts)):
                self.children["/".join(parts[:depth])].add(parts[depth])
                if parts[depth].endswith(".zarr"):  # a store's chunks are counted, never globbed
                    break

    # -- reading ----------------------------------------------------------------------------------

    def glob(self, pattern: str) -> list[str]:
        """Keys and dirs matching a glob whose ``*`` stays within one path segment, numerically sorted."""
        first, *rest = pattern.split("/")
        matches = [first] if first in self.children or first in self.objects else []
        for segment in rest:
            matches = [
                f"{parent}/{name}"
                for parent in matches
                for name in self.children.get(parent, ())
                if fnmatch.fnmatchcase(name, segment)
            ]
        return sorted(matches, key=_numeric_order)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def document(self, key: str) -> Any:
        try:
            raw = self.source.read(key)
        except StorageError as error:
            raise MappingError(key, error.problem) from None
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise MappingError(key, f"not valid JSON ({error})") from None

    def metadata(self, key: str) -> dict[str, Any]:
        document = self.document(key)
        if not isinstance(document, dict):
            raise MappingError(key, f"JSON is a {type(document).__name__}, not an object")
        return document

    def size(self, key: str) -> int:
        """Bytes of the object ``key`` plus every object below ``key/`` (a zarr store is its whole tree)."""
        if not key.startswith(self.dataset_id + "/"):
            directory = key.rsplit("/", 1)[0]
            listed = self.source.listing(directory)
            return sum(info.size for k, info in listed.items() if k == key or k.startswith(key + "/"))
        total = self.objects[key].size if key in self.objects else 0
        # '0' is the character after '/': the slice is exactly the keys below key/.
        start, end = bisect.bisect_left(self.keys, key + "/"), bisect.bisect_left(self.keys, key + "0")
        return total + sum(self.objects[k].size for k in self.keys[start:end])

    def path(self, value: Any) -> str | None:
        """A metadata path as a bucket key (the legacy bucket-name prefix stripped)."""
        if not isinstance(value, str) or not value.strip():
            return None
        return layout.strip_bucket_name(value, self.urls.bucket_name.split("/", 1)[0]).strip("/")

    def locations(self, suffix: str, key: str | None) -> dict[str, str | None]:
        """``s3_{suffix}`` and ``https_{suffix}`` of a key."""
        return {
            f"s3_{suffix}": self.urls.s3(key) if key is not None else None,
            f"https_{suffix}": self.urls.https(key) if key is not None else None,
        }

    def file(self, suffix: str, key: str | None, size_column: str = "file_size") -> dict[str, Any]:
        """Locations and size of a file or store referenced by metadata (null path -> nulls)."""
        return self.locations(suffix, key) | {size_column: self.size(key) if key is not None else None}

    def photos(self, photos: Any) -> dict[str, str | None]:
        snapshot, thumbnail = self.path(_get(photos, "snapshot")), self.path(_get(photos, "thumbnail"))
        return {
            "key_photo_url": self.urls.https(snapshot) if snapshot else None,
            "key_photo_thumbnail_url": self.urls.https(thumbnail) if thumbnail else None,
        }

    def reference(self, document: Mapping[str, Any], key: str) -> int | None:
        """The document's ``deposition_id``, remembered as one to import (db.md §3.1)."""
        deposition_id = document.get("deposition_id")
        if isinstance(deposition_id, bool) or not isinstance(deposition_id, int):
            return None
        self.depositions.setdefault(deposition_id, key)
        return deposition_id

    # -- writing rows -----------------------------------------------------------------------------

    def add(self, table: sa.Table, source: str, values: Mapping[str, Any], **parents: Row | None) -> Row:
        """A row; ``parents`` are FK columns given as rows (natural-id parents become plain values)."""
        coerced: dict[str, Any] = {}
        refs: dict[str, Row | None] = {}
        for column, parent in parents.items():
            if parent is not None and schema.has_natural_id(parent.table):
                coerced[column] = parent.values["id"]
            else:
                refs[column] = parent
        for column, value in values.items():
            try:
                coerced[column] = _coerce(table.c[column], value)
            except (TypeError, ValueError) as error:
                raise MappingError(source, f"{table.name}.{column}: {error}") from None
        row = Row(table, coerced, refs, source)
        self.rows.append(row)
        return row

    def dates(self, document: Mapping[str, Any], key: str) -> dict[str, dt.datetime | None]:
        try:
            return {name: _date(_get(document, "dates", name)) for name in schema.DATE_COLUMNS}
        except (TypeError, ValueError) as error:
            raise MappingError(key, f"dates: {error}") from None

    def authors(self, table: sa.Table, parent_column: str, parent: Row, document: Mapping[str, Any], key: str) -> None:
        for position, author in enumerate(document.get("authors") or [], start=1):
            if not isinstance(author, Mapping):
                raise MappingError(key, f"authors[{position - 1}] is not an object")
            values = {
                "author_list_order": author.get("author_list_order") or position,
                "name": author.get("name"),
                "orcid": author.get("ORCID"),
                "primary_author_status": author.get("primary_author_status"),
                "corresponding_author_status": author.get("corresponding_author_status"),
            }
            for name in ("email", "affiliation_name", "affiliation_address", "affiliation_identifier", "kaggle_id"):
                values[name] = author.get(name)
            self.add(table, key, values, **{parent_column: parent})

    # -- the traversal (db.md §3) -----------------------------------------------------------------

    def dataset(self) -> None:
        key = layout.build("dataset_metadata", dataset_id=self.dataset_id)
        if not self.exists(key):
            return  # no dataset entity, so no rows: every stored row of the dataset is stale
        document = self.metadata(key)
        deposition_id = self.reference(document, key)
        if deposition_id is None:
            raise MappingError(key, "deposition_id is missing or not an integer")
        values = {
            "id": int(self.dataset_id),
            "deposition_id": deposition_id,
            "title": document.get("dataset_title"),
            "description": document.get("dataset_description"),
            "organism_name": _get(document, "organism", "name"),
            "organism_taxid": _get(document, "organism", "taxonomy_id"),
            "cell_name": _get(document, "cell_type", "name"),
            "cell_type_id": _get(document, "cell_type", "id"),
            "assay_label": _get(document, "assay", "name"),
            "assay_ontology_id": _get(document, "assay", "id"),
            "development_stage_name": _get(document, "development_stage", "name"),
            "development_stage_ontology_id": _get(document, "development_stage", "id"),
            "disease_name": _get(document, "disease", "name"),
            "disease_ontology_id": _get(document, "disease", "id"),
            "dataset_publications": _get(document, "cross_references", "publications"),
            "related_database_entries": _get(document, "cross_references", "related_database_entries"),
            **{f"{name}_name": _get(document, name, "name") for name in ("tissue", "cell_strain", "cell_component")},
            **{f"{name}_id": _get(document, name, "id") for name in ("tissue", "cell_strain", "cell_component")},
            **{name: document.get(name) for name in ("sample_type", "sample_preparation", "grid_preparation")},
            "other_setup": document.get("other_setup"),
            **self.dates(document, key),
            **self.photos(document.get("key_photos")),
            **self.locations("prefix", f"{self.dataset_id}/"),
            "file_size": sum(info.size for info in self.objects.values()),
        }
        row = self.add(schema.dataset, key, values)
        self.authors(schema.dataset_author, "dataset_id", row, document, key)
        for funding in document.get("funding") or []:
            values = {name: _get(funding, name) for name in ("funding_agency_name", "grant_id")}
            self.add(schema.dataset_funding, key, values, dataset_id=row)
        for run_key in self.glob(f"{self.dataset_id}/*/{layout.RUN_METADATA}"):
            if layout.parse(run_key) is not None:  # a folder the layout does not allow as a run is no run
                self.run(run_key, row, deposition_id)

    def run(self, key: str, dataset: Row, deposition_id: int) -> None:
        run_dir = key.rsplit("/", 1)[0]
        folder = run_dir.rsplit("/", 1)[-1]
        document = self.metadata(key)
        name = document.get("run_name") or folder
        run = self.add(schema.run, key, {"name": name, **self.locations("prefix", f"{run_dir}/")}, dataset_id=dataset)
        fields = {"dataset_id": self.dataset_id, "run_name": folder}
        frames = self.frames(layout.build("frames_metadata", **fields), run, deposition_id)
        for gain in self.glob(f"{run_dir}/Gains/*"):
            self.add(schema.gain_file, gain, self.locations("file_path", gain), run_id=run)
        tiltseries_keys = self.glob(f"{run_dir}/TiltSeries/*/{layout.TILTSERIES_METADATA}")
        # The portal imports only the first tilt series of a run (RUN-TS-COUNT warns about the others).
        tiltseries = self.tiltseries(tiltseries_keys[0], run, frames) if tiltseries_keys else None
        for alignment_key in self.glob(f"{run_dir}/Alignments/*/{layout.ALIGNMENT_METADATA}"):
            self.alignment(alignment_key, run, tiltseries)
        self.identified_objects(layout.build("identified_objects", **fields), run)
        for spacing_dir in self.glob(f"{run_dir}/Reconstructions/VoxelSpacing*"):
            self.voxel_spacing(spacing_dir, run, dataset)

    def frames(self, key: str, run: Row, deposition_id: int) -> dict[int, Row]:
        if not self.exists(key):
            return {}
        document = self.metadata(key)
        mdoc = self.path(document.get("frames_acquisition_file"))
        if mdoc:
            self.add(schema.frame_acquisition_file, key, self.locations("mdoc_path", mdoc), run_id=run)
        by_order: dict[int, Row] = {}
        for item in document.get("frames") or []:
            values = {
                "deposition_id": deposition_id,
                **{name: item.get(name) for name in ("acquisition_order", "accumulated_dose", "exposure_dose")},
                "is_gain_corrected": item.get("is_gain_corrected"),
                **self.file("frame_path", self.path(item.get("path"))),
            }
            row = self.add(schema.frame, key, values, run_id=run)
            by_order[row.values["acquisition_order"]] = row
        return by_order

    def tiltseries(self, key: str, run: Row, frames: dict[int, Row]) -> Row:
        directory = key.rsplit("/", 1)[0]
        document = self.metadata(key)
        tilt_min, tilt_max = _get(document, "tilt_range", "min"), _get(document, "tilt_range", "max")
        angle_lists = self.glob(f"{directory}/*.rawtlt") or self.glob(f"{directory}/*.tlt")
        values = {
            "deposition_id": self.reference(document, key),
            **self.file("omezarr_dir", self.path(document.get("omezarr_dir")), "file_size_omezarr"),
            **self.file("mrc_file", self.path(document.get("mrc_file")), "file_size_mrc"),
            **self.locations("angle_list", angle_lists[0] if angle_lists else None),
            "microscope_manufacturer": _get(document, "microscope", "manufacturer"),
            "microscope_model": _get(document, "microscope", "model"),
            "microscope_additional_info": _get(document, "microscope", "additional_info"),
            "camera_manufacturer": _get(document, "camera", "manufacturer"),
            "camera_model": _get(document, "camera", "model"),
            **{
                f"microscope_{name}": _get(document, "microscope_optical_setup", name)
                for name in ("energy_filter", "phase_plate", "image_corrector")
            },
            "tilt_min": round(float(tilt_min), 2) if tilt_min is not None else None,
            "tilt_max": round(float(tilt_max), 2) if tilt_max is not None else None,
            "tilt_range": round(abs(float(tilt_max) - float(tilt_min)), 2)
            if None not in (tilt_min, tilt_max)
            else None,
            **{f"size_{axis}": _get(document, "size", axis) for axis in "xyz"},
        }
        for name in (
            "acceleration_voltage",
            "spherical_aberration_constant",
            "tilt_step",
            "tilting_scheme",
            "tilt_axis",
            "total_flux",
            "data_acquisition_software",
            "related_empiar_entry",
            "binning_from_frames",
            "tilt_series_quality",
            "is_aligned",
            "pixel_spacing",
            "aligned_tiltseries_binning",
        ):
            values[name] = document.get(name)
        row = self.add(schema.tiltseries, key, values, run_id=run)
        for section in document.get("per_section_parameter") or []:
            order = section.get("frame_acquisition_order")
            if order not in frames:
                raise MappingError(
                    key,
                    f"per_section_parameter z_index {section.get('z_index')}: no frame with acquisition_order {order}",
                )
            names = ("z_index", "raw_angle", "astigmatic_angle", "major_defocus", "minor_defocus")
            values = {name: section.get(name) for name in (*names, "max_resolution", "phase_shift")}
            self.add(schema.per_section_parameters, key, values, tiltseries_id=row, run_id=run, frame_id=frames[order])
        return row

    def alignment(self, key: str, run: Row, tiltseries: Row | None) -> None:
        document = self.metadata(key)
        # The run's tilt series is the one whose folder holds the file tiltseries_path names.
        tiltseries_path = self.path(document.get("tiltseries_path")) or ""
        points_at_tiltseries = (
            tiltseries is not None and tiltseries.source.rsplit("/", 1)[0] == tiltseries_path.rsplit("/", 1)[0]
        )
        method = document.get("method_type")
        values = {
            "deposition_id": self.reference(document, key),
            "alignment_type": document.get("alignment_type"),
            "alignment_method": None if method == "undefined" else method,
            **{f"volume_{axis}_dimension": _get(document, "volume_dimension", axis) for axis in "xyz"},
            **{f"volume_{axis}_offset": _get(document, "volume_offset", axis) for axis in "xyz"},
            "x_rotation_offset": document.get("x_rotation_offset"),
            "tilt_offset": document.get("tilt_offset"),
            "affine_transformation_matrix": document.get("affine_transformation_matrix"),
            "is_portal_standard": document.get("is_portal_standard"),
            **self.locations("alignment_metadata", key),
        }
        row = self.add(
            schema.alignment, key, values, run_id=run, tiltseries_id=tiltseries if points_at_tiltseries else None
        )
        self.alignments[key] = row
        for section in document.get("per_section_alignment_parameters") or []:
            names = ("z_index", "x_offset", "y_offset", "volume_x_rotation", "in_plane_rotation", "tilt_angle")
            self.add(schema.per_section_alignment_parameters, key, {n: section.get(n) for n in names}, alignment_id=row)

    def identified_objects(self, key: str, run: Row) -> None:
        if not self.exists(key):
            return
        records = self.document(key)
        if not isinstance(records, list):
            raise MappingError(key, "not a JSON array of records")
        names = ("object_id", "object_name", "object_description", "object_state")
        for record in records:
            self.add(schema.identified_object, key, {name: _get(record, name) for name in names}, run_id=run)

    def voxel_spacing(self, directory: str, run: Row, dataset: Row) -> None:
        name = directory.rsplit("/", 1)[-1]
        try:
            value = layout.voxel_spacing_from_name(name)
        except ValueError:
            raise MappingError(directory, f"{name!r} does not name a voxel spacing") from None
        values = {"voxel_spacing": value, **self.locations("prefix", f"{directory}/")}
        spacing = self.add(schema.tomogram_voxel_spacing, directory, values, run_id=run)
        for key in self.glob(f"{directory}/Tomograms/*/{layout.TOMOGRAM_METADATA}"):
            self.tomogram(key, run, spacing, dataset)
        for key in self.glob(f"{directory}/Annotations/*/*[0-9].json"):
            self.annotation(key, run, spacing, dataset)

    def neuroglancer_config(self, key: str | None) -> str | None:
        """The viewer state, compact; a missing file is left to the bucket checks (GEN-PATH-EXISTS)."""
        if key is None or not self.exists(key):
            return None
        return compact_json(self.document(key))

    def tomogram(self, key: str, run: Row, spacing: Row, dataset: Row) -> None:
        document = self.metadata(key)
        deposition_id = self.reference(document, key)
        fiducial = document.get("fiducial_alignment_status")
        if isinstance(fiducial, bool) or str(fiducial).lower() in ("true", "false"):
            fiducial = "FIDUCIAL" if _boolean(fiducial) else "NON_FIDUCIAL"
        method = str(document.get("reconstruction_method") or "").replace(" ", "_") or "Unknown"
        scales = document.get("scales") or []
        values = {
            "deposition_id": deposition_id,
            "name": document.get("run_name"),
            **{f"size_{axis}": _get(document, "size", axis) for axis in "xyz"},
            **{f"offset_{axis}": _get(document, "offset", axis) for axis in "xyz"},
            "fiducial_alignment_status": fiducial,
            "reconstruction_method": method,
            "reconstruction_software": document.get("reconstruction_software") or "Unknown",
            "ctf_corrected": document.get("ctf_corrected"),
            "is_author_submitted": deposition_id == dataset.values["deposition_id"],
            **self.file("omezarr_dir", self.path(document.get("omezarr_dir")), "file_size_omezarr"),
            **self.file("mrc_file", self.path(document.get("mrc_file")), "file_size_mrc"),
            **{
                f"scale{index}_dimensions": ",".join(str(_get(scales[index], axis)) for axis in "xyz")
                if index < len(scales)
                else None
                for index in range(3)
            },
            **self.photos(document.get("key_photo")),
            "neuroglancer_config": self.neuroglancer_config(self.path(document.get("neuroglancer_config_path"))),
            "publications": _get(document, "cross_references", "publications"),
            "related_database_entries": _get(document, "cross_references", "related_database_entries"),
            **self.dates(document, key),
        }
        for name in (
            "voxel_spacing",
            "processing",
            "processing_software",
            "tomogram_version",
            "is_visualization_default",
            "is_portal_standard",
        ):
            values[name] = document.get(name)
        alignment = self.alignments.get(self.path(document.get("alignment_metadata_path")) or "")
        row = self.add(
            schema.tomogram, key, values, run_id=run, tomogram_voxel_spacing_id=spacing, alignment_id=alignment
        )
        self.authors(schema.tomogram_author, "tomogram_id", row, document, key)

    def annotation(self, key: str, run: Row, spacing: Row, dataset: Row) -> None:
        document = self.metadata(key)
        deposition_id = self.reference(document, key)
        values = {
            "deposition_id": deposition_id,
            "annotation_publication": document.get("annotation_publications"),
            **{f"object_{name}": _get(document, "annotation_object", name) for name in ("id", "name")},
            **{f"object_{name}": _get(document, "annotation_object", name) for name in ("description", "state")},
            "confidence_precision": _get(document, "confidence", "precision"),
            "confidence_recall": _get(document, "confidence", "recall"),
            "ground_truth_used": _get(document, "confidence", "ground_truth_used"),
            **self.locations("metadata_path", key),
            **self.dates(document, key),
        }
        for name in (
            "annotation_ingest_id",
            "annotation_method",
            "method_type",
            "ground_truth_status",
            "object_count",
            "annotation_software",
            "is_curator_recommended",
        ):
            values[name] = document.get(name)
        row = self.add(schema.annotation, key, values, run_id=run, tomogram_voxel_spacing_id=spacing)
        alignment = self.alignments.get(self.path(document.get("alignment_metadata_path")) or "")
        shapes: dict[Any, Row] = {}
        for item in document.get("files") or []:
            if not isinstance(item, Mapping):
                raise MappingError(key, "files[] holds a non-object")
            shape = item.get("shape")
            if shape not in shapes:
                shapes[shape] = self.add(schema.annotation_shape, key, {"shape_type": shape}, annotation_id=row)
            if deposition_id == dataset.values["deposition_id"]:
                source = "dataset_author"
            else:
                source = "portal_standard" if _boolean(item.get("is_portal_standard")) else "community"
            file_values = {
                "format": item.get("format"),
                "is_visualization_default": item.get("is_visualization_default"),
                "source": source,
                **self.file("path", self.path(item.get("path"))),
            }
            self.add(
                schema.annotation_file,
                key,
                file_values,
                annotation_shape_id=shapes[shape],
                tomogram_voxel_spacing_id=spacing,
                alignment_id=alignment,
            )
        self.authors(schema.annotation_author, "annotation_id", row, document, key)
        for link in document.get("method_links") or []:
            link_values = {"link": _get(link, "link"), "link_type": _get(link, "link_type")}
            self.add(
                schema.annotation_method_link, key, link_values | {"name": _get(link, "custom_name")}, annotation_id=row
            )

    def deposition(self, deposition_id: int) -> bool:
        """Rows of a referenced deposition; False when the bucket has no metadata for it."""
        prefix = layout.build("deposition", deposition_id=deposition_id)
        key = layout.build("deposition_metadata", deposition_id=deposition_id)
        try:
            listed = self.source.listing(prefix)
        except StorageError as error:
            raise MappingError(prefix, f"cannot list: {error.problem}") from None
        if key not in listed:
            return False
        document = self.metadata(key)
        values = {
            "id": deposition_id,
            "title": document.get("deposition_title"),
            "description": document.get("deposition_description"),
            "tag": document.get("tag"),
            "deposition_publications": _get(document, "cross_references", "publications"),
            "related_database_entries": _get(document, "cross_references", "related_database_entries"),
            **self.dates(document, key),
            **self.photos(document.get("key_photos")),
        }
        row = self.add(schema.deposition, key, values)
        self.authors(schema.deposition_author, "deposition_id", row, document, key)
        for kind in document.get("deposition_types") or []:
            self.add(schema.deposition_type, key, {"type": str(kind).strip()}, deposition_id=row)
        return True


def map_dataset(source: BucketView, dataset_id: str | int, urls: Urls) -> DatasetRows:
    """Every row of one dataset and of the depositions it references, parents before children."""
    mapper = _Mapper(source, str(dataset_id), urls)
    mapper.dataset()
    missing = {
        deposition_id: key
        for deposition_id, key in sorted(mapper.depositions.items())
        if not mapper.deposition(deposition_id)
    }
    order = {table.name: index for index, table in enumerate(schema.TABLES)}
    rows = sorted(mapper.rows, key=lambda row: order[row.table.name])
    return DatasetRows(int(dataset_id), rows, missing)
