"""Key images (formats.md §6): a projection of a tomogram's central slab with annotation overlays,
saved as the portal's four PNGs.

Volumes are read from their MRC by byte range, a few planes at a time, so memory holds one
projection (one float per x·y pixel) whatever the tomogram's size.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from importers.formats.mrc import MrcFormatError, parse_header
from importers.storage import Bucket

SLAB_DEPTH = 40
#: Exact (width, height) of the images cut from the render; ``original`` keeps the tomogram's width.
CROPPED_SIZES = {"snapshot": (512, 384), "thumbnail": (134, 100), "expanded": (1024, 768)}
CROP_ASPECT = 4 / 3
MASK_ALPHA = 0.3
POINT_ALPHA = 0.8
#: Source bytes per ranged read of a slab.
READ_STEP_BYTES = 8 << 20


def central_slab(depth: int, slab: int = SLAB_DEPTH) -> tuple[int, int]:
    """The z range ``[z0, z1)`` of the ``slab`` slices around the central z (all of a thinner volume)."""
    start = max(0, depth // 2 - slab // 2)
    return start, min(depth, start + slab)


@dataclass(frozen=True)
class Projection:
    """The sum of a volume's planes ``z_range`` (float32, y × x: enough for an 8-bit picture)."""

    data: np.ndarray
    z_range: tuple[int, int]


def project_slab(bucket: Bucket, key: str, depth: int = SLAB_DEPTH, center: int | None = None) -> Projection:
    """Sum the central ``depth`` planes of an MRC (or those around plane ``center``, kept inside the volume),
    reading only those planes."""
    header = parse_header(bucket.read_range(key, 0, 1024))
    if header.dtype is None:
        raise MrcFormatError(f"{key}: unsupported MRC mode {header.mode}")
    nz, ny, nx = header.shape
    if center is None:
        z0, z1 = central_slab(nz, depth)
    else:
        z0 = min(max(0, center - depth // 2), max(0, nz - depth))
        z1 = min(nz, z0 + depth)
    plane_bytes = ny * nx * header.dtype.itemsize
    step = max(1, READ_STEP_BYTES // max(1, plane_bytes))
    total = np.zeros((ny, nx), dtype=np.float32)
    for start in range(z0, z1, step):
        stop = min(start + step, z1)
        offset = header.data_offset + start * plane_bytes
        raw = bucket.read_range(key, offset, offset + (stop - start) * plane_bytes)
        if len(raw) != (stop - start) * plane_bytes:
            raise MrcFormatError(f"{key}: data truncated in planes {start}-{stop - 1}")
        total += np.frombuffer(raw, dtype=header.dtype).reshape(stop - start, ny, nx).sum(axis=0, dtype=np.float32)
    return Projection(total, (z0, z1))


def _grey(projection: np.ndarray) -> np.ndarray:
    """Contrast stretched to mean ± 3 std, as uint8."""
    mean, std = float(projection.mean()), float(projection.std())
    if std == 0:
        return np.zeros(projection.shape, dtype=np.uint8)
    scaled = (projection - (mean - 3 * std)) * (255 / (6 * std))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@dataclass(frozen=True)
class Overlay:
    """Annotations drawn over the render in a viewer colour ``#RRGGBB``: a mask projection
    (any non-zero voxel in the slab) or points ``(x, y)`` in tomogram pixels."""

    color: str
    mask: np.ndarray | None = None
    points: np.ndarray | None = None


def slab_points(locations: Iterable[Mapping[str, float]], z_range: tuple[int, int]) -> np.ndarray:
    """``(x, y)`` of the point locations (annotation voxels, formats.md §3.1) whose z lies in the slab."""
    z0, z1 = z_range
    inside = [(location["x"], location["y"]) for location in locations if z0 <= location["z"] < z1]
    return np.array(inside, dtype=np.float64).reshape(-1, 2)


def render(projection: np.ndarray, overlays: Iterable[Overlay]) -> Image.Image:
    """The tomogram render (RGB, one pixel per voxel): grey projection, translucent masks, then
    filled points sized with the image (as on the portal, big enough to see in a thumbnail)."""
    grey = _grey(projection)
    height, width = grey.shape
    pixels = np.repeat(grey[:, :, None], 3, axis=2)
    overlays = list(overlays)
    for overlay in overlays:
        if overlay.mask is None:
            continue
        mask = overlay.mask
        if mask.shape != (height, width):
            resized = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
            mask = np.asarray(resized) > 0
        blended = (1 - MASK_ALPHA) * pixels[mask] + MASK_ALPHA * np.array(_rgb(overlay.color), dtype=np.float32)
        pixels[mask] = np.round(blended).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB").convert("RGBA")
    radius = max(2.0, 0.4 * width**0.5)
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for overlay in overlays:
        if overlay.points is None:
            continue
        fill = (*_rgb(overlay.color), round(255 * POINT_ALPHA))
        for x, y in overlay.points:
            box = (x - radius, y - radius, x + radius, y + radius)
            draw.ellipse(box, fill=fill, outline=(255, 255, 255, fill[3]), width=max(1, round(radius / 6)))
    return Image.alpha_composite(image, layer).convert("RGB")


def crop_to_aspect(image: Image.Image) -> Image.Image:
    """A portrait image turned landscape, then its largest centred 4:3 box."""
    if image.height > image.width:
        image = image.transpose(Image.Transpose.ROTATE_90)
    width, height = image.size
    if width >= height * CROP_ASPECT:
        crop_width, crop_height = round(height * CROP_ASPECT), height
    else:
        crop_width, crop_height = width, round(width / CROP_ASPECT)
    left, top = (width - crop_width) // 2, (height - crop_height) // 2
    return image.crop((left, top, left + crop_width, top + crop_height))


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def key_images(preview: Image.Image, original_width: int, names: Iterable[str]) -> dict[str, bytes]:
    """PNG bytes of each named key image: ``original`` is the preview at the tomogram's width
    (height in proportion), the others are centre crops at their exact sizes."""
    images = {}
    cropped = None
    for name in names:
        if name == "original":
            height = max(1, round(preview.height * original_width / preview.width))
            size = (original_width, height)
            image = preview if preview.size == size else preview.resize(size, Image.Resampling.LANCZOS)
        else:
            cropped = cropped or crop_to_aspect(preview)
            image = cropped.resize(CROPPED_SIZES[name], Image.Resampling.LANCZOS)
        images[name] = png(image)
    return images
