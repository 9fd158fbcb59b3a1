"""The integrity manifest (importers/manifest.py): the dataset's listing against what was written."""

from __future__ import annotations

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, not_applicable
from importers import layout, manifest

#: Objects named in a failure's message (all of them are in its evidence).
SHOWN = 5


@check(
    "DS-MANIFEST",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="every object the dataset manifest records is listed with its size and checksum (no data read)",
)
def listing_matches_the_manifest(context: CheckContext, dataset: Entity) -> None:
    key = manifest.manifest_key(dataset.path)
    if not context.reader.exists(key):
        not_applicable(
            f"no {layout.DATASET_MANIFEST} (written by standardize; for a dataset ingested before, by "
            f"cryoet-ingest manifest --bucket URL --dataset {dataset.path})"
        )
    try:
        entries = manifest.parse(context.reader.read(key), dataset.path)
    except manifest.ManifestError as error:
        raise Unreadable(key, str(error)) from None
    listing = {name: context.reader.info(name) for name in context.reader.keys_under(dataset.path)}
    found = manifest.compare(entries, listing, key)
    lost = found.lost
    if lost:
        counts = ", ".join(
            f"{len(items)} {what}"
            for what, items in (("missing", found.missing), ("resized", found.resized), ("replaced", found.replaced))
            if items
        )
        shown = "; ".join(lost[:SHOWN]) + (f"; … {len(lost) - SHOWN} more" if len(lost) > SHOWN else "")
        fail(
            f"{len(lost)} of {len(entries)} recorded objects lost or changed ({counts}): {shown}",
            observed=lost,
        )
    if found.unrecorded:
        more = f", … {len(found.unrecorded) - SHOWN} more" if len(found.unrecorded) > SHOWN else ""
        fail(
            f"{len(found.unrecorded)} objects are not in the manifest (written after it? standardize or "
            f"cryoet-ingest manifest records them): {', '.join(found.unrecorded[:SHOWN])}{more}",
            observed=found.unrecorded,
            severity=Severity.WARNING,
        )
