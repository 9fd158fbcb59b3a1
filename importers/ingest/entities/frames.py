"""A run's acquisition records: the mdoc, the movies with ``frames_metadata.json``, and gain references.

What later entities of the run need is left in ``run.outputs``: ``mdoc`` (the parsed
:class:`~importers.formats.mdoc.Mdoc`), ``mdoc_key`` (its output key) and ``frames_count`` (movie files
found for the run, which the tilt series records).
"""

from __future__ import annotations

from itertools import chain
from pathlib import PurePosixPath

from importers import layout
from importers.formats.dm4 import Dm4FormatError, dm2mrc, read_dm4
from importers.formats.mdoc import parse_mdoc
from importers.formats.text_table import decode_text
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.copies import copy_object, put_large, put_object
from importers.ingest.entities.metadata import compose, write_document
from importers.ingest.entities.sets import claim_set, found_source, prerequisite
from importers.ingest.entities.templating import run_templated_metadata
from importers.ingest.entities.tree import Entity
from importers.metadata.computed import frame_records

#: Rows of a converted gain written per request.
GAIN_ROWS_PER_WRITE = 1024


def _run_fields(entity: Entity) -> dict[str, str]:
    run = entity.ancestor("run")
    return {"dataset_id": run.ancestor("dataset").name, "run_name": run.name}


def _source_path(entity: Entity) -> str:
    if entity.path is None:
        raise ValueError(f"a {entity.kind} source needs a file (use source_glob)")
    return entity.path


def write_collection_metadata(ingestion: Ingestion, mdoc: Entity) -> None:
    """Parse the run's mdoc and copy it to ``Frames/{run}.mdoc`` (one per run)."""
    run = mdoc.ancestor("run")
    path = _source_path(mdoc)
    found_source(run.outputs, "mdoc", path)
    data = ingestion.source.read(path)
    parsed = parse_mdoc(decode_text(data), ingestion.source.url_of(path))
    key = layout.build("mdoc", **_run_fields(mdoc))
    put_object(ingestion, key, data, f"{mdoc.describe()} -> Frames/{PurePosixPath(key).name}")
    run.outputs.update(mdoc=parsed, mdoc_key=key)


def write_gain(ingestion: Ingestion, gain: Entity) -> None:
    """Copy a gain reference to ``Gains/`` under its source name; a ``.dm4`` one becomes ``{stem}.mrc`` as the
    portal's ``dm2mrc`` makes it (layout.md §2, formats.md §5)."""
    path = _source_path(gain)
    name = PurePosixPath(path).name
    if not name.endswith(".dm4"):
        key = layout.build("gain", **_run_fields(gain), filename=name)
        copy_object(ingestion, path, key, f"{gain.describe()} -> Gains/{name}")
        return
    name = PurePosixPath(name).stem + ".mrc"
    key = layout.build("gain", **_run_fields(gain), filename=name)
    what = f"{gain.describe()} -> Gains/{name} (converted from DM4)"
    if ingestion.options.dry_run:
        ingestion.report.planned(what, key)
        return
    try:
        image = read_dm4(ingestion.source.read(path))
    except Dm4FormatError as error:
        raise Dm4FormatError(f"{ingestion.source.url_of(path)}: {error}") from None
    header, data = dm2mrc(image)
    rows = data.reshape(-1, data.shape[-1])
    parts = (rows[start : start + GAIN_ROWS_PER_WRITE].tobytes() for start in range(0, len(rows), GAIN_ROWS_PER_WRITE))
    put_large(ingestion, key, chain([header], parts), len(header) + data.nbytes, what)


def write_frames(ingestion: Ingestion, frame: Entity) -> None:
    """Copy the run's movies under their basenames, then write ``frames_metadata.json``.

    All frame entities of a run are one frame set; a literal ``default`` stands for "no movies".
    """
    members = claim_set(ingestion, frame)
    if members is None:
        return
    run = frame.ancestor("run")
    fields = _run_fields(frame)
    movies = [member for member in members if member.path is not None]
    run.outputs["frames_count"] = len(movies)
    copied: dict[str, str] = {}
    for movie in movies:
        name = PurePosixPath(movie.path).name
        key = layout.build("frame", **fields, filename=name)
        copy_object(ingestion, movie.path, key, f"{movie.describe()} -> Frames/{name}")
        copied[name] = key
    what = f"{run.describe()} / frames"
    mdoc = prerequisite(run.outputs, "mdoc", what, "the run's mdoc (a collection_metadata source)")
    metadata = run_templated_metadata(ingestion, members[0])
    dose_rate = metadata.get("dose_rate")
    if not isinstance(dose_rate, int | float) or isinstance(dose_rate, bool) or dose_rate <= 0:
        raise ValueError(f"frames metadata needs a dose_rate > 0, got {dose_rate!r}")
    computed = {
        "frames": frame_records(mdoc, float(dose_rate), metadata.get("is_gain_corrected"), copied),
        "frames_acquisition_file": run.outputs["mdoc_key"],
    }
    key = layout.build("frames_metadata", **fields)
    write_document(ingestion, key, compose(ingestion, metadata, computed), what)
