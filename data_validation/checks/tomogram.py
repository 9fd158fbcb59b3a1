"""Tomogram checks beyond the shared volume suites (checks.md §14)."""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.checks.volumes import FAMILIES
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Tier, check, fail
from importers import layout

TOMOGRAM = next(family for family in FAMILIES if family.prefix == "TOMO")


def _metadata(context: CheckContext, tomogram: Entity) -> dict[str, Any]:
    return context.metadata(tomogram.key(layout.TOMOGRAM_METADATA))


def _zyx(document: Any, what: str) -> list[int]:
    if not isinstance(document, dict) or not all(isinstance(document.get(a), int) for a in "zyx"):
        fail(f"{what} is not a {{z, y, x}} object of integers: {document!r}")
    return [document[a] for a in "zyx"]


@check("TOMO-METADATA-EXISTS", entity=EntityKind.TOMOGRAM, tier=Tier.LIST, title="tomogram_metadata.json exists")
def tomogram_metadata_exists(context: CheckContext, tomogram: Entity) -> None:
    if not context.reader.exists(tomogram.key(layout.TOMOGRAM_METADATA)):
        fail(f"{tomogram.key(layout.TOMOGRAM_METADATA)} is missing (an interrupted write?)")


@check(
    "TOMO-FILE-NAMES",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.LIST,
    title="mrc_file / omezarr_dir name the single {run}.mrc / {run}.zarr of this folder",
)
def tomogram_file_names(context: CheckContext, tomogram: Entity) -> None:
    document = _metadata(context, tomogram)
    run = tomogram["run_name"]
    for field, suffix in (("mrc_file", ".mrc"), ("omezarr_dir", ".zarr")):
        present = context.files_with_suffix(tomogram, suffix)
        expected = tomogram.key(f"{run}{suffix}")
        if present != [expected]:
            fail(
                f"folder holds {[PurePosixPath(p).name for p in present]}, expected exactly {run}{suffix}",
                observed=present,
                expected=[expected],
            )
        value = layout.strip_bucket_name(str(document.get(field, "")))
        if value != expected:
            fail(
                f"{field} is {document.get(field)!r}, expected {expected!r}",
                observed=document.get(field),
                expected=expected,
            )


@check(
    "TOMO-SIZE-SCALES",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    title="size == scales[0] and each scale halves the previous",
)
def tomogram_size_scales(context: CheckContext, tomogram: Entity) -> None:
    document = _metadata(context, tomogram)
    size = _zyx(document.get("size"), "size")
    scales = document.get("scales")
    if not isinstance(scales, list) or len(scales) != 3:
        fail(f"scales must list 3 levels, found {scales!r}")
    levels = [_zyx(scale, f"scales[{i}]") for i, scale in enumerate(scales)]
    expected = [size]
    for _ in range(2):
        expected.append([math.ceil(n / 2) for n in expected[-1]])
    if levels != expected:
        fail(f"scales {levels}, expected {expected} from size {size}", observed=levels, expected=expected)


@check("TOMO-SIZE-MRC", entity=EntityKind.TOMOGRAM, tier=Tier.HEADER, title="MRC (nz, ny, nx) equals size")
def tomogram_size_mrc(context: CheckContext, tomogram: Entity) -> None:
    size = _zyx(_metadata(context, tomogram).get("size"), "size")
    header = context.reader.mrc_header(TOMOGRAM.mrc_key(context, tomogram))
    if list(header.shape) != size:
        fail(
            f"MRC (nz, ny, nx) = {list(header.shape)}, metadata size (z, y, x) = {size}",
            observed=list(header.shape),
            expected=size,
        )


@check(
    "TOMO-SCALES-ZARR", entity=EntityKind.TOMOGRAM, tier=Tier.HEADER, title="each zarr level's shape equals scales[i]"
)
def tomogram_scales_zarr(context: CheckContext, tomogram: Entity) -> None:
    scales = _metadata(context, tomogram).get("scales")
    if not isinstance(scales, list):
        fail(f"scales is not a list: {scales!r}")
    store = TOMOGRAM.zarr_key(context, tomogram)
    for level, scale in enumerate(scales):
        array_key = f"{store}/{level}/.zarray"
        shape = context.reader.json(array_key).get("shape")
        if shape != _zyx(scale, f"scales[{level}]"):
            fail(f"level {level} shape {shape}, scales[{level}] = {scale}", observed=shape, expected=scale)
