"""What the acquisition checks share: locating a run's acquisition files and parsing them once.

The text sidecars (mdoc, rawtlt, tlt, xf, aln, CTF fits) are read whole (the snapshot prefetches them)
and parsed with the importers' own readers (``importers/formats``). A file that does not parse is
:class:`Unreadable`: the check that owns it reports it, every other check skips (see ``owns_inputs``):

| File | Owner |
|---|---|
| ``Frames/{run}.mdoc`` | MDOC-TILT-AXIS |
| ``{run}.rawtlt`` | TILT-RAWTLT-NONEMPTY |
| ``{run}_{FMT}_ctf.txt`` | CTF-PARSE |
| alignment ``.tlt`` | TILT-TLT-NONEMPTY |
| alignment ``.xf`` / ``.aln`` | ALN-XF-ROWS |
| movies (MRC headers, TIFF/EER IFDs) | FRAME-CONSISTENT |
| gain MRC headers | GAIN-NZ |
| ``tiltseries_metadata.json`` / ``alignment_metadata.json`` presence | TS-METADATA-EXISTS / ALN-METADATA-EXISTS |

(``frames_metadata.json``: presence FRAME-METADATA-EXISTS; every metadata JSON's syntax GEN-JSON-PARSE.)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, fail, not_applicable, skip
from importers import layout
from importers.formats.alignment_files import AlnFile, XfTransform, parse_aln, parse_xf
from importers.formats.mdoc import TILT_ANGLE_DECIMALS, Mdoc, parse_mdoc
from importers.formats.text_table import TextFormatError, decode_text
from importers.formats.tilt_angles import parse_tilt_angles

T = TypeVar("T")

#: Movie file extensions (formats.md §5); longest first so that ``.mrc.bz2`` wins over ``.bz2``.
MOVIE_EXTENSIONS = (".mrc.bz2", ".tiff", ".tif", ".eer", ".mrc", ".gain")
#: Files of ``Frames/`` that are not movies.
FRAMES_METADATA = layout.FRAMES_METADATA


def parsed(context: CheckContext, key: str, kind: str, parse: Callable[[str, str], T]) -> T:
    """``parse(text, key)`` of a text object, shared by the checks; a format error is :class:`Unreadable`."""

    def compute() -> T | Unreadable:
        text = decode_text(context.reader.read(key))
        try:
            return parse(text, key)
        except (TextFormatError, ValueError) as error:
            return Unreadable(key, str(error).removeprefix(f"{key}: "))

    # Parsed again from the snapshot when it was let go; a sidecar read on demand is kept for the session.
    value = context.reader.memo(f"parsed:{kind}", key, compute, recent=key in context.reader.snapshot.objects)
    if isinstance(value, Unreadable):
        raise value
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def angle_key(angle: float) -> float:
    """An angle as the portal pairs them: rounded to 2 dp (``-0.0`` equals ``0.0`` as a key)."""
    return round(float(angle), TILT_ANGLE_DECIMALS) + 0.0


def unmatched_angles(angles: Iterable[float], targets: Iterable[float]) -> list[float]:
    """``angles`` left over when each is paired, greedily and at most once, with an equal target (2 dp)."""
    available = Counter(angle_key(t) for t in targets)
    left = []
    for angle in angles:
        key = angle_key(angle)
        if available[key] > 0:
            available[key] -= 1
        else:
            left.append(angle)
    return left


def circular_difference(a: float, b: float) -> float:
    """|a − b| modulo 360, in [0, 180]."""
    difference = (a - b) % 360.0
    return min(difference, 360.0 - difference)


def shown(values: list[Any], limit: int = 5) -> str:
    """A short rendering of a list for one-line messages."""
    text = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit])
    more = f", … ({len(values)} in all)" if len(values) > limit else ""
    return f"[{text}{more}]"


# -- the run and its Frames/ folder -------------------------------------------------------------


def run_of(entity: Entity) -> Entity:
    """The run an entity (run, tilt series, alignment) belongs to."""
    return Entity.of(EntityKind.RUN, dataset_id=entity["dataset_id"], run_name=entity["run_name"])


def frames_dir(entity: Entity) -> str:
    return run_of(entity).key("Frames")


def gains_dir(entity: Entity) -> str:
    return run_of(entity).key("Gains")


def files_in(context: CheckContext, directory: str) -> list[str]:
    """Object keys directly in ``directory`` (sub-folders left out)."""
    listing = context.reader.snapshot.listing
    return [key for name in context.reader.children(directory) if (key := f"{directory}/{name}") in listing]


def basename(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def extension(key: str) -> str:
    """The file's extension, ``.mrc.bz2`` as one (lower case; '' without one)."""
    name = basename(key).lower()
    if name.endswith(".mrc.bz2"):
        return ".mrc.bz2"
    stem, dot, suffix = name.rpartition(".")
    return f".{suffix}" if dot and stem else ""


def mdoc_keys(context: CheckContext, entity: Entity) -> list[str]:
    return [key for key in files_in(context, frames_dir(entity)) if key.lower().endswith(".mdoc")]


def movie_keys(context: CheckContext, entity: Entity) -> list[str]:
    """Every file of ``Frames/`` except the mdoc and ``frames_metadata.json``: the movies."""
    return [
        key
        for key in files_in(context, frames_dir(entity))
        if basename(key) != FRAMES_METADATA and not key.lower().endswith(".mdoc")
    ]


def mdoc_key(context: CheckContext, entity: Entity) -> str:
    """The run's ``Frames/{run}.mdoc`` (or its only mdoc); skips without a single one."""
    run = run_of(entity)
    preferred = layout.build("mdoc", dataset_id=run["dataset_id"], run_name=run["run_name"])
    if preferred in context.reader.snapshot.listing:
        return preferred
    found = mdoc_keys(context, run)
    if len(found) == 1:
        return found[0]
    if not found:
        not_applicable(f"no mdoc in {frames_dir(run)} (MDOC-UNIQUE reports it if the run has a tilt series)")
    skip(f"several mdocs in {frames_dir(run)} (reported by MDOC-UNIQUE)")


def run_mdoc(context: CheckContext, entity: Entity) -> Mdoc:
    """The run's parsed mdoc (Unreadable: MDOC-TILT-AXIS reports it)."""
    return parsed(context, mdoc_key(context, entity), "mdoc", parse_mdoc)


def frames_document(context: CheckContext, entity: Entity) -> dict[str, Any]:
    """The run's ``frames_metadata.json`` (missing: FRAME-METADATA-EXISTS reports it)."""
    run = run_of(entity)
    return context.metadata(layout.build("frames_metadata", dataset_id=run["dataset_id"], run_name=run["run_name"]))


def frame_list(document: dict[str, Any]) -> list[dict[str, Any]]:
    frames = document.get("frames")
    if not isinstance(frames, list) or not all(isinstance(frame, dict) for frame in frames):
        fail(f"frames_metadata frames is not a list of objects: {str(frames)[:80]}")
    return frames


# -- the tilt series ---------------------------------------------------------------------------


def tiltseries_document(context: CheckContext, tiltseries: Entity) -> dict[str, Any]:
    return context.metadata(tiltseries.key(layout.TILTSERIES_METADATA))


def tiltseries_pixel_spacing(context: CheckContext, tiltseries: Entity) -> float:
    """The tilt series' ``pixel_spacing`` (the TS volume family's spacing); skips when it cannot be
    read, since TS-METADATA-EXISTS, GEN-JSON-PARSE or GEN-JSON-SCHEMA report that."""
    try:
        value = tiltseries_document(context, tiltseries).get("pixel_spacing")
    except Unreadable as unreadable:
        skip(f"no pixel_spacing: {unreadable} (reported by TS-METADATA-EXISTS / GEN-JSON-PARSE)")
    if not is_number(value) or value <= 0:
        skip(f"pixel_spacing {value!r} is not a positive number (reported by GEN-JSON-SCHEMA)")
    return float(value)


def size_of(document: dict[str, Any], key: str = "size") -> dict[str, int]:
    """A ``{z, y, x}`` size of positive integers from a metadata document."""
    value = document.get(key)
    if not (isinstance(value, dict) and all(isinstance(value.get(a), int) and value[a] >= 0 for a in "zyx")):
        fail(f"{key} is not a {{z, y, x}} object of integers: {value!r}")
    return {a: value[a] for a in "zyx"}


def rawtlt_key(context: CheckContext, tiltseries: Entity) -> str:
    return context.single_file(tiltseries, ".rawtlt", f"{tiltseries['run_name']}.rawtlt")


def rawtlt(context: CheckContext, tiltseries: Entity) -> list[float]:
    """The tilt series' raw angles (Unreadable: TILT-RAWTLT-NONEMPTY reports it)."""
    return parsed(context, rawtlt_key(context, tiltseries), "angles", parse_tilt_angles)


def sections(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``per_section_parameter`` / ``per_section_alignment_parameters`` as a list of objects."""
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        fail(f"{key} is not a list of objects")
    return value


def tiltseries_of_reference(context: CheckContext, path: Any, run: Entity) -> Entity | None:
    """The tilt series entity a ``tiltseries_path`` names, if it is a tilt series of ``run``."""
    if not isinstance(path, str):
        return None
    match = layout.parse(layout.strip_bucket_name(path))
    if match is None or match.template != "tiltseries_metadata":
        return None
    fields = match.fields
    if (fields["dataset_id"], fields["run_name"]) != (run["dataset_id"], run["run_name"]):
        return None
    return Entity.of(EntityKind.TILTSERIES, **fields)


# -- the alignment -------------------------------------------------------------------------------


def alignment_document(context: CheckContext, alignment: Entity) -> dict[str, Any]:
    return context.metadata(alignment.key(layout.ALIGNMENT_METADATA))


def alignment_file_key(context: CheckContext, alignment: Entity, suffix: str) -> str:
    """The alignment's ``{run}{suffix}`` (or its only ``*{suffix}``): not applicable without one, skipped
    with several (TILT-TLT-UNIQUE / ALN-FILES report those)."""
    preferred = alignment.key(f"{alignment['run_name']}{suffix}")
    if preferred in context.reader.snapshot.listing:
        return preferred
    found = [key for key in files_in(context, alignment.path) if key.endswith(suffix)]
    if not found:
        not_applicable(f"no *{suffix} in {alignment.path}")
    if len(found) > 1:
        skip(f"several *{suffix} in {alignment.path}: {[basename(k) for k in found]}")
    return found[0]


def alignment_tlt(context: CheckContext, alignment: Entity) -> list[float]:
    """The alignment's ``.tlt`` angles (Unreadable: TILT-TLT-NONEMPTY reports it)."""
    return parsed(context, alignment_file_key(context, alignment, ".tlt"), "angles", parse_tilt_angles)


def alignment_aln(context: CheckContext, alignment: Entity) -> AlnFile:
    """The alignment's AreTomo3 ``.aln`` (Unreadable: ALN-XF-ROWS reports it)."""
    return parsed(context, alignment_file_key(context, alignment, ".aln"), "aln", parse_aln)


def alignment_xf(context: CheckContext, alignment: Entity) -> list[XfTransform]:
    """The alignment's IMOD ``.xf`` transforms (Unreadable: ALN-XF-ROWS reports it)."""
    return parsed(context, alignment_file_key(context, alignment, ".xf"), "xf", parse_xf)


def alignment_tiltseries(context: CheckContext, alignment: Entity) -> Entity:
    """The tilt series an alignment's ``tiltseries_path`` names; not applicable when unset, skipped when
    it names no tilt series of the run (ALN-TS-REF reports that)."""
    path = alignment_document(context, alignment).get("tiltseries_path")
    if path is None:
        not_applicable("the alignment has no tiltseries_path")
    tiltseries = tiltseries_of_reference(context, path, run_of(alignment))
    if tiltseries is None or not context.reader.exists(tiltseries.key(layout.TILTSERIES_METADATA)):
        skip(f"tiltseries_path {path!r} names no tilt series of the run (reported by ALN-TS-REF)")
    return tiltseries
