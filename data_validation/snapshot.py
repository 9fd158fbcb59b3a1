"""The session snapshot: one listing per dataset prefix and the small objects checks read.

The controlling pytest process lists and prefetches once (many requests in flight), then saves
the snapshot to a file that every xdist worker loads, so workers never list or fetch it again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from data_validation import limits
from data_validation.entities import Entity
from data_validation.registry import EntityKind
from importers import layout
from importers.formats.images import HEADER_BYTES as IMAGE_HEADER_BYTES
from importers.formats.mrc import HEADER_SIZE, MrcFormatError, parse_header
from importers.formats.omezarr import VolumeKind, store_metadata
from importers.progress import Progress
from importers.storage import Bucket, ObjectInfo, StorageError

DEPOSITIONS_PREFIX = "depositions_metadata"
#: Path components of the deepest entity directory (``{dataset}/{run}/Reconstructions/VoxelSpacing…/Annotations/{id}``).
ENTITY_DEPTH = max(template.count("/") + 1 for template in layout.ENTITY_DIRS.values())
SMALL_OBJECT_NAMES = (".zattrs", ".zarray", ".zgroup")
#: Bytes of a binary glTF mesh that its check reads: magic, version, total length (formats.md §3.2).
GLB_HEADER_BYTES = 12


@dataclass
class Snapshot:
    """What the session knows about the bucket before any check runs."""

    bucket_url: str
    endpoint_url: str | None
    listing: dict[str, ObjectInfo] = field(default_factory=dict)
    listed_prefixes: list[str] = field(default_factory=list)
    entities: dict[EntityKind, list[Entity]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    mrc_headers: dict[str, bytes] = field(default_factory=dict)
    image_headers: dict[str, bytes] = field(default_factory=dict)
    glb_headers: dict[str, bytes] = field(default_factory=dict)
    fetch_errors: dict[str, str] = field(default_factory=dict)
    discovery_errors: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: Path) -> Snapshot:
        return pickle.loads(path.read_bytes())


def _in_zarr_chunks(key: str) -> bool:
    return ".zarr/" in key and not key.rsplit("/", 1)[-1].startswith(".z")


def is_metadata_json(key: str) -> bool:
    """A metadata JSON document (not zarr metadata, not a zarr chunk)."""
    return key.endswith(".json") and not _in_zarr_chunks(key)


def is_small_object(key: str) -> bool:
    """Objects read whole by HEADER-tier checks: metadata JSON and zarr metadata."""
    return key.rsplit("/", 1)[-1] in SMALL_OBJECT_NAMES or is_metadata_json(key)


#: Acquisition text sidecars HEADER-tier checks read whole (formats.md §4), prefetched up to a size.
TEXT_SIDECAR_SUFFIXES = (".mdoc", ".rawtlt", ".tlt", ".xtilt", ".tltx", ".xf", ".aln", "_ctf.txt")
TEXT_SIDECAR_MAX_BYTES = 4 << 20


def is_text_sidecar(key: str, size: int) -> bool:
    """An mdoc, tilt-angle, alignment or CTF text file small enough to prefetch whole."""
    return key.endswith(TEXT_SIDECAR_SUFFIXES) and size <= TEXT_SIDECAR_MAX_BYTES and not _in_zarr_chunks(key)


def _selected(entity: Entity, run_glob: str, voxel_spacing_glob: str) -> bool:
    fields = dict(entity.fields)
    if "run_name" in fields and not fnmatch.fnmatchcase(fields["run_name"], run_glob):
        return False
    if "voxel_spacing" in fields:
        name = fields["voxel_spacing"]
        if not (
            fnmatch.fnmatchcase(name, voxel_spacing_glob)
            or fnmatch.fnmatchcase(f"VoxelSpacing{name}", voxel_spacing_glob)
        ):
            return False
    return True


def _list(bucket: Bucket, snapshot: Snapshot, prefix: str, what: str) -> dict[str, ObjectInfo]:
    """One recursive listing of a prefix; a failure or an empty prefix is a discovery problem."""
    try:
        listed = bucket.listing(prefix)
    except StorageError as error:
        snapshot.discovery_errors.append(f"{what}: cannot list {bucket.url_of(prefix)}: {error.problem}")
        return {}
    if not listed:
        snapshot.discovery_errors.append(f"{what}: nothing under {bucket.url_of(prefix)}")
    snapshot.listing.update(listed)
    snapshot.listed_prefixes.append(prefix)
    return listed


def _referenced_depositions(snapshot: Snapshot) -> set[str]:
    """Deposition ids that the prefetched metadata documents name."""
    ids = set()
    for key, raw in snapshot.objects.items():
        if not (is_metadata_json(key) and b'"deposition_id"' in raw):
            continue
        try:
            value = json.loads(raw).get("deposition_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            ids.add(str(value))
    return ids


def discover(
    bucket: Bucket,
    dataset_ids: list[str],
    *,
    run_glob: str = "*",
    voxel_spacing_glob: str = "*",
    stream: TextIO | None = None,
) -> Snapshot:
    """List each dataset prefix once and prefetch its small objects, then do the same for the
    depositions those documents reference; parse every key into entities. Progress on ``stream``."""
    snapshot = Snapshot(bucket_url=bucket.url, endpoint_url=bucket.endpoint_url)
    listed: dict[str, ObjectInfo] = {}
    with Progress("discovery", "objects", stream, bytes_done=lambda: bucket.stats.bytes_read) as meter:
        for dataset_id in dataset_ids:
            listed |= _list(bucket, snapshot, dataset_id, f"dataset {dataset_id}")
        meter.grow(len(listed))
        _prefetch(bucket, snapshot, listed, meter)
        depositions = sorted(_referenced_depositions(snapshot), key=int)
        for deposition_id in depositions:
            prefix = f"{DEPOSITIONS_PREFIX}/{deposition_id}"
            deposition_listing = _list(bucket, snapshot, prefix, f"deposition {deposition_id}")
            meter.grow(len(deposition_listing))
            _prefetch(bucket, snapshot, deposition_listing, meter)
    snapshot.entities = find_entities(listed, depositions, run_glob=run_glob, voxel_spacing_glob=voxel_spacing_glob)
    snapshot.discovery_errors += unmatched_globs(listed, snapshot.entities, run_glob, voxel_spacing_glob)
    return snapshot


def unmatched_globs(
    listed: Iterable[str], selected: dict[EntityKind, list[Entity]], run_glob: str, voxel_spacing_glob: str
) -> list[str]:
    """A dataset in which ``--run-glob`` or ``--voxel-spacing-glob`` selects nothing: a discovery problem, or
    the session would pass its dataset-wide checks having checked none of what was asked for."""
    if run_glob == "*" and voxel_spacing_glob == "*":
        return []
    everything = find_entities(listed, [])
    problems = []
    for dataset in everything[EntityKind.DATASET]:
        dataset_id = dataset["dataset_id"]
        if run_glob != "*" and not _names(selected, EntityKind.RUN, dataset_id):
            runs = _names(everything, EntityKind.RUN, dataset_id)
            shown = ", ".join(runs[:10]) + (f", … ({len(runs)})" if len(runs) > 10 else "")
            problems.append(
                f"dataset {dataset_id}: --run-glob {run_glob!r} matches none of its runs ({shown or 'none'})"
            )
        elif voxel_spacing_glob != "*" and not _names(selected, EntityKind.VOXEL_SPACING, dataset_id):
            spacings = ", ".join(_names(everything, EntityKind.VOXEL_SPACING, dataset_id)) or "none"
            problems.append(
                f"dataset {dataset_id}: --voxel-spacing-glob {voxel_spacing_glob!r} matches none of its voxel "
                f"spacings ({spacings})"
            )
    return problems


def _names(entities: dict[EntityKind, list[Entity]], kind: EntityKind, dataset_id: str) -> list[str]:
    """The distinct names (run name, voxel spacing) of a dataset's entities of ``kind``."""
    field = {EntityKind.RUN: "run_name", EntityKind.VOXEL_SPACING: "voxel_spacing"}[kind]
    return sorted({entity[field] for entity in entities[kind] if entity["dataset_id"] == dataset_id})


def find_entities(
    keys: Iterable[str], deposition_ids: Iterable[str], *, run_glob: str = "*", voxel_spacing_glob: str = "*"
) -> dict[EntityKind, list[Entity]]:
    """The entities whose directories hold ``keys`` (narrowed by the globs), and the given depositions."""
    found: dict[EntityKind, set[Entity]] = {kind: set() for kind in EntityKind}
    found[EntityKind.DEPOSITION] = {Entity.of(EntityKind.DEPOSITION, deposition_id=d) for d in deposition_ids}
    # Entity directories are at most ENTITY_DEPTH components deep: the keys of one directory (the chunks of
    # a store) are matched once, by that prefix.
    prefixes = {"/".join(key.split("/", ENTITY_DEPTH)[:ENTITY_DEPTH]) for key in keys}
    for key in prefixes:
        for kind in EntityKind:
            if kind.value not in layout.ENTITY_DIRS:  # the source_* kinds: found through a config
                continue
            # Voxel spacings are found by any VoxelSpacing* name, for VS-NAME to judge.
            match = layout.entity_prefix(kind.value, key, loose_voxel_spacing=kind is EntityKind.VOXEL_SPACING)
            if match is not None:
                entity = Entity.of(kind, **match.fields)
                if _selected(entity, run_glob, voxel_spacing_glob):
                    found[kind].add(entity)
    return {kind: sorted(entities) for kind, entities in found.items()}


def _prefetch(bucket: Bucket, snapshot: Snapshot, listed: dict[str, ObjectInfo], meter: Progress | None = None) -> None:
    """Fetch every small object and MRC header of ``listed`` at once (many requests in flight).

    The metadata of a store beside an MRC is what the writer makes of that MRC's shape, spacing and kind;
    where the listing's ETag (the MD5 of an S3 object uploaded in one part) equals the MD5 of that
    prediction, the object is known without a request. The others are fetched in a second batch."""
    deferred = {key for key in listed if _predictable(key, listed)}
    _fetch(bucket, snapshot, {key: info for key, info in listed.items() if key not in deferred}, meter)
    predicted = _predicted(snapshot, {key: listed[key] for key in deferred})
    snapshot.objects.update(predicted)
    _fetch(bucket, snapshot, {key: listed[key] for key in deferred if key not in predicted}, meter)


#: Reads per batch of a prefetch: large enough to keep every request slot busy, small enough to show progress.
FETCH_BATCH = 4096


def _fetch(bucket: Bucket, snapshot: Snapshot, listed: dict[str, ObjectInfo], meter: Progress | None = None) -> None:
    """Read what checks need of ``listed``; ``meter`` counts the listed objects looked at."""
    requests: list[tuple[str, int | None, int | None]] = []
    for key, info in listed.items():
        if is_small_object(key) and (reason := limits.too_large(key, info.size)) is not None:
            snapshot.fetch_errors[key] = reason
        elif is_small_object(key) or is_text_sidecar(key, info.size):
            requests.append((key, None, None))
        elif key.endswith(".mrc") and not _in_zarr_chunks(key):
            requests.append((key, 0, min(HEADER_SIZE, info.size)))
        elif (extension := key.rsplit(".", 1)[-1].lower()) in IMAGE_HEADER_BYTES:
            requests.append((key, 0, min(IMAGE_HEADER_BYTES[extension], info.size)))
        elif key.endswith(".glb"):
            requests.append((key, 0, min(GLB_HEADER_BYTES, info.size)))
    results: list[bytes | StorageError] = []
    for first in range(0, len(requests), FETCH_BATCH):
        results += bucket.read_many(requests[first : first + FETCH_BATCH])
        if meter is not None:
            meter.advance(min(FETCH_BATCH, len(requests) - first))
    if meter is not None:
        meter.advance(len(listed) - len(requests))  # objects the checks do not need before they run
    for (key, start, _), result in zip(requests, results, strict=True):
        if isinstance(result, StorageError):
            snapshot.fetch_errors[key] = result.problem
        elif start is None:
            snapshot.objects[key] = result
        elif key.endswith(".mrc"):
            snapshot.mrc_headers[key] = result
        elif key.endswith(".glb"):
            snapshot.glb_headers[key] = result
        else:
            snapshot.image_headers[key] = result


#: The volume kind of a store, by the layout template of the MRC beside it (annotation masks by suffix).
_STORE_KINDS = {
    "tomogram_mrc": VolumeKind.TOMOGRAM,
    "tiltseries_mrc": VolumeKind.TILTSERIES,
    "segmentationmask": VolumeKind.SEGMENTATION_MASK,
    "instancesegmentationmask": VolumeKind.INSTANCE_MASK,
}
_MD5 = re.compile(r"[0-9a-f]{32}")


def _store_of(key: str) -> tuple[str, str] | None:
    """``(store, member)`` of a zarr metadata key: ``…/x.zarr/0/.zarray`` -> (``…/x.zarr``, ``0/.zarray``)."""
    store, marker, member = key.rpartition(".zarr/")
    if not marker or member.rsplit("/", 1)[-1] not in SMALL_OBJECT_NAMES:
        return None
    return store + ".zarr", member


def _predictable(key: str, listed: dict[str, ObjectInfo]) -> bool:
    found = _store_of(key)
    return (
        found is not None
        and _MD5.fullmatch(listed[key].etag) is not None
        and found[0].removesuffix(".zarr") + ".mrc" in listed
    )


def _predicted(snapshot: Snapshot, members: dict[str, ObjectInfo]) -> dict[str, bytes]:
    """The members whose ETag matches what the writer makes of the MRC beside their store."""
    known: dict[str, bytes] = {}
    expected_of: dict[str, dict[str, bytes]] = {}
    for key, info in members.items():
        store, member = _store_of(key)  # type: ignore[misc]
        if store not in expected_of:
            expected_of[store] = _store_expectation(snapshot, store)
        expected = expected_of[store].get(member)
        if expected is not None and hashlib.md5(expected, usedforsecurity=False).hexdigest() == info.etag:
            known[key] = expected
    return known


def _store_expectation(snapshot: Snapshot, store: str) -> dict[str, bytes]:
    mrc = store.removesuffix(".zarr") + ".mrc"
    match = layout.parse(mrc)
    if match is None or mrc not in snapshot.mrc_headers:
        return {}
    kind = _STORE_KINDS.get(match.template) or _STORE_KINDS.get(match.fields.get("shape_suffix", ""))
    try:
        header = parse_header(snapshot.mrc_headers[mrc])
    except MrcFormatError:
        return {}
    if kind is None or header.dtype is None:
        return {}
    # Spacings are written at the layout's precision (voxel spacing folders have 3 decimals).
    return store_metadata(kind, header.shape, round(float(header.voxel_size[0]), 3))
