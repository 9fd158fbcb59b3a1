"""``cryoet-ingest manifest``: write the integrity manifest of datasets ingested before there were any."""

from __future__ import annotations

import argparse
import re
import sys

from importers.manifest import manifest_key, write_manifest
from importers.storage import Bucket, StorageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "manifest",
        help="write a dataset's integrity manifest from its current state (validate it first)",
        description=(
            "List BUCKET/DATASET and write DATASET/dataset_manifest.json: every object's size and checksum (its S3 "
            "ETag), which the validation suite and the audit compare every listing with. standardize writes it "
            "for the datasets it writes; this command is for datasets ingested before."
        ),
    )
    parser.add_argument("--bucket", required=True, help="bucket URL: s3://bucket[/prefix], file://… or a path")
    parser.add_argument("--dataset", required=True, action="append", help="dataset id (repeatable)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    try:
        bucket = Bucket(args.bucket, endpoint_url=args.endpoint_url)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    status = 0
    for dataset_id in args.dataset:
        if not re.fullmatch(r"\d+", dataset_id):
            print(f"error: dataset id {dataset_id!r} is not a number", file=sys.stderr)
            status = 2
            continue
        try:
            count = write_manifest(bucket, dataset_id)
        except StorageError as error:
            print(f"error: {bucket.url_of(dataset_id)}: {error.problem}", file=sys.stderr)
            status = max(status, 1)
            continue
        if count == 0:
            print(f"error: nothing under {bucket.url_of(dataset_id)}", file=sys.stderr)
            status = max(status, 1)
            continue
        print(f"manifest: {bucket.url_of(manifest_key(dataset_id))}: {count} objects")
    return status
