"""Per-check I/O accounting and per-tier byte budgets.

Each check evaluation reads through a view of the bucket that counts into its own :class:`Usage`
(``CheckContext.counting_into``), so requests and bytes are attributed to the (check, entity) that caused
them; what the checks of one entity share was read by (and is charged to) the first that needed it. What
the session's snapshot prefetched (listings, metadata, MRC headers) was read once, before any check, and
counts to the session only.

A check whose reads exceed its tier's budget fails as soon as the read that crossed the budget returns
(:class:`BudgetExceeded`), with the figures and the option to change the budget. ``--io-report`` prints
the figures per check and per entity at the end of the session (see plugin.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from data_validation.registry import CheckFailed, Severity, Tier
from importers.storage import IOStats

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

#: Bytes one check evaluation may read, per tier (None: unlimited). LIST and HEAD checks read from the
#: snapshot; HEADER checks may read a header or a small sidecar the prefetch did not hold; SAMPLE checks
#: read sampled chunk blocks and MRC rows (a 2 GiB tomogram's whole SAMPLE check set reads ~15 MiB).
DEFAULT_BUDGETS: dict[Tier, int | None] = {
    Tier.LIST: 1 * MIB,
    Tier.HEAD: 1 * MIB,
    Tier.HEADER: 16 * MIB,
    Tier.SAMPLE: 64 * MIB,
    Tier.FULL: None,
}

_UNITS = {
    "": 1,
    "B": 1,
    "K": KIB,
    "KB": 1000,
    "KIB": KIB,
    "M": MIB,
    "MB": 1000**2,
    "MIB": MIB,
    "G": GIB,
    "GB": 1000**3,
    "GIB": GIB,
    "T": 1 << 40,
    "TB": 1000**4,
    "TIB": 1 << 40,
}
_UNLIMITED = {"NONE", "OFF", "UNLIMITED", "INF"}


def parse_size(text: str) -> int | None:
    """``64MiB``, ``1.5GB``, ``4096``, ``none`` (unlimited) -> bytes or None."""
    value = text.strip().upper().replace(" ", "")
    if value in _UNLIMITED:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Z]*)", value)
    if match is None or match.group(2) not in _UNITS:
        raise ValueError(f"{text!r} is not a size (e.g. 64MiB, 500MB, 1GiB, 4096, none)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_budgets(specs: Iterable[str]) -> dict[Tier, int | None]:
    """Defaults overridden by ``TIER=SIZE`` items (``SAMPLE=128MiB``, ``FULL=none``; comma-separated too)."""
    budgets = dict(DEFAULT_BUDGETS)
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            tier, separator, size = item.partition("=")
            if not separator or tier.strip().upper() not in Tier.__members__:
                raise ValueError(f"--io-budget {item!r}: expected TIER=SIZE with TIER in {', '.join(Tier.__members__)}")
            budgets[Tier[tier.strip().upper()]] = parse_size(size)
    return budgets


def format_bytes(count: int | None) -> str:
    if count is None:
        return "none"
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


class BudgetExceeded(CheckFailed):
    """A check read more than its tier's budget."""


@dataclass
class Usage(IOStats):
    """The requests and bytes of one check evaluation; raises :class:`BudgetExceeded` on the read
    that takes it over ``budget``."""

    code: str = ""
    entity: str = ""
    tier: Tier = Tier.LIST
    budget: int | None = None
    exceeded: bool = False

    def record(self, kind: str, *, read: int = 0, written: int = 0, count: int = 1) -> None:
        super().record(kind, read=read, written=written, count=count)
        if self.budget is not None and self.bytes_read > self.budget and not self.exceeded:
            self.exceeded = True
            raise BudgetExceeded(
                self.over_budget_message(), observed=self.bytes_read, expected=self.budget, severity=Severity.ERROR
            )

    def over_budget_message(self) -> str:
        return (
            f"read {format_bytes(self.bytes_read)} in {self.total_requests} requests, over the {self.tier.name} "
            f"budget of {format_bytes(self.budget)} per check (--io-budget {self.tier.name}=SIZE)"
        )

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.bytes_read > self.budget


@dataclass(frozen=True)
class IoRecord:
    """What one check evaluation read."""

    code: str
    tier: str
    entity: str
    requests: int
    bytes_read: int
    #: Requests that failed transiently and were made again (counted in ``requests`` too).
    retries: int = 0

    @classmethod
    def of(cls, result: Any, tier: Tier) -> IoRecord:
        """The figures of a :class:`~data_validation.outcomes.Result` of a check of ``tier``."""
        return cls(result.code, tier.name, result.entity, result.requests, result.bytes_read, result.retries)


@dataclass
class IoReport:
    """Figures of a session: the snapshot's, and one record per check evaluation."""

    records: list[IoRecord] = field(default_factory=list)
    session_requests: int = 0
    session_bytes: int = 0
    session_retries: int = 0

    def add(self, record: IoRecord) -> None:
        self.records.append(record)

    @property
    def check_bytes(self) -> int:
        return sum(r.bytes_read for r in self.records)

    @property
    def check_requests(self) -> int:
        return sum(r.requests for r in self.records)

    @property
    def check_retries(self) -> int:
        return sum(r.retries for r in self.records)

    def by_check(self) -> list[tuple[str, str, int, int, int, int]]:
        """``(code, tier, evaluations, requests, bytes, max bytes of one evaluation)``, most bytes first."""
        rows: dict[str, list] = {}
        for r in self.records:
            row = rows.setdefault(r.code, [r.code, r.tier, 0, 0, 0, 0])
            row[2] += 1
            row[3] += r.requests
            row[4] += r.bytes_read
            row[5] = max(row[5], r.bytes_read)
        return sorted((tuple(row) for row in rows.values()), key=lambda row: (-row[4], -row[3], row[0]))

    def by_entity(self) -> list[tuple[str, int, int, int]]:
        """``(entity, checks, requests, bytes)``, most bytes first."""
        rows: dict[str, list] = {}
        for r in self.records:
            row = rows.setdefault(r.entity, [r.entity, 0, 0, 0])
            row[1] += 1
            row[2] += r.requests
            row[3] += r.bytes_read
        return sorted((tuple(row) for row in rows.values()), key=lambda row: (-row[3], -row[2], row[0]))

    def lines(self, budgets: dict[Tier, int | None] | None = None) -> list[str]:
        budgets = DEFAULT_BUDGETS if budgets is None else budgets
        lines = [
            f"session snapshot (listings + prefetch, read once): {self.session_requests} requests, "
            f"{format_bytes(self.session_bytes)}",
            f"checks: {self.check_requests} requests, {format_bytes(self.check_bytes)} in {len(self.records)} "
            f"evaluations",
            f"retried after a transient storage error (503/500, reset, cut answer): {self.session_retries} "
            f"requests of the snapshot, {self.check_retries} of the checks",
        ]
        reading = [row for row in self.by_check() if row[3]]
        idle = len({r.code for r in self.records}) - len(reading)
        if reading:
            width = max(len("check"), *(len(row[0]) for row in reading))
            lines += ["", "per check (each evaluation is one check on one entity):"]
            lines.append(
                f"{'check':<{width}}  {'tier':<6} {'evals':>6} {'requests':>9} {'bytes':>11} {'max/eval':>11} "
                f"{'budget':>10}"
            )
            for code, tier, evaluations, requests, read, most in reading:
                lines.append(
                    f"{code:<{width}}  {tier:<6} {evaluations:>6} {requests:>9} {format_bytes(read):>11} "
                    f"{format_bytes(most):>11} {format_bytes(budgets.get(Tier[tier])):>10}"
                )
        if idle:
            lines.append(f"checks that read nothing beyond the snapshot: {idle}")
        entities = [row for row in self.by_entity() if row[2]]
        if entities:
            width = max(len("entity"), *(len(row[0]) for row in entities))
            lines += ["", "per entity:", f"{'entity':<{width}}  {'checks':>6} {'requests':>9} {'bytes':>11}"]
            for entity, checks, requests, read in entities:
                lines.append(f"{entity:<{width}}  {checks:>6} {requests:>9} {format_bytes(read):>11}")
        return lines
