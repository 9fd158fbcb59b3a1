"""Where the config tests find their inputs."""

from pathlib import Path

from tests.conftest import shared_dir

DATA = Path(__file__).parent / "data"
PORTAL_CONFIGS = ("10000.yaml", "10008.yaml", "10473.yaml", "10477.yaml", "deposition_10301.yaml")


def portal_dir() -> Path:
    """shared/portal-configs beside the repository (the tests skip when shared/ is missing)."""
    return shared_dir() / "portal-configs"
