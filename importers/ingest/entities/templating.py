"""Per-run values from the config's map files (config.md §5).

``standardization_config.run_data_map_file`` is a table (TSV if its name ends in ``tsv``, else CSV) with
a ``run_name`` column; ``run_to_tomo_map_csv``, ``run_to_frame_map_csv`` and ``run_to_ts_map_csv`` are
two-column CSVs without a header (run -> mapped name). Like the portal, the files are read from the input
root (``{input}/{source_prefix}/{file}``); a file kept in the config's folder (config.md §1:
``run_data_map/{id}/…``) is used when the input has none. A name is a relative path inside one of those:
an absolute path or a ``..`` is refused, so a config cannot make the importer read any other host file.

Tomogram, tilt-series and frames metadata are templated with the run's row: every string holding a
``{column}`` placeholder is formatted, and a whole-string ``"float {col}"`` / ``"int {col}"`` is cast.
The same row, plus ``mapped_tomo_name`` / ``mapped_frame_name`` / ``mapped_ts_name``, are glob variables.
"""

from __future__ import annotations

import io
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from importers.ingest.entities.tree import Entity
from importers.lazy import lazy
from importers.storage import Bucket

pd = lazy("pandas")

#: ``standardization_config`` key of each two-column map -> the glob variable it defines.
MAPPED_NAMES = {
    "run_to_tomo_map_csv": "mapped_tomo_name",
    "run_to_frame_map_csv": "mapped_frame_name",
    "run_to_ts_map_csv": "mapped_ts_name",
}
_CAST = re.compile(r"^(?P<cast>float|int) *(?P<template>\{[A-Za-z0-9_-]+\}) *$")
_CASTS = {"float": float, "int": int}
#: Where the loaded tables are kept: on the dataset entity, so each file is read once per ingestion.
_TABLES = "run_map_tables"


class MapFiles(Protocol):
    """Where an ingestion's map files are (an ``Ingestion``, which finds entities with this module's variables)."""

    source: Bucket
    config_path: Path

    @property
    def source_root(self) -> str: ...

    @property
    def standardization(self) -> Mapping[str, Any]: ...


class TemplateError(ValueError):
    """A map file that cannot be read or a template that cannot be filled; the message says which."""


def _read_map_file(ingestion: MapFiles, name: str) -> str:
    if name.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", name):
        raise TemplateError(f"map file {name!r}: give a path inside the input root or the config's folder")
    key = f"{ingestion.source_root}/{name}".strip("/")
    if ingestion.source.exists(key):
        return ingestion.source.read(key).decode("utf-8-sig")
    beside_config = ingestion.config_path.parent / name
    if beside_config.is_file():
        return beside_config.read_text(encoding="utf-8-sig")
    raise TemplateError(f"map file {name!r} found neither at {ingestion.source.url_of(key)} nor at {beside_config}")


def _load_tables(ingestion: MapFiles) -> dict[str, dict[str, dict[str, str]]]:
    """``{"data": run -> row, <variable>: run -> {variable: mapped name}}`` for every configured file."""
    tables: dict[str, dict[str, dict[str, str]]] = {}
    settings = ingestion.standardization
    if name := settings.get("run_data_map_file"):
        text = _read_map_file(ingestion, str(name))
        separator = "\t" if str(name).endswith("tsv") else ","
        frame = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False)
        if "run_name" not in frame.columns:
            raise TemplateError(f"run_data_map_file {name!r} has no run_name column")
        tables["data"] = {row["run_name"]: row for row in frame.to_dict("records")}
    for setting, variable in MAPPED_NAMES.items():
        if name := settings.get(setting):
            frame = pd.read_csv(
                io.StringIO(_read_map_file(ingestion, str(name))), header=None, dtype=str, keep_default_na=False
            )
            if frame.shape[1] < 2:
                raise TemplateError(f"{setting} {name!r} needs two columns: run name, mapped name")
            tables[variable] = {run: {variable: mapped} for run, mapped in zip(frame[0], frame[1], strict=True)}
    return tables


def _tables(ingestion: MapFiles, run: Entity) -> dict[str, dict[str, dict[str, str]]]:
    holder = run.ancestor("dataset").outputs
    if _TABLES not in holder:
        holder[_TABLES] = _load_tables(ingestion)
    return holder[_TABLES]


def run_data_row(ingestion: MapFiles, run: Entity) -> dict[str, str] | None:
    """The run's row of ``run_data_map_file``; None when there is no file or no row for the run."""
    return _tables(ingestion, run).get("data", {}).get(run.name)


def run_glob_variables(ingestion: MapFiles, run: Entity) -> dict[str, str]:
    """The glob variables a run's map files define (config.md §5): row columns and mapped names."""
    variables: dict[str, str] = {}
    for table in _tables(ingestion, run).values():
        variables.update(table.get(run.name, {}))
    return variables


def _fields(text: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name]
    except ValueError:
        return []  # unbalanced braces in free text: not a template


def _expand_string(text: str, row: dict[str, str] | None, where: str) -> Any:
    fields = _fields(text)
    if not fields:
        return text
    if row is None:
        raise TemplateError(f"{where} = {text!r} needs the run's row of run_data_map_file, and there is none")
    missing = [name for name in fields if name not in row]
    if missing:
        raise TemplateError(f"{where} = {text!r}: run_data_map_file has no column {missing[0]!r}")
    cast = _CAST.match(text)
    if cast is None:
        return text.format(**row)
    value = cast.group("template").format(**row).strip()
    try:
        return _CASTS[cast.group("cast")](value)
    except ValueError:
        raise TemplateError(f"{where} = {text!r}: {value!r} is not {cast.group('cast')}") from None


def expand_metadata(value: Any, row: dict[str, str] | None, where: str = "metadata") -> Any:
    """``value`` with every templated string filled from ``row`` (nested dicts and lists too)."""
    if isinstance(value, str):
        return _expand_string(value, row, where)
    if isinstance(value, dict):
        return {key: expand_metadata(item, row, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [expand_metadata(item, row, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


def run_templated_metadata(ingestion: MapFiles, entity: Entity) -> dict[str, Any]:
    """``entity.metadata`` filled from its run's row (for tomogram, tilt-series and frames metadata)."""
    run = entity.ancestor("run")
    return expand_metadata(entity.metadata, run_data_row(ingestion, run), f"{entity.kind} metadata")
