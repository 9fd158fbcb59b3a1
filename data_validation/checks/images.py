"""Key photo helpers shared by the dataset, deposition and tomogram checks (checks.md §16)."""

from __future__ import annotations

from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.reader import Unreadable
from data_validation.registry import Severity, fail
from importers import layout
from importers.formats.images import ImageFormatError, image_size


def check_key_photos(context: CheckContext, photos: Any, minimums: dict[str, tuple[float, float]]) -> None:
    """Fail on a ``key_photos`` / ``key_photo`` mapping with a photo missing or unreadable (an error: the portal
    shows a broken image); a photo smaller than ``minimums[name]`` only warns (it displays, blurred)."""
    if not isinstance(photos, dict):
        fail(f"key photos are {photos!r}, expected {{snapshot, thumbnail}}", observed=photos)
    problems, small = [], []
    for name, minimum in minimums.items():
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
            small.append(f"{name} {key} is {width}×{height} px, smaller than {minimum[0]}×{minimum[1]}")
    if problems:
        fail("; ".join(problems), observed=problems)
    if small:
        fail("; ".join(small), observed=small, severity=Severity.WARNING)
