"""Every check module, imported here: the one place where checks are registered."""

from data_validation.checks import metadata_checks, tomogram, volumes  # noqa: F401
from data_validation.checks.context import CheckContext

__all__ = ["CheckContext"]
