"""``cryoet-ingest standardize``: walk the config's entity tree and write the portal layout.

Children are written before their parent's metadata (layout.md §1), so a folder without its
metadata JSON is recognisably a partial write. A failing entity is reported with its path and
the walk goes on with the others; the exit code says whether anything failed. What depends on a
failed entity is not written either (its ancestors' metadata, and the siblings of :data:`REQUIRES`),
so that no entity looks complete while it names, lacks or misnumbers a part, and the next run,
once the cause is fixed, writes exactly what a clean run writes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TextIO

from importers.formats.mrc import MrcFormatError
from importers.ingest.config import ConfigError
from importers.ingest.config.migrate import load_current
from importers.ingest.entities.alignment import write_alignment
from importers.ingest.entities.annotation import prepare_annotation, write_annotation
from importers.ingest.entities.context import CONFIG_KEYS, Ingestion, IngestOptions
from importers.ingest.entities.frames import write_collection_metadata, write_frames, write_gain
from importers.ingest.entities.identified_objects import write_identified_objects
from importers.ingest.entities.images import note_key_image, write_dataset_keyphoto, write_deposition_keyphoto
from importers.ingest.entities.metadata import OverwriteRefused
from importers.ingest.entities.references import reference_alignment, reference_tiltseries
from importers.ingest.entities.report import Report
from importers.ingest.entities.sets import NotImported
from importers.ingest.entities.simple import write_dataset, write_deposition, write_run
from importers.ingest.entities.tiltseries import prepare_tiltseries, write_ctf, write_rawtilt, write_tiltseries
from importers.ingest.entities.tomogram import prepare_tomogram, write_tomogram
from importers.ingest.entities.tree import CHILDREN, NAME_FILTERED, Entity
from importers.ingest.entities.viewer import defer_tomogram_views
from importers.ingest.finders import FinderError
from importers.manifest import write_manifest
from importers.patterns import PatternError, compile_pattern
from importers.progress import Progress
from importers.storage import Bucket, StorageError, reading_access

Step = Callable[[Ingestion, Entity], None]

#: What is done for an entity before its children (allocate its id, write its data files).
PREPARERS: dict[str, Step] = {
    "tiltseries": prepare_tiltseries,
    "tomogram": prepare_tomogram,
    "annotation": prepare_annotation,
}

#: What is written for an entity once its children are done (its metadata JSON).
WRITERS: dict[str, Step] = {
    "deposition": write_deposition,
    "dataset": write_dataset,
    "run": write_run,
    "gain": write_gain,
    "collection_metadata": write_collection_metadata,
    "frame": write_frames,
    "tiltseries": write_tiltseries,
    "rawtilt": write_rawtilt,
    "ctf": write_ctf,
    "alignment": write_alignment,
    "tomogram": write_tomogram,
    "annotation": write_annotation,
    "key_image": note_key_image,
    "voxel_spacing": defer_tomogram_views,
    "dataset_keyphoto": write_dataset_keyphoto,
    "deposition_keyphoto": write_deposition_keyphoto,
    "identified_object": write_identified_objects,
}

#: What stands for the preparer and the writer of an entity found in the output (a reference): what its relatives
#: need of it. A stored tilt series gives its folder to its rawtlt and CTF (added beside it) and its metadata path to
#: the alignment; a stored alignment its metadata path to tomograms and annotations. A voxel spacing's step works on
#: the spacing's output, and a key photo found where an earlier ingestion stored it is kept there and named in its
#: owner's metadata, whichever finder found them.
REFERENCE_PREPARERS: dict[str, Step] = {"tiltseries": reference_tiltseries}
REFERENCE_WRITERS: dict[str, Step] = {
    "alignment": reference_alignment,
    "voxel_spacing": defer_tomogram_views,
    "dataset_keyphoto": write_dataset_keyphoto,
    "deposition_keyphoto": write_deposition_keyphoto,
}

#: Entity kinds that name another kind of their run in their metadata or their identity: an alignment its
#: tilt series (``tiltseries_path``), tomograms and annotations the alignment (``alignment_metadata_path``,
#: part of their identity). They are not written when that entity of the run failed.
REQUIRES: dict[str, tuple[str, ...]] = {
    "alignment": ("tiltseries",),
    "tomogram": ("alignment",),
    "annotation": ("alignment",),
}

#: Children an entity cannot do without: a dataset in which no run is found is a failure, not a dataset.
REQUIRED_CHILDREN: dict[str, tuple[str, ...]] = {"dataset": ("run",)}

#: Problems that belong to one entity: reported, and the walk goes on.
ENTITY_ERRORS = (StorageError, MrcFormatError, FinderError, OverwriteRefused, ValueError, KeyError, OSError)


def _attempt(ingestion: Ingestion, what: str, action: Callable[[], object]) -> bool:
    """Run one step; False (reported) if it failed or could not be done for want of an input."""
    try:
        action()
    except NotImported as reason:
        ingestion.report.skipped(what, str(reason))
        return False
    except ENTITY_ERRORS as error:
        ingestion.report.failed(what, str(error) or type(error).__name__)
        return False
    return True


def _handled(kind: str) -> bool:
    return kind in PREPARERS or kind in WRITERS or kind in CHILDREN


def _find_into(ingestion: Ingestion, kind: str, parent: Entity | None, found: list[Entity]) -> None:
    found.extend(ingestion.find(kind, parent))


def _failed_requirement(entity: Entity) -> str | None:
    """The kind this entity requires that failed in one of its ancestors' walks, if any."""
    for ancestor in entity.lineage():
        failed = ancestor.outputs.get("incomplete", set()) & set(REQUIRES.get(entity.kind, ()))
        if failed:
            return sorted(failed)[0]
    return None


def visit(ingestion: Ingestion, entity: Entity) -> bool:
    """Prepare ``entity``, ingest its children, then write the entity's metadata; whether the entity
    and everything below it were imported.

    An entity whose preparation failed has no children written and no metadata, and an entity with
    a child that was not imported gets no metadata. Work that its descendants deferred
    (``outputs["deferred"]``: what, action) runs after all its children, if they were all imported.
    The kinds of children that were not imported are kept in ``outputs["incomplete"]`` for
    :data:`REQUIRES`. An entity found in the output is a reference: :data:`REFERENCE_PREPARERS` and
    :data:`REFERENCE_WRITERS` stand for its steps.
    """
    own = ingestion if ingestion.options.writes(entity.kind) or ingestion.options.dry_run else ingestion.planning()
    if (failed := _failed_requirement(entity)) is not None:
        own.report.skipped(entity.describe(), f"needs the run's {failed.replace('_', ' ')}, which was not imported")
        return False
    preparer = (REFERENCE_PREPARERS if entity.reference else PREPARERS).get(entity.kind)
    if preparer is not None and not _attempt(own, entity.describe(), lambda: preparer(own, entity)):
        return False
    if entity.kind == "dataset" and entity.parent is not None:  # standardize records its manifest after the walk
        entity.parent.outputs.setdefault("datasets", []).append(entity.name)
    incomplete: set[str] = entity.outputs.setdefault("incomplete", set())
    for kind in CHILDREN.get(entity.kind, ()):
        if not _handled(kind):
            continue
        children: list[Entity] = []
        what = f"{entity.describe()}: finding {kind}s"
        if not _attempt(ingestion, what, partial(_find_into, ingestion, kind, entity, children)):
            incomplete.add(kind)
        elif not children and kind in REQUIRED_CHILDREN.get(entity.kind, ()):
            ingestion.report.failed(what, f"no {kind} found (its config entries and name filters match nothing)")
            incomplete.add(kind)
        counted = kind == "run"  # the unit of progress: runs are found dataset by dataset
        if counted:
            ingestion.report.progress.grow(len(children))
        for child in children:
            if not visit(ingestion, child):
                incomplete.add(kind)
            if counted:
                ingestion.report.progress.advance()
    for what, action in entity.outputs.pop("deferred", []):
        if incomplete:
            ingestion.report.skipped(what, "left for a later run: part of the run was not imported")
        elif not _attempt(ingestion, what, action):
            incomplete.add("deferred")
    writer = (REFERENCE_WRITERS if entity.reference else WRITERS).get(entity.kind)
    if incomplete:
        if writer is not None:
            own.report.skipped(
                entity.describe(), f"metadata left for a later run: {', '.join(sorted(incomplete))} not imported"
            )
        return False
    return writer is None or _attempt(own, entity.describe(), lambda: writer(own, entity))


def input_problem(ingestion: Ingestion) -> str | None:
    """Why the input cannot hold what the config reads: its source root cannot be listed, or holds no file."""
    root = ingestion.source_root
    where = ingestion.source.url_of(root)
    try:
        listed = ingestion.source.listing(root)
    except StorageError as error:
        return f"cannot list the input {where}: {error.problem}"
    return None if listed else f"the input {where} holds no file (it is missing or empty)"


def standardize(ingestion: Ingestion) -> int:
    """Run the whole ingestion; 0 if every entity succeeded, 1 otherwise, 2 (nothing written) when the input
    cannot be listed or holds nothing."""
    try:
        return _standardize(ingestion)
    finally:
        ingestion.report.progress.close()


def _standardize(ingestion: Ingestion) -> int:
    started = time.monotonic()
    if (problem := input_problem(ingestion)) is not None:
        print(f"error: {problem}; nothing written", file=ingestion.report.stream)
        return 2
    if not ingestion.options.dry_run:
        for key in ingestion.output.remove_stale_temporaries():
            ingestion.report.removed(key, "a temporary file left by an interrupted run")
    depositions: list[Entity] = []
    _attempt(ingestion, "finding depositions", partial(_find_into, ingestion, "deposition", None, depositions))
    for deposition in depositions:
        visit(ingestion, deposition)
    if not ingestion.options.dry_run:
        for dataset_id in sorted({d for deposition in depositions for d in deposition.outputs.get("datasets", [])}):
            # Whatever the walk's outcome: the manifest describes what the bucket now holds (also after a run
            # that was killed between its last object and the manifest).
            what = f"dataset {dataset_id}: manifest"
            _attempt(ingestion, what, partial(write_manifest, ingestion.output, dataset_id))
    ingestion.report.progress.close()  # before the summary
    written = ingestion.output.stats.bytes_written
    print(
        f"standardize: {ingestion.report.summary()} ({written / 1e6:.1f} MB stored "
        f"in {time.monotonic() - started:.1f} s)",
        file=ingestion.report.stream,
    )
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
    parser.add_argument(
        "--anon",
        action="store_true",
        help="read --input with unsigned requests, as public data is read (also $CRYOET_S3_ANON=1; without "
        "credentials it is read so anyway); --output always needs credentials",
    )
    parser.add_argument("--force-overwrite", action="store_true", help="replace outputs whose content would change")
    parser.add_argument("--dry-run", action="store_true", help="print what would be written; write nothing")
    selection = parser.add_argument_group(
        "selection", "write only some kinds (default: all) and narrow entities by name (regular expressions)"
    )
    for kind, config_key in CONFIG_KEYS.items():
        flag = config_key.replace("_", "-")
        selection.add_argument(
            f"--import-{flag}", dest="selected", action="append_const", const=kind, help=f"write {config_key}"
        )
    for kind in NAME_FILTERED:
        flag = kind.replace("_", "-")
        for verb, what in (("filter", "only"), ("exclude", "skip")):
            selection.add_argument(
                f"--{verb}-{flag}-name",
                dest=f"{verb}_{kind}",
                action="append",
                metavar="REGEX",
                help=f"{what} {kind.replace('_', ' ')}s whose name matches (searched; repeatable)",
            )
    parser.add_argument(
        "--https-prefix",
        default=IngestOptions.https_prefix,
        help="HTTPS address of the output bucket, for the viewer states' URLs (default: %(default)s)",
    )
    parser.set_defaults(func=run_command)


def standardize_config(
    config_path: Path,
    input_url: str,
    output_url: str,
    *,
    endpoint_url: str | None = None,
    anon: bool = False,
    options: IngestOptions | None = None,
    stream: TextIO | None = None,
) -> tuple[int, Ingestion]:
    """Load a config and standardize it; raises ConfigError/ValueError for a bad config or URL (or for an
    output bucket without credentials). ``anon``: read the input with unsigned requests."""
    config = load_current(config_path)
    if "deposition_id" not in (config.get("standardization_config") or {}):
        raise ConfigError(config_path, "standardization_config.deposition_id is required")
    options = options or IngestOptions()
    source = Bucket(input_url, endpoint_url=endpoint_url, read_only=True, anonymous=reading_access(anon))
    output = Bucket(output_url, endpoint_url=endpoint_url, read_only=options.dry_run)
    stream = stream or sys.stderr
    if source.notice:
        print(f"note: {source.notice}", file=stream)
    progress = Progress("standardize", "runs", stream, bytes_done=lambda: output.stats.bytes_written)
    report = Report(stream=stream, progress=progress)
    ingestion = Ingestion(config, config_path, source, output, options, report=report)
    return standardize(ingestion), ingestion


def run_command(args: argparse.Namespace) -> int:
    options = IngestOptions(
        force_overwrite=args.force_overwrite,
        dry_run=args.dry_run,
        https_prefix=args.https_prefix,
        selected=frozenset(args.selected) if args.selected else None,
        name_filters={
            kind: getattr(args, f"filter_{kind}") for kind in NAME_FILTERED if getattr(args, f"filter_{kind}")
        },
        name_excludes={
            kind: getattr(args, f"exclude_{kind}") for kind in NAME_FILTERED if getattr(args, f"exclude_{kind}")
        },
    )
    for patterns in (*options.name_filters.values(), *options.name_excludes.values()):
        for pattern in patterns:
            try:
                compile_pattern(pattern)
            except PatternError as error:
                print(f"error: bad name filter {error}", file=sys.stderr)
                return 2
    try:
        status, _ = standardize_config(
            args.config, args.input, args.output, endpoint_url=args.endpoint_url, anon=args.anon, options=options
        )
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return status
