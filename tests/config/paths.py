"""Where the config tests find their inputs."""

from pathlib import Path

from tests.conftest import shared_dir

DATA = Path(__file__).parent / "data"
#: Published configs the portal itself did not keep in shared/ (tests/config/data/portal/README.md).
PORTAL_EXTRA = DATA / "portal"


def _portal_configs() -> tuple[str, ...]:
    """Every published config in shared/portal-configs (not the annotated template); none without shared/."""
    for parent in Path(__file__).resolve().parents:
        folder = parent / "shared" / "portal-configs"
        if folder.is_dir():
            return tuple(sorted(path.name for path in folder.glob("*.yaml") if path.name != "template.yaml"))
    return ()


PORTAL_CONFIGS = _portal_configs()


def portal_dir() -> Path:
    """shared/portal-configs beside the repository (the tests skip when shared/ is missing)."""
    return shared_dir() / "portal-configs"
