"""``db-import`` against the real PostgreSQL server (and once on SQLite): idempotence, stale rows,
one transaction per dataset, and passwords that never show."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from data_validation.checks.database import is_database_check
from data_validation.database import DatabaseTarget, open_for_checks
from data_validation.engine import Status, validate
from importers.cli import main
from importers.db import connect, schema
from importers.db.mapping import MappingError, Urls, map_dataset
from importers.ingest.db_import.load import ImportFailed, import_dataset
from importers.storage import Bucket
from tests.conftest import upload_tree
from tests.corruptions import edit_json
from tests.db_support import (
    DATASET,
    copy_reference,
    dump,
    fresh_engine,
    import_bucket,
    private_schema_url,
    reference_output,
)

RUN2 = f"{DATASET}/SYN_run2"
RUN2_ANNOTATION = f"{RUN2}/Reconstructions/VoxelSpacing13.480/Annotations/101/membrane-1.0.json"


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = fresh_engine(private_schema_url(database_url, "db_import"))
    yield engine
    engine.dispose()


@pytest.fixture
def bucket_root(tmp_path: Path) -> Path:
    return copy_reference(tmp_path)


def test_import_twice_gives_the_same_rows(engine: sa.Engine, bucket_root: Path) -> None:
    first = import_bucket(engine, bucket_root)
    rows = dump(engine)
    assert first["frame"].inserted == 62 and first["annotation_file"].inserted == 6
    assert all(rows[name] for name in first if name not in ("identified_object", "annotation_method_link"))
    second = import_bucket(engine, bucket_root)
    assert dump(engine) == rows
    assert all(counts.inserted == counts.updated == counts.deleted == 0 for counts in second.values()), second


def test_a_run_removed_from_the_bucket_loses_its_rows(engine: sa.Engine, bucket_root: Path) -> None:
    import_bucket(engine, bucket_root)
    before = dump(engine)
    shutil.rmtree(bucket_root / RUN2)
    summary = import_bucket(engine, bucket_root)
    after = dump(engine)
    assert [row[2] for row in after["run"]] == ["SYN_run1"]
    assert summary["run"].deleted == 1 and summary["frame"].deleted == 31 and summary["tomogram"].deleted == 1
    assert summary["annotation_file"].deleted == 3 and summary["per_section_alignment_parameters"].deleted == 31
    for name, rows in after.items():
        assert set(rows) <= set(before[name]) or name == "dataset", name  # run 1's rows are kept as they were
        assert not any("SYN_run2" in str(row) for row in rows), name


def _break_a_constraint_late(root: Path) -> None:
    """Valid JSON that the database refuses (a file format outside its CHECK) on one of the last rows
    written, after an early row (the dataset's title) was already changed in the same transaction."""
    edit_json(root / f"{DATASET}/dataset_metadata.json", lambda d: d.update(dataset_title="Changed"))
    edit_json(root / RUN2_ANNOTATION, lambda d: d["files"][-1].update(format="tiff"))


def _corrupt_a_late_document(root: Path) -> None:
    (root / RUN2_ANNOTATION).write_text("{not json")


@pytest.mark.parametrize(
    ("corrupt", "error", "message"),
    [
        (_break_a_constraint_late, ImportFailed, "writing annotation_file"),
        (_corrupt_a_late_document, MappingError, "membrane-1.0.json: not valid JSON"),
    ],
)
def test_a_failure_mid_import_leaves_the_database_as_it_was(
    engine: sa.Engine, bucket_root: Path, corrupt, error: type[Exception], message: str
) -> None:
    import_bucket(engine, bucket_root)
    shutil.rmtree(bucket_root / f"{DATASET}/SYN_run1/Gains")  # a deletion is due too, and must not happen
    before = dump(engine)
    corrupt(bucket_root)
    with pytest.raises(error, match=message):
        import_bucket(engine, bucket_root)
    assert dump(engine) == before


def test_a_failed_first_import_writes_nothing(engine: sa.Engine, bucket_root: Path) -> None:
    _break_a_constraint_late(bucket_root)
    with pytest.raises(ImportFailed, match=r"ck_annotation_file_format|violates check constraint"):
        import_bucket(engine, bucket_root)
    assert not any(dump(engine).values())


def test_sqlite_embedded_database_round_trip(tmp_path: Path, bucket_root: Path, capsys, monkeypatch) -> None:
    database = tmp_path / "workspace" / "cryoet.sqlite"
    monkeypatch.setattr(connect, "EMBEDDED_DATABASE", database)
    monkeypatch.delenv(connect.URL_VARIABLE)
    assert connect.resolve_url(None, embedded_must_exist=True) is None
    arguments = ["db-import", "--bucket", str(bucket_root), "--dataset", DATASET]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert f"-> sqlite:///{database}" in first and "per_section_parameters" in first
    engine = connect.open_engine(connect.resolve_url(None, embedded_must_exist=True))
    rows = dump(engine)
    assert main(arguments) == 0
    assert dump(engine) == rows
    table_lines = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(table_lines) == len(rows) - 2  # no identified objects, no method links in the reference
    assert all(inserted == updated == deleted == "0" for _, inserted, updated, _, deleted in table_lines)
    target = DatabaseTarget(engine)
    results = [r for r in validate(Bucket(str(bucket_root)), [DATASET], database=target) if is_database_check(r.code)]
    assert results and all(r.status is Status.PASSED for r in results), [r.line() for r in results]
    engine.dispose()


def test_db_init_creates_the_schema_and_shows_no_password(database_url: str, capsys) -> None:
    url = private_schema_url(database_url, "db_init").replace("postgres@", "postgres:Init-Secret-1@")
    assert main(["db-init", "--db-url", url]) == 0  # the server trusts local connections: any password does
    out = capsys.readouterr().out
    assert "schema ready" in out and "postgres:***@" in out and "Init-Secret-1" not in out


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:Pa55%40word-xyz@127.0.0.1:1/cryoet",  # nothing listens on port 1
        "postgresql://postgres:Pa55%40word-xyz@127.0.0.1:5432/no_such_database_here",
    ],
)
def test_a_failing_connection_masks_the_password(url: str, bucket_root: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(connect.URL_VARIABLE, url)
    assert main(["db-import", "--bucket", str(bucket_root), "--dataset", DATASET]) == 2
    err = capsys.readouterr().err
    assert "***" in err and "Pa55" not in err and "word-xyz" not in err, err
    assert err.count("\n") == 1


def test_redaction_covers_every_form_of_the_password() -> None:
    url = "postgresql://user:p%40ss%2Fw0rd@host/db?password=other"
    text = f"failed for p@ss/w0rd, p%40ss%2Fw0rd and other in {url}"
    redacted = connect.redact_text(text, url)
    assert "p@ss" not in redacted and "p%40ss" not in redacted and "other" not in redacted, redacted
    assert connect.redact_url(url) == "postgresql://user:***@host/db?password=***"


def test_the_embedded_database_serves_only_the_bucket_it_was_imported_from(
    bucket_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.chdir(workspace)  # the embedded database lives in the working directory, not the installation
    monkeypatch.delenv(connect.URL_VARIABLE)
    assert main(["db-import", "--bucket", str(bucket_root), "--dataset", DATASET]) == 0
    assert (workspace / ".local" / "cryoet.sqlite").is_file()
    recorded = workspace / ".local" / "cryoet.sqlite.imports.json"
    assert json.loads(recorded.read_text()) == {DATASET: f"file://{bucket_root}"}
    target = open_for_checks(None, Bucket(str(bucket_root)), None)
    assert target is not None and target.datasets == {DATASET}
    target.close()
    other = shutil.copytree(bucket_root, tmp_path / "other-bucket")  # a bucket with the same dataset id
    assert open_for_checks(None, Bucket(str(other)), None) is None
    assert open_for_checks("", Bucket(str(bucket_root)), None) is None  # --db-url '' switches it off
    environment = {key: value for key, value in os.environ.items() if key != connect.URL_VARIABLE}

    def suite(bucket: Path) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--dataset", DATASET]
        command += ["--bucket", f"file://{bucket}", "-m", "db", "--rootdir", str(workspace), "-c", os.devnull]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=workspace, env=environment)

    # The suite on the bucket it was imported from: every DB check passes (the database is opened and probed
    # on one thread, read on the engine's others).
    result = suite(bucket_root)
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout + result.stderr
    # The suite on the other bucket, where a leftover database gave false DB errors: its DB checks skip.
    result = suite(other)
    assert result.returncode == 0 and " passed" not in result.stdout, result.stdout + result.stderr
    assert "no database: give --db-url" in result.stdout


def test_validation_suite_masks_the_password(bucket_root: Path) -> None:
    url = "postgresql://postgres:Suite-Secret-9@127.0.0.1:1/cryoet"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", DATASET]
    command += ["--bucket", str(bucket_root), "--db-url", url, "-m", "db", "-k", "DB-MISSING-RUN"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output  # one line, not a failure per DB check
    assert "ERROR: --db-url: postgresql+psycopg2://postgres:***@127.0.0.1:1/cryoet: cannot connect: " in result.stderr
    assert "Suite-Secret-9" not in output and "DB-" not in result.stdout


def test_import_from_s3_names_the_bucket_in_s3_urls(s3_bucket: str, tmp_path: Path) -> None:
    upload_tree(reference_output(), s3_bucket)
    engine = connect.open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    schema.create_schema(engine)
    bucket = Bucket(s3_bucket, read_only=True)
    import_dataset(engine, map_dataset(bucket, DATASET, Urls.of(bucket, "https://mirror.example/")))
    with engine.connect() as connection:
        mrc, https = connection.execute(
            sa.select(schema.tomogram.c.s3_mrc_file, schema.tomogram.c.https_mrc_file)
        ).first()
        sizes = connection.execute(sa.select(schema.dataset.c.file_size)).scalar_one()
    assert mrc == f"{s3_bucket}/90001/SYN_run1/Reconstructions/VoxelSpacing13.480/Tomograms/100/SYN_run1.mrc"
    assert https.startswith("https://mirror.example/90001/SYN_run1/")
    assert sizes == sum(path.stat().st_size for path in (reference_output() / DATASET).rglob("*") if path.is_file())
    engine.dispose()
