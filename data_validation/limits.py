"""How large, and how deeply nested, an object the suite reads whole may be, per kind of object.

The size comes from the listing, so an object over its limit is never fetched (a 200 MB "metadata
JSON" once took 2.5 GB and 30 s); JSON nested past its depth limit is refused rather than overflowing
the parser's recursion (100,000 nested arrays once made 14 checks fail with an internal error). Either
way the object is unreadable with a reason that names the limit, and the check that owns it fails once.
The limits lie far above what the portal holds (its deepest metadata nests 6 levels, its largest
metadata JSON is a few MB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from importers.formats.omezarr import ZARRAY, ZATTRS, ZGROUP

MIB = 1 << 20


@dataclass(frozen=True)
class Limit:
    """What one kind of object may be: at most ``max_bytes``; JSON at most ``max_depth`` levels deep."""

    kind: str
    max_bytes: int
    max_depth: int | None = None


ZARR_METADATA = Limit("zarr metadata document", 1 * MIB, 16)
METADATA_JSON = Limit("metadata JSON", 16 * MIB, 32)
IDENTIFIED_OBJECTS = Limit("identified-objects table", 256 * MIB, 8)
NDJSON = Limit("NDJSON annotation", 1024 * MIB)
OTHER = Limit("object read whole", 256 * MIB)


def limit_of(key: str) -> Limit:
    """The limit of the kind of object ``key`` is."""
    name = key.rsplit("/", 1)[-1]
    if name in (ZATTRS, ZARRAY, ZGROUP):
        return ZARR_METADATA
    if ".zarr/" in key:
        return OTHER  # a chunk (read by ranges, never whole, by the checks)
    if name == "identified_objects.json":
        return IDENTIFIED_OBJECTS
    if name.endswith(".json"):
        return METADATA_JSON
    if name.endswith(".ndjson"):
        return NDJSON
    return OTHER


def _size(count: int) -> str:
    return f"{count / MIB:.1f} MiB" if count >= MIB else f"{count} bytes"


def too_large(key: str, size: int) -> str | None:
    """Why an object of ``size`` bytes at ``key`` is not read whole, or None if it may be."""
    limit = limit_of(key)
    if size <= limit.max_bytes:
        return None
    return f"{_size(size)}, over the {_size(limit.max_bytes)} limit of a {limit.kind} (not read)"


def depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            level += 1
            deepest = max(deepest, level)
            stack.extend((child, level) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(key: str, raw: bytes) -> Any:
    """The JSON value of an object; raises ``ValueError`` for text that is not JSON, or nests deeper than
    its kind's limit (or than the parser can follow)."""
    limit = limit_of(key)
    maximum = limit.max_depth or METADATA_JSON.max_depth
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    except RecursionError:
        raise ValueError(f"JSON nested deeper than the {maximum} levels a {limit.kind} may have") from None
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if (levels := depth(value)) > maximum:
        raise ValueError(f"JSON nested {levels} levels deep, over the {maximum} levels a {limit.kind} may have")
    return value
