"""Neuroglancer viewer states and their precomputed sources (checks.md §17, formats.md §7).

A voxel spacing's ``NeuroglancerPrecompute/{tomo_id}-neuroglancer_config.json`` files are checked per
voxel spacing. NG-LAYERS owns their readability; the other checks pass over a state they cannot read.
URLs are ``{scheme}://{https_prefix}/{bucket key}``: the key is found by the run's path in the URL.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterator
from typing import Any

from data_validation.checks.annotation import entry_key, file_entries
from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, fail_summary, not_applicable
from importers import layout
from importers.formats.neuroglancer import LAYER_FORMATS, LAYER_KINDS, METRES_PER_ANGSTROM

PRECOMPUTED = "precomputed://"
ZARR = "zarr://"
DIMENSION_TOLERANCE = 1e-6


def _precompute_dir(voxel_spacing: Entity) -> str:
    return voxel_spacing.key("NeuroglancerPrecompute")


def state_keys(context: CheckContext, voxel_spacing: Entity) -> list[tuple[str, str]]:
    """``(key, tomogram id)`` of the spacing's viewer states; none → not applicable."""
    folder = _precompute_dir(voxel_spacing)
    found = []
    for name in context.reader.children(folder):
        match = layout.parse(f"{folder}/{name}")
        if match is not None and match.template == "neuroglancer_config":
            found.append((f"{folder}/{name}", match.fields["tomogram_id"]))
    if not found:
        not_applicable(f"no *-neuroglancer_config.json in {folder}")
    return found


def states(context: CheckContext, voxel_spacing: Entity) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(key, tomogram id, state)`` of every readable viewer state (NG-LAYERS reports the others)."""
    for key, tomogram_id in state_keys(context, voxel_spacing):
        try:
            yield key, tomogram_id, context.metadata(key)
        except Unreadable:
            continue


def layers(state: dict[str, Any]) -> list[dict[str, Any]]:
    found = state.get("layers")
    return [layer for layer in found if isinstance(layer, dict)] if isinstance(found, list) else []


def layer_urls(layer: dict[str, Any]) -> list[str]:
    """The source URLs of a layer (a source is a URL, an object with ``url``, or a list of those)."""
    sources = layer.get("source")
    urls = []
    for source in sources if isinstance(sources, list) else [sources]:
        url = source.get("url") if isinstance(source, dict) else source
        if isinstance(url, str):
            urls.append(url)
    return urls


def split_url(url: str, voxel_spacing: Entity) -> tuple[str, str, str] | None:
    """``(scheme, prefix, key)`` of a source URL that points into this spacing's run, else None."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    run = f"/{voxel_spacing['dataset_id']}/{voxel_spacing['run_name']}/"
    index = rest.find(run)
    if index < 0:
        return None
    return scheme, rest[:index], rest[index + 1 :].rstrip("/")


def _tomogram(context: CheckContext, voxel_spacing: Entity, tomogram_id: str) -> dict[str, Any] | None:
    fields = dict(voxel_spacing.fields) | {"tomogram_id": tomogram_id}
    try:
        return context.metadata(layout.build("tomogram_metadata", **fields))
    except Unreadable:
        return None


@check(
    "NG-LAYERS",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="each *-neuroglancer_config.json parses as a JSON object with a non-empty layers list",
)
def neuroglancer_layers(context: CheckContext, voxel_spacing: Entity) -> None:
    problems = []
    for key, _ in state_keys(context, voxel_spacing):
        try:
            state = context.metadata(key)
        except Unreadable as unreadable:
            problems.append(f"{key}: {unreadable.reason}")
            continue
        found = state.get("layers")
        if not isinstance(found, list) or not found or len(layers(state)) != len(found):
            problems.append(f"{key}: layers is {str(found)[:60]!r}, expected a non-empty list of objects")
    fail_summary(problems, "viewer states without layers")


@check(
    "NG-PER-TOMOGRAM",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="every tomogram of the spacing has its {tomo_id}-neuroglancer_config.json",
)
def neuroglancer_per_tomogram(context: CheckContext, voxel_spacing: Entity) -> None:
    tomograms = [name for name in context.reader.children(voxel_spacing.key("Tomograms")) if name.isdigit()]
    if not tomograms:
        not_applicable("no tomogram in this spacing")
    missing = [
        name
        for name in tomograms
        if not context.reader.exists(
            layout.build("neuroglancer_config", **dict(voxel_spacing.fields), tomogram_id=name)
        )
    ]
    if missing:
        fail(f"tomograms {missing} have no {{id}}-neuroglancer_config.json in {_precompute_dir(voxel_spacing)}")


@check(
    "NG-DIMENSIONS",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    title="dimensions x, y, z are [voxel spacing × 1e-10, 'm']",
)
def neuroglancer_dimensions(context: CheckContext, voxel_spacing: Entity) -> None:
    expected = voxel_spacing.voxel_spacing * METRES_PER_ANGSTROM
    problems = []
    for key, _, state in states(context, voxel_spacing):
        dimensions = state.get("dimensions")
        for axis in "xyz":
            value = dimensions.get(axis) if isinstance(dimensions, dict) else None
            ok = (
                isinstance(value, list)
                and len(value) == 2
                and isinstance(value[0], int | float)
                and math.isclose(value[0], expected, rel_tol=DIMENSION_TOLERANCE)
                and value[1] == "m"
            )
            if not ok:
                problems.append(f"{key}: dimensions.{axis} = {value!r}, expected [{expected:.6g}, 'm']")
                break
    fail_summary(problems, "viewer states with wrong dimensions")


@check(
    "NG-IMAGE-LAYER",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    title="layers[0] is an image layer of zarr://{https_prefix}/{omezarr_dir} of its tomogram",
)
def neuroglancer_image_layer(context: CheckContext, voxel_spacing: Entity) -> None:
    problems = []
    for key, tomogram_id, state in states(context, voxel_spacing):
        tomogram = _tomogram(context, voxel_spacing, tomogram_id)
        if tomogram is None or not isinstance(tomogram.get("omezarr_dir"), str):
            problems.append(f"{key}: tomogram {tomogram_id} has no readable metadata with omezarr_dir here")
            continue
        expected = layout.strip_bucket_name(tomogram["omezarr_dir"]).rstrip("/")
        found = layers(state)
        first = found[0] if found else {}
        parts = [split_url(url, voxel_spacing) for url in layer_urls(first)]
        if first.get("type") != "image" or not any(p and p[0] == "zarr" and p[2] == expected for p in parts):
            problems.append(
                f"{key}: layers[0] is a {first.get('type')!r} layer of {layer_urls(first)}, expected an image "
                f"layer of {ZARR}{{prefix}}/{expected}"
            )
    fail_summary(problems, "viewer states without their tomogram's image layer")


@check(
    "NG-SOURCES-EXIST",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.LIST,
    # A layer without its source shows nothing: the annotation is lost to the viewer.
    severity=Severity.ERROR,
    title="every precomputed:// source is a bucket folder with an info object",
)
def neuroglancer_sources_exist(context: CheckContext, voxel_spacing: Entity) -> None:
    missing = []
    for key, _, state in states(context, voxel_spacing):
        for layer in layers(state):
            for url in layer_urls(layer):
                if not url.startswith(PRECOMPUTED):
                    continue
                parts = split_url(url, voxel_spacing)
                if parts is None or not context.reader.exists(f"{parts[2]}/info"):
                    missing.append(f"{key}: layer {layer.get('name')!r} -> {url}")
    fail_summary(missing, "precomputed sources have no info object")


def _expected_layers(context: CheckContext, voxel_spacing: Entity, alignment: Any) -> list[tuple[str, str, str]]:
    """``(annotation file, precompute key, alternative key)`` of every annotation file of the run that
    a viewer state on a tomogram with ``alignment`` shows (formats.md §7)."""
    run = layout.build("run", dataset_id=voxel_spacing["dataset_id"], run_name=voxel_spacing["run_name"])
    expected = []
    for key, kind, document in context.metadata_documents(f"{run}/Reconstructions"):
        if kind != "annotation" or document.get("alignment_metadata_path") != alignment:
            continue
        fields = layout.parse(key).fields
        for entry in file_entries(document):
            if entry["shape"] not in LAYER_KINDS or entry["format"] not in LAYER_FORMATS:
                continue

            def precompute(suffix: str, fields: dict[str, str] = fields) -> str:
                member = layout.build(
                    "neuroglancer_precompute_member", **fields, precompute_suffix=suffix, member="info"
                )
                return posixpath.dirname(member)

            alternative = precompute("orientedmesh") if entry["shape"] == "OrientedPoint" else ""
            expected.append((entry_key(entry), precompute(entry["shape"].lower()), alternative))
    return expected


@check(
    "NG-LAYER-COVERAGE",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="every zarr/ndjson/glb annotation file on the tomogram's alignment has a layer; names unique; "
    "selectedLayer names a layer",
)
def neuroglancer_layer_coverage(context: CheckContext, voxel_spacing: Entity) -> None:
    problems = []
    for key, tomogram_id, state in states(context, voxel_spacing):
        tomogram = _tomogram(context, voxel_spacing, tomogram_id)
        if tomogram is None:
            continue  # NG-IMAGE-LAYER
        found = layers(state)
        sources = {parts[2] for layer in found for url in layer_urls(layer) if (parts := split_url(url, voxel_spacing))}
        uncovered = [
            path.rsplit("/", 1)[-1]
            for path, source, alternative in _expected_layers(
                context, voxel_spacing, tomogram.get("alignment_metadata_path")
            )
            if source not in sources and alternative not in sources
        ]
        if uncovered:
            problems.append(f"{key}: no layer for {', '.join(uncovered)}")
        names = [layer.get("name") for layer in found]
        repeated = sorted({str(name) for name in names if names.count(name) > 1})
        if repeated:
            problems.append(f"{key}: layer names {repeated} repeat")
        selected = state.get("selectedLayer")
        selected_name = selected.get("layer") if isinstance(selected, dict) else None
        if selected_name not in names:
            problems.append(f"{key}: selectedLayer.layer {selected_name!r} names no layer")
    fail_summary(problems, "viewer state coverage problems")


@check(
    "NG-URL-PREFIX",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="all layer URLs point into the run under one HTTPS prefix",
)
def neuroglancer_url_prefix(context: CheckContext, voxel_spacing: Entity) -> None:
    prefixes: dict[str, str] = {}
    problems = []
    for key, _, state in states(context, voxel_spacing):
        for layer in layers(state):
            for url in layer_urls(layer):
                parts = split_url(url, voxel_spacing)
                if parts is None:
                    problems.append(
                        f"{key}: {url} does not point into {voxel_spacing['dataset_id']}/{voxel_spacing['run_name']}"
                    )
                else:
                    prefixes.setdefault(parts[1], url)
    if len(prefixes) > 1:
        problems.append(f"{len(prefixes)} prefixes: {sorted(prefixes)}")
    fail_summary(problems, "URL prefix problems")
