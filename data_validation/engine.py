"""Running checks outside pytest's verdicts: one result per (check, entity).

The pytest plugin turns each :class:`Result` into a pass / fail / skip / warning; tests and the
audit use :func:`validate` to get the results as data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from data_validation import checks  # noqa: F401  (registers every check)
from data_validation.checks import CheckContext
from data_validation.database import DatabaseTarget
from data_validation.entities import Entity
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import REGISTRY, Check, CheckFailed, CheckSkipped, EntityKind, Severity
from data_validation.snapshot import Snapshot, discover
from importers.storage import Bucket

DISCOVERY_CODE = "GEN-DISCOVERY"


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    code: str
    entity: str
    status: Status
    severity: Severity
    message: str = ""
    #: The values a failed check compared (``CheckFailed.observed`` / ``expected``), as evidence for reports.
    observed: Any = field(default=None, compare=False)
    expected: Any = field(default=None, compare=False)

    def line(self) -> str:
        """The one-line report: code, severity, entity, what is wrong."""
        return f"{self.code} [{self.severity.name.lower()}] {self.entity}: {self.message}"


def cases(snapshot: Snapshot) -> Iterable[tuple[Check, Entity]]:
    """Every registered check paired with every discovered entity of its kind."""
    for kind in EntityKind:
        for entity in snapshot.entities.get(kind, []):
            for registered in REGISTRY.values():
                if registered.entity is kind:
                    yield registered, entity


def evaluate(check: Check, context: CheckContext, entity: Entity) -> Result:
    """Run one check; unreadable inputs are failures that name the object, never exceptions."""
    try:
        check(context, entity)
    except CheckSkipped as skipped:
        return Result(check.code, entity.path, Status.SKIPPED, check.severity, str(skipped))
    except Unreadable as unreadable:
        if check.owns_inputs:
            return Result(check.code, entity.path, Status.FAILED, check.severity, str(unreadable))
        return Result(check.code, entity.path, Status.SKIPPED, check.severity, f"{unreadable} (reported elsewhere)")
    except CheckFailed as failed:
        severity = failed.severity or check.severity
        return Result(check.code, entity.path, Status.FAILED, severity, str(failed), failed.observed, failed.expected)
    except Exception as error:
        message = f"internal error in the check: {type(error).__name__}: {error}"
        return Result(check.code, entity.path, Status.FAILED, check.severity, message)
    return Result(check.code, entity.path, Status.PASSED, check.severity)


def discovery_results(snapshot: Snapshot) -> list[Result]:
    """Discovery problems (an unlistable or empty prefix) as failed results."""
    return [Result(DISCOVERY_CODE, "", Status.FAILED, Severity.ERROR, problem) for problem in snapshot.discovery_errors]


def validate(
    bucket: Bucket, dataset_ids: list[str], *, database: DatabaseTarget | None = None, **discovery_options: str
) -> list[Result]:
    """Discover, then run every check on every entity of the given datasets (DB-* checks against
    ``database``; without one they are skipped)."""
    snapshot = discover(bucket, dataset_ids, **discovery_options)
    context = CheckContext(ObjectReader(snapshot, bucket), database)
    return discovery_results(snapshot) + [evaluate(check, context, entity) for check, entity in cases(snapshot)]
