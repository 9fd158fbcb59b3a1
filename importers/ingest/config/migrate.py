"""Upgrade configs step by step through the schema versions (config.md §7).

Each step mutates a config mapping in place and returns what it changed. Steps only use the mapping and list
protocols, so the same code upgrades a plain dict (validation of an old file, in memory) and a ruamel.yaml
round-trip tree (``migrate_file``, which keeps comments, key order and anchors).
"""

from __future__ import annotations

import copy
import io
import itertools
import re
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importers.ingest.config.loader import ConfigError, load_document
from importers.ingest.config.models import CURRENT_VERSION, VERSIONS

Config = MutableMapping[str, Any]
Step = Callable[[Config], list[str]]


class MigrationError(Exception):
    """The config's version cannot be migrated to the requested one."""


def version_of(data: Config) -> str:
    """The config's ``version`` as written; a config without one is a legacy one (``0.0.0``), as the portal's
    migration takes it."""
    version = data.get("version")
    return LEGACY_VERSION if version is None else str(version)


def _put(mapping: Config, key: str, value: Any, *, first: bool = False) -> None:
    """Set ``key``; with ``first`` put it before the other keys (ruamel maps insert, plain dicts are rebuilt)."""
    if not first or key in mapping:
        mapping[key] = value
    elif hasattr(mapping, "insert"):
        mapping.insert(0, key, value)
    else:
        rest = list(mapping.items())
        mapping.clear()
        mapping[key] = value
        mapping.update(rest)


def _shared(value: Any) -> Any:
    """A value to reuse elsewhere: the object itself if it has a YAML anchor (dumped as an alias), else a copy.

    Without an anchor ruamel would invent ``&id001``-style names that can clash with the file's own anchors.
    """
    anchor = getattr(value, "anchor", None)
    return value if anchor is not None and anchor.value else copy.deepcopy(value)


def _map(value: Any) -> Config:
    """The value if it is a mapping, else an empty one: steps must not fail on malformed configs."""
    return value if isinstance(value, MutableMapping) else {}


def _extend(mapping: Config, key: str, items: list[Any]) -> None:
    """Append to the list under ``key`` in place (keeps its comments), or start one."""
    if isinstance(mapping.get(key), list):
        mapping[key].extend(items)
    else:
        mapping[key] = items


def _entities(data: Config, key: str) -> list[Config]:
    items = data.get(key)
    return [item for item in items if isinstance(item, MutableMapping)] if isinstance(items, list) else []


def _sources(entity: Config) -> list[Any]:
    sources = entity.get("sources")
    return sources if isinstance(sources, list) else []


# ---------------------------------------------------------------------------------------------------------------
# 0.0.0 (no version) -> 1.0.0, as the portal's schema_migration/migrate_v1_0_0.py

#: The version of a config without a ``version`` key (the portal's default).
LEGACY_VERSION = "0.0.0"
#: ``standardization_config`` keys that 1.0.0 keeps; the legacy globs become entity lists.
_KEPT_STANDARDIZATION = (
    "deposition_id",
    "source_prefix",
    "run_to_frame_map_csv",
    "run_data_map_file",
    "run_to_tomo_map_csv",
    "run_to_ts_map_csv",
    "frame_dose_rate",
)


def _glob_source(settings: Config, glob: str, **regexes: str) -> dict[str, Any]:
    """A ``source_glob`` entry from legacy settings: ``list_glob`` and the regexes the settings give."""
    finder = {"list_glob": settings[glob]}
    finder |= {name: settings[key] for name, key in regexes.items() if settings.get(key) is not None}
    return {"sources": [{"source_glob": finder}]}


def _has_no_sources(value: Any) -> bool:
    """A legacy single block (a mapping: the entity's metadata) or a list without sources."""
    return isinstance(value, MutableMapping) or not any(
        isinstance(item, MutableMapping) and item.get("sources") for item in value or []
    )


def _legacy_deposition(deposition_id: Any, data: Config) -> dict[str, Any]:
    """The deposition the portal makes up for a legacy config: authors and dates of its dataset (else of its first
    tomogram or annotation), title and description "TBA"."""
    datasets = _entities(data, "datasets")
    metadata, types = (_map(datasets[0].get("metadata")) if datasets else {}), ["dataset"]
    if not metadata:
        for key, kind in (("tomograms", "tomogram"), ("annotations", "annotation")):
            if first := _entities(data, key):
                metadata, types = _map(first[0].get("metadata")), [kind]
                break
    return {
        "deposition_identifier": deposition_id,
        "deposition_title": "TBA",
        "deposition_description": "TBA",
        "deposition_types": types,
        "dates": _shared(metadata.get("dates", {})),
        "authors": _shared(metadata.get("authors", [])),
    }


def _to_1_0_0(data: Config) -> list[str]:
    changes: list[str] = []
    settings = _map(data.get("standardization_config"))
    if "overrides_by_run" in data:
        del data["overrides_by_run"]
        changes.append("removed overrides_by_run (translate run overrides by hand)")
    if not data.get("datasets"):
        dataset = _map(data.pop("dataset", None))
        if not settings.get("deposition_id") and dataset.get("dataset_identifier") is not None:
            settings["deposition_id"] = dataset["dataset_identifier"]
        literal = {"literal": {"value": [str(settings.get("destination_prefix"))]}}
        data["datasets"] = [{"metadata": dataset, "sources": [literal]}]
        changes.append("dataset became datasets[0]")
    legacy_lists = (
        ("runs", "run_glob", {"match_regex": "run_regex", "name_regex": "run_name_regex"}),
        ("gains", "gain_glob", {}),
        ("frames", "frames_glob", {}),
    )
    for key, glob, regexes in legacy_lists:
        if not data.get(key) and settings.get(glob):
            data[key] = [_glob_source(settings, glob, **regexes)]
            changes.append(f"{glob} became {key}")
    for key, glob, regex in (
        ("tiltseries", "tiltseries_glob", "ts_name_regex"),
        ("tomograms", "tomo_glob", "tomo_regex"),
    ):
        if _has_no_sources(data.get(key)) and settings.get(glob):
            entity = _glob_source(settings, glob)
            entity["sources"][0]["source_glob"]["match_regex"] = settings.get(regex, ".*")
            metadata = data.get(key)
            data[key] = [({"metadata": metadata} if isinstance(metadata, MutableMapping) else {}) | entity]
            changes.append(f"{glob} became {key}")
    if not data.get("depositions"):
        deposition_id = settings.get("deposition_id")
        metadata = data.get("deposition", _legacy_deposition(deposition_id, data))
        data["depositions"] = [{"metadata": metadata, "sources": [{"literal": {"value": [deposition_id]}}]}]
        changes.append("added depositions")
    with_metadata = [dataset for dataset in _entities(data, "datasets") if dataset.get("metadata")]
    if not data.get("dataset_keyphotos") and with_metadata:
        photos = _map(with_metadata[0]["metadata"]).pop("key_photos", None) or {"snapshot": None, "thumbnail": None}
        data["dataset_keyphotos"] = [{"sources": [{"literal": {"value": photos}}]}]
        changes.append("dataset key_photos became dataset_keyphotos")
    if not data.get("key_images") and with_metadata and settings.get("tomo_key_photo_glob"):
        data["key_images"] = [_glob_source(settings, "tomo_key_photo_glob")]
        changes.append("tomo_key_photo_glob became key_images")
    if not data.get("rawtilts") and settings.get("rawtlt_files"):
        data["rawtilts"] = [{"sources": [{"source_multi_glob": {"list_globs": settings["rawtlt_files"]}}]}]
        changes.append("rawtlt_files became rawtilts")
    tomograms = _entities(data, "tomograms")
    spacing = _map(tomograms[0].get("metadata")).get("voxel_spacing") if tomograms else None
    if not data.get("voxel_spacings") and spacing is not None:
        # A templated spacing must be cast to a number.
        if isinstance(spacing, str) and "{" in spacing and not spacing.strip().startswith("float"):
            spacing = f"float {spacing}"
        data["voxel_spacings"] = [{"sources": [{"literal": {"value": [spacing]}}]}]
        changes.append(f"added voxel_spacings (the tomograms' {spacing})")
    for key in [key for key in settings if key not in _KEPT_STANDARDIZATION]:
        del settings[key]
        changes.append(f"removed standardization_config.{key}")
    return changes


# ---------------------------------------------------------------------------------------------------------------
# 1.0.0 -> 1.1.0

_MOVED_EXTENSIONS = {
    ".mdoc": "collection_metadata",
    ".xf": "IMOD",
    ".tlt": "IMOD",
    ".xtilt": "IMOD",
    ".com": "IMOD",
    ".aln": "ARETOMO3",
}


def _destination(glob: Any) -> str | None:
    if not isinstance(glob, str):
        return None
    return next((target for ext, target in _MOVED_EXTENSIONS.items() if glob.endswith(ext)), None)


def _split_source(source: Config) -> tuple[bool, dict[str, list[Any]]]:
    """Take mdoc/alignment globs out of a rawtilts source: (keep the source?, destination -> moved sources)."""
    moved: dict[str, list[Any]] = {}
    single = source.get("source_glob")
    if isinstance(single, MutableMapping) and (target := _destination(single.get("list_glob"))):
        moved[target] = [source]
        return False, moved
    multi = source.get("source_multi_glob")
    globs = multi.get("list_globs") if isinstance(multi, MutableMapping) else None
    if not isinstance(globs, list):
        return True, moved
    by_target: dict[str, list[str]] = {}
    for glob in globs:
        if target := _destination(glob):
            by_target.setdefault(target, []).append(glob)
    for target, taken in by_target.items():
        new_source: dict[str, Any] = {"source_multi_glob": {"list_globs": taken}}
        if "parent_filters" in source:
            new_source["parent_filters"] = copy.deepcopy(source["parent_filters"])
        moved[target] = [new_source]
    globs[:] = [glob for glob in globs if not _destination(glob)]
    return bool(globs), moved


def _alignment_method(data: Config) -> str:
    """fiducial_based when every tomogram says FIDUCIAL; nothing else can be told apart from the config."""
    statuses = {
        _map(tomogram.get("metadata")).get("fiducial_alignment_status") for tomogram in _entities(data, "tomograms")
    }
    return "fiducial_based" if statuses and statuses <= {"FIDUCIAL", True, "True"} else "undefined"


def _to_1_1_0(data: Config) -> list[str]:
    changes: list[str] = []
    moved: dict[str, list[Any]] = {}
    for entity in _entities(data, "rawtilts"):
        kept = []
        for source in _sources(entity):
            keep, taken = _split_source(source) if isinstance(source, MutableMapping) else (True, {})
            for target, sources in taken.items():
                moved.setdefault(target, []).extend(sources)
            if keep:
                kept.append(source)
        _sources(entity)[:] = kept
    if moved:
        data["rawtilts"][:] = [entity for entity in data["rawtilts"] if _sources(entity)]
        if not data["rawtilts"]:
            del data["rawtilts"]
    if mdocs := moved.pop("collection_metadata", None):
        if existing := _entities(data, "collection_metadata"):
            _extend(existing[0], "sources", mdocs)
        else:
            data["collection_metadata"] = [{"sources": mdocs}]
        changes.append("moved .mdoc sources from rawtilts to collection_metadata")
    for fmt, sources in moved.items():
        alignment = next(
            (a for a in _entities(data, "alignments") if _map(a.get("metadata")).get("format") == fmt), None
        )
        if alignment is None:
            _extend(data, "alignments", [{"metadata": {"format": fmt}, "sources": sources}])
        else:
            _extend(alignment, "sources", sources)
        changes.append(f"moved {fmt} alignment files from rawtilts to alignments")

    for index, alignment in enumerate(_entities(data, "alignments")):
        metadata = alignment.get("metadata")
        if isinstance(metadata, MutableMapping) and "method_type" not in metadata:
            metadata["method_type"] = _alignment_method(data)
            changes.append(f"alignments[{index}]: method_type {metadata['method_type']}")

    deposition = next(iter(_entities(data, "depositions")), {})
    dates = _map(deposition.get("metadata")).get("dates")
    for index, tomogram in enumerate(_entities(data, "tomograms")):
        metadata = tomogram.get("metadata")
        if not isinstance(metadata, MutableMapping):
            continue
        added = []
        if "is_visualization_default" not in metadata:
            metadata["is_visualization_default"] = True
            added.append("is_visualization_default")
        if "dates" not in metadata and isinstance(dates, MutableMapping):
            metadata["dates"] = _shared(dates)
            added.append("dates (the deposition's)")
        if "affine_transformation_matrix" not in metadata:
            metadata["affine_transformation_matrix"] = [[int(row == col) for col in range(4)] for row in range(4)]
            added.append("identity affine_transformation_matrix")
        if added:
            changes.append(f"tomograms[{index}]: added {', '.join(added)}")
    return changes


# ---------------------------------------------------------------------------------------------------------------
# 1.1.0 -> 1.2.0


def _to_1_2_0(data: Config) -> list[str]:
    changes: list[str] = []
    dose_rate = None
    holders = [data.get("standardization_config")] + [ts.get("metadata") for ts in _entities(data, "tiltseries")]
    for holder in holders:
        if isinstance(holder, MutableMapping) and "frame_dose_rate" in holder:
            found = holder.pop("frame_dose_rate")
            dose_rate = found if dose_rate is None else dose_rate
            changes.append("removed frame_dose_rate (now frames metadata dose_rate)")
    if "frames" not in data and _entities(data, "tiltseries"):
        data["frames"] = [{"sources": [{"literal": {"value": ["default"]}}]}]
        changes.append("added frames (literal default: no movies)")
    gain_corrected = bool(data.get("gains"))
    for index, frames in enumerate(_entities(data, "frames")):
        metadata = frames.get("metadata")
        if metadata is None and dose_rate is not None:
            _put(frames, "metadata", {"dose_rate": dose_rate, "is_gain_corrected": gain_corrected}, first=True)
            changes.append(f"frames[{index}]: metadata dose_rate {dose_rate}, is_gain_corrected {gain_corrected}")
        elif isinstance(metadata, MutableMapping):
            if "dose_rate" not in metadata and dose_rate is not None:
                metadata["dose_rate"] = dose_rate
                changes.append(f"frames[{index}]: dose_rate {dose_rate}")
            if "is_gain_corrected" not in metadata:
                metadata["is_gain_corrected"] = gain_corrected
                changes.append(f"frames[{index}]: is_gain_corrected {gain_corrected}")
    return changes


# ---------------------------------------------------------------------------------------------------------------
# 1.2.0 -> 1.3.0


def slug(text: str) -> str:
    """``"Cytosolic Ribosome (80S)"`` -> ``"cytosolic-ribosome-80s"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "annotation"


def _to_1_3_0(data: Config) -> list[str]:
    changes: list[str] = []
    annotations = [a.get("metadata") for a in _entities(data, "annotations")]
    taken = {m.get("annotation_ingest_id") for m in annotations if isinstance(m, MutableMapping)}
    for index, metadata in enumerate(annotations):
        if not isinstance(metadata, MutableMapping) or "annotation_ingest_id" in metadata:
            continue
        name = _map(metadata.get("annotation_object")).get("name")
        base = slug(name if isinstance(name, str) else "")
        number = 1
        while f"{base}-{number}" in taken:
            number += 1
        taken.add(f"{base}-{number}")
        _put(metadata, "annotation_ingest_id", f"{base}-{number}", first=True)
        changes.append(f"annotations[{index}]: annotation_ingest_id {base}-{number}")
    return changes


# version -> (next version, step)
STEPS: dict[str, tuple[str, Step]] = {
    LEGACY_VERSION: ("1.0.0", _to_1_0_0),
    "1.0.0": ("1.1.0", _to_1_1_0),
    "1.1.0": ("1.2.0", _to_1_2_0),
    "1.2.0": ("1.3.0", _to_1_3_0),
}


def check_version(version: str, target: str = CURRENT_VERSION) -> str:
    """The version if it can be migrated to ``target``; otherwise MigrationError saying why."""
    known = (LEGACY_VERSION, *VERSIONS)
    if version not in known:
        raise MigrationError(f"unknown config version {version!r} (known: {', '.join(known)})")
    if known.index(version) > known.index(target):
        raise MigrationError(f"version {version} is newer than {target}; configs are never downgraded")
    return version


def migrate_data(data: Config, target: str = CURRENT_VERSION) -> list[str]:
    """Upgrade ``data`` in place to ``target``; returns the changes, each prefixed with its step."""
    version = check_version(version_of(data), target)
    changes: list[str] = []
    while version != target:
        next_version, step = STEPS[version]
        changes += [f"{version} -> {next_version}: {change}" for change in step(data)]
        data["version"] = next_version
        version = next_version
    return changes


# ---------------------------------------------------------------------------------------------------------------
# Files


def load_current(path: str | Path) -> dict[str, Any]:
    """A config file in its current form: an older one migrated in memory, as validation reads it (the file is
    left as it is); ConfigError for a version that cannot be migrated."""
    document = load_document(path)
    try:
        migrate_data(document.data)
    except MigrationError as error:
        raise ConfigError(document.path, str(error), document.lines.get(("version",), 1)) from None
    return document.data


@dataclass
class MigrationResult:
    path: Path
    from_version: str
    to_version: str
    changes: list[str] = field(default_factory=list)
    written: bool = False


_VERSION_LINE = re.compile(r"^(version[ \t]*:[ \t]*)(['\"]?)([^\s'\"#]+)\2", re.MULTILINE)


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indents as ruamel wants them, from the first nested mapping and list."""
    mapping, offset = 2, None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in itertools.pairwise(lines):
        if not re.match(r"^\s*[^\s#-][^:]*:\s*$", line):
            continue
        indent = len(line) - len(line.lstrip())
        child = len(following) - len(following.lstrip())
        if following.lstrip().startswith("- ") and offset is None:
            offset = child - indent
        elif not following.lstrip().startswith("- ") and child > indent:
            mapping = child - indent
    offset = offset or 0
    return mapping, offset + 2, offset


def _round_trip(text: str, target: str) -> str:
    from ruamel.yaml import YAML  # only needed when a migration changes more than the version line

    yaml = YAML()
    yaml.preserve_quotes = True
    longest = max((len(line) for line in text.splitlines()), default=0)
    # PyYAML-written portal configs wrap at 80 columns; hand-written ones keep long lines.
    yaml.width = 80 if longest <= 100 else 4096
    mapping, sequence, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    data = yaml.load(text)
    migrate_data(data, target)
    output = io.StringIO()
    yaml.dump(data, output)
    return output.getvalue()


def migrate_file(path: str | Path, target: str = CURRENT_VERSION, *, write: bool = True) -> MigrationResult:
    """Upgrade a config file to ``target``; the file is rewritten only if something changed.

    When only the version changes, just the ``version:`` line is edited, so the rest of the file stays byte for
    byte. Raises ConfigError (bad YAML, unsupported version) with the file and line.
    """
    document = load_document(path)
    try:
        from_version = check_version(version_of(document.data), target)
        changes = migrate_data(copy.deepcopy(document.data), target)
    except MigrationError as error:
        raise ConfigError(document.path, str(error), document.lines.get(("version",), 1)) from None
    result = MigrationResult(document.path, from_version, target, changes)
    if from_version == target or not write:
        return result
    text = document.path.read_text(encoding="utf-8")
    match = _VERSION_LINE.search(text)
    if not changes and match:
        new_text = f"{text[: match.start(3)]}{target}{text[match.end(3) :]}"
    else:
        new_text = _round_trip(text, target)
    document.path.write_text(new_text, encoding="utf-8")
    result.written = True
    return result
