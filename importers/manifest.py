"""A dataset's integrity manifest: the size and checksum of every object, to compare a listing with.

``standardize`` writes ``{dataset_id}/dataset_manifest.json`` after it has written a dataset's objects, and
``cryoet-ingest manifest`` writes one for a dataset ingested before (from its current state, which should
have been validated first). The checksum is the object's S3 ETag: the MD5 of an object uploaded in one part,
an MD5 of the parts' MD5s with ``-N`` for a multipart upload. A listing carries both sizes and ETags, so one
listing tells a missing, truncated or replaced object without reading any data. Local buckets have no
checksum in their listing (their "ETag" is the file's mtime and size): their manifests record sizes only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from importers import layout
from importers.storage import Bucket, ObjectInfo

FORMAT = "cryoet-ingest dataset manifest"
VERSION = 1
#: An S3 ETag: the MD5 of a single-part upload, or of the parts' MD5s with their count.
_S3_ETAG = re.compile(r"[0-9a-f]{32}(-[0-9]+)?")


class ManifestError(ValueError):
    """A manifest that cannot be used (not JSON, another format, malformed entries)."""


@dataclass(frozen=True)
class Entry:
    size: int
    #: The S3 ETag when the object was recorded; None where the storage has no checksum (local buckets).
    etag: str | None


def manifest_key(dataset_id: str) -> str:
    return layout.build("dataset_manifest", dataset_id=dataset_id)


def checksum(info: ObjectInfo) -> str | None:
    """The listing's ETag if it is an S3 checksum, else None."""
    return info.etag if _S3_ETAG.fullmatch(info.etag) else None


def document(dataset_id: str, listing: dict[str, ObjectInfo]) -> dict[str, Any]:
    """The manifest of a dataset's listing (the manifest itself excluded), keys relative to the dataset."""
    prefix, own = f"{dataset_id}/", manifest_key(dataset_id)
    objects = {
        key.removeprefix(prefix): {"size": info.size, "etag": checksum(info)}
        for key, info in sorted(listing.items())
        if key.startswith(prefix) and key != own
    }
    # No time of writing: the same objects give the same manifest, so a re-run that changes nothing rewrites nothing.
    return {"format": FORMAT, "version": VERSION, "dataset_id": dataset_id, "objects": objects}


def write_manifest(bucket: Bucket, dataset_id: str) -> int:
    """List the dataset afresh and write its manifest unless the one there says the same; returns the number
    of objects recorded (none: nothing is written)."""
    bucket.forget_listings()  # the listings cached while writing lack the ETags the storage gave
    listing = bucket.listing(dataset_id)
    manifest = document(dataset_id, listing)
    if not manifest["objects"]:
        return 0
    key = manifest_key(dataset_id)
    data = json.dumps(manifest, indent=0).encode()
    if key not in listing or listing[key].size != len(data) or bucket.read(key) != data:
        bucket.write(key, data, "application/json")
    return len(manifest["objects"])


def parse(raw: bytes, dataset_id: str) -> dict[str, Entry]:
    """The entries of a manifest, by bucket key; :class:`ManifestError` says what is wrong in one line."""
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise ManifestError(f"not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"not a {FORMAT} (format {data.get('format') if isinstance(data, dict) else None!r})")
    if data.get("version") != VERSION or str(data.get("dataset_id")) != dataset_id:
        raise ManifestError(f"version {data.get('version')!r} of dataset {data.get('dataset_id')!r}, expected "
                            f"version {VERSION} of dataset {dataset_id}")  # fmt: skip
    objects = data.get("objects")
    if not isinstance(objects, dict):
        raise ManifestError("'objects' is not a mapping")
    entries = {}
    for name, value in objects.items():
        size = value.get("size") if isinstance(value, dict) else None
        etag = value.get("etag") if isinstance(value, dict) else None
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
            or not (etag is None or isinstance(etag, str))
        ):
            raise ManifestError(f"entry {name!r} is {value!r}, expected {{'size': bytes, 'etag': string or null}}")
        entries[f"{dataset_id}/{name}"] = Entry(size, etag)
    return entries


def _same_form(first: str, second: str) -> bool:
    """Both single-part MD5s, or multipart ETags of as many parts: only then do equal contents give
    equal ETags (a copy uploaded in other parts has another ETag)."""
    return first.partition("-")[2] == second.partition("-")[2]


@dataclass
class Differences:
    """How a listing differs from a manifest: each a list of one-line descriptions."""

    missing: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)

    @property
    def lost(self) -> list[str]:
        """Objects a user would get wrong or not at all."""
        return self.missing + self.resized + self.replaced


def compare(entries: dict[str, Entry], listing: dict[str, ObjectInfo], own: str) -> Differences:
    """The manifest's objects against a listing of the dataset (sizes always, ETags where comparable)."""
    found = Differences()
    for key, entry in sorted(entries.items()):
        info = listing.get(key)
        if info is None:
            found.missing.append(f"{key}: missing")
        elif info.size != entry.size:
            found.resized.append(f"{key}: {info.size} bytes, recorded {entry.size}")
        elif entry.etag and (etag := checksum(info)) and _same_form(etag, entry.etag) and etag != entry.etag:
            found.replaced.append(f"{key}: checksum {etag}, recorded {entry.etag} (same size, other content)")
    found.unrecorded = sorted(key for key in listing if key not in entries and key != own)
    return found
