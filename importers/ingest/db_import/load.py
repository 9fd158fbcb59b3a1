"""Rows -> database (shared/spec/db.md §5): upsert by natural key, delete stale rows, count per table.

:func:`import_dataset` runs in one transaction: a failure anywhere leaves the database as it was.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from importers import layout
from importers.db import schema
from importers.db.connect import describe_error
from importers.db.mapping import DatasetRows, Row


class ImportFailed(Exception):
    """The dataset was not imported (the transaction was rolled back); the message says why."""


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


Summary = dict[str, TableCounts]


def _same_value(stored: Any, value: Any) -> bool:
    """Whether a value read back from the database equals the one the mapping computed."""
    if isinstance(stored, float) and isinstance(value, float):
        return math.isclose(stored, value, rel_tol=1e-12, abs_tol=0.0)
    return stored == value


def _resolved(row: Row, ids: dict[Row, int]) -> dict[str, Any]:
    values = dict(row.values)
    for column, parent in row.refs.items():
        values[column] = ids[parent] if parent is not None else None
    return values


def _upsert(connection: sa.Connection, row: Row, values: dict[str, Any], counts: TableCounts) -> int:
    """Update the row found by natural key (NULL-safe) in place, or insert it; the row's id."""
    table = row.table
    key = [table.c[column].is_not_distinct_from(values[column]) for column in schema.natural_key(table)]
    existing = connection.execute(sa.select(table).where(*key).order_by(table.c.id).limit(1)).mappings().first()
    if existing is None:
        counts.inserted += 1
        return connection.execute(sa.insert(table).values(values)).inserted_primary_key[0]
    changed = {column: value for column, value in values.items() if not _same_value(existing[column], value)}
    if changed:
        counts.updated += 1
        connection.execute(sa.update(table).where(table.c.id == existing["id"]).values(changed))
    else:
        counts.unchanged += 1
    return existing["id"]


def _delete_rows(connection: sa.Connection, table: sa.Table, ids: Iterable[int], summary: Summary) -> None:
    """Delete rows and, first, every row that depends on them, so that each table's count is exact
    (the schema's ON DELETE CASCADE would do the same, uncounted)."""
    ids = list(ids)
    if not ids:
        return
    for child, column in schema.cascading_children(table):
        dependents = [
            dependent
            for chunk in schema.chunks(ids)
            for dependent in connection.execute(sa.select(child.c.id).where(child.c[column].in_(chunk))).scalars()
        ]
        _delete_rows(connection, child, dependents, summary)
    for chunk in schema.chunks(ids):
        summary[table.name].deleted += connection.execute(sa.delete(table).where(table.c.id.in_(chunk))).rowcount


def _delete_stale(connection: sa.Connection, loaded: dict[str, set[int]], summary: Summary) -> None:
    """Rows under an imported parent that this import did not produce (db.md §5); parents first, so
    that a stale parent takes its dependents along and they are counted once."""
    for table in schema.TABLES:
        scope = schema.scope_column(table)
        if scope is None:
            continue
        parent = schema.references(table)[scope]
        present = [
            row_id
            for chunk in schema.chunks(loaded[parent.name])
            for row_id in connection.execute(sa.select(table.c.id).where(table.c[scope].in_(chunk))).scalars()
        ]
        _delete_rows(connection, table, set(present) - loaded[table.name], summary)


def _check_depositions(connection: sa.Connection, dataset_rows: DatasetRows) -> None:
    """A referenced deposition without metadata in the bucket must already have its row."""
    for deposition_id, key in dataset_rows.missing_depositions.items():
        found = connection.execute(sa.select(schema.deposition.c.id).where(schema.deposition.c.id == deposition_id))
        if found.first() is None:
            raise ImportFailed(
                f"{key} references deposition {deposition_id}, which has neither deposition_metadata.json "
                "in the bucket nor a row in the database"
            )


def import_dataset(engine: sa.Engine, dataset_rows: DatasetRows) -> Summary:
    """Write one dataset's rows in one transaction; per-table counts of what changed."""
    if not dataset_rows.rows:
        raise ImportFailed(f"dataset {dataset_rows.dataset_id} has no {layout.DATASET_METADATA}: nothing to import")
    summary: Summary = defaultdict(TableCounts)
    ids: dict[Row, int] = {}
    loaded: dict[str, set[int]] = defaultdict(set)
    step = "starting the transaction"
    try:
        with engine.begin() as connection:
            _check_depositions(connection, dataset_rows)
            for row in dataset_rows.rows:
                step = f"writing {row.describe()}"
                row_id = _upsert(connection, row, _resolved(row, ids), summary[row.table.name])
                ids[row] = row_id
                loaded[row.table.name].add(row_id)
            step = "deleting stale rows"
            _delete_stale(connection, loaded, summary)
    except sa.exc.SQLAlchemyError as error:
        raise ImportFailed(
            f"{step}: {describe_error(error, engine.url.render_as_string(hide_password=False))}"
        ) from None
    return {table.name: summary[table.name] for table in schema.TABLES}


def summary_lines(summary: Summary) -> list[str]:
    """The per-table counts as an aligned text table (tables nothing happened to are left out)."""
    names = [field.name for field in fields(TableCounts)]
    lines = [f"{'table':<34}" + "".join(f"{name:>11}" for name in names)]
    for table, counts in summary.items():
        values = [getattr(counts, name) for name in names]
        if any(values):
            lines.append(f"{table:<34}" + "".join(f"{value:>11}" for value in values))
    return lines
