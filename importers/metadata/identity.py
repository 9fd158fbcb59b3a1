"""What makes two metadata documents the same entity (layout.md §4), and what names an annotation's files (§3).

The importer allocates ids by these keys (the same key gets the same id on re-ingest); the checks find twins by them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from importers import layout


def tiltseries_identity(document: dict[str, Any]) -> Hashable:
    """A run has one tilt series per deposition (layout.md §4)."""
    return document.get("deposition_id")


def alignment_identity(document: dict[str, Any]) -> Hashable:
    """A run has one alignment per deposition (layout.md §4)."""
    return document.get("deposition_id")


def tomogram_identity(document: dict[str, Any]) -> Hashable:
    """What makes two tomograms of a run the same one (layout.md §4)."""
    return (
        layout.format_voxel_spacing(document.get("voxel_spacing", 0)),
        document.get("alignment_metadata_path"),
        document.get("reconstruction_method"),
        document.get("processing"),
        document.get("processing_software") or "",
        document.get("deposition_id"),
    )


def annotation_identity(document: dict[str, Any]) -> Hashable:
    """What makes two annotations of a voxel spacing the same one (layout.md §4)."""
    return (
        document.get("deposition_id"),
        document.get("annotation_ingest_id"),
        document.get("alignment_metadata_path"),
    )


def object_slug(metadata: dict[str, Any]) -> str:
    """``annotation_object.description`` if present and ≤ 50 chars, else its name (layout.md §3)."""
    annotation_object = metadata.get("annotation_object") or {}
    description = annotation_object.get("description")
    text = description if description and len(str(description)) <= 50 else annotation_object.get("name")
    if not text:
        raise ValueError("annotation_object needs a name (or a description of at most 50 characters)")
    return layout.slug(str(text))
