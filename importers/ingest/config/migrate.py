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


def version_of(data: Config) -> str | None:
    """The config's ``version`` as written, or None when missing."""
    version = data.get("version")
    return None if version is None else str(version)


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
    "1.0.0": ("1.1.0", _to_1_1_0),
    "1.1.0": ("1.2.0", _to_1_2_0),
    "1.2.0": ("1.3.0", _to_1_3_0),
}


def check_version(version: str | None, target: str = CURRENT_VERSION) -> str:
    """The version if it can be migrated to ``target``; otherwise MigrationError saying why."""
    if version is None:
        raise MigrationError(
            "no 'version' key: legacy (0.0.0) configs are not supported; rewrite the file from "
            "dataset_configs/template.yaml"
        )
    if version not in VERSIONS:
        raise MigrationError(f"unknown config version {version!r} (known: {', '.join(VERSIONS)})")
    if VERSIONS.index(version) > VERSIONS.index(target):
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
