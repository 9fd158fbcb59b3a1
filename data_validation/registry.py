"""The check registry: every check has a stable code, a severity, an I/O tier and an entity kind.

Checks are small functions ``(context, entity) -> None`` that raise :class:`CheckFailed` (via
:func:`fail`) when the data is wrong. They are registered here, in one place, by the decorator
:func:`check` or by :func:`register` for families instantiated per volume kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, NoReturn


class Severity(IntEnum):
    """How bad a failure is; ``--severity`` sets the lowest level that fails the session."""

    INFO = 1
    WARNING = 2
    ERROR = 3


class Tier(IntEnum):
    """What a check may read (checks.md): listings < HEADs < headers/metadata < sampled chunks < all."""

    LIST = 1
    HEAD = 2
    HEADER = 3
    SAMPLE = 4
    FULL = 5


class EntityKind(StrEnum):
    """Entity kinds the suite discovers; each is a directory template of ``importers.layout`` (the
    ``source_*`` kinds aside: a lab's upload as a config's finders find it)."""

    DEPOSITION = "deposition"
    DATASET = "dataset"
    RUN = "run"
    TILTSERIES = "tiltseries"
    ALIGNMENT = "alignment"
    VOXEL_SPACING = "voxel_spacing"
    TOMOGRAM = "tomogram"
    ANNOTATION = "annotation"
    # Pre-ingest source entities (checks.md §20), found through a config's finders, not in the layout.
    SOURCE_CONFIG = "source_config"
    SOURCE_RUN = "source_run"
    SOURCE_TILTSERIES = "source_tiltseries"
    SOURCE_TOMOGRAM = "source_tomogram"
    SOURCE_ANNOTATION = "source_annotation"


class CheckFailed(Exception):
    """The data violates the check; ``observed``/``expected`` are the compared values.

    ``severity`` overrides the check's own for this finding (a check whose findings range from
    warning to error, e.g. a file-size difference below or above 1 MiB).
    """

    def __init__(
        self, message: str, observed: Any = None, expected: Any = None, severity: Severity | None = None
    ) -> None:
        super().__init__(message)
        self.observed = observed
        self.expected = expected
        self.severity = severity


class CheckSkipped(Exception):
    """The check does not apply to this entity (e.g. the file it reads is absent; another check says so)."""


def fail(message: str, *, observed: Any = None, expected: Any = None, severity: Severity | None = None) -> NoReturn:
    raise CheckFailed(message, observed, expected, severity)


def fail_summary(problems: list[str], what: str, *, shown: int = 5, severity: Severity | None = None) -> None:
    """Fail with one line counting ``problems`` and naming the first ``shown`` of them (if there are any)."""
    if problems:
        more = f"; … {len(problems) - shown} more" if len(problems) > shown else ""
        fail(f"{len(problems)} {what}: {'; '.join(problems[:shown])}{more}", observed=problems, severity=severity)


def skip(reason: str) -> NoReturn:
    raise CheckSkipped(reason)


#: How the skip reason of a check whose subject the entity lacks begins (an annotation without a mask,
#: a run without identified objects); any other skip means an input that another check reports on.
NOT_APPLICABLE = "not applicable"


def not_applicable(reason: str) -> NoReturn:
    raise CheckSkipped(f"{NOT_APPLICABLE}: {reason}")


CheckFunction = Callable[[Any, Any], None]


@dataclass(frozen=True)
class Check:
    code: str
    entity: EntityKind
    tier: Tier
    severity: Severity
    title: str
    function: CheckFunction
    #: Whether an unreadable input is this check's finding. Other checks skip on unreadable
    #: inputs, so that one broken file is reported once, by the check whose subject it is.
    owns_inputs: bool = False

    def __call__(self, context: Any, entity: Any) -> None:
        self.function(context, entity)


REGISTRY: dict[str, Check] = {}


def register(
    code: str,
    *,
    entity: EntityKind,
    tier: Tier,
    title: str,
    function: CheckFunction,
    severity: Severity = Severity.ERROR,
    owns_inputs: bool = False,
) -> Check:
    """Add a check; a code may be registered once."""
    if code in REGISTRY:
        raise ValueError(f"check code {code} registered twice")
    registered = Check(code, entity, tier, severity, title, function, owns_inputs)
    REGISTRY[code] = registered
    return registered


def check(
    code: str,
    *,
    entity: EntityKind,
    tier: Tier,
    title: str,
    severity: Severity = Severity.ERROR,
    owns_inputs: bool = False,
) -> Callable[[CheckFunction], CheckFunction]:
    """Decorator form of :func:`register`."""

    def decorate(function: CheckFunction) -> CheckFunction:
        register(
            code, entity=entity, tier=tier, title=title, function=function, severity=severity, owns_inputs=owns_inputs
        )
        return function

    return decorate


def checks_for(entity: EntityKind) -> list[Check]:
    return [registered for registered in REGISTRY.values() if registered.entity is entity]
