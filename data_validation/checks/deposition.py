"""Deposition checks (checks.md §2): every deposition a dataset's documents reference."""

from __future__ import annotations

from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.checks.images import check_key_photos
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Tier, check, fail
from importers import layout
from importers.enums import DepositionType, values


def _metadata(context: CheckContext, deposition: Entity) -> dict[str, Any]:
    return context.metadata(deposition.key(layout.DEPOSITION_METADATA))


@check(
    "DEP-METADATA-EXISTS",
    entity=EntityKind.DEPOSITION,
    tier=Tier.HEAD,
    title="a referenced deposition has deposition_metadata.json",
)
def deposition_metadata_exists(context: CheckContext, deposition: Entity) -> None:
    if not context.reader.exists(deposition.key(layout.DEPOSITION_METADATA)):
        fail(
            f"{deposition.key(layout.DEPOSITION_METADATA)} is missing but deposition {deposition['deposition_id']} "
            "is referenced"
        )


@check(
    "DEP-FIELDS",
    entity=EntityKind.DEPOSITION,
    tier=Tier.HEADER,
    title="deposition_title, deposition_description, deposition_identifier are set",
)
def deposition_fields(context: CheckContext, deposition: Entity) -> None:
    document = _metadata(context, deposition)
    empty = [k for k in ("deposition_title", "deposition_description", "deposition_identifier") if not document.get(k)]
    if empty:
        fail(f"empty or missing: {', '.join(empty)}", observed=empty)


@check(
    "DEP-ID-MATCH",
    entity=EntityKind.DEPOSITION,
    tier=Tier.HEADER,
    title="deposition_identifier == deposition_id == folder name",
)
def deposition_id_match(context: CheckContext, deposition: Entity) -> None:
    document = _metadata(context, deposition)
    values = {document.get("deposition_identifier"), document.get("deposition_id")}
    if {str(v) for v in values} != {deposition["deposition_id"]}:
        fail(
            f"deposition_identifier {document.get('deposition_identifier')!r} and deposition_id "
            f"{document.get('deposition_id')!r} differ from the folder {deposition['deposition_id']}"
        )


@check(
    "DEP-TYPES",
    entity=EntityKind.DEPOSITION,
    tier=Tier.HEADER,
    title="deposition_types is a non-empty subset of annotation, dataset, tomogram",
)
def deposition_types(context: CheckContext, deposition: Entity) -> None:
    types = _metadata(context, deposition).get("deposition_types")
    if not isinstance(types, list) or not types or not set(types) <= values(DepositionType):
        fail(f"deposition_types {types!r}", observed=types, expected=sorted(values(DepositionType)))


@check(
    "DEP-KEYPHOTO",
    entity=EntityKind.DEPOSITION,
    tier=Tier.HEADER,
    title="key photos, when set, exist and are images (under 50×50 px: warning)",
)
def deposition_key_photos(context: CheckContext, deposition: Entity) -> None:
    photos = _metadata(context, deposition).get("key_photos")
    if photos is None:
        return
    check_key_photos(context, photos, {"snapshot": (50, 50), "thumbnail": (50, 50)})
