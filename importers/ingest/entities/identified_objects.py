"""Identified objects: a run's rows of a depositor CSV → ``IdentifiedObjects/identified_objects.json``
and ``identified_objects_metadata.json`` (layout.md §2, formats.md §5, metadata.md §9)."""

from __future__ import annotations

import io
import json

from importers import layout
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.metadata import JSON_CONTENT_TYPE, compose, existing_document, is_current, write_document
from importers.ingest.entities.tree import Entity
from importers.ingest.finders import format_template
from importers.lazy import lazy

pd = lazy("pandas")

RUN_COLUMN = "run_name"


def _rows(ingestion: Ingestion, entity: Entity) -> pd.DataFrame:
    """The CSV rows of this run (``run_name`` equal to the templated ``filter_value``, by default
    the run's name), without the ``run_name`` column."""
    where = ingestion.source.url_of(entity.path)
    try:
        table = pd.read_csv(io.BytesIO(ingestion.source.read(entity.path)), dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{where}: not a CSV table ({str(error).strip().splitlines()[0]})") from None
    if RUN_COLUMN not in table.columns:
        raise ValueError(f"{where}: no {RUN_COLUMN} column (columns: {', '.join(table.columns)})")
    wanted = entity.metadata.get("filter_value")
    wanted = format_template(str(wanted), entity.glob_variables()) if wanted else entity.ancestor("run").name
    rows = table[table[RUN_COLUMN].str.strip() == wanted].drop(columns=RUN_COLUMN)
    # Empty cells are null in the JSON, as pandas' JSON writer has them in the portal's files.
    return rows.astype(object).where(rows.notna(), None)


def write_identified_objects(ingestion: Ingestion, entity: Entity) -> None:
    """Write the run's identified objects and their metadata (written once the data file is there)."""
    if entity.path is None:
        raise ValueError("identified objects need a source CSV (use source_glob)")
    run = entity.ancestor("run")
    place = {"dataset_id": run.ancestor("dataset").name, "run_name": run.name}
    data_key = layout.build("identified_objects", **place)
    metadata_key = layout.build("identified_objects_metadata", **place)
    rows = _rows(ingestion, entity)
    # One file per run: the same deposition keeps its id (layout.md §4), another one takes the next.
    existing = existing_document(ingestion, metadata_key) or {}
    previous = existing.get("identifier")
    if not isinstance(previous, int):
        identifier = layout.MIN_ENTITY_ID
    elif existing.get("deposition_id") == entity.metadata.get("deposition_id", ingestion.deposition_id):
        identifier = previous
    else:
        identifier = previous + 1
    entity.identifier = identifier
    computed = {
        "object_count": len(rows),
        "columns": list(rows.columns),
        "file_format": "json",
        "source_file": ingestion.source.path(entity.path),
        "identifier": identifier,
    }
    document = compose(ingestion, entity.metadata, computed)
    what = f"{entity.describe()} -> IdentifiedObjects"
    if ingestion.options.dry_run:
        ingestion.report.planned(what, f"{len(rows)} object(s)")
        return
    if is_current(ingestion, metadata_key, document):
        ingestion.report.skipped(what, "complete and unchanged")
        return
    records = rows.to_dict(orient="records")
    ingestion.output.write(data_key, json.dumps(records, indent=4).encode(), content_type=JSON_CONTENT_TYPE)
    write_document(ingestion, metadata_key, document, what)
