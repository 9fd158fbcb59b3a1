"""What a check found, and what it means for the session: the one result type and the one judgement.

A :class:`Result` is a check's own outcome on one entity (passed, failed with a severity, skipped). The
session turns it into a :class:`Verdict` with :func:`judge`, against the waivers and the lowest failing
severity (``--severity``); pytest's test outcomes, the audit's summary and exit status, and the WDL gather
step's counts are all read off verdicts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from data_validation.registry import Severity
from data_validation.waivers import Waiver, find_waiver

DISCOVERY_CODE = "GEN-DISCOVERY"


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    """What one check found on one entity, and what it read to find it."""

    code: str
    entity: str
    status: Status
    severity: Severity
    message: str = ""
    #: The values a failed check compared (``CheckFailed.observed`` / ``expected``), as evidence for reports.
    observed: Any = field(default=None, compare=False)
    expected: Any = field(default=None, compare=False)
    requests: int = field(default=0, compare=False)
    bytes_read: int = field(default=0, compare=False)
    duration: float = field(default=0.0, compare=False)
    #: Requests that failed transiently and were made again (counted in ``requests`` too).
    retries: int = field(default=0, compare=False)
    #: What part of the volumes a content check verified (``Coverage.summary()``); None for other checks.
    coverage: dict[str, Any] | None = field(default=None, compare=False)

    def line(self) -> str:
        """The one-line report: code, severity, entity, what is wrong."""
        return f"{self.code} [{self.severity.name.lower()}] {self.entity}: {self.message}"


class VerdictStatus(StrEnum):
    """A judged result, as reports store it (``status`` of a JSON Lines record)."""

    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    #: The waiver that matched: applied (WAIVED), or named because it has expired (FAILED).
    waiver: Waiver | None = None
    #: A failure below the failing severity: reported, not failing the session.
    below_threshold: bool = False
    #: Of those, a warning (pytest: a passed test counted as ``warned``); an info is noted in the records only.
    warned: bool = False

    @property
    def failing(self) -> bool:
        """Whether this verdict fails the session (a pytest failure, the audit's exit status 1)."""
        return self.status is VerdictStatus.FAILED and not self.below_threshold

    @property
    def outcome(self) -> str:
        """How the session counts it: passed, failed, warned, waived or skipped (pytest's last line, the gather
        step's counts); a finding below the failing severity is warned (a warning) or passed (an info)."""
        if self.below_threshold:
            return "warned" if self.warned else "passed"
        return str(self.status)


def judge(result: Result, waivers: list[Waiver], fail_level: Severity, today: dt.date | None = None) -> Verdict:
    """The verdict on a result: a failure at or above ``fail_level`` that a current waiver matches is waived;
    an expired waiver is named, not applied; a failure below ``fail_level`` stays a failure of its (lower)
    severity, is not waived and does not fail the session."""
    if result.status is Status.PASSED:
        return Verdict(VerdictStatus.PASSED)
    if result.status is Status.SKIPPED:
        return Verdict(VerdictStatus.SKIPPED)
    if result.severity < fail_level:
        return Verdict(VerdictStatus.FAILED, below_threshold=True, warned=result.severity >= Severity.WARNING)
    waiver = find_waiver(waivers, result.code, result.entity)
    if waiver is None:
        return Verdict(VerdictStatus.FAILED)
    if waiver.expired(today or dt.date.today()):
        return Verdict(VerdictStatus.FAILED, waiver)
    return Verdict(VerdictStatus.WAIVED, waiver)
