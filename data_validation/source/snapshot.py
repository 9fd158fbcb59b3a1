"""The source snapshot: what the SRC-* checks read about a lab's upload, and how the suite completes it.

The ingestion app plans the sources (``importers/ingest/sources.py``: the config walked with the importer's finders,
in a dry run) and fills these plain-data types; its pytest plugin hands them to the suite through
:mod:`data_validation.source.session`. The suite then prefetches what the checks read, and the snapshot goes to
xdist workers like the bucket snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_validation.entities import Entity
from data_validation.snapshot import TEXT_SIDECAR_MAX_BYTES, Snapshot, _list
from importers.formats.mrc import HEADER_SIZE
from importers.storage import Bucket, StorageError

#: Annotation shapes whose sources are MRC volumes.
MASK_SHAPES = ("SegmentationMask", "SemanticSegmentationMask", "InstanceSegmentationMask")
#: Annotation shapes whose sources are text files read whole (points, captions).
TEXT_SHAPES = ("Point", "OrientedPoint", "InstanceSegmentation", "GlobalCaption", "AnnotationCaption")


class SourceEntity(Entity):
    """A source entity: its path (the test id, the waivers' subject) is a field, not a layout directory:
    the config file, ``{dataset}/{run}``, or the input key of a volume or annotation file."""

    @property
    def path(self) -> str:
        return self["path"]


@dataclass
class SourceRun:
    """What the config's finders found for one run."""

    #: Kind -> source path of every entity found (None: a literal item without a file, e.g. frames ``default``).
    found: dict[str, list[str | None]] = field(default_factory=dict)
    #: Tilt-series key -> the rawtlt keys found for it.
    rawtilts: dict[str, list[str]] = field(default_factory=dict)
    #: Voxel-spacing name -> the tomogram keys found in it.
    tomograms: dict[str, list[str]] = field(default_factory=dict)
    #: Source entries of the run's subtree that could not be run, one line each.
    problems: list[str] = field(default_factory=list)
    #: Config path of each source entry (``ctfs[0].sources[0]``) that matched nothing in the run -> the line saying so.
    nothing_found: dict[str, str] = field(default_factory=dict)

    def paths(self, kind: str) -> list[str]:
        """The source files found for ``kind`` (literal items without a file left out)."""
        return [path for path in self.found.get(kind, []) if path is not None]


@dataclass(frozen=True)
class VolumeSource:
    """A tilt series' or tomogram's expected spacing: config ``pixel_spacing`` / the voxel spacing; None when
    the config gives none (the importer then takes the header's)."""

    spacing: float | None


@dataclass(frozen=True)
class AnnotationSource:
    """One annotation source file and how the config says to read it (config.md §4)."""

    shape: str
    arguments: dict[str, Any]
    voxel_spacing: float
    #: The row filter of point formats, templated; or why it could not be.
    filter_value: str | None
    filter_error: str | None
    #: The run's source tomograms at this voxel spacing (the extent points must lie in).
    tomograms: tuple[str, ...]


@dataclass
class SourceSnapshot(Snapshot):
    """The bucket snapshot's fields (listing of the input root, prefetched objects and headers, the
    entities) plus what the config's walk found."""

    config_path: str = ""
    #: The config could be loaded (else only SRC-CONFIG-VALID runs, and says why).
    config_loaded: bool = False
    #: ``validate_file`` findings: (severity, line).
    config_problems: list[tuple[str, str]] = field(default_factory=list)
    source_root: str = ""
    #: Deposition, dataset and run entries that matched nothing or could not be run.
    top_problems: list[str] = field(default_factory=list)
    #: Config paths of the source entries that found something in at least one run: an entry that matches
    #: nothing in some runs only is normal (annotations of some runs, mixed alignment formats).
    matched_entries: set[str] = field(default_factory=set)
    #: Run entity path (``{dataset}/{run}``) -> what was found for it.
    runs: dict[str, SourceRun] = field(default_factory=dict)
    #: Volume and annotation entities -> :class:`VolumeSource` / :class:`AnnotationSource`.
    details: dict[Entity, Any] = field(default_factory=dict)
    #: Source entries not run: their destination finders need an existing output (``--output-bucket``).
    unchecked: list[str] = field(default_factory=list)
    #: The name filters of the session, for messages (``--filter-run-name TS_00[12]``).
    filters: list[str] = field(default_factory=list)


def list_source_root(bucket: Bucket, snapshot: SourceSnapshot) -> None:
    """List the input under ``snapshot.source_root`` once, into the snapshot; an empty or unlistable input is a
    discovery problem. The bucket keeps the listing, so the finders that plan the sources read it too."""
    _list(bucket, snapshot, snapshot.source_root, f"input {snapshot.source_root or '(bucket root)'}")


def prefetch_sources(bucket: Bucket, snapshot: SourceSnapshot) -> None:
    """Fetch the mdoc and tilt-angle files and small annotation files whole, and the MRC headers of
    the volumes, masks and gains, at once (many requests in flight)."""
    whole: set[str] = set()
    headers: set[str] = set()
    for run in snapshot.runs.values():
        whole.update(run.paths("collection_metadata"), *run.rawtilts.values())
        headers.update(key for key in run.paths("gain") if key.lower().endswith(".mrc"))
    for entity, detail in snapshot.details.items():
        if isinstance(detail, VolumeSource) or detail.shape in MASK_SHAPES:
            headers.add(entity.path)
        elif detail.shape in TEXT_SHAPES:
            whole.add(entity.path)
    requests: list[tuple[str, int | None, int | None]] = []
    for key in sorted(whole | headers):
        info = snapshot.listing.get(key)
        if info is None:
            continue  # a directory (a .zarr source) or a key outside the listed root
        if key in headers:
            requests.append((key, 0, min(HEADER_SIZE, info.size)))
        elif info.size <= TEXT_SIDECAR_MAX_BYTES:
            requests.append((key, None, None))
    for (key, start, _), result in zip(requests, bucket.read_many(requests), strict=True):
        if isinstance(result, StorageError):
            snapshot.fetch_errors[key] = result.problem
        elif start is None:
            snapshot.objects[key] = result
        else:
            snapshot.mrc_headers[key] = result
