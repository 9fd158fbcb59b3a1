"""Neuroglancer precomputed annotation layers of point annotations (formats.md §7), as the portal writes them.

The portal's precompute library (cryoet-data-portal-neuroglancer) fills the ``neuroglancer`` package's
``AnnotationWriter`` and then shards its ``by_id`` index. That package imports its web server (tornado,
google-auth, …) whenever any part of it is imported, so the format is written here, following the writer:

* one record per annotation: its geometry (float32), then its properties in order of decreasing alignment
  (float32 before uint16 before uint8/rgb, stable), padded to 4 bytes; the ``info`` lists the properties
  with ``name`` first, as the portal reorders them after encoding;
* a one-cell spatial index ``spatial0/0_0_0``: the count (uint64), every record, every id (uint64);
* ``by_id``: each record under its id (0, 1, …), sharded (``minishard_bits`` 10, one shard);
* points are ``point`` annotations; an oriented point is three ``line`` annotations along its rotated
  x, y, z axes (red, green, blue), 1.5 diameters long; instance points are named and coloured per instance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from importers.formats.neuroglancer import color_seed, distinct_colors
from importers.formats.sharding import ShardingSpec

#: The portal's annotation sharding: 2**10 minishards in one shard file.
ANNOTATION_SHARDING = ShardingSpec(minishard_bits=10, shard_bits=0)
#: Diameter (Å) of an annotation object that declares none.
DEFAULT_DIAMETER = 100
#: Oriented-point axis length, in diameters.
AXIS_LENGTH = 1.5
AXIS_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
WHITE = (255, 255, 255)
#: Property type → (numpy dtype, alignment), as the writer lays them out.
_PROPERTY_TYPES: dict[str, tuple[str, int]] = {
    "uint8": ("|u1", 1),
    "uint16": ("<u2", 2),
    "float32": ("<f4", 4),
    "rgb": ("3u1", 1),
}
RECORD_ALIGNMENT = 4


class PrecomputeError(ValueError):
    """Annotation data the precomputed layer cannot represent; the message says why."""


@dataclass(frozen=True)
class _Property:
    id: str
    type: str
    enum: dict[int, str] | None = None

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.enum is not None:
            spec |= {"enum_values": list(self.enum), "enum_labels": list(self.enum.values())}
        return spec


def _record_dtype(geometry_floats: int, properties: list[_Property]) -> np.dtype:
    fields: list[tuple[Any, ...]] = [("geometry", "<f4", (geometry_floats,))]
    offset = 0
    for prop in properties:
        dtype, alignment = _PROPERTY_TYPES[prop.type]
        if offset % alignment:
            padding = alignment - offset % alignment
            fields.append((f"padding{offset}", "|u1", (padding,)))
            offset += padding
        fields.append((prop.id, dtype))
        offset += np.dtype(dtype).itemsize
    if offset % RECORD_ALIGNMENT:
        fields.append((f"padding{offset}", "|u1", (RECORD_ALIGNMENT - offset % RECORD_ALIGNMENT,)))
    return np.dtype(fields)


def _bounds(geometry: np.ndarray) -> tuple[list[float], list[float]]:
    """The writer's bounds: of the points, or of the lines' first ends (lower) and second ends (upper)."""
    if not len(geometry):
        return [float("inf")] * 3, [float("-inf")] * 3
    return [float(v) for v in geometry[:, :3].min(axis=0)], [float(v) for v in geometry[:, -3:].max(axis=0)]


def _layer_files(
    annotation_type: str, properties: list[_Property], geometry: np.ndarray, values: dict[str, list[Any]], scale: float
) -> dict[str, bytes]:
    """The layer's files from its annotations (``geometry`` rows, property ``values``), ids 0, 1, …"""
    # Encoded in the writer's order (by alignment; sorted() is stable), listed with the name first.
    encoded = sorted(properties, key=lambda prop: -_PROPERTY_TYPES[prop.type][1])
    listed = sorted(encoded, key=lambda prop: prop.id != "name")
    count = len(geometry)
    records = np.zeros(count, dtype=_record_dtype(geometry.shape[1], encoded))
    records["geometry"] = geometry
    for prop in encoded:
        # Out-of-range names wrap, as numpy 1 (the portal's) casts them.
        records[prop.id] = np.asarray(values[prop.id]).reshape(records[prop.id].shape).astype(records[prop.id].dtype)
    lower, upper = _bounds(geometry)
    info = {
        "@type": "neuroglancer_annotations_v1",
        "dimensions": {axis: [scale, "m"] for axis in "xyz"},
        "lower_bound": lower,
        "upper_bound": upper,
        "annotation_type": annotation_type,
        "properties": [prop.to_json() for prop in listed],
        "relationships": [],
        "by_id": {"key": "by_id", "sharding": ANNOTATION_SHARDING.to_json()},
        "spatial": [
            {
                "key": "spatial0",
                "grid_shape": [1, 1, 1],
                "chunk_size": [max(1, high - low) for low, high in zip(lower, upper, strict=True)],
                "limit": count,
            }
        ],
    }
    ids = np.arange(count, dtype="<u8")
    files = {
        "info": json.dumps(info, indent=2).encode(),
        "spatial0/0_0_0": np.array([count], dtype="<u8").tobytes() + records.tobytes() + ids.tobytes(),
    }
    shards = ANNOTATION_SHARDING.shards({index: records[index].tobytes() for index in range(count)})
    return files | {f"by_id/{name}": shard for name, shard in shards.items()}


def _location(record: dict[str, Any]) -> list[float]:
    return [float(record["location"][axis]) for axis in "xyz"]


def instance_colors(metadata: dict[str, Any], instance_ids: list[int]) -> dict[int, tuple[int, ...]]:
    """Per-instance colours, as the portal picks them (seeded by the annotation, distinct, cycled past 20)."""
    colors = distinct_colors(len(instance_ids), [], color_seed(metadata, "InstanceSegmentation"))
    return {
        instance: tuple(round(channel * 255) for channel in color)
        for instance, color in zip(instance_ids, colors, strict=True)
    }


def annotation_layer(
    shape: str, records: list[dict[str, Any]], metadata: dict[str, Any], spacing: float
) -> dict[str, bytes]:
    """The files (path in the layer dir → bytes) of the precomputed layer of an NDJSON annotation.

    ``records`` are the annotation's NDJSON records (locations in voxels of ``spacing`` Å).
    """
    annotation_object = metadata.get("annotation_object") or {}
    diameter = annotation_object.get("diameter")
    diameter = (DEFAULT_DIAMETER if diameter is None else diameter) / 10
    names = {0: annotation_object.get("name", "")}
    name_of = [0] * len(records)
    colors: list[tuple[int, ...]] = [WHITE] * len(records)
    if shape == "InstanceSegmentation":
        # The portal's instance order: a set of the ids, in the order Python iterates it.
        instances = list({record["instance_id"] for record in records})
        names = {instance: f"{names[0]} {instance}" for instance in instances}
        by_instance = instance_colors(metadata, instances)
        name_of = [record["instance_id"] for record in records]
        colors = [by_instance[instance] for instance in name_of]
    properties = [
        _Property("name", "uint8" if len(names) < 2**8 else "uint16", names),
        _Property("diameter", "float32"),
        _Property("point_index", "float32"),
    ]
    scale = spacing * 1e-10
    if shape != "OrientedPoint":
        values = {
            "name": name_of,
            "diameter": [diameter] * len(records),
            "point_index": [float(index) for index in range(len(records))],
            "color": colors,
        }
        geometry = np.array([_location(record) for record in records], dtype=np.float64).reshape(-1, 3)
        return _layer_files("point", [*properties, _Property("color", "rgb")], geometry, values, scale)
    lines: list[np.ndarray] = []
    rows: list[tuple[Any, ...]] = []
    length = diameter * AXIS_LENGTH
    for index, record in enumerate(records):
        start = np.array(_location(record))
        # Rows of the transpose: the matrix's columns, the rotated x, y and z axes.
        axes = np.asarray(record["xyz_rotation_matrix"], dtype=np.float64).T
        for axis, axis_color in zip(axes, AXIS_COLORS, strict=True):
            end = start + length * axis
            if not np.isclose(np.linalg.norm(end - start), length):
                raise PrecomputeError(f"record {index + 1}: xyz_rotation_matrix is not a rotation (axis not unit)")
            lines.append(np.concatenate((start, end)))
            rows.append((name_of[index], diameter, float(index), colors[index], axis_color))
    names_in_order = ("name", "diameter", "point_index", "point_color", "line_color")
    values = {key: [row[i] for row in rows] for i, key in enumerate(names_in_order)}
    properties += [_Property("point_color", "rgb"), _Property("line_color", "rgb")]
    geometry = np.array(lines, dtype=np.float64).reshape(-1, 6)
    return _layer_files("line", properties, geometry, values, scale)
