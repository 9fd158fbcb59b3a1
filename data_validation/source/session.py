"""The suite's public hand-off for ``pytest --ingestion-config``: a source session offered by the ingestion app.

The suite knows nothing of ingestion configs. The app's pytest plugin (``importers/ingest/preflight.py``) adds the
options and, when ``--ingestion-config`` is given, offers a :class:`SourceSession` from a ``pytest_configure`` that
runs before the suite's. ``data_validation/plugin.py`` then opens the input bucket instead of ``--bucket`` and
discovers with :meth:`SourceSession.discover` instead of listing datasets; everything else (snapshot hand-off to
parametrization, the engine, verdicts, waivers, reports) is the bucket suite's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the suite's plugin imports this module at every pytest start-up: nothing heavy here
    from data_validation.source.snapshot import SourceSnapshot
    from importers.storage import Bucket


@dataclass(frozen=True)
class SourceSession:
    """A lab's upload to check: where it is, and how its source entities are planned."""

    #: The input bucket's URL; the suite opens it read-only (with ``--endpoint-url``) and passes it to ``plan``.
    input_bucket: str
    #: The source entities planned in the input bucket; called once, in the controlling process.
    plan: Callable[[Bucket], SourceSnapshot]

    def discover(self, bucket: Bucket) -> SourceSnapshot:
        """The planned sources, with the small objects the checks read prefetched."""
        from data_validation.source.snapshot import prefetch_sources

        snapshot = self.plan(bucket)
        prefetch_sources(bucket, snapshot)
        return snapshot


_OFFERED = pytest.StashKey[SourceSession]()


def offer(config: pytest.Config, session: SourceSession) -> None:
    """Make ``session`` what this pytest session checks (call it from a ``tryfirst`` ``pytest_configure``)."""
    config.stash[_OFFERED] = session


def offered(config: pytest.Config) -> SourceSession | None:
    """The source session offered for this pytest session; None when the suite checks a bucket."""
    return config.stash.get(_OFFERED, None)
