"""The one evaluation path: registered checks on discovered entities, as a batch.

``pytest --dataset``, ``cryoet-ingest audit`` and the WDL validate task all evaluate through
:class:`Engine`: the cases (check, entity) are grouped by entity; an entity's checks run in registry order
in one task and share what they read of its volumes (:class:`~data_validation.sampling.EntityCache`), and
many entities are checked at once on a thread pool, so that request latency overlaps. Results come back
in case order as they are ready, each with the requests and bytes its check read (the check that reads
an object first is charged for it) and held to its tier's byte budget.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from data_validation.checks import CheckContext
from data_validation.entities import Entity
from data_validation.io_accounting import DEFAULT_BUDGETS, Usage
from data_validation.outcomes import DISCOVERY_CODE, Result, Status
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import REGISTRY, Check, CheckFailed, CheckSkipped, EntityKind, Severity, Tier
from data_validation.sampling import SampleSettings
from data_validation.snapshot import DEPOSITIONS_PREFIX, Snapshot, discover
from importers.storage import Bucket

#: Entities checked at once. Most of a check's time on S3 is request latency; the bound keeps the volume
#: data in memory (what the checks of the entities in flight have read) to a few entities' worth.
DEFAULT_THREADS = 16


@dataclass(frozen=True)
class Case:
    """One check on one entity."""

    check: Check
    entity: Entity

    @property
    def id(self) -> str:
        return f"{self.check.code}:{self.entity.path}"


def cases(snapshot: Snapshot, checks: Iterable[Check] | None = None) -> list[Case]:
    """Every registered check (or those of ``checks``) paired with every discovered entity of its kind:
    by kind, then entity, then check in registry order (an entity's cases are consecutive)."""
    selected = list(REGISTRY.values()) if checks is None else list(checks)
    by_kind: dict[EntityKind, list[Check]] = {}
    for registered in selected:
        by_kind.setdefault(registered.entity, []).append(registered)
    return [
        Case(registered, entity)
        for kind in EntityKind
        for entity in snapshot.entities.get(kind, [])
        for registered in by_kind.get(kind, [])
    ]


def discovery_results(snapshot: Snapshot) -> list[Result]:
    """Discovery problems (``"dataset 10001: nothing under …"``) as failed GEN-DISCOVERY results whose entity
    is the dataset (or deposition) they concern."""
    results = []
    for problem in snapshot.discovery_errors:
        kind, _, identifier = problem.split(":", 1)[0].partition(" ")
        entity = f"{DEPOSITIONS_PREFIX}/{identifier}" if kind == "deposition" else identifier or kind
        results.append(Result(DISCOVERY_CODE, entity, Status.FAILED, Severity.ERROR, problem))
    return results


def evaluate(check: Check, context: CheckContext, entity: Entity, budget: int | None = None) -> Result:
    """Run one check, its reads counted and held to ``budget`` bytes; unreadable inputs are failures that
    name the object (or skips, for checks that do not own them), never exceptions."""
    usage = Usage(code=check.code, entity=entity.path, tier=check.tier, budget=budget)
    started = time.perf_counter()
    status, severity, message, observed, expected = Status.PASSED, check.severity, "", None, None
    try:
        check(context.counting_into(usage), entity)
    except CheckSkipped as skipped:
        status, message = Status.SKIPPED, str(skipped)
    except Unreadable as unreadable:
        if check.owns_inputs:
            status, message = Status.FAILED, str(unreadable)
        else:
            status, message = Status.SKIPPED, f"{unreadable} (reported elsewhere)"
    except CheckFailed as failed:
        status, message = Status.FAILED, str(failed)
        severity, observed, expected = failed.severity or check.severity, failed.observed, failed.expected
    except Exception as error:
        status, message = Status.FAILED, f"internal error in the check: {type(error).__name__}: {error}"
    if usage.over_budget and status is not Status.FAILED:  # a check that swallowed BudgetExceeded
        status, severity, message = Status.FAILED, Severity.ERROR, usage.over_budget_message()
    return Result(
        check.code,
        entity.path,
        status,
        severity,
        message,
        observed,
        expected,
        usage.total_requests,
        usage.bytes_read,
        time.perf_counter() - started,
    )


class Engine:
    """Evaluates cases as a batch (see the module docstring); :meth:`result` blocks until a case's result is
    ready. Use as a context manager, or :meth:`close` to stop the work not yet started."""

    def __init__(
        self,
        context: CheckContext,
        cases: Sequence[Case],
        *,
        budgets: dict[Tier, int | None] | None = None,
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self.context = context
        self.cases = list(cases)
        self.budgets = DEFAULT_BUDGETS if budgets is None else budgets
        #: The first case index of each entity's run of consecutive cases, and the group of every case.
        self._group_of: list[int] = []
        starts: list[int] = []
        for index, case in enumerate(self.cases):
            if not starts or case.entity != self.cases[starts[-1]].entity:
                starts.append(index)
            self._group_of.append(len(starts) - 1)
        self._bounds = [*starts, len(self.cases)]
        self._results: list[Result | None] = [None] * len(self.cases)
        self._pool = concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix="cryoet-check")
        self._futures = [self._pool.submit(self._evaluate_group, group) for group in range(len(starts))]
        self._lock = threading.Lock()

    def _evaluate_group(self, group: int) -> list[Result]:
        start, stop = self._bounds[group], self._bounds[group + 1]
        context = self.context.for_entity()
        entity = self.cases[start].entity
        return [
            evaluate(case.check, context, entity, self.budgets.get(case.check.tier)) for case in self.cases[start:stop]
        ]

    def result(self, index: int) -> Result:
        """The result of ``cases[index]``, waiting for its entity's checks if they are still running."""
        result = self._results[index]
        if result is None:
            group = self._group_of[index]
            start = self._bounds[group]
            results = self._futures[group].result()
            with self._lock:
                self._results[start : start + len(results)] = results
                self._futures[group] = _DONE
            result = self._results[index]
        assert result is not None
        return result

    def __iter__(self) -> Iterator[Result]:
        for index in range(len(self.cases)):
            yield self.result(index)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


#: A finished group's future, once its results are stored (the group's data can then be freed).
_DONE: concurrent.futures.Future[list[Result]] = concurrent.futures.Future()
_DONE.set_result([])


def validate(
    bucket: Bucket,
    dataset_ids: list[str],
    *,
    database: Any = None,
    sampling: SampleSettings | None = None,
    budgets: dict[Tier, int | None] | None = None,
    checks: Iterable[Check] | None = None,
    **discovery_options: str,
) -> list[Result]:
    """Discover, then run every check (or those of ``checks``) on every entity of the given datasets (DB-*
    checks against ``database``, a :class:`~data_validation.database.DatabaseTarget`; without one they are
    skipped)."""
    snapshot = discover(bucket, dataset_ids, **discovery_options)
    context = CheckContext(ObjectReader(snapshot, bucket), database, sampling or SampleSettings())
    with Engine(context, cases(snapshot, checks), budgets=budgets) as engine:
        return discovery_results(snapshot) + list(engine)
