"""Key photo helpers shared by the dataset, deposition and tomogram checks (checks.md §16)."""

from __future__ import annotations

from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.reader import Unreadable
from importers import layout
from importers.formats.images import ImageFormatError, image_size


def key_photo_problems(context: CheckContext, photos: Any, *, minimum: tuple[float, float]) -> list[str]:
    """What is wrong with a ``key_photos`` / ``key_photo`` mapping: missing, unreadable or too small."""
    if not isinstance(photos, dict):
        return [f"key photos are {photos!r}, expected {{snapshot, thumbnail}}"]
    problems = []
    for name in ("snapshot", "thumbnail"):
        path = photos.get(name)
        if not isinstance(path, str):
            problems.append(f"{name} is {path!r}")
            continue
        if path.startswith(("http://", "https://")):
            continue  # an external URL is KEY-IMAGE-VALID's (FULL tier) to fetch
        key = layout.strip_bucket_name(path)
        try:
            _, width, height = image_size(context.reader.image_header(key))
        except (Unreadable, ImageFormatError) as error:
            problems.append(f"{name} {key}: {error}")
            continue
        if width < minimum[0] or height < minimum[1]:
            problems.append(f"{name} {key} is {width}×{height} px, smaller than {minimum[0]}×{minimum[1]}")
    return problems
