"""Tilt series: MRC + OME-Zarr, the raw tilt angles, the CTF fits and ``tiltseries_metadata.json``.

The volumes are written before the children (``rawtilt``, ``ctf``), which are copied beside them; the
metadata, whose ``per_section_parameter`` pairs the rawtlt lines with the mdoc sections and the CTF rows
(formats.md §4), is written after them. ``run.outputs["tiltseries_metadata_path"]`` is what the run's
alignment points at.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from importers import layout
from importers.formats.ctf import CtfSection, canonical_format, parse_ctf
from importers.formats.mdoc import Mdoc
from importers.formats.omezarr import VolumeKind
from importers.formats.text_table import decode_text
from importers.formats.tilt_angles import parse_tilt_angles
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.copies import put_object
from importers.ingest.entities.ids import IdAllocator
from importers.ingest.entities.metadata import (
    VOLATILE_KEYS,
    OverwriteRefused,
    compose,
    dumps,
    existing_document,
    write_document,
)
from importers.ingest.entities.sets import found_source, prerequisite
from importers.ingest.entities.templating import run_templated_metadata
from importers.ingest.entities.tree import Entity
from importers.ingest.volumes import DensityVolume, open_source_volume
from importers.metadata.identity import tiltseries_identity

#: Decimals of a pixel spacing taken from the source header (metadata.md §5).
HEADER_SPACING_DECIMALS = 3


def _allocator(ingestion: Ingestion, dataset: str, run: str) -> IdAllocator:
    container = layout.build("run", dataset_id=dataset, run_name=run) + "/TiltSeries"
    return ingestion.allocator(container, "tiltseries_metadata", tiltseries_identity)


def _volumes_current(ingestion: Ingestion, key: str, known: dict[str, Any]) -> bool:
    """Whether the metadata at ``key`` already describes these volumes.

    The full document needs the children (rawtlt, CTF), so before them only the keys known so far are
    compared; different ones are refused here, before any volume is rewritten.
    """
    existing = existing_document(ingestion, key)
    if existing is None:
        return False
    expected = json.loads(dumps(known))
    if all(existing.get(name) == value for name, value in expected.items() if name not in VOLATILE_KEYS):
        return True
    if not ingestion.options.force_overwrite:
        raise OverwriteRefused(f"{ingestion.output.url_of(key)} exists with other content (use --force-overwrite)")
    return False


def prepare_tiltseries(ingestion: Ingestion, tiltseries: Entity) -> None:
    """Allocate the tilt series id and write its MRC + OME-Zarr (unless the same ones are there)."""
    run = tiltseries.ancestor("run")
    dataset = run.ancestor("dataset").name
    if tiltseries.path is None:
        raise ValueError("a tilt series source needs a path (use source_glob)")
    metadata = run_templated_metadata(ingestion, tiltseries)
    with open_source_volume(ingestion.source, tiltseries.path) as source:
        shape = source.shape
        if metadata.get("pixel_spacing"):
            pixel_spacing = float(metadata["pixel_spacing"])
        else:
            pixel_spacing = round(source.header.voxel_size[1], HEADER_SPACING_DECIMALS)
        identifier = _allocator(ingestion, dataset, run.name).allocate(compose(ingestion, metadata, {}))
        used = run.outputs.setdefault("tiltseries_ids", set())
        if identifier in used:
            raise ValueError(f"TiltSeries/{identifier} is already imported: a run has one tilt series per deposition")
        used.add(identifier)
        tiltseries.identifier = identifier
        fields = {"dataset_id": dataset, "run_name": run.name, "tiltseries_id": identifier}
        volume = DensityVolume.of(VolumeKind.TILTSERIES, shape, **fields)
        computed = volume.described(run.name)
        metadata_key = layout.build("tiltseries_metadata", **fields)
        what = f"{tiltseries.describe()} -> TiltSeries/{identifier}"
        tiltseries.outputs.update(
            metadata=metadata,
            computed=computed,
            pixel_spacing=pixel_spacing,
            fields=fields,
            metadata_key=metadata_key,
            what=what,
        )
        run.outputs["tiltseries_metadata_path"] = metadata_key
        if ingestion.options.dry_run:
            ingestion.report.planned(what, f"{tiltseries.path}, {shape[2]}x{shape[1]}x{shape[0]}")
            return
        known = compose(ingestion, metadata, computed | {"pixel_spacing": pixel_spacing})
        if _volumes_current(ingestion, metadata_key, known):
            return
        volume.write(ingestion.output, source, pixel_spacing)


def _read_sidecar(ingestion: Ingestion, entity: Entity) -> tuple[bytes, str, str]:
    """The bytes, text and URL (for messages) of a child's source file (one per tilt series)."""
    if entity.path is None:
        raise ValueError(f"a {entity.kind} source needs a file (use source_glob)")
    found_source(entity.parent.outputs, entity.kind, entity.path)
    data = ingestion.source.read(entity.path)
    return data, decode_text(data), ingestion.source.url_of(entity.path)


def write_rawtilt(ingestion: Ingestion, rawtilt: Entity) -> None:
    """Parse the raw tilt angles and copy them beside the tilt series as ``{run}.rawtlt``."""
    parent = rawtilt.parent.outputs
    data, text, url = _read_sidecar(ingestion, rawtilt)
    angles = parse_tilt_angles(text, url)
    key = layout.build("rawtlt", **parent["fields"])
    put_object(ingestion, key, data, f"{rawtilt.describe()} -> {PurePosixPath(key).name}")
    parent.update(rawtilt=angles, raw_tlt_path=key)


def write_ctf(ingestion: Ingestion, ctf: Entity) -> None:
    """Parse the CTF fits (config ``format``) and copy them as ``{run}_{FORMAT}_ctf.txt``."""
    parent = ctf.parent.outputs
    ctf_format = canonical_format(ctf.metadata.get("format"))
    data, text, url = _read_sidecar(ingestion, ctf)
    rows = parse_ctf(text, ctf_format, url)
    key = layout.build("ctf", **parent["fields"], ctf_format=ctf_format)
    put_object(ingestion, key, data, f"{ctf.describe()} -> {PurePosixPath(key).name}")
    parent.update(ctf=rows, ctf_path=key)


def per_section_parameters(raw_angles: list[float], mdoc: Mdoc, ctf_rows: list[CtfSection]) -> list[dict[str, Any]]:
    """``per_section_parameter[]``: one per rawtlt line (formats.md §4 "Per-section mapping").

    ``raw_angle`` and ``frame_acquisition_order`` come from the mdoc section with the same angle at 2 dp;
    the CTF values from the row with ``section − 1 == z_index`` (null without one).
    """
    by_section = {row.section: row for row in ctf_rows}
    parameters = []
    for z_index, angle in enumerate(raw_angles):
        section = mdoc.section_at_angle(angle)
        if section is None:
            raise ValueError(f"rawtlt line {z_index + 1}: no mdoc section has TiltAngle {angle} (compared at 2 dp)")
        ctf = by_section.get(z_index + 1)
        parameters.append(
            {
                "z_index": z_index,
                "frame_acquisition_order": section.z_value,
                "raw_angle": section.tilt_angle,
                "astigmatic_angle": ctf.astigmatic_angle if ctf else None,
                "cross_correlation": ctf.cross_correlation if ctf else None,
                "major_defocus": ctf.major_defocus if ctf else None,
                "max_resolution": ctf.max_resolution if ctf else None,
                "minor_defocus": ctf.minor_defocus if ctf else None,
                "phase_shift": ctf.phase_shift if ctf else None,
            }
        )
    return parameters


def write_tiltseries(ingestion: Ingestion, tiltseries: Entity) -> None:
    """Write ``tiltseries_metadata.json`` once the volumes, rawtlt and CTF file are there."""
    outputs = tiltseries.outputs
    run = tiltseries.ancestor("run")
    what = outputs["what"]
    mdoc = prerequisite(run.outputs, "mdoc", what, "the run's mdoc (a collection_metadata source)")
    raw_angles = prerequisite(outputs, "rawtilt", what, "the raw tilt angles (a rawtilts source)")
    # The CTF file is optional, but one that was found and failed must not leave its values out.
    ctf_rows = prerequisite(outputs, "ctf", what, "") if "ctf_source" in outputs else []
    computed = outputs["computed"] | {
        "frames_count": run.outputs.get("frames_count", 0),
        "pixel_spacing": outputs["pixel_spacing"],
        "per_section_parameter": per_section_parameters(raw_angles, mdoc, ctf_rows),
        "raw_tlt_path": outputs["raw_tlt_path"],
        "ctf_path": outputs.get("ctf_path"),
    }
    document = compose(ingestion, outputs["metadata"], computed)
    write_document(ingestion, outputs["metadata_key"], document, what)
