"""Results as data: one JSON Lines record per (check, entity), with stable field names (docs/reports.md).

A :class:`Record` is a judged :class:`~data_validation.outcomes.Result` with what reports need beside it
(the check's kind, tier and title, the waiver, the audit's fingerprint). The same records come from
``pytest --dataset … --results-jsonl PATH`` and ``cryoet-ingest audit``, which also reads a previous run's
file back (:func:`read_records`); the WDL gather step reads them too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from data_validation.outcomes import Result, Status, Verdict, VerdictStatus, judge
from data_validation.registry import REGISTRY, EntityKind, Severity
from data_validation.snapshot import DEPOSITIONS_PREFIX

#: Evidence (observed / expected) longer than this, as JSON, is cut to a string of this length.
MAX_EVIDENCE_CHARS = 16384


#: A record's ``status``: the verdict's (a failure below the failing severity is stored as failed).
RecordStatus = VerdictStatus


@dataclass
class Record:
    """One check on one entity (docs/reports.md lists the fields; names are stable, new ones may be added)."""

    code: str
    status: str
    severity: str
    entity: str
    message: str = ""
    requests: int = 0
    bytes: int = 0
    duration: float = 0.0
    dataset: str = ""
    kind: str = ""
    tier: str = ""
    title: str = ""
    waiver: str | None = None
    waiver_expires: str | None = None
    observed: Any = None
    expected: Any = None
    fingerprint: str = ""
    carried_over: bool = False
    depositions: list[str] | None = None
    coverage: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.code, self.entity

    @property
    def failed(self) -> bool:
        return self.status == RecordStatus.FAILED

    def line(self) -> str:
        return f"{self.code} [{self.severity}] {self.entity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record from its JSON object; unknown fields (written by a newer version) are ignored."""
        known = {f.name for f in fields(cls)}
        missing = {"code", "status", "severity", "entity"} - set(data)
        if missing:
            raise ValueError(f"missing fields {sorted(missing)}")
        if data["status"] not in set(RecordStatus):
            raise ValueError(f"status {data['status']!r} is none of {', '.join(RecordStatus)}")
        if str(data["severity"]).upper() not in Severity.__members__:
            raise ValueError(f"severity {data['severity']!r} is none of {', '.join(Severity.__members__).lower()}")
        return cls(**{name: value for name, value in data.items() if name in known})

    def result(self) -> Result:
        """The check's own outcome (before waivers): what the audit carries over and judges again."""
        status = {
            RecordStatus.PASSED: Status.PASSED,
            RecordStatus.SKIPPED: Status.SKIPPED,
        }.get(RecordStatus(self.status), Status.FAILED)
        return Result(
            self.code, self.entity, status, Severity[self.severity.upper()], self.message, self.observed, self.expected
        )

    def verdict(self, fail_level: Severity) -> Verdict:
        """The record judged again at ``fail_level``, keeping the waiver decision it was written with."""
        if self.status == RecordStatus.WAIVED:
            return Verdict(VerdictStatus.WAIVED)
        return judge(self.result(), [], fail_level)


# -- values as JSON ----------------------------------------------------------------------------


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays, tuples, sets, bytes and objects become
    numbers, lists and strings; NaN and infinities become strings (JSON has no such numbers)."""
    if depth > 20:
        return repr(value)
    if isinstance(value, Severity):
        return value.name.lower()
    if isinstance(value, StrEnum):
        return str(value)
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays and scalars
        return jsonable(value.tolist(), depth + 1)
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item, depth + 1) for item in value]
    if isinstance(value, set | frozenset):
        return [jsonable(item, depth + 1) for item in sorted(value, key=repr)]
    if isinstance(value, bytes | bytearray):
        text = bytes(value[:256]).hex()
        return f"0x{text}…" if len(value) > 256 else f"0x{text}"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def evidence(value: Any) -> Any:
    """:func:`jsonable`, cut to :data:`MAX_EVIDENCE_CHARS` of JSON when larger."""
    data = jsonable(value)
    text = json.dumps(data, ensure_ascii=False)
    if len(text) > MAX_EVIDENCE_CHARS:
        return text[:MAX_EVIDENCE_CHARS] + f"… ({len(text)} characters)"
    return data


def dataset_of(entity: str) -> str:
    """The dataset id of an entity path ("" for a deposition)."""
    return "" if entity.startswith(DEPOSITIONS_PREFIX + "/") or entity == DEPOSITIONS_PREFIX else entity.split("/")[0]


# -- records of results -------------------------------------------------------------------------


def make_record(result: Result, verdict: Verdict, *, fingerprint: str = "", carried_over: bool = False) -> Record:
    """The record of a judged result; kind, tier and title come from the check registry."""
    registered = REGISTRY.get(result.code)
    if registered is not None:
        kind, tier, title = registered.entity.value, registered.tier.name, registered.title
    else:  # GEN-DISCOVERY: not a registered check
        deposition = result.entity.startswith(DEPOSITIONS_PREFIX + "/")
        kind = (EntityKind.DEPOSITION if deposition else EntityKind.DATASET).value
        tier, title = "LIST", "the prefix can be listed and holds objects"
    failed = verdict.status in (RecordStatus.FAILED, RecordStatus.WAIVED)
    return Record(
        code=result.code,
        status=str(verdict.status),
        severity=result.severity.name.lower(),
        entity=result.entity,
        message=result.message,
        requests=result.requests,
        bytes=result.bytes_read,
        duration=round(result.duration, 6),
        dataset=dataset_of(result.entity),
        kind=kind,
        tier=tier,
        title=title,
        waiver=verdict.waiver.reason if verdict.waiver else None,
        waiver_expires=verdict.waiver.expires.isoformat() if verdict.waiver and verdict.waiver.expires else None,
        observed=evidence(result.observed) if failed else None,
        expected=evidence(result.expected) if failed else None,
        fingerprint=fingerprint,
        carried_over=carried_over,
        coverage=result.coverage,
    )


# -- the file ----------------------------------------------------------------------------------


class JsonlWriter:
    """Appends records to a JSON Lines file, one line each, flushed as they come (a crash keeps them)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle: IO[str] | None = path.open("w", encoding="utf-8")
        self.count = 0

    def write(self, record: Record) -> None:
        if self._handle is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._handle.write(record.to_json() + "\n")
        self._handle.flush()
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_records(path: Path, records: Iterable[Record]) -> None:
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)


def iter_records(path: Path) -> Iterator[Record]:
    """Records of a JSON Lines file; a malformed line raises ValueError naming the file and line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError(f"a JSON {type(data).__name__}, not an object")
                yield Record.from_dict(data)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a result record ({error})") from None


def read_records(path: Path) -> list[Record]:
    return list(iter_records(path))
