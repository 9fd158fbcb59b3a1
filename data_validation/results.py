"""Results as data: one JSON Lines record per (check, entity), with stable field names (docs/reports.md).

The same records come from two places: ``pytest --dataset … --results-jsonl PATH`` (the
:class:`ResultsJsonl` plugin, fed in the controlling process by the test reports, which carry each check's
:class:`~data_validation.engine.Result` as a user property, so that xdist workers' results arrive too) and
``cryoet-ingest audit``, which also reads a previous run's file back (:func:`read_records`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import pytest

from data_validation.engine import DISCOVERY_CODE, Result, Status
from data_validation.registry import REGISTRY, EntityKind, Severity
from data_validation.snapshot import DEPOSITIONS_PREFIX
from data_validation.waivers import Waiver, find_waiver

#: The user property (of a test report) that carries the check's Result from the test to the controller.
RESULT_PROPERTY = "cryoet_result"
#: Evidence (observed / expected) longer than this, as JSON, is cut to a string of this length.
MAX_EVIDENCE_CHARS = 16384


class RecordStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    WAIVED = "waived"
    SKIPPED = "skipped"


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


def result_property(result: Result) -> dict[str, Any]:
    """A Result as plain data, to travel as a test report's user property (xdist serializes them)."""
    return {
        "code": result.code,
        "entity": result.entity,
        "status": str(result.status),
        "severity": result.severity.name.lower(),
        "message": result.message,
        "observed": evidence(result.observed),
        "expected": evidence(result.expected),
    }


def result_of_property(data: dict[str, Any]) -> Result:
    return Result(
        data["code"],
        data["entity"],
        Status(data["status"]),
        Severity[data["severity"].upper()],
        data.get("message", ""),
        data.get("observed"),
        data.get("expected"),
    )


def discovery_result(problem: str) -> Result:
    """A discovery problem (``"dataset 10001: nothing under …"``) as a failed GEN-DISCOVERY result whose
    entity is the dataset (or deposition) it concerns."""
    what = problem.split(":", 1)[0]
    kind, _, identifier = what.partition(" ")
    entity = f"{DEPOSITIONS_PREFIX}/{identifier}" if kind == "deposition" else identifier or what
    return Result(DISCOVERY_CODE, entity, Status.FAILED, Severity.ERROR, problem)


def dataset_of(entity: str) -> str:
    """The dataset id of an entity path ("" for a deposition)."""
    return "" if entity.startswith(DEPOSITIONS_PREFIX + "/") or entity == DEPOSITIONS_PREFIX else entity.split("/")[0]


# -- verdicts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: RecordStatus
    waiver: Waiver | None = None


def judge(result: Result, waivers: list[Waiver], fail_level: Severity, today: dt.date | None = None) -> Verdict:
    """The record status of a Result, as the suite judges it (plugin.run_case): a failure at or above
    ``fail_level`` that a current waiver matches is waived; an expired waiver is named, not applied;
    a failure below ``fail_level`` stays a failure of its (lower) severity and is not waived."""
    if result.status is Status.PASSED:
        return Verdict(RecordStatus.PASSED)
    if result.status is Status.SKIPPED:
        return Verdict(RecordStatus.SKIPPED)
    if result.severity < fail_level:
        return Verdict(RecordStatus.FAILED)
    waiver = find_waiver(waivers, result.code, result.entity)
    if waiver is None:
        return Verdict(RecordStatus.FAILED)
    if waiver.expired(today or dt.date.today()):
        return Verdict(RecordStatus.FAILED, waiver)
    return Verdict(RecordStatus.WAIVED, waiver)


def make_record(
    result: Result,
    verdict: Verdict,
    *,
    requests: int = 0,
    read: int = 0,
    duration: float = 0.0,
    fingerprint: str = "",
    carried_over: bool = False,
) -> Record:
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
        requests=requests,
        bytes=read,
        duration=round(duration, 6),
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


# -- the pytest plugin (--results-jsonl) -------------------------------------------------------

_CHECK_TEST = re.compile(r"::test_check\[(?P<id>.*)\]$")


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--results-jsonl",
        dest="cryoet_results_jsonl",
        default=None,
        metavar="PATH",
        help="write one JSON line per check and entity: code, status, severity, entity, message, requests, "
        "bytes, duration (docs/reports.md)",
    )


def configure(config: pytest.Config) -> None:
    """Register the writer in the controlling process (xdist workers send it their reports)."""
    path = config.getoption("cryoet_results_jsonl")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultsJsonl(config, Path(path)), "cryoet-results-jsonl")


def _first_line(report: pytest.TestReport) -> str:
    text = report.longreprtext.strip() if report.longrepr else ""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:  # a skip: (path, line, reason)
        text = str(report.longrepr[2])
    return text.splitlines()[-1].strip() if text else ""


class ResultsJsonl:
    """Writes a record per validation test as its report arrives (in the controlling process)."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.writer: JsonlWriter | None = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.writer = JsonlWriter(self.path)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.writer is not None:
            self.writer.close()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.writer is None or _CHECK_TEST.search(report.nodeid) is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.writer.write(self.record(report))

    def record(self, report: pytest.TestReport) -> Record:
        from data_validation.plugin import IO_PROPERTY, SESSION  # the plugin imports this module

        properties = dict(report.user_properties)
        io = properties.get(IO_PROPERTY) or {}
        session = self.config.stash.get(SESSION, None)
        waivers, fail_level = (session.waivers, session.fail_level) if session else ([], Severity.ERROR)
        if RESULT_PROPERTY in properties:
            result = result_of_property(properties[RESULT_PROPERTY])
            verdict = judge(result, waivers, fail_level)
        else:  # the test did not get to run its check (an error in setup)
            code, _, entity = _CHECK_TEST.search(report.nodeid).group("id").partition(":")
            result = Result(code, entity, Status.FAILED, Severity.ERROR, _first_line(report))
            verdict = Verdict(RecordStatus.SKIPPED if report.skipped else RecordStatus.FAILED)
        if report.failed and verdict.status is not RecordStatus.FAILED:
            # Failed after the check passed: over its I/O budget (plugin._IoAccounting) or in teardown.
            result = Result(result.code, result.entity, Status.FAILED, Severity.ERROR, _first_line(report))
            verdict = Verdict(RecordStatus.FAILED)
        return make_record(
            result,
            verdict,
            requests=int(io.get("requests", 0)),
            read=int(io.get("bytes_read", 0)),
            duration=report.duration,
        )
