"""Helpers of the database tests: the reference dataset, private PostgreSQL schemas, table dumps."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
import sqlalchemy as sa
from psycopg2 import sql

from importers.db import schema
from importers.db.connect import open_engine
from importers.db.mapping import Urls, map_dataset
from importers.ingest.db_import.load import Summary, import_dataset
from importers.storage import Bucket
from tests.conftest import shared_dir

DATASET = "90001"


def reference_output() -> Path:
    """The standardized reference dataset (read-only: copy it before changing anything)."""
    return shared_dir() / "reference-90001" / "output"


def copy_reference(tmp_path: Path) -> Path:
    """A private copy; its folder keeps the name ``output``, so its s3:// URLs equal the reference's."""
    target = tmp_path / "output"
    shutil.copytree(reference_output(), target)
    return target


def private_schema_url(database_url: str, name: str) -> str:
    """The test database seen through a fresh PostgreSQL schema of its own (first on the search path):
    test modules sharing one database (as under xdist) never see each other's tables."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE; CREATE SCHEMA {0}").format(sql.Identifier(name)))
    return f"{database_url}?options={quote(f'-csearch_path={name}')}"


def fresh_engine(url: str) -> sa.Engine:
    """An engine on an empty schema."""
    engine = open_engine(url)
    schema.metadata.drop_all(engine)
    schema.create_schema(engine)
    return engine


def import_bucket(engine: sa.Engine, root: Path, dataset: str = DATASET) -> Summary:
    bucket = Bucket(str(root), read_only=True)
    return import_dataset(engine, map_dataset(bucket, dataset, Urls.of(bucket)))


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ids included, in id order."""
    with engine.connect() as connection:
        return {
            table.name: [tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))]
            for table in schema.TABLES
        }
