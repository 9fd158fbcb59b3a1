"""Voxel-spacing checks (checks.md §13)."""

from __future__ import annotations

import re

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Severity, Tier, check, fail
from importers import layout

VS_TOLERANCE = 0.0005
CANONICAL_NAME = re.compile(r"^\d+\.\d{3}$")


def _spacing(voxel_spacing: Entity) -> float:
    try:
        return voxel_spacing.voxel_spacing
    except ValueError:
        fail(f"VoxelSpacing{voxel_spacing['voxel_spacing']} does not name a number")


def _tomogram_documents(context: CheckContext, voxel_spacing: Entity) -> list[tuple[str, dict]]:
    return [
        (key, document)
        for key, kind, document in context.metadata_documents(voxel_spacing.key("Tomograms"))
        if kind == "tomogram"
    ]


@check(
    "VS-NAME", entity=EntityKind.VOXEL_SPACING, tier=Tier.LIST, title="folder is VoxelSpacing{vs:.3f} of its own value"
)
def voxel_spacing_name(context: CheckContext, voxel_spacing: Entity) -> None:
    name = voxel_spacing["voxel_spacing"]
    spacing = _spacing(voxel_spacing)
    if not CANONICAL_NAME.match(name) or layout.format_voxel_spacing(spacing) != name:
        fail(
            f"VoxelSpacing{name} is not canonical, expected VoxelSpacing{layout.format_voxel_spacing(spacing)}",
            observed=name,
            expected=layout.format_voxel_spacing(spacing),
        )


@check(
    "VS-RANGE",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="1 Å < voxel spacing < 30 Å",
)
def voxel_spacing_range(context: CheckContext, voxel_spacing: Entity) -> None:
    spacing = _spacing(voxel_spacing)
    if not 1 < spacing < 30:
        fail(f"voxel spacing {spacing} Å is outside (1, 30)", observed=spacing)


@check(
    "VS-INTEGRAL",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.LIST,
    severity=Severity.INFO,
    title="an integral spacing (10.000) is reported (the portal rejects it)",
)
def voxel_spacing_integral(context: CheckContext, voxel_spacing: Entity) -> None:
    spacing = _spacing(voxel_spacing)
    if spacing == int(spacing):
        fail(f"voxel spacing {spacing} is integral", observed=spacing)


@check(
    "VS-NONEMPTY",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.LIST,
    title="the spacing holds at least one tomogram (annotations only: warning)",
)
def voxel_spacing_nonempty(context: CheckContext, voxel_spacing: Entity) -> None:
    if context.reader.children(voxel_spacing.key("Tomograms")):
        return
    if context.reader.children(voxel_spacing.key("Annotations")):
        fail("annotations but no tomograms at this spacing", severity=Severity.WARNING)
    fail(f"no tomograms: holds {context.reader.children(voxel_spacing.path)}")


@check(
    "VS-TOMO-MATCH",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    title="every tomogram's voxel_spacing equals the folder spacing",
)
def voxel_spacing_tomograms_match(context: CheckContext, voxel_spacing: Entity) -> None:
    folder = _spacing(voxel_spacing)
    for key, document in _tomogram_documents(context, voxel_spacing):
        observed = document.get("voxel_spacing")
        if not isinstance(observed, int | float) or abs(observed - folder) > VS_TOLERANCE:
            fail(f"{key}: voxel_spacing {observed!r}, folder says {folder:.3f}", observed=observed, expected=folder)


def _dims(documents: list[tuple[str, dict]]) -> list[tuple[int, ...]]:
    sizes = []
    for _, document in documents:
        size = document.get("size")
        if isinstance(size, dict) and all(isinstance(size.get(axis), int) for axis in "zyx"):
            sizes.append(tuple(size[axis] for axis in "zyx"))
    return sizes


@check(
    "VS-SIBLING-DIMS",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="tomograms at two spacings of a run have dims in inverse ratio to the spacings (±2 %)",
)
def voxel_spacing_sibling_dims(context: CheckContext, voxel_spacing: Entity) -> None:
    spacing = _spacing(voxel_spacing)
    mine = _dims(_tomogram_documents(context, voxel_spacing))
    run = layout.build("run", dataset_id=voxel_spacing["dataset_id"], run_name=voxel_spacing["run_name"])
    for name in context.reader.children(f"{run}/Reconstructions"):
        sibling = Entity.of(
            EntityKind.VOXEL_SPACING,
            dataset_id=voxel_spacing["dataset_id"],
            run_name=voxel_spacing["run_name"],
            voxel_spacing=name.removeprefix("VoxelSpacing"),
        )
        if sibling == voxel_spacing or not CANONICAL_NAME.match(sibling["voxel_spacing"]):
            continue
        ratio = sibling.voxel_spacing / spacing
        for ours in mine:
            for theirs in _dims(_tomogram_documents(context, sibling)):
                if ours == theirs:
                    fail(f"same dims {ours} as at spacing {sibling['voxel_spacing']}", observed=ours)
                if any(abs(a / b - ratio) > 0.02 * ratio for a, b in zip(ours, theirs, strict=True) if b):
                    fail(
                        f"dims {ours} vs {theirs} at {sibling['voxel_spacing']} are not in ratio {ratio:.3f}",
                        observed=(ours, theirs),
                    )
