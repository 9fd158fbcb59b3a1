"""The summary of a results file: counts per dataset and per check, and what changed since a previous run.

A result is **new** when its check fails now and did not fail before (it passed, was skipped or waived,
or did not exist); it is **fixed** when it failed before and now passes, or its entity is gone from a
dataset audited again. A failure that is waived now is neither: waiving is not fixing. A failure whose check
is skipped now (a broken input it needs is reported by another check) is **unverified**: nothing says it is
fixed. Only the previous records of the datasets (and depositions) audited now are compared.

A summary of an audit that could not look at the bucket (its root cannot be listed, it holds no dataset)
says so: it is **not audited**, exit status 2, whatever the counts say.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from data_validation.io_accounting import format_bytes
from data_validation.registry import Severity
from data_validation.results import Record, RecordStatus

DEPOSITIONS = "(depositions)"
#: Exit statuses: a check at or above the failing severity fails; the bucket could not be audited.
EXIT_FAILING = 1
EXIT_NOT_AUDITED = 2


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    waived: int = 0
    skipped: int = 0
    new: int = 0
    fixed: int = 0
    #: Failures at or above the failing severity (the audit's exit status).
    failing: int = 0

    def add(self, record: Record, fail_level: Severity) -> None:
        setattr(self, record.status, getattr(self, record.status) + 1)
        if record.verdict(fail_level).failing:
            self.failing += 1


@dataclass
class Change:
    """A result whose failing state changed: the record now (None: gone) and before (None: absent)."""

    code: str
    entity: str
    severity: str
    message: str
    now: str
    before: str

    @classmethod
    def of(cls, now: Record | None, before: Record | None) -> Change:
        # Now's message when it says something (a failure, a skip's reason), else what failed before.
        shown = now if now is not None and now.status in (RecordStatus.FAILED, RecordStatus.SKIPPED) else before
        return cls(
            shown.code,
            shown.entity,
            shown.severity,
            shown.message,
            now.status if now is not None else "gone",
            before.status if before is not None else "absent",
        )


@dataclass
class Summary:
    fail_level: Severity = Severity.ERROR
    totals: Counts = field(default_factory=Counts)
    datasets: dict[str, Counts] = field(default_factory=dict)
    checks: dict[str, Counts] = field(default_factory=dict)
    new: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    unverified: list[Change] = field(default_factory=list)
    #: Why nothing was audited (the bucket could not be listed, or holds no dataset); empty when audited.
    not_audited: str = ""
    has_previous: bool = False
    evaluated: int = 0
    carried_over: int = 0
    requests: int = 0
    bytes_read: int = 0
    duration: float = 0.0
    #: The audit's whole I/O (listings and prefetch too) and wall time; 0 when not known.
    total_requests: int = 0
    total_bytes: int = 0
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        """2 when nothing was audited; 1 when a check at or above the failing severity fails (and is not
        waived); else 0."""
        if self.not_audited:
            return EXIT_NOT_AUDITED
        return EXIT_FAILING if self.totals.failing else 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fail_level"] = self.fail_level.name.lower()
        data["exit_code"] = self.exit_code
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def add(self, records: Iterable[Record], previous: Iterable[Record] | None = None) -> None:
        """Count ``records``; compare them with ``previous``: the earlier records of the same scope (the
        same datasets or entities), so that a record missing now is a result that is gone."""
        records = list(records)
        now = {record.key: record for record in records}
        for record in records:
            for counts in (
                self.totals,
                self._row(self.datasets, group_of(record)),
                self._row(self.checks, record.code),
            ):
                counts.add(record, self.fail_level)
            self.evaluated += not record.carried_over
            self.carried_over += record.carried_over
            self.requests += record.requests
            self.bytes_read += record.bytes
            self.duration += record.duration
        if previous is None:
            return
        before = {record.key: record for record in previous}
        changes: list[tuple[str, Record | None, Record | None]] = []
        for key, record in now.items():
            earlier = before.get(key)
            if record.failed and (earlier is None or not earlier.failed):
                changes.append(("new", record, earlier))
            elif earlier is not None and earlier.failed and record.status == RecordStatus.PASSED:
                changes.append(("fixed", record, earlier))
            elif earlier is not None and earlier.failed and record.status == RecordStatus.SKIPPED:
                self.unverified.append(Change.of(record, earlier))
        changes += [("fixed", None, earlier) for key, earlier in before.items() if key not in now and earlier.failed]
        for what, record, earlier in changes:
            shown = record or earlier
            for counts in (self.totals, self._row(self.datasets, group_of(shown)), self._row(self.checks, shown.code)):
                setattr(counts, what, getattr(counts, what) + 1)
            getattr(self, what).append(Change.of(record, earlier))

    @staticmethod
    def _row(rows: dict[str, Counts], name: str) -> Counts:
        return rows.setdefault(name, Counts())

    def finish(self) -> Summary:
        """Sort the rows and the changes (datasets, then depositions; checks by code)."""
        self.checks = dict(sorted(self.checks.items()))
        self.datasets = dict(sorted(self.datasets.items(), key=lambda item: (item[0] == DEPOSITIONS, item[0])))
        self.new.sort(key=lambda c: (c.entity, c.code))
        self.fixed.sort(key=lambda c: (c.entity, c.code))
        self.unverified.sort(key=lambda c: (c.entity, c.code))
        return self

    def lines(self, limit: int = 20) -> list[str]:
        """The summary as text: totals, per dataset, changes, and the checks that fail."""
        if self.not_audited:
            return [f"NOT AUDITED: {self.not_audited}"]
        t = self.totals
        lines = [
            f"{t.passed} passed, {t.failed} failed, {t.waived} waived, {t.skipped} skipped"
            + (f"; {t.new} new, {t.fixed} fixed since the previous run" if self.has_previous else ""),
            f"{self.evaluated} checks evaluated, {self.carried_over} carried over unchanged; "
            f"{self.requests} requests, {format_bytes(self.bytes_read)} read by checks",
        ]
        if self.total_requests:
            lines[-1] += (
                f" ({self.total_requests} requests, {format_bytes(self.total_bytes)} with listings and prefetch, "
                f"in {self.elapsed:.1f} s)"
            )
        width = max([len("dataset"), *(len(name) for name in self.datasets)])
        lines += ["", f"{'dataset':<{width}} {'passed':>7} {'failed':>7} {'waived':>7} {'new':>5} {'fixed':>5}"]
        for name, c in self.datasets.items():
            lines.append(f"{name:<{width}} {c.passed:>7} {c.failed:>7} {c.waived:>7} {c.new:>5} {c.fixed:>5}")
        failing = {code: c for code, c in self.checks.items() if c.failed or c.waived or c.new or c.fixed}
        if failing:
            width = max(len("check"), *(len(code) for code in failing))
            lines += ["", f"{'check':<{width}} {'passed':>7} {'failed':>7} {'waived':>7} {'new':>5} {'fixed':>5}"]
            for code, c in failing.items():
                lines.append(f"{code:<{width}} {c.passed:>7} {c.failed:>7} {c.waived:>7} {c.new:>5} {c.fixed:>5}")
        for title, changes in (
            ("new", self.new),
            ("fixed", self.fixed),
            ("unverified: failed before, skipped now", self.unverified),
        ):
            if changes:
                lines += ["", f"{title} ({len(changes)}):"]
                lines += [f"  {c.code} [{c.severity}] {c.entity}: {c.message}" for c in changes[:limit]]
                if len(changes) > limit:
                    lines.append(f"  … and {len(changes) - limit} more (summary.json)")
        return lines


def group_of(record: Record) -> str:
    """The summary row of a record: its dataset, or the depositions."""
    return record.dataset or DEPOSITIONS


def summarize(
    records: Iterable[Record],
    previous: Iterable[Record] | None = None,
    *,
    fail_level: Severity = Severity.ERROR,
) -> Summary:
    """Counts of ``records`` per dataset and per check; new / fixed against the ``previous`` records of the
    same datasets (and the same depositions)."""
    records = list(records)
    summary = Summary(fail_level=fail_level, has_previous=previous is not None)
    if previous is not None:
        datasets = {record.dataset for record in records if record.dataset}
        depositions = {record.entity for record in records if not record.dataset}
        previous = [r for r in previous if (r.dataset in datasets if r.dataset else r.entity in depositions)]
    summary.add(records, previous)
    return summary.finish()
