"""Database consistency checks (checks.md §19): the rows the bucket implies vs the portal database.

Every check runs on the dataset entity over one shared comparison (data_validation.database): the
importer's own mapping computes the rows from the bucket, rows are paired by identity (natural key,
FKs resolved to their parents' identities), and each check reports one kind of disagreement.
DB-PUBLIC-HTTPS (HEAD requests to the public HTTPS mirror) is not implemented: it needs the network.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, register, skip

if TYPE_CHECKING:  # the database side (SQLAlchemy) is imported when a DB check runs, not at start-up
    from data_validation.database import Comparison
    from importers.db.mapping import Row
    from importers.db.stored import StoredRow

CODE_PREFIX = "DB-"

NO_DATABASE = (
    "no database: give --db-url (or $CRYOET_DATABASE_URL), or import this bucket's dataset into the embedded one "
    "(db-import)"
)
#: The check that reports a database that cannot be read; the others skip (one defect, one failure).
DATABASE_OWNER = "DB-MISSING-DATASET"
#: Findings named in a failure message; the rest are counted.
SHOWN = 5

#: DB-MISSING-<T> / DB-STALE-<T>: the tables each T covers (checks.md §19; types and method links ride
#: with their parent's code, which the catalog has none for).
TABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "DEPOSITION": ("deposition", "deposition_type"),
    "DATASET": ("dataset",),
    "RUN": ("run",),
    "VS": ("tomogram_voxel_spacing",),
    "TS": ("tiltseries",),
    "ALN": ("alignment",),
    "TOMO": ("tomogram",),
    "ANNO": ("annotation", "annotation_method_link"),
    "ANNO-SHAPE": ("annotation_shape",),
    "ANNO-FILE": ("annotation_file",),
    "FRAME": ("frame",),
    "FRAME-ACQ-FILE": ("frame_acquisition_file",),
    "GAIN": ("gain_file",),
    "PSP": ("per_section_parameters",),
    "PSAP": ("per_section_alignment_parameters",),
    "IDO": ("identified_object",),
    "AUTHOR": ("deposition_author", "dataset_author", "tomogram_author", "annotation_author"),
    "FUNDING": ("dataset_funding",),
}
#: Row counts per parent that DB-COUNTS compares with the bucket's list lengths.
COUNTED_TABLES = (
    "frame",
    "per_section_parameters",
    "per_section_alignment_parameters",
    "deposition_author",
    "dataset_author",
    "tomogram_author",
    "annotation_author",
)
#: Text columns holding JSON: compared after parsing (db.md §6: the portal's text form is not relied upon).
JSON_COLUMNS = ("affine_transformation_matrix", "in_plane_rotation", "neuroglancer_config")


def is_database_check(code: str) -> bool:
    """DB-* checks need a database; the suite marks them ``db`` and skips them without one."""
    return code.startswith(CODE_PREFIX)


def _comparison(context: CheckContext, dataset: Entity, *, needs_dataset_row: bool = True) -> Comparison:
    from importers.db.connect import DatabaseError
    from importers.db.mapping import MappingError

    if context.database is None or not context.database.covers(dataset["dataset_id"]):
        skip(NO_DATABASE)
    try:
        comparison = context.database.comparison(context.reader, dataset["dataset_id"])
    except MappingError as error:
        skip(f"the bucket's rows cannot be computed: {error} (reported by the bucket checks)")
    except DatabaseError as error:
        raise Unreadable("the database", str(error)) from None
    if needs_dataset_row and comparison.dataset_missing:
        skip(f"dataset {dataset['dataset_id']} has no row (DB-MISSING-DATASET)")
    return comparison


def _report(findings: list[str], what: str) -> None:
    if findings:
        more = f"; … {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
        fail(f"{len(findings)} {what}: {'; '.join(findings[:SHOWN])}{more}", observed=findings)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- DB-MISSING-<T>, DB-STALE-<T> ---------------------------------------------------------------------


def _missing(tables: tuple[str, ...]) -> Callable[[CheckContext, Entity], None]:
    def run(context: CheckContext, dataset: Entity) -> None:
        comparison = _comparison(context, dataset, needs_dataset_row=tables != ("dataset",))
        findings = [f"{row.describe()}: {why}" for row, why in comparison.missing if row.table.name in tables]
        _report(findings, "bucket entities without their row")

    return run


def _stale(tables: tuple[str, ...]) -> Callable[[CheckContext, Entity], None]:
    def run(context: CheckContext, dataset: Entity) -> None:
        comparison = _comparison(context, dataset)
        findings = [f"{row.describe()}: {why}" for row, why in comparison.stale if row.table.name in tables]
        _report(findings, "rows without their bucket entity")

    return run


for _suffix, _tables in TABLE_GROUPS.items():
    register(
        f"DB-MISSING-{_suffix}",
        entity=EntityKind.DATASET,
        tier=Tier.HEADER,
        title=f"every bucket entity has its {' / '.join(_tables)} row (natural key)",
        function=_missing(_tables),
        owns_inputs=f"DB-MISSING-{_suffix}" == DATABASE_OWNER,
    )
    register(
        f"DB-STALE-{_suffix}",
        entity=EntityKind.DATASET,
        tier=Tier.LIST,
        title=f"every {' / '.join(_tables)} row has its bucket entity (no rows of deleted entities, no orphans)",
        function=_stale(_tables),
    )


# -- field agreement ------------------------------------------------------------------------------


def column_code(column: str) -> str:
    """Which check compares a mapped column (FK columns to surrogate ids are DB-FK's)."""
    if column == "voxel_spacing":
        return "DB-VS-VALUE"
    if column.startswith(("size_", "scale")):
        return "DB-SIZES"
    if column == "object_count":
        return "DB-COUNTS"
    if column.startswith("file_size"):
        return "DB-FILE-SIZES"
    if column.startswith(("s3_", "https_", "key_photo_")):
        return "DB-PATHS"
    if column == "neuroglancer_config":
        return "DB-NG-INLINE"
    return "DB-FIELDS"


def _parsed_json(text: Any, column: str) -> Any:
    from importers.db.mapping import DEFAULT_HTTPS_PREFIX, STAGING_HTTPS_PREFIX

    if not isinstance(text, str):
        return text
    if column == "neuroglancer_config":  # staging states point at the staging mirror (db.md §4)
        text = text.replace(STAGING_HTTPS_PREFIX, DEFAULT_HTTPS_PREFIX)
    try:
        return json.loads(text)
    except ValueError:
        return text


def agree(column: str, expected: Any, stored: Any) -> bool:
    """Whether a stored value matches the bucket's, after the documented normalisations."""
    if column in JSON_COLUMNS:
        return _parsed_json(expected, column) == _parsed_json(stored, column)
    if column_code(column) == "DB-PATHS" and isinstance(expected, str) and isinstance(stored, str):
        return expected.rstrip("/") == stored.rstrip("/")
    if isinstance(expected, float) and isinstance(stored, float | int):
        return math.isclose(expected, stored, rel_tol=1e-9, abs_tol=1e-12)
    return expected == stored


def _disagreements(comparison: Comparison, code: str) -> list[str]:
    findings = []
    for row, stored in comparison.pairs:
        for column, value in row.values.items():
            if column_code(column) == code and not agree(column, value, stored.values[column]):
                findings.append(
                    f"{stored.describe()}.{column} is {_short(stored.values[column])}, "
                    f"bucket {_short(value)} ({row.source})"
                )
    return findings


def _field_check(code: str, tier: Tier, title: str, severity: Severity = Severity.ERROR) -> None:
    def run(context: CheckContext, dataset: Entity) -> None:
        _report(_disagreements(_comparison(context, dataset), code), "columns differ from the bucket")

    register(code, entity=EntityKind.DATASET, tier=tier, title=title, function=run, severity=severity)


_field_check(
    "DB-VS-VALUE",
    Tier.LIST,
    "tomogram_voxel_spacing.voxel_spacing is the folder's spacing; tomogram.voxel_spacing the metadata's",
)
_field_check("DB-SIZES", Tier.HEADER, "tomogram / tilt series size_x/y/z and scale{i}_dimensions match the metadata")
_field_check(
    "DB-PATHS", Tier.HEADER, "s3_* / https_* / key photo columns are s3://{bucket}/{key} and {https_prefix}/{key}"
)
_field_check(
    "DB-FILE-SIZES",
    Tier.LIST,
    "file_size columns are the sum of the listed object sizes under the path",
    Severity.WARNING,
)
_field_check(
    "DB-FIELDS", Tier.HEADER, "every directly mapped column equals its JSON field (after the documented normalisations)"
)
_field_check(
    "DB-NG-INLINE",
    Tier.HEADER,
    "tomogram.neuroglancer_config is the viewer-state file's JSON (staging URLs aside)",
    Severity.WARNING,
)


def _parent(row: Row | StoredRow) -> tuple | None:
    from importers.db import schema

    """Identity of the row's owner (its scope column's row)."""
    scope = schema.scope_column(row.table)
    target = schema.references(row.table)[scope]
    if schema.has_natural_id(target):
        return (target.name, (row.values[scope],))
    return row.ref_identity(scope)


@check(
    "DB-COUNTS",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="annotation.object_count and the rows of frames, sections, alignment sections, authors per parent",
)
def counts(context: CheckContext, dataset: Entity) -> None:
    comparison = _comparison(context, dataset)
    findings = _disagreements(comparison, "DB-COUNTS")
    parents = {stored.identity: row for row, stored in comparison.pairs}
    for table in COUNTED_TABLES:
        wanted = Counter(_parent(row) for row in comparison.expected if row.table.name == table)
        present = Counter(_parent(row) for row in comparison.stored if row.table.name == table)
        for parent, row in parents.items():
            if wanted[parent] != present[parent]:
                findings.append(
                    f"{table} rows of {row.table.name} {row.source}: {present[parent]}, bucket {wanted[parent]}"
                )
    _report(findings, "counts differ from the bucket")


@check(
    "DB-FK",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    title="tomogram / annotation file alignment_id, alignment.tiltseries_id, PSP frame_id: the rows the bucket implies",
)
def foreign_keys(context: CheckContext, dataset: Entity) -> None:
    comparison = _comparison(context, dataset)
    findings = []
    for row, stored in comparison.pairs:
        for column, target in row.refs.items():
            if row.ref_identity(column) != stored.ref_identity(column):
                implied = f"the {target.describe()}" if target is not None else "none"
                findings.append(
                    f"{stored.describe()}.{column} is {stored.values[column]}, the bucket implies {implied}"
                )
    _report(findings, "references differ from the bucket")
