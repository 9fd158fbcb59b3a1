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
import multiprocessing
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_validation.checks import CheckContext
from data_validation.entities import Entity
from data_validation.io_accounting import DEFAULT_BUDGETS, IoRecord, IoReport, Usage
from data_validation.outcomes import DISCOVERY_CODE, Result, Status
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import REGISTRY, Check, CheckFailed, CheckSkipped, EntityKind, Severity, Tier
from data_validation.sampling import SampleSettings
from data_validation.snapshot import DEPOSITIONS_PREFIX, Snapshot, discover
from importers.storage import Bucket

#: Entities checked at once on S3. Most of a check's time there is request latency; the bound keeps the volume
#: data in memory (what the checks of the entities in flight have read) to a few entities' worth. An entity's
#: reads go out together (prefetch, read-ahead, batches), so 8 keep the server as busy as 16 did: 100 runs at
#: 20 ms took 62.7 s and 378 MB with 8, 64.6 s and 449 MB with 16.
REMOTE_THREADS = 8
#: Entities checked at once on a local folder: reads wait little, so more threads than this only queue on the
#: GIL and keep more entities' data (and malloc arenas) alive: 100 local runs took 9.3 s of CPU and 210 MB
#: with 1 thread, 11.6 s and 315 MB with 4, 14.3 s and 646 MB with 16.
LOCAL_THREADS = 4


def default_threads(bucket: Bucket) -> int:
    """Entities checked at once on ``bucket`` by default."""
    return LOCAL_THREADS if bucket.protocol == "file" else REMOTE_THREADS


#: How far ahead of the results taken the entities are submitted, in batches of ``threads`` entities.
LOOKAHEAD = 4


@dataclass(frozen=True, slots=True)
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
    check_context = context.counting_into(usage)
    try:
        check(check_context, entity)
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
        usage.retries,
        check_context.coverage.summary(),
    )


class Engine:
    """Evaluates cases as a batch (see the module docstring); :meth:`result` blocks until a case's result is
    ready. Use as a context manager, or :meth:`close` to stop the work not yet started.

    With ``processes`` > 0 the entities are checked by that many worker processes (each with its own thread
    pool, bucket connection and copy of the snapshot), so that the checks' CPU work uses several cores; the
    entities whose checks need the database stay in this process, which holds its connection."""

    def __init__(
        self,
        context: CheckContext,
        cases: Sequence[Case],
        *,
        budgets: dict[Tier, int | None] | None = None,
        threads: int | None = None,
        processes: int = 0,
    ) -> None:
        self.context = context
        threads = default_threads(context.reader.bucket) if threads is None else threads
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
        self._lock = threading.Lock()
        self._threads = concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix="cryoet-check")
        self._workers: _Workers | None = None
        if processes > 0:
            self._workers = _Workers(context, self.budgets, processes, threads)
        #: Per group: the future of its batch and its place in the batch (submitted a window ahead of the
        #: results taken, so that neither pending work nor results waiting to be taken grow with the session).
        self._futures: list[tuple[concurrent.futures.Future[list[list[Result]]], int]] = []
        self._batch = max(1, threads)
        self._window = LOOKAHEAD * self._batch * max(1, processes)
        self._submit_through(self._window)

    def _group(self, group: int) -> tuple[Entity, list[Check]]:
        start, stop = self._bounds[group], self._bounds[group + 1]
        return self.cases[start].entity, [case.check for case in self.cases[start:stop]]

    def _uses_database(self, group: int) -> bool:
        return self.context.database is not None and any(
            check.code.startswith("DB-") for check in self._group(group)[1]
        )

    def _evaluate_here(self, groups: list[int]) -> list[list[Result]]:
        return [evaluate_entity(self.context, *self._group(group), self.budgets) for group in groups]

    def _submit_through(self, last: int) -> None:
        """Submit every group up to ``last`` not submitted yet: here, or to the workers in batches."""
        batch: list[int] = []
        with self._lock:
            end = min(last + 1, len(self._bounds) - 1)
            for group in range(len(self._futures), end):
                if self._workers is None or self._uses_database(group):
                    if batch:  # futures are kept in group order
                        self._submit_remote(batch)
                        batch = []
                    self._futures.append((self._threads.submit(self._evaluate_here, [group]), 0))
                    continue
                batch.append(group)
                if len(batch) == self._batch:
                    self._submit_remote(batch)
                    batch = []
            if batch:
                self._submit_remote(batch)

    def _submit_remote(self, groups: list[int]) -> None:
        assert self._workers is not None
        future = self._workers.submit(
            [(entity, [check.code for check in checks]) for entity, checks in map(self._group, groups)]
        )
        self._futures += [(future, place) for place in range(len(groups))]

    def result(self, index: int) -> Result:
        """The result of ``cases[index]``, waiting for its entity's checks if they are still running. Each
        result is handed out once (then forgotten: a bucket-wide session holds hundreds of thousands)."""
        result = self._results[index]
        if result is None:
            group = self._group_of[index]
            self._submit_through(group + self._window)
            start = self._bounds[group]
            future, place = self._futures[group]
            results = future.result()[place]
            with self._lock:
                self._results[start : start + len(results)] = results
                self._futures[group] = _DONE
            result = self._results[index]
        assert result is not None, f"the result of case {index} was handed out already"
        self._results[index] = None
        return result

    def __iter__(self) -> Iterator[Result]:
        for index in range(len(self.cases)):
            yield self.result(index)

    def close(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)
        if self._workers is not None:
            self._workers.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def evaluate_entity(
    context: CheckContext, entity: Entity, checks: list[Check], budgets: dict[Tier, int | None]
) -> list[Result]:
    """An entity's checks, in order, sharing what they read."""
    shared = context.for_entity()
    return [evaluate(check, shared, entity, budgets.get(check.tier)) for check in checks]


#: A finished group's future, once its results are stored (the group's data can then be freed).
_DONE: tuple[concurrent.futures.Future[list[list[Result]]], int] = (concurrent.futures.Future(), 0)
_DONE[0].set_result([[]])


class _Workers:
    """Worker processes that check entities: each loads the snapshot once (from a file this process writes),
    opens the bucket read-only and checks the entities of a batch on its own thread pool."""

    def __init__(self, context: CheckContext, budgets: dict[Tier, int | None], processes: int, threads: int) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="cryoet-engine-"))
        snapshot_file = self._directory / "snapshot.pickle"
        snapshot_file.write_bytes(pickle.dumps(context.reader.snapshot, protocol=pickle.HIGHEST_PROTOCOL))
        bucket = context.reader.bucket
        setup = _WorkerSetup(
            snapshot_file, bucket.url, bucket.endpoint_url, bucket.anonymous, context.sampling, budgets, threads
        )
        self._pool = concurrent.futures.ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(setup,)
        )

    def submit(self, groups: list[tuple[Entity, list[str]]]) -> concurrent.futures.Future[list[list[Result]]]:
        return self._pool.submit(_evaluate_in_worker, groups)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._directory, ignore_errors=True)


@dataclass(frozen=True)
class _WorkerSetup:
    snapshot_file: Path
    bucket_url: str
    endpoint_url: str | None
    anonymous: bool
    sampling: SampleSettings
    budgets: dict[Tier, int | None]
    threads: int


_WORKER: tuple[CheckContext, dict[Tier, int | None], concurrent.futures.ThreadPoolExecutor] | None = None


def _start_worker(setup: _WorkerSetup) -> None:
    global _WORKER
    snapshot = pickle.loads(setup.snapshot_file.read_bytes())
    bucket = Bucket(setup.bucket_url, endpoint_url=setup.endpoint_url, read_only=True, anonymous=setup.anonymous)
    context = CheckContext(ObjectReader(snapshot, bucket), None, setup.sampling)
    _WORKER = (context, setup.budgets, concurrent.futures.ThreadPoolExecutor(setup.threads))


def _evaluate_in_worker(groups: list[tuple[Entity, list[str]]]) -> list[list[Result]]:
    assert _WORKER is not None, "the worker was not started"
    context, budgets, threads = _WORKER
    jobs = [
        threads.submit(evaluate_entity, context, entity, [REGISTRY[code] for code in codes], budgets)
        for entity, codes in groups
    ]
    return [job.result() for job in jobs]


def validate(
    bucket: Bucket,
    dataset_ids: list[str],
    *,
    database: Any = None,
    sampling: SampleSettings | None = None,
    budgets: dict[Tier, int | None] | None = None,
    checks: Iterable[Check] | None = None,
    report: IoReport | None = None,
    **discovery_options: str,
) -> list[Result]:
    """Discover, then run every check (or those of ``checks``) on every entity of the given datasets (DB-*
    checks against ``database``, a :class:`~data_validation.database.DatabaseTarget`; without one they are
    skipped). ``report``, when given, receives what discovery and each check read."""
    before = bucket.stats.snapshot()
    snapshot = discover(bucket, dataset_ids, **discovery_options)
    after = bucket.stats.snapshot()
    context = CheckContext(ObjectReader(snapshot, bucket), database, sampling or SampleSettings())
    with Engine(context, cases(snapshot, checks), budgets=budgets) as engine:
        results = list(engine)
    if report is not None:
        report.session_requests += after["total_requests"] - before["total_requests"]
        report.session_bytes += after["bytes_read"] - before["bytes_read"]
        report.session_retries += after["retries"] - before["retries"]
        for result in results:
            report.add(IoRecord.of(result, REGISTRY[result.code].tier))
    return discovery_results(snapshot) + results
