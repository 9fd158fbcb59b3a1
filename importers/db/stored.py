"""Database -> rows: one dataset's rows as stored, with the identities :mod:`importers.db.mapping` gives.

The consistency checks pair these rows with the rows the bucket implies. Rows are found from the
dataset down through every FK (not only the ownership one), plus every row in the database whose
parent row is gone; a row whose key names no row of the dataset is an orphan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from importers.db import schema
from importers.db.mapping import identity

#: Depositions are shared by datasets: their rows are read by id, not found below the dataset.
DEPOSITION_TABLES = (schema.deposition, schema.deposition_author, schema.deposition_type)


@dataclass(eq=False)
class StoredRow:
    table: sa.Table
    values: dict[str, Any]
    #: Identity of the row each surrogate-id FK column points at (None: NULL or no such row here).
    refs: dict[str, tuple | None] = field(default_factory=dict)
    identity: tuple | None = None
    #: Why the identity could not be formed (an FK of the match key points at no row of the dataset).
    orphan: str = ""

    def ref_identity(self, column: str) -> tuple | None:
        return self.refs.get(column)

    @property
    def id(self) -> int:
        return self.values["id"]

    def describe(self) -> str:
        key = ", ".join(f"{column}={self.values[column]!r}" for column in schema.match_key(self.table))
        return f"{self.table.name} id {self.id} ({key})"


def _select_in(connection: sa.Connection, table: sa.Table, column: str, ids: Iterable[int]) -> list[dict[str, Any]]:
    return [
        dict(row)
        for chunk in schema.chunks(ids)
        for row in connection.execute(sa.select(table).where(table.c[column].in_(chunk))).mappings()
    ]


def load_stored(connection: sa.Connection, dataset_id: int, deposition_ids: Iterable[int]) -> list[StoredRow]:
    """Every row of the dataset, and of the given depositions plus those its rows reference."""
    found: dict[str, dict[int, dict[str, Any]]] = {table.name: {} for table in schema.TABLES}
    for table in schema.TABLES:
        if table in DEPOSITION_TABLES:
            continue
        if table is schema.dataset:
            pairs = [("id", [dataset_id])]
        else:
            # By the dataset id itself, so that rows whose dataset row is gone are found too.
            pairs = [
                (column, [dataset_id] if target is schema.dataset else found[target.name])
                for column, target in schema.references(table).items()
                if target not in DEPOSITION_TABLES
            ]
        for column, ids in pairs:
            found[table.name].update((row["id"], row) for row in _select_in(connection, table, column, ids))
    for table, rows in _dangling(connection).items():
        for row in rows:
            found[table].setdefault(row["id"], row)
    depositions = set(deposition_ids) | {
        values["deposition_id"]
        for rows in found.values()
        for values in rows.values()
        if values.get("deposition_id") is not None
    }
    for table in DEPOSITION_TABLES:
        column = "id" if table is schema.deposition else "deposition_id"
        found[table.name] = {row["id"]: row for row in _select_in(connection, table, column, depositions)}
    return _with_identities(found)


def _dangling(connection: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    """Rows anywhere whose parent row is gone (a tomogram whose run was deleted where no foreign key
    constraint stopped it): no path from any dataset leads to them, so they are looked for directly."""
    found: dict[str, list[dict[str, Any]]] = {}
    for target in schema.TABLES:
        if schema.has_natural_id(target):
            continue
        for table, column in schema.cascading_children(target):
            reference = table.c[column]
            query = sa.select(table).where(reference.is_not(None), ~sa.exists().where(target.c.id == reference))
            found.setdefault(table.name, []).extend(dict(row) for row in connection.execute(query).mappings())
    return found


def _with_identities(found: dict[str, dict[int, dict[str, Any]]]) -> list[StoredRow]:
    identities: dict[str, dict[int, tuple | None]] = {}
    stored: list[StoredRow] = []
    for table in schema.TABLES:
        references = schema.row_references(table)
        identities[table.name] = {}
        for row_id, values in sorted(found[table.name].items()):
            refs = {
                column: identities[target.name].get(values[column]) if values[column] is not None else None
                for column, target in references.items()
            }
            dangling = [
                f"{column}={values[column]} names no {references[column].name} row of this dataset"
                for column in schema.match_key(table)
                if column in references and values[column] is not None and refs[column] is None
            ]
            row = StoredRow(table, values, refs, orphan="; ".join(dangling))
            if not dangling:
                row.identity = identity(table, values, row.ref_identity)
            identities[table.name][row_id] = row.identity
            stored.append(row)
    return stored
