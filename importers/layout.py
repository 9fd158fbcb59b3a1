"""The portal's bucket layout (shared/spec/layout.md) as code, in both directions.

Every path the importers write and every path the validator reads is built by :func:`build` or
recognised by :func:`parse` / :func:`entity_prefix`: there is no other place that spells a path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

DATASET_METADATA = "dataset_metadata.json"
DATASET_MANIFEST = "dataset_manifest.json"
RUN_METADATA = "run_metadata.json"
TOMOGRAM_METADATA = "tomogram_metadata.json"
TILTSERIES_METADATA = "tiltseries_metadata.json"
ALIGNMENT_METADATA = "alignment_metadata.json"
FRAMES_METADATA = "frames_metadata.json"
DEPOSITION_METADATA = "deposition_metadata.json"
MIN_ENTITY_ID = 100
KEY_IMAGE_NAMES = ("original", "snapshot", "thumbnail", "expanded")

#: What each template field may hold. Run names are kept verbatim but cannot be a dataset's
#: own ``Images/`` folder, metadata file (layout.md §1) or integrity manifest (importers/manifest.py).
FIELD_PATTERNS = {
    "deposition_id": r"\d+",
    "dataset_id": r"\d+",
    "run_name": r"(?!Images(?:/|$))(?!dataset_metadata\.json$)(?!dataset_manifest\.json$)[^/]+",
    "voxel_spacing": r"\d+\.\d{3}",
    "tiltseries_id": r"\d+",
    "alignment_id": r"\d+",
    "tomogram_id": r"\d+",
    "annotation_id": r"\d+",
    "photo": r"snapshot|thumbnail",
    "ext": r"[A-Za-z0-9]+",
    "filename": r"[^/]+",
    "file_ext": r"\.[^/]+",
    "ctf_format": r"CTFFIND|Gctf|IMOD",
    "key_image": "|".join(KEY_IMAGE_NAMES),
    "slug": r"[0-9a-z_]+",
    "version": r"[0-9a-z._]+",
    "shape_suffix": r"(?:{shapes})(?:_caption)?|globalcaption",
    "precompute_suffix": r"{shapes}|segmentation|orientedmesh",
    "member": r".+",
    "loose_voxel_spacing": r"[^/]+",
}

#: Lower-cased shape names used as annotation file suffixes (layout.md §3); captions add ``_caption``.
SHAPE_SUFFIXES = (
    "point",
    "orientedpoint",
    "instancesegmentation",
    "segmentationmask",
    "instancesegmentationmask",
    "triangularmesh",
)
_SHAPES = "|".join(sorted(SHAPE_SUFFIXES, key=len, reverse=True))
FIELD_PATTERNS = {name: pattern.replace("{shapes}", _SHAPES) for name, pattern in FIELD_PATTERNS.items()}

_RUN = "{dataset_id}/{run_name}"
_VS = _RUN + "/Reconstructions/VoxelSpacing{voxel_spacing}"
_TS = _RUN + "/TiltSeries/{tiltseries_id}"
_TOMO = _VS + "/Tomograms/{tomogram_id}"
_ANNO = _VS + "/Annotations/{annotation_id}"
_NG = _VS + "/NeuroglancerPrecompute"

#: Object (and zarr store) templates, most specific first: :func:`parse` returns the first match.
TEMPLATES: dict[str, str] = {
    "deposition_metadata": "depositions_metadata/{deposition_id}/" + DEPOSITION_METADATA,
    "deposition_keyphoto": "depositions_metadata/{deposition_id}/Images/{photo}.{ext}",
    "dataset_metadata": "{dataset_id}/" + DATASET_METADATA,
    "dataset_keyphoto": "{dataset_id}/Images/{photo}.{ext}",
    "dataset_manifest": "{dataset_id}/" + DATASET_MANIFEST,
    "run_metadata": _RUN + "/" + RUN_METADATA,
    "gain": _RUN + "/Gains/{filename}",
    "frames_metadata": _RUN + "/Frames/" + FRAMES_METADATA,
    "mdoc": _RUN + "/Frames/{run_name}.mdoc",
    "frame": _RUN + "/Frames/{filename}",
    "tiltseries_metadata": _TS + "/" + TILTSERIES_METADATA,
    "tiltseries_mrc": _TS + "/{run_name}.mrc",
    "tiltseries_zarr_member": _TS + "/{run_name}.zarr/{member}",
    "tiltseries_zarr": _TS + "/{run_name}.zarr",
    "rawtlt": _TS + "/{run_name}.rawtlt",
    "ctf": _TS + "/{run_name}_{ctf_format}_ctf.txt",
    "alignment_metadata": _RUN + "/Alignments/{alignment_id}/" + ALIGNMENT_METADATA,
    "alignment_file": _RUN + "/Alignments/{alignment_id}/{run_name}{file_ext}",
    "identified_objects": _RUN + "/IdentifiedObjects/identified_objects.json",
    "identified_objects_metadata": _RUN + "/IdentifiedObjects/identified_objects_metadata.json",
    "tomogram_metadata": _TOMO + "/" + TOMOGRAM_METADATA,
    "tomogram_mrc": _TOMO + "/{run_name}.mrc",
    "tomogram_zarr_member": _TOMO + "/{run_name}.zarr/{member}",
    "tomogram_zarr": _TOMO + "/{run_name}.zarr",
    "key_image": _VS + "/Images/{tomogram_id}/key-photo-{key_image}.png",
    "annotation_zarr_member": _ANNO + "/{slug}-{version}_{shape_suffix}.zarr/{member}",
    "annotation_file": _ANNO + "/{slug}-{version}_{shape_suffix}.{ext}",
    "annotation_metadata": _ANNO + "/{slug}-{version}.json",
    "neuroglancer_config": _NG + "/{tomogram_id}-neuroglancer_config.json",
    "neuroglancer_precompute_member": _NG + "/{annotation_id}-{slug}-{version}_{precompute_suffix}/{member}",
}

#: Entity directories, for discovery: a key below one of these belongs to that entity.
ENTITY_DIRS: dict[str, str] = {
    "deposition": "depositions_metadata/{deposition_id}",
    "dataset": "{dataset_id}",
    "run": _RUN,
    "voxel_spacing": _VS,
    "tiltseries": _TS,
    "alignment": _RUN + "/Alignments/{alignment_id}",
    "tomogram": _TOMO,
    "annotation": _ANNO,
}


class LayoutError(ValueError):
    """A path that cannot be built (bad field) or a key that the layout does not know."""


@dataclass(frozen=True)
class Match:
    """A key recognised by a template: its name and the field values (strings)."""

    template: str
    fields: dict[str, str]


def format_voxel_spacing(voxel_spacing: float) -> str:
    """``13.48 -> '13.480'``: the folder-name form, rounded to 3 decimals (layout.md §1)."""
    return f"{round(float(voxel_spacing), 3):.3f}"


def voxel_spacing_from_name(name: str) -> float:
    """``'VoxelSpacing13.480'`` or ``'13.480'`` -> 13.48."""
    return float(name.removeprefix("VoxelSpacing"))


def slug(text: str) -> str:
    """Annotation file slug: lower-case, every char outside [0-9a-z] replaced by '_' (layout.md §3)."""
    return re.sub(r"[^0-9a-z]", "_", text.lower())


def version_slug(version: Any) -> str:
    """Annotation version part of a file name: ``1.0 -> '1.0'``, missing -> ``'none'``."""
    return re.sub(r"[^0-9a-z.]", "_", str(version).lower())


def _normalise(fields: dict[str, Any]) -> dict[str, str]:
    values = {}
    for name, value in fields.items():
        if name == "voxel_spacing" and not isinstance(value, str):
            value = format_voxel_spacing(value)
        values[name] = str(value)
    return values


def build(template: str, **fields: Any) -> str:
    """The key of ``template`` for the given fields; every field is checked against its pattern."""
    try:
        pattern = TEMPLATES[template] if template in TEMPLATES else ENTITY_DIRS[template]
    except KeyError:
        raise LayoutError(f"unknown layout template {template!r}") from None
    values = _normalise(fields)
    for name in re.findall(r"{(\w+)}", pattern):
        if name not in values:
            raise LayoutError(f"{template}: missing field {name!r}")
        if not re.fullmatch(FIELD_PATTERNS[name], values[name]):
            raise LayoutError(f"{template}: {name}={values[name]!r} does not match {FIELD_PATTERNS[name]}")
        if name.endswith("_id") and name not in ("dataset_id", "deposition_id") and int(values[name]) < MIN_ENTITY_ID:
            raise LayoutError(f"{template}: {name}={values[name]} is below {MIN_ENTITY_ID}")
    return pattern.format(**values)


@cache
def _compiled(pattern: str, *, prefix: bool) -> re.Pattern[str]:
    seen: set[str] = set()

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in seen:  # a repeated field (run name in a file name) must repeat its value
            return f"(?P={name})"
        seen.add(name)
        return f"(?P<{name}>{FIELD_PATTERNS[name]})"

    body = re.sub(r"\\{(\w+)\\}", field, re.escape(pattern))
    return re.compile(body + (r"(?:/|$)" if prefix else r"$"))


@lru_cache(maxsize=1 << 16)
def parse(key: str) -> Match | None:
    """Which template a bucket key follows, with its fields; None if it follows none (memoized: validation
    asks about the same keys again and again)."""
    key = key.strip("/")
    for name, pattern in TEMPLATES.items():
        found = _compiled(pattern, prefix=False).match(key)
        if found:
            return Match(name, found.groupdict())
    return None


def entity_prefix(kind: str, key: str, *, loose_voxel_spacing: bool = False) -> Match | None:
    """If ``key`` lies in (or is) an entity directory of ``kind``, that directory's fields.

    ``loose_voxel_spacing`` also recognises non-canonical ``VoxelSpacing*`` folder names, so that a
    validator can discover (and report) them.
    """
    pattern = ENTITY_DIRS[kind]
    if loose_voxel_spacing:
        pattern = pattern.replace("VoxelSpacing{voxel_spacing}", "VoxelSpacing{loose_voxel_spacing}")
    found = _compiled(pattern, prefix=True).match(key.strip("/"))
    if not found:
        return None
    fields = found.groupdict()
    if "loose_voxel_spacing" in fields:
        fields["voxel_spacing"] = fields.pop("loose_voxel_spacing")
    return Match(kind, fields)


def strip_bucket_name(path: str, bucket_name: str | None = None) -> str:
    """Tolerate the legacy metadata form that starts with the bucket name (layout.md §5)."""
    path = path.strip()
    if bucket_name and path.startswith(bucket_name + "/"):
        return path[len(bucket_name) + 1 :]
    first, _, rest = path.partition("/")
    if rest and first.startswith("cryoet-data-portal"):
        return rest
    return path
