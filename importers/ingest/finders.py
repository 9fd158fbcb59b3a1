"""Finders: how a config source entry turns into named source items (config.md §3).

A finder gets the glob variables of its entity's ancestors and returns ``{name: path}``. Globs
are matched against one cached listing of the input (or output) bucket, never one listing per glob;
``match_regex`` and ``name_regex`` in linear time (``importers.patterns``). Items found in the output
(``destination_glob``, ``destination_filter``) are references: the entities already stored there, not imported again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath
from typing import Any

from importers import layout, patterns
from importers.formats.mrc import HEADER_SIZE, MrcFormatError, parse_header
from importers.storage import Bucket, StorageError

FINDER_NAMES = (
    "source_glob",
    "source_multi_glob",
    "literal",
    "destination_glob",
    "destination_filter",
    "tomogram_header",
)

#: Finders that find what an earlier ingestion stored in the output: references, not imported again.
DESTINATION_FINDERS = ("destination_glob", "destination_filter")


class FinderError(ValueError):
    """A source entry that cannot be run (bad template variable, bad regex, unknown finder)."""


@dataclass(frozen=True)
class FoundItem:
    """One source item: its entity name and source path (bucket key, URL, or None for literals)."""

    name: str
    path: str | None
    #: The id of an entity found in the output by its metadata (``destination_filter``).
    identifier: int | None = None


@cache
def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Shell glob semantics on keys: ``*`` and ``?`` stay within one path segment, ``**`` crosses."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            if pattern.startswith("/", index):
                out[-1] = "(?:.*/)?"
                index += 1
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end].replace("\\", "\\\\")
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out) + r"\Z")


def format_template(template: str, variables: Mapping[str, Any]) -> str:
    """Fill a glob/template string; an unknown variable is a :class:`FinderError` naming it."""
    try:
        return template.format(**variables)
    except KeyError as error:
        raise FinderError(f"unknown template variable {{{error.args[0]}}} in {template!r}") from None
    except (IndexError, ValueError) as error:
        raise FinderError(f"bad template {template!r}: {error}") from None


def glob_keys(bucket: Bucket, pattern: str) -> list[str]:
    """Keys (and implicit directories, e.g. ``.zarr`` stores) of ``bucket`` matching ``pattern``."""
    pattern = pattern.strip("/")
    literal_head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    prefix = literal_head.rsplit("/", 1)[0] if "/" in literal_head else ""
    regex = glob_to_regex(pattern)
    candidates: set[str] = set()
    for key in bucket.listing(prefix):
        parts = key.split("/")
        candidates.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return sorted(candidate for candidate in candidates if regex.match(candidate))


def _search(pattern: str, text: str, what: str) -> Any:
    try:
        return patterns.search(pattern, text)
    except patterns.PatternError as error:
        raise FinderError(f"bad {what} {error}") from None


def source_glob(
    bucket: Bucket, root: str, arguments: Mapping[str, Any], variables: Mapping[str, Any]
) -> list[FoundItem]:
    """``list_glob`` under ``root``; keep paths where ``match_regex`` is found; name from ``name_regex``."""
    if "list_glob" not in arguments:
        raise FinderError("source_glob needs list_glob")
    pattern = format_template(str(arguments["list_glob"]), variables)
    full_pattern = f"{root.strip('/')}/{pattern.lstrip('/')}" if root.strip("/") else pattern
    match_regex = str(arguments.get("match_regex", ".*"))
    name_regex = str(arguments.get("name_regex", "(.*)"))
    found = []
    for key in glob_keys(bucket, full_pattern):
        if not _search(match_regex, key, "match_regex"):
            continue
        basename = PurePosixPath(key).name
        try:
            named = patterns.match(name_regex, basename)
        except patterns.PatternError as error:
            raise FinderError(f"bad name_regex {error}") from None
        if named is None:
            continue
        found.append(FoundItem(named.group(1) if named.groups() else named.group(0), key))
    return found


def source_multi_glob(
    bucket: Bucket, root: str, arguments: Mapping[str, Any], variables: Mapping[str, Any]
) -> list[FoundItem]:
    """Every match of every glob; the name is the path (all form one entity, e.g. an alignment)."""
    globs = arguments.get("list_globs")
    if not isinstance(globs, list) or not globs:
        raise FinderError("source_multi_glob needs a non-empty list_globs")
    found = []
    for pattern in globs:
        found += source_glob(bucket, root, {"list_glob": pattern, "name_regex": "(.*)"}, variables)
    return [FoundItem(item.path, item.path) for item in found]


def _header_voxel_size(bucket: Bucket, path: str) -> float:
    """The voxel size the portal's ``get_voxel_size`` reads: an OME-Zarr's level-0 y scale (any path with
    ``.zarr`` in it, as the portal decides), else the MRC header's y voxel size."""
    if ".zarr" in path:
        try:
            attributes = json.loads(bucket.read(f"{path.rstrip('/')}/.zattrs"))
            return float(attributes["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"][1])
        except (StorageError, ValueError) as error:
            raise FinderError(f"tomogram_header: {path}: {error}") from None
        except (KeyError, IndexError, TypeError):
            raise FinderError(f"tomogram_header: {path}: .zattrs has no multiscales level-0 scale") from None
    try:
        return parse_header(bucket.read_range(path, 0, HEADER_SIZE)).voxel_size[1]
    except (StorageError, MrcFormatError) as error:
        raise FinderError(f"tomogram_header: {path}: {error}") from None


def tomogram_header(
    bucket: Bucket, root: str, arguments: Mapping[str, Any], variables: Mapping[str, Any]
) -> list[FoundItem]:
    """Voxel spacings read from the volumes ``list_glob`` (and ``match_regex``) finds (MRC header or OME-Zarr
    ``.zattrs``): each one's y voxel size, as the portal's finder reads it (the name is rounded to 3 dp like every
    spacing). The path is the volume."""
    if arguments.get("header_key") not in (None, "voxel_size"):
        raise FinderError(f"tomogram_header header_key {arguments['header_key']!r} is not 'voxel_size'")
    found = []
    for item in source_glob(bucket, root, {**arguments, "name_regex": "(.*)"}, variables):
        spacing = _header_voxel_size(bucket, str(item.path))
        if not spacing > 0:
            raise FinderError(f"tomogram_header: {item.path}: the header gives no voxel size (y = {spacing})")
        found.append(FoundItem(str(spacing), item.path))
    return found


def _filter_matches(document: Any, key_path: list[Any], expected: Any) -> bool:
    """The portal's test of one filter: follow ``key_path`` through mappings (through a list, take that key of each
    of its mappings); a list must contain ``expected``, anything else equal it."""
    value = document
    for part in key_path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            value = [item.get(part) for item in value if isinstance(item, dict)]
        if not value:
            break
    return expected in value if isinstance(value, list) else value == expected


def destination_filter(bucket: Bucket, prefix: str, kind: str, arguments: Mapping[str, Any]) -> list[FoundItem]:
    """Entities of ``kind`` (tiltseries, tomogram) already in the output below ``prefix`` whose metadata document
    passes every filter ``{key: [path, ...], value: X}``. As the portal names them: by their ``omezarr_dir``; the
    path is the metadata document, the id its folder's."""
    filters = arguments.get("filters")
    if not isinstance(filters, list) or not filters:
        raise FinderError("destination_filter needs a non-empty list of filters")
    for entry in filters:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), list) or "value" not in entry:
            raise FinderError("each destination_filter filter needs key (a list) and value")
    found = []
    for key in sorted(bucket.listing(prefix)):
        match = layout.parse(key)
        if match is None or match.template != f"{kind}_metadata":
            continue
        try:
            document = json.loads(bucket.read(key))
        except (StorageError, ValueError) as error:
            raise FinderError(f"destination_filter: {key}: {error}") from None
        if all(_filter_matches(document, entry["key"], entry["value"]) for entry in filters):
            name = document.get("omezarr_dir") if isinstance(document, dict) else None
            found.append(FoundItem(str(name or key), key, int(match.fields[f"{kind}_id"])))
    return found


def literal(arguments: Mapping[str, Any]) -> list[FoundItem]:
    """A list gives names without paths; a mapping gives name -> path (key photos)."""
    value = arguments.get("value")
    if isinstance(value, Mapping):
        return [FoundItem(str(name), None if path is None else str(path)) for name, path in value.items()]
    if isinstance(value, list):
        return [FoundItem(str(name), None) for name in value]
    raise FinderError("literal needs a value that is a list or a mapping")


def finder_of(source: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The one finder of a source entry and its arguments."""
    present = [name for name in FINDER_NAMES if name in source]
    if len(present) != 1:
        raise FinderError(f"a source entry needs exactly one finder of {', '.join(FINDER_NAMES)}; found {present}")
    arguments = source[present[0]]
    if not isinstance(arguments, Mapping):
        raise FinderError(f"{present[0]} arguments must be a mapping")
    return present[0], arguments
