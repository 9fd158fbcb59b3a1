"""Benchmark buckets: the portal-produced reference dataset 90001 with its run copied under N names.

``../shared/reference-90001/output`` is what the portal's own importer wrote; a bucket of N runs copies its
``SYN_run1`` under N run names (file names and the run name inside metadata, mdoc and viewer files
rewritten; binary files hard-linked), keeps the dataset's and deposition's own files, and can be uploaded
to an S3 endpoint.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference-90001" / "output"
DATASET = "90001"
TEMPLATE_RUN = "SYN_run1"
#: Files that name their run: rewritten for each copy (everything else is linked).
TEXT_SUFFIXES = (".json", ".mdoc", ".ndjson", "provenance", "info")


def run_name(index: int) -> str:
    return f"RUN_{index:04d}"


def build(runs: int, destination: Path, reference: Path = REFERENCE) -> Path:
    """A local bucket folder with dataset 90001 of ``runs`` copies of its first run."""
    if not reference.is_dir():
        raise SystemExit(f"bench: the reference output is missing: {reference}")
    shutil.copytree(reference / "depositions_metadata", destination / "depositions_metadata")
    dataset = destination / DATASET
    dataset.mkdir(parents=True)
    for item in (reference / DATASET).iterdir():
        if not item.name.startswith("SYN_run"):
            (shutil.copy2 if item.is_file() else shutil.copytree)(item, dataset / item.name)
    template = reference / DATASET / TEMPLATE_RUN
    files = [path for path in sorted(template.rglob("*")) if path.is_file()]
    for index in range(runs):
        name = run_name(index)
        for path in files:
            relative = path.relative_to(template).as_posix().replace(TEMPLATE_RUN, name)
            target = dataset / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.name.endswith(TEXT_SUFFIXES) and ".zarr/" not in relative:
                try:
                    target.write_text(path.read_text().replace(TEMPLATE_RUN, name))
                    continue
                except UnicodeDecodeError:
                    pass
            os.link(path, target)
    return destination


def upload(local: Path, endpoint: str, name: str, threads: int = 32) -> int:
    """Every file of ``local`` as an object of a new bucket ``name`` (one part each, as the portal's small
    objects are); returns the number of objects."""
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    paths = [path for path in sorted(local.rglob("*")) if path.is_file()]

    def put(path: Path) -> None:
        client.put_object(Bucket=name, Key=path.relative_to(local).as_posix(), Body=path.read_bytes())

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, paths))
    return len(paths)
