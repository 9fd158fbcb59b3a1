"""The audit's rotating content coverage: the nights on which each slice of the sampled arrays was last
verified (kept in the content checks' records), and how far the nights together have come.

With ``--rotate K`` the audit of night N reads whole, besides the samples, the chunks of every sampled array
whose index is N modulo K (:class:`~data_validation.sampling.Rotation`): K nights read every chunk once. Each
content record's ``coverage`` carries ``slice`` ([N mod K, K]) and ``nights`` (slice -> the night it was last
verified), taken over from the previous record while the entity's objects are unchanged (same fingerprint):
a changed object makes every slice unverified again.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_validation.results import Record
from data_validation.sampling import Rotation


def note_night(record: Record, earlier: Record | None, rotation: Rotation) -> None:
    """Record tonight's slice as verified in a content record's coverage, after the nights kept from ``earlier``."""
    if record.coverage is None:
        return
    kept: dict[str, int] = {}
    if earlier is not None and earlier.fingerprint == record.fingerprint and isinstance(earlier.coverage, dict):
        nights = earlier.coverage.get("nights")
        if isinstance(nights, dict) and (earlier.coverage.get("slice") or [None, None])[1] == rotation.nights:
            kept = {k: v for k, v in nights.items() if isinstance(v, int) and not isinstance(v, bool)}
    record.coverage = {
        **record.coverage,
        "slice": [rotation.residue, rotation.nights],
        "nights": {**kept, str(rotation.residue): rotation.night},
    }


@dataclass
class RotationStatus:
    """Over the content records of a run: slices verified within the last K nights, the oldest verification."""

    rotation: Rotation
    slices: int = 0
    verified: int = 0
    oldest: int = 0

    def add(self, record: Record) -> None:
        nights = record.coverage.get("nights") if isinstance(record.coverage, dict) else None
        if not isinstance(nights, dict):
            return
        for residue in range(self.rotation.nights):
            self.slices += 1
            night = nights.get(str(residue))
            if isinstance(night, int) and 0 <= self.rotation.night - night < self.rotation.nights:
                self.verified += 1
                self.oldest = max(self.oldest, self.rotation.night - night)

    def lines(self) -> list[str]:
        if not self.slices:
            return []
        never = self.slices - self.verified
        share = 100.0 * self.verified / self.slices
        return [
            f"content rotation: night {self.rotation.night}, slice {self.rotation.residue} of {self.rotation.nights}; "
            f"{self.verified} of {self.slices} slices of the content checks' arrays verified in the last "
            f"{self.rotation.nights} nights ({share:.1f} %); oldest verification {self.oldest} nights ago"
            + (f"; {never} slices not verified since their data last changed" if never else "")
        ]
