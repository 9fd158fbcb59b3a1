"""Source planning: the source entities a config would ingest from an input bucket, found in a dry run.

The walk follows ``CHILDREN`` and asks ``Ingestion.find`` for each kind, exactly as ``cryoet-ingest standardize``
does (same finders, parent filters, excludes and ``--filter-<kind>-name`` filters), but prepares and writes
nothing: only the input is listed, once. Each source entry is also run on its own, without the name filters, so
that an entry that matches nothing is recorded, naming the entry, its finder and the resolved glob
(``SRC-SOURCES-FOUND``, ``SRC-RUNS-EXIST``).

The plan is written in the validation suite's plain-data types (:mod:`data_validation.source.snapshot`), which
the source checks read; the app's pytest plugin (``preflight``) hands it to the suite.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from data_validation.registry import EntityKind
from data_validation.source.snapshot import (
    AnnotationSource,
    SourceEntity,
    SourceRun,
    SourceSnapshot,
    VolumeSource,
    list_source_root,
)
from importers import layout, patterns
from importers.ingest.config import ConfigError
from importers.ingest.config.migrate import load_current
from importers.ingest.config.validate import Problem, validate_file
from importers.ingest.entities.context import CONFIG_KEYS, Ingestion, IngestOptions, parents_pass
from importers.ingest.entities.report import Report
from importers.ingest.entities.templating import run_glob_variables, run_templated_metadata
from importers.ingest.entities.tree import CHILDREN
from importers.ingest.entities.tree import Entity as Node
from importers.ingest.finders import DESTINATION_FINDERS, FinderError, finder_of, format_template, source_glob
from importers.storage import Bucket, StorageError

#: Key photos are literal mappings to depositors' images or URLs, not the lab's data.
UNWALKED_KINDS = ("deposition_keyphoto", "dataset_keyphoto")


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text or type(error).__name__


class _Walk:
    """The dry walk of one config over the input bucket."""

    def __init__(self, ingestion: Ingestion, snapshot: SourceSnapshot, has_output: bool) -> None:
        self.ingestion = ingestion
        self.snapshot = snapshot
        self.has_output = has_output
        #: Every source entry is also probed alone, without name filters: "matched nothing" is about the
        #: upload, not about what the user chose to check.
        options = replace(ingestion.options, name_filters={}, name_excludes={})
        self.unfiltered = replace(ingestion, options=options)
        self.found: dict[EntityKind, set[SourceEntity]] = {kind: set() for kind in EntityKind}

    # -- bookkeeping ---------------------------------------------------------------------

    def _run_of(self, node: Node | None) -> SourceRun | None:
        run = next((n for n in node.lineage() if n.kind == "run"), None) if node is not None else None
        if run is None:
            return None
        return self.snapshot.runs.get(f"{run.ancestor('dataset').name}/{run.name}")

    def _problem(self, parent: Node | None, line: str) -> None:
        record = self._run_of(parent)
        problems = record.problems if record is not None else self.snapshot.top_problems
        if line not in problems:
            problems.append(line)

    def _nothing_found(self, parent: Node | None, where: str, line: str) -> None:
        """An entry that matched nothing below ``parent``: per run (normal if it matches in other runs), or at the
        top (deposition, dataset and run entries)."""
        record = self._run_of(parent)
        if record is None:
            self._problem(parent, line)
            return
        record.nothing_found.setdefault(where, line)

    def _found(self, where: str, items: list[Any]) -> None:
        if items:
            self.snapshot.matched_entries.add(where)

    def _variables(self, parent: Node | None) -> dict[str, Any]:
        """The glob variables ``find`` fills templates with, for messages."""
        variables = parent.glob_variables() if parent is not None else {}
        variables.setdefault("output_path", "")
        run = next((n for n in parent.lineage() if n.kind == "run"), None) if parent is not None else None
        if run is not None:
            with contextlib.suppress(ValueError, OSError, StorageError):  # the walk itself reports them
                variables |= run_glob_variables(self.ingestion, run)
        return variables

    def _shown(self, template: Any, variables: Mapping[str, Any], *, rooted: bool = True) -> str:
        """A glob as matched: templated and under the input root (the raw template if it cannot be)."""
        try:
            text = format_template(str(template), variables)
        except FinderError:
            return repr(str(template))
        root = self.ingestion.source_root
        return repr(f"{root}/{text.lstrip('/')}" if rooted and root else text)

    def _describe(self, finder: str, arguments: Mapping[str, Any], parent: Node | None) -> str:
        variables = self._variables(parent)
        if finder == "source_glob":
            return f"source_glob {self._shown(arguments.get('list_glob'), variables)}"
        if finder == "source_multi_glob":
            globs = arguments.get("list_globs") or []
            return "source_multi_glob [" + ", ".join(self._shown(g, variables) for g in globs) + "]"
        if finder == "tomogram_header":
            return f"tomogram_header {self._shown(arguments.get('list_glob'), variables)}"
        if finder == "destination_glob":
            return f"destination_glob {self._shown(arguments.get('list_glob'), variables, rooted=False)}"
        return finder

    # -- the walk ------------------------------------------------------------------------

    def children(self, kind: str, parent: Node | None) -> list[Node]:
        """``Ingestion.find`` of one kind below ``parent``; every entry that matches nothing is recorded.

        With several source entries, or name filters on the kind, each entry is also run alone (unfiltered):
        the merged result cannot say which entry found what. With one entry, its result is ``find``'s."""
        sources = self._sources(kind, parent)
        filtered = self.ingestion.options.name_filters.get(kind) or self.ingestion.options.name_excludes.get(kind)
        alone = len(sources) == 1 and not filtered
        failed = False
        if not alone:
            for where, finder, entry, source in sources:
                failed |= not self._probe(kind, parent, where, finder, entry, source)
        try:
            found = self.ingestion.find(kind, parent)
        except Exception as error:  # a config the schema would reject must not stop the session
            if alone:
                self._problem(parent, f"{sources[0][0]}: {_short(error)}")
            elif not failed:
                where = f"{parent.describe()}: " if parent is not None else ""
                self._problem(parent, f"{where}finding {CONFIG_KEYS[kind]}: {_short(error)}")
            return []
        if alone:
            where, finder, _, source = sources[0]
            self._matched(kind, parent, where, finder, source, found)
        return found

    def _sources(self, kind: str, parent: Node | None) -> list[tuple[str, str, Any, Mapping[str, Any]]]:
        """``(config path, finder, entry, source)`` of each source entry of ``kind`` that applies below ``parent``
        (its parent filters pass; a destination finder needs an output); malformed ones are recorded."""
        if kind == "annotation":
            return []  # its sources are shapes, matched per voxel spacing by annotations()
        config_key = CONFIG_KEYS[kind]
        entries = self.ingestion.config.get(config_key) or []
        applicable = []
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            sources = entry.get("sources") if isinstance(entry, Mapping) else None
            for number, source in enumerate(sources if isinstance(sources, list) else []):
                where = f"{config_key}[{index}].sources[{number}]"
                try:
                    if not parents_pass(source.get("parent_filters"), parent):
                        continue
                    finder, _ = finder_of(source)
                except Exception as error:
                    self._problem(parent, f"{where}: {_short(error)}")
                    continue
                if finder in DESTINATION_FINDERS and not self.has_output:
                    if (line := f"{where}: {finder}") not in self.snapshot.unchecked:
                        self.snapshot.unchecked.append(line)  # it needs an existing output (--output-bucket)
                    continue
                applicable.append((where, finder, entry, source))
        return applicable

    def _probe(
        self, kind: str, parent: Node | None, where: str, finder: str, entry: Any, source: Mapping[str, Any]
    ) -> bool:
        """Run one source entry alone, without name filters; False if it could not be run."""
        config_key = CONFIG_KEYS[kind]
        alone = {**self.ingestion.config, config_key: [{**entry, "sources": [source]}]}
        try:
            items = replace(self.unfiltered, config=alone).find(kind, parent)
        except Exception as error:
            self._problem(parent, f"{where}: {_short(error)}")
            return False
        self._matched(kind, parent, where, finder, source, items)
        return True

    def _matched(
        self, kind: str, parent: Node | None, where: str, finder: str, source: Mapping[str, Any], items: list[Node]
    ) -> None:
        """Record the entry if it found nothing (an alignment entry that matches nothing comes back as
        the default identity alignment, which has no path)."""
        real = [item for item in items if item.path is not None or finder == "literal"]
        self._found(where, real)
        if not real:
            line = f"{where}: {self._describe(finder, source[finder], parent)} matched nothing"
            self._nothing_found(parent, where, line)

    def visit(self, node: Node) -> None:
        for kind in CHILDREN.get(node.kind, ()):
            if kind in UNWALKED_KINDS:
                continue
            if kind == "annotation":
                self.annotations(node)
                continue
            for child in self.children(kind, node):
                self.record(child)
                self.visit(child)

    def record(self, node: Node) -> None:
        """Remember what ``node`` is for the checks: its kind's found paths, and its own entity."""
        if node.kind == "run":
            dataset = node.ancestor("dataset").name
            path = f"{dataset}/{node.name}"
            self.snapshot.runs.setdefault(path, SourceRun())
            self._add(EntityKind.SOURCE_RUN, dataset_id=dataset, run_name=node.name, path=path)
            return
        run = self._run_of(node)
        if run is None:
            return
        run.found.setdefault(node.kind, []).append(node.path)
        fields = {"dataset_id": node.ancestor("dataset").name, "run_name": node.ancestor("run").name}
        if node.path is None:
            if node.kind in ("tiltseries", "tomogram", "rawtilt", "collection_metadata", "gain", "ctf"):
                self._problem(node, f"{node.describe()}: a {node.kind} source needs a file (a literal gives none)")
            return
        if node.kind == "rawtilt":
            run.rawtilts.setdefault(node.ancestor("tiltseries").path or "", []).append(node.path)
        elif node.kind == "tiltseries":
            run.rawtilts.setdefault(node.path, [])
            entity = self._add(EntityKind.SOURCE_TILTSERIES, **fields, path=node.path)
            self.snapshot.details[entity] = VolumeSource(self._pixel_spacing(node))
        elif node.kind == "tomogram":
            spacing = node.ancestor("voxel_spacing").name
            run.tomograms.setdefault(spacing, []).append(node.path)
            entity = self._add(EntityKind.SOURCE_TOMOGRAM, **fields, voxel_spacing=spacing, path=node.path)
            self.snapshot.details[entity] = VolumeSource(layout.voxel_spacing_from_name(spacing))

    def _add(self, kind: EntityKind, **fields: str) -> SourceEntity:
        entity = SourceEntity.of(kind, **fields)
        self.found[kind].add(entity)
        return entity

    def _pixel_spacing(self, tiltseries: Node) -> float | None:
        """The tilt series' config ``pixel_spacing``, templated with the run's row as the importer does."""
        try:
            value = run_templated_metadata(self.ingestion, tiltseries).get("pixel_spacing")
        except Exception as error:
            self._problem(tiltseries, f"{tiltseries.describe()}: metadata: {_short(error)}")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        return None

    def annotations(self, voxel_spacing: Node) -> None:
        """Each annotation entry's shape sources in this voxel spacing, matched as the importer matches
        them (``glob_string(s)`` under the input root, ``parent_filters``, ``exclude``)."""
        entries = self.ingestion.config.get("annotations") or []
        for annotation in self.children("annotation", voxel_spacing):
            index = next((i for i, e in enumerate(entries) if dict(e.get("metadata") or {}) == annotation.metadata))
            sources = entries[index].get("sources") or []
            for number, source in enumerate(sources if isinstance(sources, list) else []):
                try:
                    self._annotation_source(annotation, f"annotations[{index}].sources[{number}]", source)
                except Exception as error:
                    self._problem(voxel_spacing, f"annotations[{index}].sources[{number}]: {_short(error)}")

    def _annotation_source(self, annotation: Node, where: str, source: Mapping[str, Any]) -> None:
        voxel_spacing = annotation.ancestor("voxel_spacing")
        if not parents_pass(source.get("parent_filters"), voxel_spacing):
            return
        shapes = [key for key in source if key not in ("parent_filters", "exclude")]
        if len(shapes) != 1 or not isinstance(source[shapes[0]], Mapping):
            self._problem(voxel_spacing, f"{where}: needs exactly one shape, found {shapes}")
            return
        shape, arguments = shapes[0], dict(source[shapes[0]])
        variables = self._variables(annotation)
        filter_value, filter_error = self._filter_value(annotation, arguments, variables)
        run = self._run_of(annotation)
        globs = arguments.get("glob_strings") or [arguments.get("glob_string")]
        for glob in globs if isinstance(globs, list) else [globs]:
            if not isinstance(glob, str):
                self._problem(voxel_spacing, f"{where}: {shape} needs glob_string or glob_strings")
                continue
            items = source_glob(self.ingestion.source, self.ingestion.source_root, {"list_glob": glob}, variables)
            items = [i for i in items if not any(patterns.match(p, i.name) for p in source.get("exclude") or [])]
            self._found(where, items)
            if not items:
                line = f"{where}: {shape} glob {self._shown(glob, variables)} matched nothing"
                self._nothing_found(voxel_spacing, where, line)
            for item in items:
                entity = self._add(
                    EntityKind.SOURCE_ANNOTATION,
                    dataset_id=annotation.ancestor("dataset").name,
                    run_name=annotation.ancestor("run").name,
                    voxel_spacing=voxel_spacing.name,
                    annotation=annotation.name,
                    shape=shape,
                    path=item.path,
                )
                tomograms = tuple(run.tomograms.get(voxel_spacing.name, [])) if run is not None else ()
                self.snapshot.details[entity] = AnnotationSource(
                    shape,
                    arguments,
                    layout.voxel_spacing_from_name(voxel_spacing.name),
                    filter_value,
                    filter_error,
                    tomograms,
                )

    @staticmethod
    def _filter_value(
        annotation: Node, arguments: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> tuple[str | None, str | None]:
        """The point row filter as the importer computes it (RELION 4 files default to the run's name)."""
        value = arguments.get("filter_value")
        if value is None:
            if arguments.get("file_format") == "relion4_star":
                return annotation.ancestor("run").name, None
            return None, None
        try:
            return format_template(str(value), variables), None
        except FinderError as error:
            return None, f"filter_value: {error}"


def _config_problem(problem: Problem) -> str:
    """A config finding without the file name, which the test id already shows: ``line 12: key: message``."""
    where = f"{problem.file}:{problem.line}: " if problem.line is not None else f"{problem.file}: "
    text = str(problem).removeprefix(where)
    return f"line {problem.line}: {text}" if problem.line is not None else text


def plan_sources(
    bucket: Bucket,
    config_path: str | Path,
    *,
    options: IngestOptions | None = None,
    output: Bucket | None = None,
) -> SourceSnapshot:
    """Validate the config and walk it over the input ``bucket`` (``output``: the existing output that
    destination finders search; without one they are not run): every source entity it would ingest, and every
    source entry that finds nothing. A config that cannot be loaded gives a snapshot with the config entity only
    (SRC-CONFIG-VALID reports why); nothing here raises for bad input."""
    snapshot = SourceSnapshot(bucket_url=bucket.url, endpoint_url=bucket.endpoint_url, config_path=str(config_path))
    options = options or IngestOptions()
    snapshot.filters = [
        f"--{verb}-{kind.replace('_', '-')}-name {pattern}"
        for verb, table in (("filter", options.name_filters), ("exclude", options.name_excludes))
        for kind, patterns in table.items()
        for pattern in patterns
    ]
    config_entity = SourceEntity.of(EntityKind.SOURCE_CONFIG, path=str(config_path))
    snapshot.entities = {kind: [] for kind in EntityKind} | {EntityKind.SOURCE_CONFIG: [config_entity]}
    # The file-name rule is the convention of a repository of configs (dataset_configs/); a lab's upload is
    # checked with whatever its config is called (reference-90001's config.yaml).
    problems = validate_file(config_path, check_name=False)
    snapshot.config_problems = [(problem.severity, _config_problem(problem)) for problem in problems]
    try:
        config = load_current(config_path)
    except ConfigError:
        return snapshot
    snapshot.config_loaded = True
    settings = config.get("standardization_config")
    root = settings.get("source_prefix") if isinstance(settings, dict) else None
    snapshot.source_root = str(root or "").strip("/")
    list_source_root(bucket, snapshot)
    with tempfile.TemporaryDirectory(prefix="cryoet-sources-") as empty:
        ingestion = Ingestion(
            config,
            Path(config_path),
            bucket,
            output or Bucket(empty, read_only=True),
            replace(options, dry_run=True),
            report=Report(stream=io.StringIO()),
        )
        walk = _Walk(ingestion, snapshot, has_output=output is not None)
        for deposition in walk.children("deposition", None):
            walk.visit(deposition)
    snapshot.entities |= {kind: sorted(entities) for kind, entities in walk.found.items() if entities}
    return snapshot
