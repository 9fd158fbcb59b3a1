"""What an ingestion wrote, skipped and failed, for progress lines and the final summary; the runs done
out of those found, with bytes, rate and ETA (importers/progress.py)."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from importers.progress import Progress


@dataclass
class Report:
    """Outcome per entity; failures keep the entity and the one-line reason."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    outcomes: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    #: Only failures are recorded and printed (the report of a planning walk).
    quiet: bool = False
    #: Runs done of those found; silent unless given a stream (``standardize_config``).
    progress: Progress = field(default_factory=lambda: Progress("standardize", "runs", None))

    def failures_only(self) -> Report:
        """A report that shares this one's failures and prints nothing else."""
        return Report(
            stream=self.stream, outcomes=self.outcomes, failures=self.failures, quiet=True, progress=self.progress
        )

    def written(self, what: str, detail: str = "") -> None:
        self._log("written", what, detail)

    def skipped(self, what: str, detail: str = "") -> None:
        self._log("skipped", what, detail)

    def planned(self, what: str, detail: str = "") -> None:
        self._log("planned", what, detail)

    def removed(self, what: str, detail: str = "") -> None:
        self._log("removed", what, detail)

    def failed(self, what: str, reason: str) -> None:
        self.failures.append(f"{what}: {reason}")
        self._log("failed", what, reason, always=True)

    def _log(self, outcome: str, what: str, detail: str, *, always: bool = False) -> None:
        if self.quiet and not always:
            return
        self.outcomes[outcome] += 1
        line = f"{outcome:>8}  {what}" + (f"  ({detail})" if detail else "")
        if self.progress.stream is not None:
            self.progress.note(line)  # above the live progress line
        else:
            print(line, file=self.stream, flush=True)

    def summary(self) -> str:
        outcomes = ("written", "skipped", "planned", "removed", "failed")
        parts = [f"{self.outcomes[o]} {o}" for o in outcomes if self.outcomes[o]]
        return ", ".join(parts) or "nothing to do"
