"""Run checks (checks.md §4)."""

from __future__ import annotations

from collections import Counter

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.registry import EntityKind, Severity, Tier, check, fail
from importers import layout


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
    "RUN-HAS-DATA",
    entity=EntityKind.RUN,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="the run has TiltSeries/, Reconstructions/ or Frames/",
)
def run_has_data(context: CheckContext, run: Entity) -> None:
    children = set(context.reader.children(run.path))
    if not children & {"TiltSeries", "Reconstructions", "Frames"}:
        fail(f"run holds only {sorted(children)}", observed=sorted(children))


@check(
    "RUN-TS-COUNT",
    entity=EntityKind.RUN,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="at most one tilt series per run (the database imports only the first)",
)
def run_tiltseries_count(context: CheckContext, run: Entity) -> None:
    tiltseries = context.reader.children(run.key("TiltSeries"))
    if len(tiltseries) > 1:
        fail(f"{len(tiltseries)} tilt series dirs: {tiltseries}", observed=tiltseries)


@check("RUN-ALN-PER-DEP", entity=EntityKind.RUN, tier=Tier.HEADER, title="at most one alignment per (run, deposition)")
def run_alignments_per_deposition(context: CheckContext, run: Entity) -> None:
    depositions = Counter(
        document.get("deposition_id")
        for _, kind, document in context.metadata_documents(run.key("Alignments"))
        if kind == "alignment"
    )
    repeated = {deposition: count for deposition, count in depositions.items() if count > 1}
    if repeated:
        fail(f"alignments per deposition: {repeated}", observed=repeated)
