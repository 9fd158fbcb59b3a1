"""Config rules beyond types and required keys (config.md §6, §1 naming).

Each rule yields ``Finding``s with a stable code (used in messages, docs/config.md and exclusion files). Rules read
the raw config and skip values of the wrong type or templated values: the schema reports those separately, so every
rule must tolerate malformed input. The rules on one metadata block's content (author roles, date order, sample
type) are the metadata documents' own (``importers/metadata/rules.py``), run here on every block of the config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from importers.ingest.config.models import FINDERS, SHAPES
from importers.metadata import rules as document_rules
from importers.metadata.models import PATTERNS
from importers.metadata.rules import Finding, KeyPath
from importers.patterns import PatternError, backtracking_risk, compile_pattern

Rule = Callable[[Mapping[str, Any]], Iterator[Finding]]
RULES: list[Rule] = []


def _rule(function: Rule) -> Rule:
    RULES.append(function)
    return function


def check(data: Mapping[str, Any]) -> Iterator[Finding]:
    """Every rule's findings for a config (as loaded, already migrated to the current version)."""
    for rule in RULES:
        yield from rule(data)


def _entities(data: Mapping[str, Any], key: str) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    items = data.get(key)
    if isinstance(items, list):
        for index, entity in enumerate(items):
            if isinstance(entity, dict):
                yield (key, index), entity


def _metadata(data: Mapping[str, Any], key: str) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    for path, entity in _entities(data, key):
        metadata = entity.get("metadata")
        if isinstance(metadata, dict):
            yield (*path, "metadata"), metadata


def _sources(entity: Mapping[str, Any], path: KeyPath) -> Iterator[tuple[KeyPath, dict[str, Any]]]:
    sources = entity.get("sources")
    if isinstance(sources, list):
        for index, source in enumerate(sources):
            if isinstance(source, dict):
                yield (*path, "sources", index), source


def _number(value: Any) -> float | None:
    """The value if it is a plain number (not a template, not a boolean)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


ENTITY_KEYS = (
    "depositions", "datasets", "runs", "voxel_spacings", "tiltseries", "tomograms", "alignments", "ctfs", "frames",
    "gains", "rawtilts", "collection_metadata", "key_images", "identified_objects", "dataset_keyphotos",
    "deposition_keyphotos",
)  # fmt: skip
AUTHORED = ("depositions", "datasets", "tomograms", "annotations")


@_rule
def empty_lists(data: Mapping[str, Any]) -> Iterator[Finding]:
    # Published portal configs write `annotations: []` / `gains: []` for "none"; the key is then noise.
    for key in (*ENTITY_KEYS, "annotations"):
        if data.get(key) == []:
            yield Finding(
                (key,), f"{key} is an empty list (nothing to ingest); leave the key out", "empty-list", "warning"
            )


@_rule
def one_finder(data: Mapping[str, Any]) -> Iterator[Finding]:
    for key in ENTITY_KEYS:
        for path, entity in _entities(data, key):
            for source_path, source in _sources(entity, path):
                finders = [name for name in source if name in FINDERS]
                if not finders:
                    yield Finding(
                        source_path,
                        "source entry has no finder; it needs exactly one (source_glob, source_multi_glob, "
                        "destination_glob, literal, ...); parent_filters/exclude only filter a finder's results",
                        "one-finder",
                    )
                elif len(finders) > 1:
                    yield Finding(
                        source_path,
                        f"source entry has {len(finders)} finders ({', '.join(finders)}); use one entry per finder",
                        "one-finder",
                    )


@_rule
def annotation_sources(data: Mapping[str, Any]) -> Iterator[Finding]:
    for path, entity in _entities(data, "annotations"):
        first_use: dict[str, tuple[KeyPath, bool]] = {}
        for source_path, source in _sources(entity, path):
            shapes = [name for name in source if name in SHAPES]
            if len(shapes) != 1:
                found = f"{len(shapes)} ({', '.join(shapes)})" if shapes else "none"
                yield Finding(
                    source_path, f"an annotation source needs exactly one shape key, found {found}", "one-shape"
                )
            filtered = bool(source.get("parent_filters"))
            for shape in shapes:
                earlier = first_use.setdefault(shape, (source_path, filtered))
                if earlier[0] != source_path and not (filtered and earlier[1]):
                    yield Finding(
                        (*source_path, shape),
                        f"{shape} is already a source of this annotation (sources[{earlier[0][-1]}]); "
                        "repeat a shape only with parent_filters on each entry",
                        "repeated-shape",
                    )
                args = source[shape]
                if not isinstance(args, dict):
                    continue
                globs = [name for name in ("glob_string", "glob_strings") if args.get(name) is not None]
                if len(globs) != 1:
                    yield Finding(
                        (*source_path, shape),
                        "needs exactly one of glob_string / glob_strings" + (", not both" if len(globs) == 2 else ""),
                        "one-glob",
                    )
                label = args.get("mask_label")
                if args.get("threshold") is not None and label is not None and label != 1:
                    yield Finding(
                        (*source_path, shape, "threshold"),
                        f"threshold cannot be combined with mask_label {label} (a threshold makes label 1)",
                        "mask-label-threshold",
                    )


INGEST_ID = re.compile(PATTERNS["ingest_id"][0])


@_rule
def ingest_ids(data: Mapping[str, Any]) -> Iterator[Finding]:
    first: dict[str, KeyPath] = {}
    for path, metadata in _metadata(data, "annotations"):
        ingest_id = metadata.get("annotation_ingest_id")
        if not isinstance(ingest_id, str):
            continue
        if not INGEST_ID.match(ingest_id):
            # The portal takes any name ('byu_kaggle_flagellar_motor_10485' is published); the convention warns.
            yield Finding(
                (*path, "annotation_ingest_id"),
                f"{ingest_id!r} is not {PATTERNS['ingest_id'][1]}",
                "ingest-id",
                "warning",
            )
        earlier = first.setdefault(ingest_id, path)
        if earlier != path:
            yield Finding(
                (*path, "annotation_ingest_id"),
                f"annotation_ingest_id '{ingest_id}' is already used by annotations[{earlier[1]}]",
                "unique-ingest-id",
            )


def _within(path: KeyPath, findings: Iterable[Finding]) -> Iterator[Finding]:
    """A metadata block's findings (paths inside the block) with paths inside the config."""
    for finding in findings:
        yield finding._replace(path=(*path, *finding.path))


@_rule
def author_roles(data: Mapping[str, Any]) -> Iterator[Finding]:
    for key in AUTHORED:
        for path, metadata in _metadata(data, key):
            yield from _within(path, document_rules.author_roles(metadata))


@_rule
def date_order(data: Mapping[str, Any]) -> Iterator[Finding]:
    for key in AUTHORED:
        for path, metadata in _metadata(data, key):
            yield from _within(path, document_rules.date_order(metadata))


@_rule
def sample_type(data: Mapping[str, Any]) -> Iterator[Finding]:
    for path, metadata in _metadata(data, "datasets"):
        yield from _within(path, document_rules.sample_type(metadata))


@_rule
def annotation_method(data: Mapping[str, Any]) -> Iterator[Finding]:
    for path, metadata in _metadata(data, "annotations"):
        if metadata.get("method_type") == "automated" and metadata.get("ground_truth_status") is True:
            # The portal ingests it (its own reference dataset 90001 does this): a doubtful claim, not a defect.
            yield Finding(
                (*path, "ground_truth_status"),
                "an automated annotation is rarely ground truth (ground_truth_status: true)",
                "ground-truth",
                "warning",
            )
        confidence = metadata.get("confidence")
        if isinstance(confidence, dict) and not confidence.get("ground_truth_used"):
            for key in ("precision", "recall"):
                if confidence.get(key) is not None:
                    yield Finding(
                        (*path, "confidence", key),
                        f"{key} needs a non-empty confidence.ground_truth_used",
                        "confidence",
                    )


# Known camera models (metadata.md §5) and the manufacturers that make them.
CAMERAS = {
    "falcon iv": {"FEI", "TFS"},
    "falcon 4i": {"FEI", "TFS"},
    "k2": {"Gatan"},
    "k2 summit": {"Gatan"},
    "k3": {"Gatan"},
    "k3 bioquantum": {"Gatan"},
    "ultracam": {"Gatan"},
    "ultrascan": {"Gatan"},
    "simulated": {"simulated"},
}


@_rule
def tilt_series(data: Mapping[str, Any]) -> Iterator[Finding]:
    for path, metadata in _metadata(data, "tiltseries"):
        tilt_range = metadata.get("tilt_range")
        if isinstance(tilt_range, dict):
            low, high = _number(tilt_range.get("min")), _number(tilt_range.get("max"))
            if low is not None and high is not None and low > high:
                yield Finding((*path, "tilt_range"), f"tilt_range min {low} is greater than max {high}", "tilt-range")
        camera = metadata.get("camera")
        model = camera.get("model") if isinstance(camera, dict) else None
        if isinstance(model, str) and "{" not in model:
            makers = CAMERAS.get(model.lower())
            maker = camera.get("manufacturer")
            if makers is None:
                yield Finding((*path, "camera", "model"), f"unknown camera model '{model}'", "camera-model", "warning")
            elif isinstance(maker, str) and "{" not in maker and maker not in makers:
                yield Finding(
                    (*path, "camera", "model"),
                    f"camera model '{model}' is not made by {maker} (expected {' or '.join(sorted(makers))})",
                    "camera-model",
                    "warning",
                )


def _imports(entities: Any) -> bool:
    """Whether any source of these entities imports files (destination_* finders only reference output)."""
    if not isinstance(entities, list):
        return False
    return any(
        not any(name in source for name in ("destination_glob", "destination_filter"))
        for index, entity in enumerate(entities)
        if isinstance(entity, dict)
        for _, source in _sources(entity, (index,))
    )


@_rule
def acquisition_files(data: Mapping[str, Any]) -> Iterator[Finding]:
    if "collection_metadata" in data and "frames" not in data:
        yield Finding(
            ("collection_metadata",),
            "collection_metadata needs a frames block (use frames: [{sources: [{literal: {value: [default]}}]}] "
            "when there are no movies)",
            "frames-block",
        )
    if _imports(data.get("tiltseries")):
        if "collection_metadata" not in data:
            # Published portal configs (10006) import tilt series without an mdoc; the portal ingests them.
            yield Finding(
                ("tiltseries",),
                "imported tilt series usually need a collection_metadata (mdoc) source",
                "collection-metadata",
                "warning",
            )
        if "rawtilts" not in data:
            yield Finding(
                ("tiltseries",),
                "imported tilt series usually need a rawtilts source",
                "rawtilts",
                "warning",
            )


def _det3(m: list[list[float]]) -> float:
    return (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )


@_rule
def affine_matrices(data: Mapping[str, Any]) -> Iterator[Finding]:
    for key in ("tomograms", "alignments"):
        for path, metadata in _metadata(data, key):
            matrix = metadata.get("affine_transformation_matrix")
            shaped = (
                isinstance(matrix, list)
                and len(matrix) == 4
                and all(isinstance(row, list) and len(row) == 4 for row in matrix)
            )
            if not shaped or any(_number(value) is None for row in matrix for value in row):
                continue  # shape and types are schema errors
            where = (*path, "affine_transformation_matrix")
            if matrix[3] != [0, 0, 0, 1]:
                # Published configs (10002) put the translation in the bottom row (a transposed matrix); ingested.
                yield Finding(
                    where,
                    f"bottom row should be [0, 0, 0, 1], not {matrix[3]} (a transposed matrix?)",
                    "affine-matrix",
                    "warning",
                )
            if abs(_det3(matrix)) < 1e-9:
                yield Finding(where, "the 3×3 rotation/scale block is not invertible", "affine-matrix")


def _regexes(node: Any, path: KeyPath, regex_context: bool = False) -> Iterator[tuple[KeyPath, str]]:
    """Every value that is a regex: keys containing 'regex' (config.md §2), parent_filters and exclude lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            inside = regex_context or key in ("parent_filters", "exclude")
            if isinstance(value, str) and ("regex" in str(key) or inside):
                yield (*path, key), value
            else:
                yield from _regexes(value, (*path, key), inside)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str) and regex_context:
                yield (*path, index), value
            else:
                yield from _regexes(value, (*path, index), regex_context)


@_rule
def valid_regexes(data: Mapping[str, Any]) -> Iterator[Finding]:
    """Every regex compiles for linear-time matching, and none backtracks exponentially in Python's ``re``
    (the portal's importer would hang on it)."""
    for key in (*ENTITY_KEYS, "annotations"):
        for path, entity in _entities(data, key):
            for where, pattern in _regexes(entity.get("sources"), (*path, "sources")):
                try:
                    compile_pattern(pattern)
                except PatternError as error:
                    yield Finding(where, f"invalid regular expression {error}", "regex")
                    continue
                if (risk := backtracking_risk(pattern)) is not None:
                    yield Finding(
                        where,
                        f"regular expression {pattern!r} has {risk}: Python's re (the portal's importer) takes "
                        "exponential time on a path it almost matches; write it without the nesting",
                        "regex",
                    )


DATASET_FILE = re.compile(r"(?P<id>\d+)(_draft)?\.yaml")
DEPOSITION_FILE = re.compile(r"deposition_(?P<id>\d+)(_draft)?\.yaml")
EXEMPT_FILES = ("template.yaml",)


def check_file_name(name: str, data: Mapping[str, Any]) -> Iterator[Finding]:
    """config.md §1: ``<dataset id>.yaml`` / ``deposition_<id>.yaml``, and the id inside matches the name."""
    if name in EXEMPT_FILES:
        return
    if match := DEPOSITION_FILE.fullmatch(name):
        expected = int(match["id"])
        standardization = data.get("standardization_config")
        found = standardization.get("deposition_id") if isinstance(standardization, dict) else None
        if found != expected:
            yield Finding(
                ("standardization_config", "deposition_id"),
                f"deposition_id {found} does not match the file name {name} (expected {expected})",
                "file-name",
            )
        for path, metadata in _metadata(data, "depositions"):
            if metadata.get("deposition_identifier") != expected:
                yield Finding(
                    (*path, "deposition_identifier"),
                    f"deposition_identifier {metadata.get('deposition_identifier')} does not match the file name "
                    f"{name} (expected {expected})",
                    "file-name",
                )
    elif match := DATASET_FILE.fullmatch(name):
        expected = int(match["id"])
        identifiers = {path: metadata.get("dataset_identifier") for path, metadata in _metadata(data, "datasets")}
        if not identifiers:
            yield Finding(
                ("datasets",),
                f"a dataset config ({name}) needs datasets[0].metadata with dataset_identifier {expected}",
                "file-name",
            )
        elif expected not in identifiers.values():
            path, found = next(iter(identifiers.items()))
            yield Finding(
                (*path, "dataset_identifier"),
                f"dataset_identifier {found} does not match the file name {name} (expected {expected})",
                "file-name",
            )
    else:
        yield Finding(
            (), f"file name {name} should be <dataset id>.yaml or deposition_<deposition id>.yaml", "file-name"
        )
