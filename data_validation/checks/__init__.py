"""Every check module, imported here: the one place where checks are registered."""

from data_validation.checks import (  # noqa: F401
    content,
    database,
    dataset,
    deposition,
    generic,
    run,
    tomogram,
    volumes,
    voxel_spacing,
)
from data_validation.checks.context import CheckContext

__all__ = ["CheckContext"]
