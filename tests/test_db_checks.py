"""The DB-* checks against the real PostgreSQL server: every check passes on a clean import of the
reference dataset and fails on its corruption (each applied in a transaction that is rolled back)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_validation.checks import CheckContext
from data_validation.checks.database import is_database_check
from data_validation.database import DatabaseTarget
from data_validation.engine import Engine, Result, Status, cases
from data_validation.reader import ObjectReader
from data_validation.registry import REGISTRY
from data_validation.snapshot import discover
from importers.db.connect import DatabaseError
from importers.storage import Bucket
from tests.cases_db import CASES, DbCorruption
from tests.db_support import DATASET, copy_reference, fresh_engine, import_bucket, private_schema_url, reference_output

DB_CODES = {code for code in REGISTRY if is_database_check(code)}


@pytest.fixture(scope="module")
def imported(database_url: str) -> Iterator[sa.Engine]:
    """The reference dataset imported once; tests change it only inside rolled-back transactions."""
    engine = fresh_engine(private_schema_url(database_url, "db_checks"))
    import_bucket(engine, reference_output())
    yield engine
    engine.dispose()


@contextmanager
def rolled_back(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def db_results(root: Path, target: DatabaseTarget | None) -> dict[str, Result]:
    bucket = Bucket(str(root), read_only=True)
    snapshot = discover(bucket, [DATASET])
    context = CheckContext(ObjectReader(snapshot, bucket), target)
    checks = [check for check in REGISTRY.values() if is_database_check(check.code)]
    with Engine(context, cases(snapshot, checks)) as engine:
        return {result.code: result for result in engine}


def test_clean_import_passes_every_db_check(imported: sa.Engine) -> None:
    results = db_results(reference_output(), DatabaseTarget(imported))
    assert set(results) == DB_CODES
    assert all(r.status is Status.PASSED for r in results.values()), [r.line() for r in results.values()]


def test_every_db_check_has_a_corruption_case() -> None:
    assert {case.code for case in CASES} == DB_CODES


@pytest.mark.parametrize("corruption", CASES, ids=[f"{case.code}-{index}" for index, case in enumerate(CASES)])
def test_db_check_fails_on_its_corruption(corruption: DbCorruption, imported: sa.Engine, tmp_path: Path) -> None:
    root = reference_output()
    if corruption.bucket is not None:
        root = copy_reference(tmp_path)
        corruption.bucket(root)
    with rolled_back(imported) as connection:
        if corruption.database is not None:
            corruption.database(connection)
        result = db_results(root, DatabaseTarget(connection))[corruption.code]
    assert result.status is Status.FAILED, result.line()
    assert result.entity == DATASET and "\n" not in result.message


def test_orphan_rows_are_stale(imported: sa.Engine) -> None:
    """A tomogram whose run is gone: only possible where foreign keys are not enforced (a portal
    database restored without constraints); PostgreSQL's replica mode skips them for this session."""
    with rolled_back(imported) as connection:
        connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        connection.execute(sa.text("DELETE FROM run WHERE name = 'SYN_run2'"))
        results = db_results(reference_output(), DatabaseTarget(connection))
    stale = results["DB-STALE-TOMO"]
    assert stale.status is Status.FAILED and "orphan: run_id=" in stale.message, stale.line()
    assert results["DB-MISSING-RUN"].status is Status.FAILED


def test_without_a_database_the_db_checks_skip_with_the_reason() -> None:
    results = db_results(reference_output(), None)
    assert all(r.status is Status.SKIPPED and "--db-url" in r.message for r in results.values())


def test_an_unreachable_database_is_one_failure_with_the_password_masked() -> None:
    target = DatabaseTarget.open("postgresql://postgres:Check-Secret-7@127.0.0.1:1/cryoet")
    with pytest.raises(DatabaseError, match=r"postgres:\*\*\*@127.0.0.1:1/cryoet: cannot connect: ") as probed:
        target.probe()  # how the suite and the audit open it: a usage error before any check
    assert "Check-Secret-7" not in str(probed.value)
    results = db_results(reference_output(), target)  # a database lost during a session
    failed = [r for r in results.values() if r.status is Status.FAILED]
    assert [r.code for r in failed] == ["DB-MISSING-DATASET"], [r.line() for r in failed]
    assert "cannot read the database: " in failed[0].message and "postgres:***@" in failed[0].message
    assert all(
        r.status is Status.SKIPPED and "(reported elsewhere)" in r.message for r in results.values() if r not in failed
    )
    assert not any("Check-Secret-7" in r.message for r in results.values())
