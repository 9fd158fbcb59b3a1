"""The state of one ingestion: config, buckets, options and the report; finding the entity tree's nodes."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from importers import layout, patterns
from importers.ingest.entities.ids import IdAllocator, Identity
from importers.ingest.entities.report import Report
from importers.ingest.entities.templating import expand_metadata, run_data_row, run_glob_variables
from importers.ingest.entities.tree import Entity
from importers.ingest.finders import (
    DESTINATION_FINDERS,
    FinderError,
    FoundItem,
    destination_filter,
    finder_of,
    literal,
    source_glob,
    source_multi_glob,
    tomogram_header,
)
from importers.storage import Bucket

#: Config list key of each entity kind (config.md §2).
CONFIG_KEYS = {
    "deposition": "depositions",
    "deposition_keyphoto": "deposition_keyphotos",
    "dataset": "datasets",
    "dataset_keyphoto": "dataset_keyphotos",
    "run": "runs",
    "gain": "gains",
    "collection_metadata": "collection_metadata",
    "frame": "frames",
    "tiltseries": "tiltseries",
    "rawtilt": "rawtilts",
    "ctf": "ctfs",
    "alignment": "alignments",
    "identified_object": "identified_objects",
    "voxel_spacing": "voxel_spacings",
    "tomogram": "tomograms",
    "key_image": "key_images",
    "annotation": "annotations",
}


#: Kinds a ``destination_filter`` finds, in their parent's output folder (run, voxel spacing).
DESTINATION_FILTERED = ("tiltseries", "tomogram")

#: Kinds that fall back to a literal when no source matches (config.md §3 "Defaults").
DEFAULT_WHEN_NOT_FOUND = {"alignment": "default"}


#: Kinds written together with a selected kind: a tilt series' sidecars; a tomogram's key images;
#: the voxel spacing's step, which renders key images and viewer states from tomograms and annotations.
IMPORTED_WITH = {
    "tiltseries": ("rawtilt", "ctf"),
    "tomogram": ("key_image", "voxel_spacing"),
    "annotation": ("voxel_spacing",),
}


@dataclass
class IngestOptions:
    """What the user asked for on the command line."""

    force_overwrite: bool = False
    dry_run: bool = False
    #: Where the bucket is served over HTTPS; only the viewer states embed it (layout.md §5).
    https_prefix: str = "https://files.cryoetdataportal.cziscience.com"
    #: Kinds to write (``--import-<kind>``); None writes every kind. Unselected entities are still
    #: walked (their children need their ids and paths) but nothing of theirs is written.
    selected: frozenset[str] | None = None
    #: ``--filter-<kind>-name`` / ``--exclude-<kind>-name`` regexes, searched in entity names.
    name_filters: dict[str, list[str]] = field(default_factory=dict)
    name_excludes: dict[str, list[str]] = field(default_factory=dict)

    def writes(self, kind: str) -> bool:
        if self.dry_run:
            return False
        if self.selected is None:
            return True
        return any(kind == chosen or kind in IMPORTED_WITH.get(chosen, ()) for chosen in self.selected)

    def keeps(self, kind: str, name: str) -> bool:
        """Whether the name filters let an entity of ``kind`` through."""
        includes, excludes = self.name_filters.get(kind, []), self.name_excludes.get(kind, [])
        if any(patterns.search(pattern, name) for pattern in excludes):
            return False
        return all(patterns.search(pattern, name) for pattern in includes)


@dataclass
class Ingestion:
    """Everything an entity importer needs: where to read, where to write, and what to report."""

    config: dict[str, Any]
    config_path: Path
    source: Bucket
    output: Bucket
    options: IngestOptions
    report: Report = field(default_factory=Report)
    now: int = field(default_factory=lambda: int(time.time()))
    _allocators: dict[tuple[str, str], IdAllocator] = field(default_factory=dict)

    def planning(self) -> Ingestion:
        """The same ingestion with nothing written: for entities the user did not select, whose ids
        and paths their selected children still need. Failures are still reported."""
        return replace(self, options=replace(self.options, dry_run=True), report=self.report.failures_only())

    def allocator(self, container: str, template: str, identity: Identity) -> IdAllocator:
        """One allocator per container and entity type, seeded once from the existing output."""
        key = (container, template)
        if key not in self._allocators:
            self._allocators[key] = IdAllocator(self.output, container, template, identity)
        return self._allocators[key]

    @property
    def standardization(self) -> Mapping[str, Any]:
        return self.config.get("standardization_config") or {}

    @property
    def deposition_id(self) -> int:
        return int(self.standardization["deposition_id"])

    @property
    def source_root(self) -> str:
        return str(self.standardization.get("source_prefix") or "").strip("/")

    def glob_variables(self, entity: Entity | None) -> dict[str, Any]:
        """The template variables below ``entity`` (config.md §5): its own and its ancestors', the output root, and
        (as the portal gives them to every entity of a run) the run's map-file columns and mapped names."""
        variables = entity.glob_variables() if entity is not None else {}
        variables.setdefault("output_path", "")
        run = next((e for e in entity.lineage() if e.kind == "run"), None) if entity is not None else None
        if run is not None:
            variables |= run_glob_variables(self, run)
        return variables

    def find(self, kind: str, parent: Entity | None) -> list[Entity]:
        """Children of ``parent`` of one kind, per the config's entries and their sources."""
        entries = self.config.get(CONFIG_KEYS[kind]) or []
        found: dict[str, Entity] = {}
        variables = self.glob_variables(parent)
        run = next((entity for entity in parent.lineage() if entity.kind == "run"), None) if parent else None
        for entry in entries:
            metadata = dict(entry.get("metadata") or {})
            if kind == "annotation":
                # An annotation is its entry: its sources are shapes, not finders (config.md §4),
                # and the annotation importer matches them.
                name = str(metadata.get("annotation_ingest_id") or len(found))
                found.setdefault(name, Entity(kind, name, None, metadata, parent))
                continue
            for source in entry.get("sources") or []:
                if not parents_pass(source.get("parent_filters"), parent):
                    continue
                finder, _ = finder_of(source)
                for item in self._run_finder(kind, parent, source, variables):
                    if any(patterns.match(pattern, item.name) for pattern in source.get("exclude") or []):
                        continue
                    name = self._spacing_name(item.name, run) if kind == "voxel_spacing" else item.name
                    entity = Entity(kind, name, item.path, metadata, parent, identifier=item.identifier)
                    entity.reference = finder in DESTINATION_FINDERS
                    entity.output_path = _output_path(entity)
                    found.setdefault(name, entity)
        found = {name: entity for name, entity in found.items() if self.options.keeps(kind, name)}
        if not found and kind in DEFAULT_WHEN_NOT_FOUND:
            # config.md §3: a run without an alignment source gets the default alignment.
            return [Entity(kind, DEFAULT_WHEN_NOT_FOUND[kind], None, {}, parent)]
        return list(found.values())

    def _spacing_name(self, found: str, run: Entity | None) -> str:
        """A voxel spacing's folder name; a literal may be a run-data-map template (``"float {spacing}"``)."""
        value = expand_metadata(found, run_data_row(self, run) if run is not None else None, "voxel spacing")
        try:
            return layout.format_voxel_spacing(float(value))
        except (TypeError, ValueError):
            raise FinderError(f"voxel spacing {value!r} is not a number") from None

    def _run_finder(
        self, kind: str, parent: Entity | None, source: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> list[FoundItem]:
        name, arguments = finder_of(source)
        if name == "source_glob":
            return source_glob(self.source, self.source_root, arguments, variables)
        if name == "source_multi_glob":
            return source_multi_glob(self.source, self.source_root, arguments, variables)
        if name == "destination_glob":
            found = source_glob(self.output, "", arguments, variables)
            if kind == "run":
                # A dataset's folder also holds the dataset's own files (metadata, manifest, Images/): the
                # portal's configs exclude those they know by name; the layout's run pattern knows them all.
                found = [item for item in found if re.fullmatch(layout.FIELD_PATTERNS["run_name"], item.name)]
            return found
        if name == "literal":
            return literal(arguments)
        if name == "tomogram_header":
            return tomogram_header(self.source, self.source_root, arguments, variables)
        if name == "destination_filter":
            if kind not in DESTINATION_FILTERED or parent is None or parent.output_path is None:
                raise FinderError(f"destination_filter finds tiltseries and tomograms, not {CONFIG_KEYS[kind]}")
            return destination_filter(self.output, parent.output_path, kind, arguments)
        raise FinderError(f"finder {name} is not supported")


#: Folder kinds named by their names alone (layout.md §1), with the layout field each name fills: their output
#: folder is the ``{kind}_output_path`` glob variable of destination finders (config.md §5).
_FOLDER_FIELDS = {"dataset": "dataset_id", "run": "run_name", "voxel_spacing": "voxel_spacing"}


def _output_path(entity: Entity) -> str | None:
    if entity.kind not in _FOLDER_FIELDS:
        return None
    fields = {_FOLDER_FIELDS[e.kind]: e.name for e in entity.lineage() if e.kind in _FOLDER_FIELDS}
    return layout.build(entity.kind, **fields)


def parents_pass(filters: Mapping[str, Any] | None, parent: Entity | None) -> bool:
    """``parent_filters``: regex search on ancestor names; exclude wins, include needs a match."""
    if not filters or parent is None:
        return True
    names = {entity.kind: entity.name for entity in parent.lineage()}
    for kind, excluded in (filters.get("exclude") or {}).items():
        if kind in names and any(patterns.search(p, names[kind]) for p in excluded):
            return False
    for kind, included in (filters.get("include") or {}).items():
        if kind in names and not any(patterns.search(p, names[kind]) for p in included):
            return False
    return True
