"""The database the DB-* checks compare the bucket with, and the comparison they share.

The rows the bucket implies come from :func:`importers.db.mapping.map_dataset` (the importer's own
mapping) over the session snapshot; the stored rows from :func:`importers.db.stored.load_stored`.
Both are computed once per dataset and session.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from data_validation.reader import ObjectReader, Unreadable
from importers.db.connect import (
    DatabaseError,
    describe_error,
    embedded_path,
    embedded_url,
    open_engine,
    redact_url,
    resolve_url,
)
from importers.db.mapping import DEFAULT_HTTPS_PREFIX, MappingError, Row, Urls, map_dataset
from importers.db.provenance import datasets_imported_from
from importers.db.stored import StoredRow, load_stored
from importers.storage import Bucket, ObjectInfo, StorageError


class _SnapshotView:
    """The session snapshot as the mapping reads a bucket (no request beyond what the reader makes)."""

    def __init__(self, reader: ObjectReader) -> None:
        self.reader = reader

    def listing(self, prefix: str) -> dict[str, ObjectInfo]:
        return {key: self.reader.snapshot.listing[key] for key in self.reader.keys_under(prefix)}

    def read(self, key: str) -> bytes:
        try:
            return self.reader.read(key)
        except Unreadable as error:
            raise StorageError(key, error.reason) from None


@dataclass
class Comparison:
    """Bucket rows paired with stored rows by identity; what is left over on either side."""

    expected: list[Row]
    stored: list[StoredRow]
    pairs: list[tuple[Row, StoredRow]] = field(default_factory=list)
    missing: list[tuple[Row, str]] = field(default_factory=list)
    stale: list[tuple[StoredRow, str]] = field(default_factory=list)

    @property
    def dataset_missing(self) -> bool:
        return any(row.table.name == "dataset" for row, _ in self.missing)


def compare(expected: list[Row], stored: list[StoredRow]) -> Comparison:
    """Pair rows by identity. Bucket entities sharing an identity collapse into one row on import (the
    last one written wins): the others are missing. Extra stored rows of one identity are stale."""
    comparison = Comparison(expected, stored)
    wanted: dict[tuple, list[Row]] = defaultdict(list)
    for row in expected:
        wanted[row.identity].append(row)
    present: dict[tuple, list[StoredRow]] = defaultdict(list)
    for row in stored:
        if row.identity is None:
            comparison.stale.append((row, f"orphan: {row.orphan}"))
        else:
            present[row.identity].append(row)
    for key, rows in wanted.items():
        candidates = present.get(key, [])
        if not candidates:
            comparison.missing += [(row, "no row") for row in rows]
            continue
        *collapsed, winner = rows
        comparison.missing += [(row, f"shares its key with {winner.source}, one row for both") for row in collapsed]
        comparison.pairs.append((winner, candidates[0]))
        comparison.stale += [(row, f"duplicate of id {candidates[0].id}") for row in candidates[1:]]
    for key, rows in present.items():
        if key not in wanted:
            comparison.stale += [(row, "no bucket entity has its key") for row in rows]
    return comparison


class DatabaseTarget:
    """A database for the checks: an engine (or, in tests, one open connection), the HTTPS prefix the
    importer used, and the datasets it may be compared for (None: all); comparisons are cached per dataset."""

    def __init__(
        self,
        bind: sa.Engine | sa.Connection,
        https_prefix: str = DEFAULT_HTTPS_PREFIX,
        datasets: frozenset[str] | None = None,
    ) -> None:
        self.bind = bind
        self.https_prefix = https_prefix
        self.datasets = datasets
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        self._secret_url = engine.url.render_as_string(hide_password=False)
        self.shown_url = redact_url(self._secret_url)
        self._comparisons: dict[str, Comparison | Exception] = {}
        # Entities are checked on several threads; the comparison of a dataset is made once, by one of them.
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, https_prefix: str = DEFAULT_HTTPS_PREFIX, datasets: frozenset[str] | None = None
    ) -> DatabaseTarget:
        return cls(open_engine(url, read_only=True), https_prefix, datasets)

    def covers(self, dataset_id: str) -> bool:
        return self.datasets is None or dataset_id in self.datasets

    def probe(self) -> None:
        """Connect once; DatabaseError (one line, password masked) when the database cannot be reached."""
        try:
            with self._connection():
                pass
        except sa.exc.SQLAlchemyError as error:
            raise DatabaseError(
                f"{self.shown_url}: cannot connect: {describe_error(error, self._secret_url)}"
            ) from None

    def close(self) -> None:
        if isinstance(self.bind, sa.Engine):
            self.bind.dispose()

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        if isinstance(self.bind, sa.Connection):
            yield self.bind
        else:
            with self.bind.connect() as connection:
                yield connection

    def comparison(self, reader: ObjectReader, dataset_id: str) -> Comparison:
        """The dataset's comparison; raises MappingError (the bucket side) or DatabaseError."""
        with self._lock:
            if dataset_id not in self._comparisons:
                try:
                    self._comparisons[dataset_id] = self._compare(reader, dataset_id)
                except (MappingError, DatabaseError) as error:
                    self._comparisons[dataset_id] = error
        outcome = self._comparisons[dataset_id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _compare(self, reader: ObjectReader, dataset_id: str) -> Comparison:
        expected = map_dataset(_SnapshotView(reader), dataset_id, Urls.of(reader.bucket, self.https_prefix))
        depositions = {row.values["id"] for row in expected.rows if row.table.name == "deposition"}
        depositions |= set(expected.missing_depositions)
        try:
            with self._connection() as connection:
                stored = load_stored(connection, expected.dataset_id, depositions)
        except sa.exc.SQLAlchemyError as error:
            raise DatabaseError(f"{self.shown_url}: {describe_error(error, self._secret_url)}") from None
        return compare(expected.rows, stored)


def open_for_checks(explicit: str | None, bucket: Bucket, https_prefix: str | None) -> DatabaseTarget | None:
    """The database of the DB-* checks, reachable: ``explicit`` (``--db-url``; ``''`` for none), else
    ``$CRYOET_DATABASE_URL``, else the embedded one for the datasets it records as imported from ``bucket``
    (importers/db/provenance.py), if there are any. DatabaseError when it cannot be reached."""
    url = resolve_url(explicit, embedded_must_exist=True)
    if url is None:
        return None
    datasets = None
    if url == embedded_url():
        datasets = datasets_imported_from(embedded_path(), bucket.url_of(""))
        if not datasets:
            return None
    target = DatabaseTarget.open(url, https_prefix or DEFAULT_HTTPS_PREFIX, datasets)
    try:
        target.probe()
    except DatabaseError:
        target.close()
        raise
    return target
