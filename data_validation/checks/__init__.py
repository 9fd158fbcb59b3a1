"""Every check module, imported here: the one place where checks are registered."""

from data_validation.checks import (  # noqa: F401
    alignment,
    annotation,
    content,
    ctf,
    database,
    dataset,
    deposition,
    frames,
    generic,
    identified_objects,
    key_images,
    manifest,
    neuroglancer,
    points,
    run,
    tilt_angles,
    tiltseries,
    tomogram,
    volumes,
    voxel_spacing,
)
from data_validation.checks.context import CheckContext
from data_validation.source import checks as source_checks  # noqa: F401  (SRC-*: a lab's upload, before ingestion)

__all__ = ["CheckContext"]
