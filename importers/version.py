"""The installed version of this project, for ``--version`` and pytest's header."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "cryoet-ingest"


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a checkout on the path that was never installed
        return "unknown (not installed)"
