"""Key photos and key images (checks.md §16): the dataset's and deposition's depositor pictures and each
tomogram's ``Images/{tomo_id}/key-photo-*.png`` (formats.md §6).

Existence of referenced photos is DS-/DEP-/TOMO-KEYPHOTO's to report; these checks skip what they cannot
read. Photos given as external URLs are not fetched (no network).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from PIL import Image, UnidentifiedImageError

from data_validation.checks.context import CheckContext
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import EntityKind, Severity, Tier, check, fail, not_applicable
from data_validation.snapshot import DEPOSITIONS_PREFIX
from importers import layout
from importers.formats.images import ImageFormatError, image_size

PHOTO_NAMES = ("snapshot", "thumbnail")
IMAGE_FORMATS = {"PNG", "JPEG", "GIF"}
MIN_PHOTO_SIZE = (50, 50)
#: Smallest tomogram key photos the portal accepts (w × h).
TOMOGRAM_MINIMUM = {"thumbnail": (133.3, 100), "snapshot": (512, 384)}
#: Exact sizes of the cropped key images (formats.md §6), ± 1 px.
EXACT_SIZES = {"thumbnail": (134, 100), "snapshot": (512, 384), "expanded": (1024, 768)}


def _is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _photos(document: dict[str, Any], field: str) -> Iterator[tuple[str, str]]:
    """``(name, path)`` of the snapshot/thumbnail paths set in ``document[field]``."""
    photos = document.get(field)
    for name in PHOTO_NAMES:
        path = photos.get(name) if isinstance(photos, dict) else None
        if isinstance(path, str) and path:
            yield name, path


def _dataset_document(context: CheckContext, dataset: Entity) -> dict[str, Any]:
    return context.metadata(dataset.key(layout.DATASET_METADATA))


def _depositions(context: CheckContext, dataset: Entity) -> list[tuple[str, dict[str, Any]]]:
    """``(key, document)`` of the readable deposition metadata the dataset's documents reference."""
    ids = {doc.get("deposition_id") for _, _, doc in context.metadata_documents(dataset.path)}
    found = []
    for deposition in sorted(i for i in ids if isinstance(i, int) and not isinstance(i, bool)):
        key = f"{DEPOSITIONS_PREFIX}/{deposition}/{layout.DEPOSITION_METADATA}"
        try:
            found.append((key, context.metadata(key)))
        except Unreadable:
            continue  # DEP-METADATA-EXISTS / GEN-JSON-PARSE
    return found


def _depositor_photos(context: CheckContext, dataset: Entity) -> list[tuple[str, str]]:
    """``(whose photo, path)`` of the dataset's and its depositions' key photos."""
    owners = [(f"dataset {dataset['dataset_id']}", _dataset_document(context, dataset))]
    owners += [(f"deposition {key.split('/')[1]}", document) for key, document in _depositions(context, dataset)]
    return [(f"{owner} {name}", path) for owner, document in owners for name, path in _photos(document, "key_photos")]


def _size(context: CheckContext, path: str) -> tuple[int, int] | None:
    """(width, height) of a bucket image from its prefetched header; None when unreadable."""
    try:
        _, width, height = image_size(context.reader.image_header(layout.strip_bucket_name(path)))
    except (Unreadable, ImageFormatError):
        return None  # the *-KEYPHOTO checks report missing or unreadable photos
    return width, height


def _decode_problem(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in IMAGE_FORMATS:
                return f"is {image.format}, not PNG, JPEG or GIF"
            image.load()
    except UnidentifiedImageError:
        return "is not an image Pillow can identify"
    except Exception as error:  # Pillow raises many kinds of errors on broken data
        return f"does not decode ({type(error).__name__}: {error})"
    return None


@check(
    "KEY-IMAGE-VALID",
    entity=EntityKind.DATASET,
    tier=Tier.FULL,
    title="every referenced key photo (dataset, deposition, tomograms) decodes as PNG, JPEG or GIF",
)
def key_images_decode(context: CheckContext, dataset: Entity) -> None:
    photos = _depositor_photos(context, dataset)
    for key, kind, document in context.metadata_documents(dataset.path):
        if kind == "tomogram":
            photos += [
                (f"tomogram {key.rsplit('/', 2)[-2]} {name}", path) for name, path in _photos(document, "key_photo")
            ]
    in_bucket = [(owner, path) for owner, path in photos if not _is_url(path)]
    if not in_bucket:
        not_applicable("no key photo in the bucket (external URLs are not fetched)")
    problems = []
    keys = [layout.strip_bucket_name(path) for _, path in in_bucket]
    for (owner, path), (_, data) in zip(in_bucket, context.reader.read_many(keys), strict=True):
        if isinstance(data, Unreadable):
            continue  # the *-KEYPHOTO checks report missing photos
        problem = _decode_problem(data)
        if problem:
            problems.append(f"{owner} {path} {problem}")
    if problems:
        fail("; ".join(problems[:5]), observed=problems)


@check(
    "KEY-MIN-SIZE",
    entity=EntityKind.DATASET,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="dataset and deposition key photos are at least 50×50 px",
)
def key_photos_minimum(context: CheckContext, dataset: Entity) -> None:
    problems = []
    for owner, path in _depositor_photos(context, dataset):
        size = None if _is_url(path) else _size(context, path)
        if size is not None and (size[0] < MIN_PHOTO_SIZE[0] or size[1] < MIN_PHOTO_SIZE[1]):
            problems.append(f"{owner} {path} is {size[0]}×{size[1]} px")
    if problems:
        fail(f"smaller than 50×50: {'; '.join(problems)}", observed=problems)


def _tomogram_document(context: CheckContext, tomogram: Entity) -> dict[str, Any]:
    return context.metadata(tomogram.key(layout.TOMOGRAM_METADATA))


@check(
    "KEY-TOMO-SIZE",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="tomogram key_photo thumbnail >= 133.3×100 and snapshot >= 512×384 px",
)
def tomogram_key_photo_size(context: CheckContext, tomogram: Entity) -> None:
    problems = []
    for name, path in _photos(_tomogram_document(context, tomogram), "key_photo"):
        size = None if _is_url(path) else _size(context, path)
        minimum = TOMOGRAM_MINIMUM[name]
        if size is not None and (size[0] < minimum[0] or size[1] < minimum[1]):
            problems.append(f"{name} {path} is {size[0]}×{size[1]} px, smaller than {minimum[0]}×{minimum[1]}")
    if problems:
        fail("; ".join(problems), observed=problems)


def _key_image(tomogram: Entity, name: str) -> str:
    return layout.build("key_image", **dict(tomogram.fields), key_image=name)


@check(
    "KEY-TOMO-SET",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="Images/{tomo_id}/ holds key-photo-original/snapshot/thumbnail/expanded.png",
)
def tomogram_key_image_set(context: CheckContext, tomogram: Entity) -> None:
    missing = [name for name in layout.KEY_IMAGE_NAMES if not context.reader.exists(_key_image(tomogram, name))]
    if missing:
        folder = _key_image(tomogram, "original").rsplit("/", 1)[0]
        fail(f"{folder} lacks key-photo-{{{', '.join(missing)}}}.png", observed=missing)


@check(
    "KEY-TOMO-EXACT",
    entity=EntityKind.TOMOGRAM,
    tier=Tier.HEADER,
    severity=Severity.WARNING,
    title="key images are 134×100, 512×384, 1024×768 px (±1); the original is as wide as the tomogram",
)
def tomogram_key_image_sizes(context: CheckContext, tomogram: Entity) -> None:
    size = _tomogram_document(context, tomogram).get("size")
    expected = dict(EXACT_SIZES)
    problems = []
    for name in layout.KEY_IMAGE_NAMES:
        key = _key_image(tomogram, name)
        observed = _size(context, key) if context.reader.exists(key) else None
        if observed is None:
            continue  # absent: KEY-TOMO-SET
        if name == "original":
            width = size.get("x") if isinstance(size, dict) else None
            if observed[0] != width:
                problems.append(f"original is {observed[0]} px wide, tomogram size.x is {width}")
        elif any(abs(o - e) > 1 for o, e in zip(observed, expected[name], strict=True)):
            problems.append(f"{name} is {observed[0]}×{observed[1]}, expected {expected[name][0]}×{expected[name][1]}")
    if problems:
        fail("; ".join(problems), observed=problems)


@check(
    "KEY-DATASET-FILES",
    entity=EntityKind.DATASET,
    tier=Tier.LIST,
    severity=Severity.WARNING,
    title="{ds}/Images/ holds only the snapshot.* and thumbnail.* that key_photos name",
)
def dataset_image_files(context: CheckContext, dataset: Entity) -> None:
    named = {layout.strip_bucket_name(path) for _, path in _photos(_dataset_document(context, dataset), "key_photos")}
    folder = dataset.key("Images")
    strays = [name for name in context.reader.children(folder) if f"{folder}/{name}" not in named]
    if strays:
        fail(f"{folder} holds {strays}, which key_photos does not name ({sorted(named)})", observed=strays)
