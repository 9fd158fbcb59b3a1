"""``cryoet-ingest standardize``: walk the config's entity tree and write the portal layout.

Children are written before their parent's metadata (layout.md §1), so a folder without its
metadata JSON is recognisably a partial write. A failing entity is reported with its path and
the walk goes on with the others; the exit code says whether anything failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from importers.config import ConfigError, load_config
from importers.entities.context import Entity, Ingestion, IngestOptions
from importers.entities.metadata import OverwriteRefused
from importers.entities.report import Report
from importers.entities.simple import write_dataset, write_deposition, write_run
from importers.entities.tomogram import prepare_tomogram, write_tomogram
from importers.finders import FinderError
from importers.formats.mrc import MrcFormatError
from importers.storage import Bucket, StorageError

Step = Callable[[Ingestion, Entity], None]

#: The entity tree (config.md §2): which kinds are found below which, in the order they are
#: ingested (frames before tilt series, which count them; tilt series before alignments, which
#: point at them; alignments before voxel spacings, whose tomograms and annotations point at them).
CHILDREN: dict[str, tuple[str, ...]] = {
    "deposition": ("dataset", "deposition_keyphoto"),
    "dataset": ("run", "dataset_keyphoto"),
    "run": (
        "gain",
        "collection_metadata",
        "frame",
        "tiltseries",
        "alignment",
        "identified_object",
        "voxel_spacing",
    ),
    "tiltseries": ("rawtilt", "ctf"),
    "voxel_spacing": ("tomogram", "annotation"),
    "tomogram": ("key_image",),
}

#: What is done for an entity before its children (allocate its id, write its data files).
PREPARERS: dict[str, Step] = {
    "tomogram": prepare_tomogram,
}

#: What is written for an entity once its children are done (its metadata JSON).
WRITERS: dict[str, Step] = {
    "deposition": write_deposition,
    "dataset": write_dataset,
    "run": write_run,
    "tomogram": write_tomogram,
}

#: Problems that belong to one entity: reported, and the walk goes on.
ENTITY_ERRORS = (StorageError, MrcFormatError, FinderError, OverwriteRefused, ValueError, KeyError, OSError)


def _attempt(ingestion: Ingestion, what: str, action: Callable[[], object]) -> object | None:
    try:
        return action()
    except ENTITY_ERRORS as error:
        ingestion.report.failed(what, str(error) or type(error).__name__)
        return None


def _handled(kind: str) -> bool:
    return kind in PREPARERS or kind in WRITERS or kind in CHILDREN


def visit(ingestion: Ingestion, entity: Entity) -> None:
    """Prepare ``entity``, ingest its children, then write the entity's metadata.

    An entity whose preparation failed has no children written and no metadata.
    """
    preparer = PREPARERS.get(entity.kind)
    if preparer is not None and not _attempt(ingestion, entity.describe(), lambda: preparer(ingestion, entity) or True):
        return
    for kind in CHILDREN.get(entity.kind, ()):
        if not _handled(kind):
            continue
        children = _attempt(
            ingestion, f"{entity.describe()}: finding {kind}s", lambda k=kind: ingestion.find(k, entity)
        )
        for child in children or []:
            visit(ingestion, child)
    writer = WRITERS.get(entity.kind)
    if writer is not None:
        _attempt(ingestion, entity.describe(), lambda: writer(ingestion, entity))


def standardize(ingestion: Ingestion) -> int:
    """Run the whole ingestion; 0 if every entity succeeded, 1 otherwise."""
    depositions = _attempt(ingestion, "finding depositions", lambda: ingestion.find("deposition", None))
    for deposition in depositions or []:
        visit(ingestion, deposition)
    print(f"standardize: {ingestion.report.summary()}", file=ingestion.report.stream)
    for failure in ingestion.report.failures:
        print(f"error: {failure}", file=ingestion.report.stream)
    return 1 if ingestion.report.failures else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "standardize",
        help="write the portal's standardized layout from a dataset config and the lab's source files",
        description=(
            "Read the source files a config points at (INPUT/<source_prefix>/...) and write the CryoET Data "
            "Portal layout to OUTPUT: MRC + OME-Zarr volumes and metadata JSON. Existing complete outputs "
            "are skipped; outputs that would change are refused unless --force-overwrite is given."
        ),
    )
    parser.add_argument("config", type=Path, help="ingestion config YAML (e.g. dataset_configs/10001.yaml)")
    parser.add_argument("--input", required=True, help="input bucket URL: s3://bucket[/prefix], file://… or a path")
    parser.add_argument("--output", required=True, help="output bucket URL: s3://bucket[/prefix], file://… or a path")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL)")
    parser.add_argument("--force-overwrite", action="store_true", help="replace outputs whose content would change")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    parser.set_defaults(func=run_command)


def standardize_config(
    config_path: Path,
    input_url: str,
    output_url: str,
    *,
    endpoint_url: str | None = None,
    options: IngestOptions | None = None,
    stream: TextIO | None = None,
) -> tuple[int, Ingestion]:
    """Load a config and standardize it; raises ConfigError/ValueError for a bad config or URL."""
    config = load_config(config_path)
    if "deposition_id" not in (config.get("standardization_config") or {}):
        raise ConfigError(config_path, "standardization_config.deposition_id is required")
    options = options or IngestOptions()
    source = Bucket(input_url, endpoint_url=endpoint_url, read_only=True)
    output = Bucket(output_url, endpoint_url=endpoint_url, read_only=options.dry_run)
    report = Report(stream=stream or sys.stderr)
    ingestion = Ingestion(config, config_path, source, output, options, report=report)
    return standardize(ingestion), ingestion


def run_command(args: argparse.Namespace) -> int:
    options = IngestOptions(force_overwrite=args.force_overwrite, dry_run=args.dry_run)
    try:
        status, _ = standardize_config(
            args.config, args.input, args.output, endpoint_url=args.endpoint_url, options=options
        )
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return status
