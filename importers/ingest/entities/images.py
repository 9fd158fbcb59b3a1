"""Pictures: tomogram key images, and the dataset's and deposition's key photos (layout.md §2).

Key images are rendered once the run's annotations are written (their overlays need them), from
the run's deferred work (``viewer.defer_tomogram_views``). Key photos are depositor images copied
from the input or fetched from a URL; a dataset without them gets copies of its first tomogram's key photos.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from PIL import Image

from importers import layout
from importers.formats import key_images, ndjson
from importers.formats.images import ImageFormatError, image_size
from importers.formats.neuroglancer import MASK_SHAPES, POINT_SHAPES, AnnotationLayer
from importers.ingest.downloads import download, is_url, url_suffix
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.copies import put_object
from importers.ingest.entities.tree import Entity

PHOTO_NAMES = ("snapshot", "thumbnail")
MIN_PHOTO_SIZE = 50


@dataclass
class KeyImageRequest:
    """What the config asks for a tomogram: which key images, and a depositor image to use
    instead of the render (formats.md §6), if any."""

    names: list[str]
    source: str | None = None


@dataclass(frozen=True)
class StoredTomogram:
    """A tomogram as written: its layout fields and ``tomogram_metadata.json``."""

    fields: dict[str, str]
    document: dict[str, Any]

    @property
    def identifier(self) -> int:
        return int(self.fields["tomogram_id"])

    @property
    def spacing(self) -> float:
        return layout.voxel_spacing_from_name(self.fields["voxel_spacing"])


def source_key(ingestion: Ingestion, path: str) -> str:
    """The input key of a depositor picture given by the config.

    Accepted forms: a key of the input bucket, a path under the source prefix, or the portal's
    bucket-qualified form (``bucket/key``, ``s3://bucket/key``) whose bucket name is dropped.
    """
    if is_url(path):
        raise ValueError(f"{path}: key images given by URL are not fetched (key photos are); put the file in the input")
    path = path.removeprefix("s3://").strip("/")
    candidates = [path, f"{ingestion.source_root}/{path}".strip("/"), path.partition("/")[2]]
    for candidate in dict.fromkeys(candidates):
        if candidate and ingestion.source.exists(candidate):
            return candidate
    raise ValueError(f"{path}: not found in the input {ingestion.source.url} (tried {', '.join(candidates)})")


def note_key_image(ingestion: Ingestion, key_image: Entity) -> None:
    """Record a configured key image for its tomogram; the images are made after the run's
    annotations. A key image with a path is a depositor picture that replaces the render."""
    tomogram = key_image.ancestor("tomogram")
    requests = key_image.ancestor("voxel_spacing").outputs.setdefault("key_images", {})
    request = requests.setdefault(tomogram.identifier, KeyImageRequest([]))
    if key_image.path is not None:
        request.source = source_key(ingestion, key_image.path)
    elif key_image.name in layout.KEY_IMAGE_NAMES:
        request.names.append(key_image.name)
    else:
        raise ValueError(f"unknown key image {key_image.name!r} (one of {', '.join(layout.KEY_IMAGE_NAMES)})")


def key_image_request(voxel_spacing: Entity, tomogram_id: int) -> KeyImageRequest:
    """The configured key images of a tomogram; all four when the config names none (config.md §3)."""
    request = voxel_spacing.outputs.get("key_images", {}).get(tomogram_id) or KeyImageRequest([])
    return KeyImageRequest(request.names or list(layout.KEY_IMAGE_NAMES), request.source)


def _overlays(
    ingestion: Ingestion, tomogram: StoredTomogram, layers: list[AnnotationLayer], z_range: tuple[int, int]
) -> Iterator[key_images.Overlay]:
    """The visible annotations of the tomogram's own spacing, as drawn over its render."""
    for layer in layers:
        if not layer.visible or layer.spacing != tomogram.spacing:
            continue
        if layer.shape in POINT_SHAPES:
            records = ndjson.loads(ingestion.output.read(layer.path))
            points = key_images.slab_points((record["location"] for record in records), z_range)
            yield key_images.Overlay(layer.color, points=points)
        elif layer.shape in MASK_SHAPES and layer.mrc_path is not None:
            projection = key_images.project_slab(ingestion.output, layer.mrc_path)
            yield key_images.Overlay(layer.color, mask=projection.data > 0)


def _preview(
    ingestion: Ingestion, tomogram: StoredTomogram, layers: list[AnnotationLayer], source: str | None
) -> Image.Image:
    if source is not None:
        with Image.open(io.BytesIO(ingestion.source.read(source))) as picture:
            return picture.convert("RGB")
    projection = key_images.project_slab(ingestion.output, tomogram.document["mrc_file"])
    return key_images.render(projection.data, _overlays(ingestion, tomogram, layers, projection.z_range))


def write_key_images(
    ingestion: Ingestion, voxel_spacing: Entity, tomogram: StoredTomogram, layers: list[AnnotationLayer]
) -> None:
    """Render (or take the depositor's picture) and write the tomogram's key images; the first
    tomogram's snapshot and thumbnail become the dataset's default key photos."""
    request = key_image_request(voxel_spacing, tomogram.identifier)
    what = f"{voxel_spacing.describe()} / tomogram {tomogram.identifier}: key image"
    keys = {name: layout.build("key_image", **tomogram.fields, key_image=name) for name in request.names}
    if ingestion.options.dry_run:
        ingestion.report.planned(what + "s", ", ".join(request.names))
        return
    preview = _preview(ingestion, tomogram, layers, request.source)
    images = key_images.key_images(preview, int(tomogram.document["size"]["x"]), request.names)
    for name, data in images.items():
        put_object(ingestion, keys[name], data, f"{what} {name}")
    if all(name in keys for name in PHOTO_NAMES):
        voxel_spacing.ancestor("dataset").outputs.setdefault("default_key_photos", {n: keys[n] for n in PHOTO_NAMES})


def _copy_photo(ingestion: Ingestion, photo: Entity, key_of: Callable[[str, str], str]) -> None:
    """Copy (or fetch) one depositor key photo, keeping its extension, and record it on the photo's owner."""
    if photo.name not in PHOTO_NAMES:
        raise ValueError(f"unknown key photo {photo.name!r} (one of {', '.join(PHOTO_NAMES)})")
    if photo.path is None:
        # As the portal: a photo given as null is not copied; a dataset then takes its first tomogram's.
        return
    if is_url(photo.path):
        _fetch_photo(ingestion, photo, key_of)
        return
    suffix = PurePosixPath(photo.path).suffix.lstrip(".")
    in_place = key_of(photo.name, suffix) if suffix else None
    if in_place is not None and photo.path == in_place and ingestion.output.exists(in_place):
        # A destination_glob found the photo where an earlier ingestion wrote it (published portal configs).
        photo.parent.outputs.setdefault("key_photos", {})[photo.name] = in_place
        return
    source = source_key(ingestion, photo.path)
    _store_photo(ingestion, photo, key_of, source, PurePosixPath(source).suffix, ingestion.source.read(source))


def _fetch_photo(ingestion: Ingestion, photo: Entity, key_of: Callable[[str, str], str]) -> None:
    """As the portal's importer: the URL is fetched (not in a dry run), and the photo keeps the extension of the
    URL's path."""
    url, suffix = str(photo.path), url_suffix(str(photo.path))
    if ingestion.options.dry_run:
        key = key_of(photo.name, suffix.lstrip(".") or "png")
        ingestion.report.planned(f"{photo.describe()} key photo (fetched when run)", key)
        photo.parent.outputs.setdefault("key_photos", {})[photo.name] = key
        return
    _store_photo(ingestion, photo, key_of, url, suffix, download(url))


def _store_photo(
    ingestion: Ingestion, photo: Entity, key_of: Callable[[str, str], str], source: str, suffix: str, data: bytes
) -> None:
    try:
        image_format, width, height = image_size(data)
    except ImageFormatError as error:
        raise ImageFormatError(f"{source}: {error}") from None
    if width < MIN_PHOTO_SIZE or height < MIN_PHOTO_SIZE:
        raise ValueError(f"{source}: {width}×{height} px is smaller than {MIN_PHOTO_SIZE}×{MIN_PHOTO_SIZE}")
    key = key_of(photo.name, suffix.lstrip(".") or image_format)
    put_object(ingestion, key, data, f"{photo.describe()} key photo")
    photo.parent.outputs.setdefault("key_photos", {})[photo.name] = key


def write_dataset_keyphoto(ingestion: Ingestion, photo: Entity) -> None:
    dataset = photo.ancestor("dataset").name
    _copy_photo(
        ingestion, photo, lambda name, ext: layout.build("dataset_keyphoto", dataset_id=dataset, photo=name, ext=ext)
    )


def write_deposition_keyphoto(ingestion: Ingestion, photo: Entity) -> None:
    deposition = photo.ancestor("deposition").name
    _copy_photo(
        ingestion,
        photo,
        lambda name, ext: layout.build("deposition_keyphoto", deposition_id=deposition, photo=name, ext=ext),
    )


def _computed(photos: dict[str, str]) -> dict[str, Any]:
    return {"key_photos": {name: photos.get(name) for name in PHOTO_NAMES}} if photos else {}


def deposition_key_photos(deposition: Entity) -> dict[str, Any]:
    """The deposition's computed ``key_photos`` (none without configured photos, metadata.md §2)."""
    return _computed(deposition.outputs.get("key_photos", {}))


def dataset_key_photos(ingestion: Ingestion, dataset: Entity) -> dict[str, Any]:
    """The dataset's computed ``key_photos``; a photo the config does not give is copied from the
    first tomogram's key images (metadata.md §3)."""
    photos = dict(dataset.outputs.get("key_photos", {}))
    defaults = dataset.outputs.get("default_key_photos", {})
    for name in PHOTO_NAMES:
        if name in photos or name not in defaults:
            continue
        key = layout.build("dataset_keyphoto", dataset_id=dataset.name, photo=name, ext="png")
        what = f"{dataset.describe()} key photo {name} (from {defaults[name]})"
        put_object(ingestion, key, ingestion.output.read(defaults[name]), what)
        photos[name] = key
    return _computed(photos)
