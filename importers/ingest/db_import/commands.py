"""``cryoet-ingest db-init`` and ``cryoet-ingest db-import``."""

from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from importers.db import schema
from importers.db.connect import (
    EMBEDDED_DATABASE,
    URL_VARIABLE,
    DatabaseError,
    describe_error,
    embedded_path,
    embedded_url,
    open_engine,
    redact_text,
    redact_url,
    resolve_url,
)
from importers.db.mapping import DEFAULT_HTTPS_PREFIX, MappingError, Urls, map_dataset
from importers.db.provenance import record_import
from importers.ingest.db_import.load import ImportFailed, import_dataset, summary_lines
from importers.storage import Bucket, StorageError

DB_URL_HELP = (
    f"postgresql://user[:password]@host[:port]/db or sqlite:///path (default: ${URL_VARIABLE}, "
    f"else the embedded ./{EMBEDDED_DATABASE}; '' for none); prefer the variable for URLs with a password"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    init = subparsers.add_parser(
        "db-init",
        help="create the portal database schema",
        description="Create every missing table of the portal schema (existing tables are kept).",
    )
    init.add_argument("--db-url", metavar="URL", help=DB_URL_HELP)
    init.set_defaults(func=run_init)

    load = subparsers.add_parser(
        "db-import",
        help="import datasets from a standardized bucket into the portal database",
        description=(
            "Read the bucket's metadata JSON and upsert rows by natural key; rows under the imported "
            "parents that the bucket no longer has are deleted. One transaction per dataset: a failure "
            "leaves the database as it was. Creates missing tables first."
        ),
    )
    load.add_argument(
        "--bucket", required=True, metavar="URL", help="bucket root: s3://bucket[/prefix], file://… or a path"
    )
    load.add_argument(
        "--dataset",
        "--datasets",
        dest="datasets",
        action="append",
        required=True,
        metavar="IDS",
        help="dataset id(s), comma-separated; may be repeated",
    )
    load.add_argument("--db-url", metavar="URL", help=DB_URL_HELP)
    load.add_argument(
        "--https-prefix",
        default=DEFAULT_HTTPS_PREFIX,
        metavar="URL",
        help=f"prefix of the https_* columns (default: {DEFAULT_HTTPS_PREFIX})",
    )
    load.add_argument(
        "--endpoint-url", metavar="URL", help="S3 endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)"
    )
    load.set_defaults(func=run_import)


def _engine(explicit: str | None, command: str) -> tuple[sa.Engine, str] | None:
    """An engine with the schema in place, and the URL as it may be shown; None after an error message."""
    url = resolve_url(explicit, embedded_must_exist=False)
    if url is None:
        print(f"{command}: no database: --db-url or ${URL_VARIABLE} is empty", file=sys.stderr)
        return None
    try:
        engine = open_engine(url)
        schema.create_schema(engine)
    except DatabaseError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return None
    except sa.exc.SQLAlchemyError as error:
        print(f"{command}: {redact_url(url)}: {describe_error(error, url)}", file=sys.stderr)
        return None
    return engine, redact_url(url)


def run_init(args: argparse.Namespace) -> int:
    opened = _engine(args.db_url, "db-init")
    if opened is None:
        return 2
    engine, shown = opened
    engine.dispose()
    print(f"db-init: schema ready in {shown} ({len(schema.TABLES)} tables)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    dataset_ids = [part.strip() for value in args.datasets for part in value.split(",") if part.strip()]
    if not all(value.isdigit() for value in dataset_ids):
        print(f"db-import: dataset ids are integers, got {dataset_ids}", file=sys.stderr)
        return 2
    try:
        bucket = Bucket(args.bucket, endpoint_url=args.endpoint_url, read_only=True)
    except ValueError as error:
        print(f"db-import: {error}", file=sys.stderr)
        return 2
    opened = _engine(args.db_url, "db-import")
    if opened is None:
        return 2
    engine, shown = opened
    secret_url = engine.url.render_as_string(hide_password=False)
    # The embedded database is used without being named: it records where each dataset came from.
    embedded = secret_url == embedded_url()
    urls = Urls.of(bucket, args.https_prefix)
    status = 0
    try:
        for dataset_id in dataset_ids:
            try:
                summary = import_dataset(engine, map_dataset(bucket, dataset_id, urls))
            except (MappingError, ImportFailed, StorageError) as error:
                message = redact_text(str(error), secret_url)
                print(f"db-import: dataset {dataset_id}: nothing written: {message}", file=sys.stderr)
                status = 1
                continue
            if embedded:
                record_import(embedded_path(), dataset_id, bucket.url_of(""))
            print(f"dataset {dataset_id}: {bucket.url} -> {shown}")
            for line in summary_lines(summary):
                print(f"  {line}")
    finally:
        engine.dispose()
    return status
