"""Dataset, run and voxel-spacing checks: metadata presence and agreement with folder names."""

from __future__ import annotations

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Tier, check, fail
from data_validation.snapshot import is_metadata_json
from importers import layout

VS_TOLERANCE = 0.0005


@check(
    "GEN-JSON-PARSE",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="every metadata JSON of the dataset parses as a JSON object",
)
def json_documents_parse(context: CheckContext, dataset: Entity) -> None:
    broken = []
    for key in sorted(context.reader.keys_under(dataset.path)):
        if is_metadata_json(key):
            try:
                context.reader.json(key)
            except Unreadable as unreadable:
                broken.append(f"{key} ({unreadable.reason})")
    if broken:
        fail(f"{len(broken)} unreadable: " + "; ".join(broken), observed=broken)


@check("DS-METADATA-EXISTS", entity=EntityKind.DATASET, tier=Tier.LIST, title="dataset_metadata.json exists")
def dataset_metadata_exists(context: CheckContext, dataset: Entity) -> None:
    if not context.reader.exists(dataset.key(layout.DATASET_METADATA)):
        fail(f"{dataset.key(layout.DATASET_METADATA)} is missing")


@check("DS-ID-MATCH", entity=EntityKind.DATASET, tier=Tier.HEADER, title="dataset_identifier equals the folder name")
def dataset_id_match(context: CheckContext, dataset: Entity) -> None:
    observed = context.metadata(dataset.key(layout.DATASET_METADATA)).get("dataset_identifier")
    if str(observed) != dataset["dataset_id"]:
        fail(
            f"dataset_identifier is {observed!r}, folder is {dataset['dataset_id']}",
            observed=observed,
            expected=int(dataset["dataset_id"]),
        )


@check("RUN-METADATA-EXISTS", entity=EntityKind.RUN, tier=Tier.LIST, title="run_metadata.json exists")
def run_metadata_exists(context: CheckContext, run: Entity) -> None:
    if not context.reader.exists(run.key(layout.RUN_METADATA)):
        fail(f"{run.key(layout.RUN_METADATA)} is missing")


@check("RUN-NAME-MATCH", entity=EntityKind.RUN, tier=Tier.HEADER, title="run_name equals the folder name")
def run_name_match(context: CheckContext, run: Entity) -> None:
    observed = context.metadata(run.key(layout.RUN_METADATA)).get("run_name")
    if observed != run["run_name"]:
        fail(f"run_name is {observed!r}, folder is {run['run_name']!r}", observed=observed, expected=run["run_name"])


@check(
    "VS-TOMO-MATCH",
    entity=EntityKind.VOXEL_SPACING,
    tier=Tier.HEADER,
    title="every tomogram's voxel_spacing equals the folder spacing",
)
def voxel_spacing_tomograms_match(context: CheckContext, voxel_spacing: Entity) -> None:
    folder = voxel_spacing.voxel_spacing
    for key in context.reader.keys_under(voxel_spacing.key("Tomograms")):
        match = layout.parse(key)
        if match is None or match.template != "tomogram_metadata":
            continue
        observed = context.metadata(key).get("voxel_spacing")
        if not isinstance(observed, int | float) or abs(observed - folder) > VS_TOLERANCE:
            fail(f"{key}: voxel_spacing {observed!r}, folder says {folder:.3f}", observed=observed, expected=folder)
