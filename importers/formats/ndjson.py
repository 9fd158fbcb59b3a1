"""NDJSON point annotations (formats.md §3.1): records built for writing, and strict reading.

The writer's byte form is the portal's: one ``json.dumps`` object per line (default separators),
lines joined by ``\\n`` with no trailing newline, so an empty annotation is an empty file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from importers.formats.points import XYZ, Points

#: Annotation shape → the ``type`` of its records.
RECORD_TYPES = {"Point": "point", "OrientedPoint": "orientedPoint", "InstanceSegmentation": "instancePoint"}


class NdjsonError(ValueError):
    """An NDJSON annotation that does not follow formats.md §3.1; the message names the line."""


def records(shape: str, points: Points) -> list[dict[str, Any]]:
    """The NDJSON records of ``points`` as ``shape`` (locations already in annotation voxels)."""
    record_type = RECORD_TYPES[shape]
    if shape == "OrientedPoint" and points.rotations is None:
        raise ValueError("oriented points need rotations, and this source gives none")
    if shape == "InstanceSegmentation" and points.instance_ids is None:
        raise ValueError("instance points need instance ids, and this source gives none")
    result = []
    for index, location in enumerate(points.locations.tolist()):
        record: dict[str, Any] = {"type": record_type, "location": dict(zip(XYZ, location, strict=True))}
        if shape == "OrientedPoint":
            record["xyz_rotation_matrix"] = points.rotations[index].tolist()
        elif shape == "InstanceSegmentation":
            record["instance_id"] = int(points.instance_ids[index])
        result.append(record)
    return result


def dumps(items: Iterable[dict[str, Any]]) -> bytes:
    """Records as NDJSON bytes."""
    return "\n".join(json.dumps(item) for item in items).encode()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problem(record: Any, record_type: str | None) -> str | None:
    """What makes one parsed line an invalid record, or None."""
    if not isinstance(record, dict):
        return "is not a JSON object"
    if record_type is not None and record.get("type") != record_type:
        return f"type {record.get('type')!r} is not {record_type!r}"
    if record.get("type") not in RECORD_TYPES.values():
        return f"type {record.get('type')!r} is not one of {', '.join(RECORD_TYPES.values())}"
    location = record.get("location")
    if not isinstance(location, dict) or not all(_number(location.get(axis)) for axis in XYZ):
        return "location needs finite numbers x, y, z"
    if record["type"] == "orientedPoint":
        matrix = record.get("xyz_rotation_matrix")
        if not (
            isinstance(matrix, list)
            and len(matrix) == 3
            and all(isinstance(row, list) and len(row) == 3 and all(_number(v) for v in row) for row in matrix)
        ):
            return "xyz_rotation_matrix is not a 3x3 list of numbers"
    if record["type"] == "instancePoint":
        instance = record.get("instance_id")
        if not isinstance(instance, int) or isinstance(instance, bool):
            return f"instance_id {instance!r} is not an integer"
    return None


def loads(data: bytes, shape: str | None = None) -> list[dict[str, Any]]:
    """Parse and check an NDJSON annotation (``shape`` fixes the expected record type); blank lines
    are tolerated. Raises :class:`NdjsonError` ``"line N: …"`` at the first bad line."""
    record_type = RECORD_TYPES[shape] if shape is not None else None
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        raise NdjsonError(f"not UTF-8: {error}") from None
    result = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise NdjsonError(f"line {number}: not JSON ({error})") from None
        except RecursionError:
            raise NdjsonError(f"line {number}: JSON nested deeper than a record can be") from None
        problem = _problem(record, record_type)
        if problem is not None:
            raise NdjsonError(f"line {number}: {problem}")
        result.append(record)
    return result


def object_count(shape: str, items: list[dict[str, Any]]) -> int:
    """How many objects the records describe: points, or distinct instance ids (metadata.md §8)."""
    if shape == "InstanceSegmentation":
        return len({item["instance_id"] for item in items})
    return len(items)
