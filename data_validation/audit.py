"""``cryoet-ingest audit``: the nightly audit of a whole bucket, or of a shard of its datasets, incremental.

Every dataset (a numeric folder at the bucket root, or those of ``--datasets``) is validated in-process by
the engine, with the suite's discovery code: one recursive listing per dataset, the small objects
prefetched, every registered check on every entity, I/O counted per check and held to the tier budgets.

**Incremental.** Each result record carries the fingerprint of what its check may read, made from the
listing alone (key, ETag and size of every object; no extra request):

* an entity in a run: the objects under its own directory, and the objects of its run outside zarr chunk
  data (checks compare siblings: TOMO-IDENTITY-UNIQUE, VS-SIBLING-DIMS, annotations against the tomograms
  of their spacing);
* a run: every object under it; a dataset: every object under it and the depositions it references
  (so the dataset-wide GEN-* / DB-* checks run again when anything in the dataset changed);
* a deposition: the objects under its prefix;

and the digest of the validation settings (the checks' source code, ``--sample-chunks``, the budgets,
the database). A result of ``--previous`` whose fingerprint is unchanged is carried over (judged again
against today's waivers) without reading anything for it; only the objects of entities with a check to
run are prefetched (with the dataset's metadata documents, which the dataset-wide checks read).
``--full`` runs every check. ``--rotate K`` / ``--full-content``: the content checks' rotating slice
(rotation.py).

**Shards.** ``--shards N --shard K`` audits the datasets whose id hashes (SHA-256) to K modulo N: a
dataset stays in its shard as datasets are added, so each shard can keep its own ``--previous``. A
deposition is audited with the datasets that reference it (once per run; in each shard that has one).

**Outputs** (in ``--report DIR``): ``results.jsonl`` (results.py), ``summary.json`` and ``summary.txt``
(summary.py), ``report.html`` (html_report.py), and, when Node.js is present, ``allure-results/`` and the
Allure report ``allure-report/`` (npm ``allure``). Progress goes to stderr. Exit status 1 when a check at or
above ``--severity`` (default error) fails without a current waiver, else 0; 2 for a usage problem, or when
the bucket was not audited (its root cannot be listed, or holds no dataset: the summary and the page say so).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import hashlib
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TextIO

import importers.progress as progress_display
from data_validation import allure_labels, io_accounting, sampling
from data_validation.allure_labels import PICTURE_KINDS, entity_picture, focus_of
from data_validation.checks import CheckContext
from data_validation.database import DatabaseTarget, open_for_checks
from data_validation.engine import LOCAL_THREADS, REMOTE_THREADS, Case, Engine, discovery_results
from data_validation.entities import Entity
from data_validation.html_report import render_html, shown_in_report
from data_validation.outcomes import Result, judge
from data_validation.reader import ObjectReader
from data_validation.registry import Check, EntityKind, Severity, Tier, checks_for
from data_validation.results import JsonlWriter, Record, RecordStatus, iter_records, make_record
from data_validation.rotation import RotationStatus, note_night
from data_validation.sampling import Rotation, SampleSettings
from data_validation.snapshot import (
    DEPOSITIONS_PREFIX,
    Snapshot,
    _in_zarr_chunks,
    _list,
    _prefetch,
    _referenced_depositions,
    find_entities,
    is_metadata_json,
)
from data_validation.summary import Summary
from data_validation.waivers import Waiver, WaiverError, load_waivers
from importers.storage import Bucket, ObjectInfo, StorageError, reading_access

DEFAULT_BUCKET = "s3://cryoet-data-portal-staging"
DEFAULT_REPORT = "audit-report"
RESULTS_FILE = "results.jsonl"
SUMMARY_JSON = "summary.json"
SUMMARY_TEXT = "summary.txt"
HTML_FILE = "report.html"
ALLURE_RESULTS = "allure-results"
ALLURE_REPORT = "allure-report"
#: What decides a check's result besides the bucket: a change here invalidates every carried-over result.
#: Pictures of failing tomograms and annotations on the HTML page (inline PNGs of up to 768 px each).
MAX_PICTURES = 24
CODE_SOURCES = ("data_validation", "importers/formats", "importers/db", "importers/layout.py", "importers/enums.py")
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- selection ---------------------------------------------------------------------------------


def shard_of(dataset_id: str, shards: int) -> int:
    """The shard of a dataset: a stable hash of its id, modulo the number of shards."""
    return int.from_bytes(hashlib.sha256(dataset_id.encode()).digest()[:8], "big") % shards


def bucket_datasets(bucket: Bucket) -> list[str]:
    """The dataset ids of a bucket: its numeric top-level folders (one delimited listing)."""
    return sorted((name for name in bucket.shallow_children("") if name.isdigit()), key=int)


def select_datasets(bucket: Bucket, explicit: list[str] | None, shards: int, shard: int) -> list[str]:
    ids = explicit if explicit else bucket_datasets(bucket)
    unique = sorted(set(ids), key=lambda d: (not d.isdigit(), int(d) if d.isdigit() else 0, d))
    return [dataset_id for dataset_id in unique if shard_of(dataset_id, shards) == shard]


# -- fingerprints ------------------------------------------------------------------------------


@cache
def code_digest() -> str:
    """SHA-256 of the validation code (CODE_SOURCES): checks, readers, formats, layout."""
    digest = hashlib.sha256()
    for source in CODE_SOURCES:
        root = REPO_ROOT / source
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            digest.update(path.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class Fingerprints:
    """Fingerprints of entities from a listing (see the module docstring): digests of (key, ETag, size)."""

    def __init__(self, settings: str) -> None:
        self.settings = settings
        self.listing: dict[str, ObjectInfo] = {}
        self.keys: list[str] = []
        self._digests: dict[tuple[str, bool], str] = {}

    def add(self, listing: dict[str, ObjectInfo]) -> None:
        self.listing.update(listing)
        self.keys = sorted(self.listing)
        self._digests.clear()

    def digest(self, prefix: str, *, chunks: bool = True) -> str:
        """Digest of the objects under ``prefix`` (without zarr chunk data unless ``chunks``)."""
        if (prefix, chunks) not in self._digests:
            start = prefix.strip("/") + "/"
            low = bisect.bisect_left(self.keys, start)
            high = bisect.bisect_left(self.keys, start[:-1] + "0")  # "0" sorts right after "/"
            digest = hashlib.sha256()
            for key in self.keys[low:high]:
                if chunks or not _in_zarr_chunks(key):
                    info = self.listing[key]
                    digest.update(f"{key}\0{info.etag}\0{info.size}\n".encode())
            self._digests[(prefix, chunks)] = digest.hexdigest()
        return self._digests[(prefix, chunks)]

    def _combine(self, *parts: str) -> str:
        return hashlib.sha256("\n".join((self.settings, *parts)).encode()).hexdigest()[:32]

    def of(self, entity: Entity, depositions: Iterable[str] = ()) -> str:
        if entity.kind is EntityKind.DATASET:
            deposition_digests = [self.digest(f"{DEPOSITIONS_PREFIX}/{d}") for d in sorted(depositions)]
            return self._combine(self.digest(entity.path), *deposition_digests)
        if entity.kind in (EntityKind.DEPOSITION, EntityKind.RUN):
            return self._combine(self.digest(entity.path))
        run = Entity.of(EntityKind.RUN, dataset_id=entity["dataset_id"], run_name=entity["run_name"])
        return self._combine(self.digest(entity.path), self.digest(run.path, chunks=False))


def owner_path(key: str, entity_paths: set[str]) -> str | None:
    """The directory of the deepest entity holding ``key``."""
    parts = key.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        prefix = "/".join(parts[:depth])
        if prefix in entity_paths:
            return prefix
    return None


# -- options, progress -------------------------------------------------------------------------


@dataclass
class AuditOptions:
    datasets: list[str] | None = None
    shards: int = 1
    shard: int = 0
    previous: Path | None = None
    full: bool = False
    report: Path = Path(DEFAULT_REPORT)
    waivers: list[Waiver] = field(default_factory=list)
    fail_level: Severity = Severity.ERROR
    sample_chunks: int = sampling.DEFAULT_SAMPLE_CHUNKS
    budgets: dict[Tier, int | None] = field(default_factory=lambda: dict(io_accounting.DEFAULT_BUDGETS))
    database: DatabaseTarget | None = None
    https_prefix: str = ""
    #: Entities checked at once (None: the engine's default for the bucket, engine.default_threads).
    jobs: int | None = None
    allure: bool = True
    #: Nights of the content rotation (0: samples only; 1: every chunk every night, ``--full-content``).
    rotate: int = 0
    night: int = field(default_factory=lambda: dt.date.today().toordinal())

    def settings_digest(self) -> str:
        database = "" if self.database is None else f"{self.database.shown_url}{sorted(self.database.datasets or [])}"
        budgets = ",".join(f"{tier.name}={size}" for tier, size in sorted(self.budgets.items()))
        text = f"{code_digest()}|chunks={self.sample_chunks}|{budgets}|db={database}|{self.https_prefix}"
        text += f"|rotate={self.rotate}"  # not the night: tonight's slice is not a setting
        return hashlib.sha256(text.encode()).hexdigest()


class Progress:
    """Datasets and entities done, the rate and an ETA, on stderr: a line per dataset, and while a dataset
    runs a live line that rewrites itself when stderr is a terminal, else a plain line now and then
    (``progress_display.plain_interval()``)."""

    def __init__(self, stream: TextIO | None, datasets: int) -> None:
        self.stream = stream
        self.live = bool(stream is not None and stream.isatty())
        self.datasets = datasets
        self.datasets_done = 0
        self.entities_done = 0
        self.entities_listed = 0
        self.started = time.monotonic()
        self.dataset_started = self.started
        self.current = ""
        self.current_done = self.current_total = 0
        self._last_shown = self.started
        self._lock = threading.Lock()

    def _eta(self) -> str:
        """From the datasets' pace; before the first one is done, from its entities' (each dataset taken as
        long as the first)."""
        elapsed = time.monotonic() - self.started
        if self.datasets_done:
            seconds = elapsed / self.datasets_done * (self.datasets - self.datasets_done)
        elif self.current_done:
            seconds = elapsed / self.current_done * self.current_total * self.datasets - elapsed
        else:
            return "?"
        return progress_display.format_seconds(max(seconds, 0))

    def _interval(self) -> float:
        return progress_display.LIVE_INTERVAL if self.live else progress_display.plain_interval()

    def _rate(self) -> float:
        return self.entities_done / max(1e-6, time.monotonic() - self.started)

    def start_dataset(self, dataset_id: str, entities: int) -> None:
        with self._lock:
            self.current, self.current_done, self.current_total = dataset_id, 0, entities
            self.entities_listed += entities
            self.dataset_started = time.monotonic()

    def entity_done(self) -> None:
        with self._lock:
            self.entities_done += 1
            self.current_done += 1
            now = time.monotonic()
            if self.stream is not None and now - self._last_shown > self._interval():
                self._last_shown = now
                text = (
                    f"  {self.current}: {self.current_done}/{self.current_total} entities · "
                    f"{self._rate():.1f} entities/s · ETA {self._eta()}"
                )
                self.stream.write(f"\r\033[K{text}" if self.live else f"audit {text.strip()}\n")
                self.stream.flush()

    def finish_dataset(self, dataset_id: str, checked: int, carried: int, requests: int) -> None:
        with self._lock:
            self.datasets_done += 1
            if self.stream is None:
                return
            seconds = time.monotonic() - self.dataset_started
            prefix = "\r\033[K" if self.live else ""
            self.stream.write(
                f"{prefix}audit [{self.datasets_done}/{self.datasets} datasets] {dataset_id}: "
                f"{self.current_total} entities ({checked} checked, {carried} unchanged), {requests} requests, "
                f"{seconds:.1f} s · {self.entities_done}/{self.entities_listed} entities listed so far, "
                f"{self._rate():.1f} entities/s, ETA {self._eta()}\n"
            )
            self.stream.flush()

    def note(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(("\r\033[K" if self.live else "") + text + "\n")
            self.stream.flush()


# -- the audit ---------------------------------------------------------------------------------


@dataclass
class AuditOutcome:
    summary: Summary
    report: Path
    results: Path
    html: Path
    allure_report: Path | None
    allure_note: str
    datasets: list[str]

    @property
    def exit_code(self) -> int:
        return self.summary.exit_code


class Audit:
    """One audit run over the selected datasets (see the module docstring)."""

    def __init__(self, bucket: Bucket, options: AuditOptions, progress: Progress | None = None) -> None:
        self.bucket = bucket
        self.options = options
        self.progress = progress
        self.settings = options.settings_digest()
        self.previous_by_dataset: dict[str, list[Record]] = defaultdict(list)
        self.previous_depositions: dict[str, list[Record]] = defaultdict(list)
        self.has_previous = False
        self.deposition_listings: dict[str, dict[str, ObjectInfo]] = {}
        self.depositions_done: set[str] = set()
        self.summary = Summary(fail_level=options.fail_level)
        self.shown: list[Record] = []  # the records the HTML page lists (shown_in_report)
        self.pictures: dict[str, bytes] = {}  # entity path -> PNG of a failing entity, for the HTML page
        self.rotation = Rotation(options.night, options.rotate) if options.rotate else None
        self.rotation_status = RotationStatus(self.rotation) if self.rotation else None

    def load_previous(self, datasets: list[str]) -> None:
        path = self.options.previous
        if path is None:
            return
        path = path / RESULTS_FILE if path.is_dir() else path
        if not path.is_file():
            if self.progress is not None:
                self.progress.note(f"audit: no previous results at {path}: every check runs")
            return
        selected = set(datasets)
        for record in iter_records(path):
            if record.dataset in selected:
                self.previous_by_dataset[record.dataset].append(record)
            elif not record.dataset:
                self.previous_depositions[record.entity].append(record)
        self.has_previous = True
        self.summary.has_previous = True

    def run(self, datasets: list[str]) -> AuditOutcome:
        options = self.options
        options.report.mkdir(parents=True, exist_ok=True)
        self.load_previous(datasets)  # before the results file is rewritten: it may be the same file
        results_path = options.report / RESULTS_FILE
        started, before = time.monotonic(), self.bucket.stats.snapshot()
        with JsonlWriter(results_path) as writer:
            for dataset_id in datasets:
                for records, previous in self.audit_dataset(dataset_id):
                    for record in records:
                        writer.write(record)
                        if self.rotation_status is not None:
                            self.rotation_status.add(record)
                    self.summary.add(records, previous if self.has_previous else None)
                    self.shown += [r for r in records if shown_in_report(r)]
        self.summary.finish()
        after = self.bucket.stats.snapshot()
        self.summary.total_requests = after["total_requests"] - before["total_requests"]
        self.summary.total_bytes = after["bytes_read"] - before["bytes_read"]
        self.summary.elapsed = round(time.monotonic() - started, 3)
        html_path = self.write_summary(datasets)
        allure_report, note = self.allure(results_path)
        return AuditOutcome(self.summary, options.report, results_path, html_path, allure_report, note, datasets)

    def not_audited(self, reason: str) -> AuditOutcome:
        """The outcome of an audit that could not look at the bucket: a summary and a page that say so, and
        no results file (a later ``--previous`` must not take it for a bucket without failures)."""
        self.options.report.mkdir(parents=True, exist_ok=True)
        self.summary.not_audited = reason
        html_path = self.write_summary([])
        return AuditOutcome(
            self.summary, self.options.report, self.options.report / RESULTS_FILE, html_path, None, "", []
        )

    def write_summary(self, datasets: list[str]) -> Path:
        """summary.json, summary.txt and the HTML page; the page's path."""
        options = self.options
        (options.report / SUMMARY_JSON).write_text(self.summary.to_json() + "\n", encoding="utf-8")
        rotation_lines = self.rotation_status.lines() if self.rotation_status is not None else []
        (options.report / SUMMARY_TEXT).write_text(
            "\n".join(self.summary.lines() + rotation_lines) + "\n", encoding="utf-8"
        )
        html_path = options.report / HTML_FILE
        page = render_html(self.summary, self.shown, self.meta(datasets), self.pictures)
        html_path.write_text(page, encoding="utf-8")
        return html_path

    def meta(self, datasets: list[str]) -> dict[str, str]:
        options = self.options
        shown = ", ".join(datasets[:20]) + (f" … ({len(datasets)})" if len(datasets) > 20 else "")
        meta = {"bucket": self.bucket.url, "datasets": shown or "none"}
        if options.shards > 1:
            meta["shard"] = f"{options.shard} of {options.shards} (0-based)"
        meta["previous run"] = str(options.previous) if self.has_previous else "none"
        if options.full:
            meta["mode"] = "full (nothing carried over)"
        if self.rotation_status is not None:
            meta["content coverage"] = " ".join(self.rotation_status.lines()) or "no content checks ran"
        return meta

    def allure(self, results_path: Path) -> tuple[Path | None, str]:
        if not self.options.allure:
            return None, "Allure report not requested (--no-allure)"
        if not allure_labels.node_available():
            return None, "Allure report skipped: Node.js (npx) is not installed"
        results_dir = self.options.report / ALLURE_RESULTS
        allure_labels.write_allure_results(iter_records(results_path), results_dir)
        output = self.options.report / ALLURE_REPORT
        done, why = allure_labels.generate_report(results_dir, output)
        return (output, "") if done else (None, f"Allure report not generated: {why}")

    # -- one dataset ---------------------------------------------------------------------------

    def audit_dataset(self, dataset_id: str) -> list[tuple[list[Record], list[Record]]]:
        """The dataset's records and its depositions' (each with the previous records they replace)."""
        bucket = self.bucket
        bucket.forget_listings()  # one dataset's listing in memory at a time
        for deposition_id, listing in self.deposition_listings.items():
            bucket.seed_listing(f"{DEPOSITIONS_PREFIX}/{deposition_id}", listing)
        snapshot = Snapshot(bucket_url=bucket.url, endpoint_url=bucket.endpoint_url)
        requests_before = bucket.stats.total_requests
        listed = _list(bucket, snapshot, dataset_id, f"dataset {dataset_id}")
        found = find_entities(listed, [])
        fingerprints = Fingerprints(self.settings)
        fingerprints.add(listed)
        previous = {} if self.options.full else {r.key: r for r in self.previous_by_dataset.get(dataset_id, [])}
        dataset = Entity.of(EntityKind.DATASET, dataset_id=dataset_id)
        entities = [entity for kind in EntityKind for entity in found.get(kind, [])]
        if self.progress is not None:
            self.progress.start_dataset(dataset_id, len(entities))

        # The depositions the dataset references: as recorded when nothing in it changed, else as read
        # from its metadata (prefetched then, since the dataset-wide checks run).
        known_refs = next((r.depositions for r in previous.values() if r.depositions is not None), None)
        if known_refs is not None:
            self._list_depositions(snapshot, fingerprints, known_refs)
        fingerprint = {entity.path: fingerprints.of(entity, known_refs or ()) for entity in entities}
        plan = {entity.path: self._plan(entity, fingerprint[entity.path], previous) for entity in entities}
        self._prefetch(snapshot, listed, found, plan, dataset.path)
        refs = list(known_refs or [])
        if known_refs is None or plan.get(dataset.path, ([], []))[0]:
            refs = sorted(_referenced_depositions(snapshot), key=int)
            self._list_depositions(snapshot, fingerprints, refs)
            if dataset.path in plan:
                fingerprint[dataset.path] = fingerprints.of(dataset, refs)
                plan[dataset.path] = self._plan(dataset, fingerprint[dataset.path], previous)
        snapshot.entities = find_entities(listed, [])

        # The depositions not yet audited in this run.
        new_depositions = [d for d in refs if d not in self.depositions_done]
        self.depositions_done.update(new_depositions)
        deposition_previous: dict[tuple[str, str], Record] = {}
        for deposition_id in new_depositions:
            path = f"{DEPOSITIONS_PREFIX}/{deposition_id}"
            deposition_previous.update({r.key: r for r in self.previous_depositions.get(path, [])})
        deposition_entities = [Entity.of(EntityKind.DEPOSITION, deposition_id=d) for d in new_depositions]
        carry_from = {} if self.options.full else deposition_previous
        for entity in deposition_entities:
            fingerprint[entity.path] = fingerprints.of(entity)
            plan[entity.path] = self._plan(entity, fingerprint[entity.path], carry_from)
            if plan[entity.path][0]:
                prefix_listing = self.deposition_listings.get(entity["deposition_id"], {})
                _prefetch(bucket, snapshot, prefix_listing)
        snapshot.entities[EntityKind.DEPOSITION] = deposition_entities

        context = CheckContext(
            ObjectReader(snapshot, bucket),
            self.options.database,
            SampleSettings(chunks=self.options.sample_chunks, rotation=self.rotation),
        )
        evaluated = self._evaluate(context, [*deposition_entities, *entities], plan, fingerprint)
        if self.rotation is not None:
            for record in (record for records in evaluated.values() for record in records):
                note_night(record, previous.get(record.key), self.rotation)
        dataset_records: list[Record] = []
        deposition_records: list[Record] = []
        for result in discovery_results(snapshot):
            if result.entity.startswith(DEPOSITIONS_PREFIX + "/"):
                if result.entity in {e.path for e in deposition_entities}:
                    deposition_records.append(self._record(result, fingerprint=""))
            else:
                dataset_records.append(self._record(result, fingerprint=""))
        for entity in [*deposition_entities, *entities]:
            _, carried = plan[entity.path]
            records = [self._carry(record, fingerprint[entity.path]) for record in carried]
            records += evaluated.get(entity.path, [])
            if entity.kind is EntityKind.DATASET:
                for record in records:
                    record.depositions = list(refs)
            order = {check.code: index for index, check in enumerate(checks_for(entity.kind))}
            records.sort(key=lambda r: order.get(r.code, len(order)))
            (deposition_records if entity.kind is EntityKind.DEPOSITION else dataset_records).extend(records)
        self._picture_failures(context, entities, dataset_records)
        checked = sum(1 for entity in entities if plan[entity.path][0])
        if self.progress is not None:
            requests = bucket.stats.total_requests - requests_before
            self.progress.finish_dataset(dataset_id, checked, len(entities) - checked, requests)
        previous_dataset = self.previous_by_dataset.get(dataset_id, [])
        return [(dataset_records, previous_dataset), (deposition_records, list(deposition_previous.values()))]

    def _picture_failures(self, context: CheckContext, entities: list[Entity], records: list[Record]) -> None:
        """Pictures of the dataset's failing tomograms and annotations (the annotation drawn over its tomogram;
        a point outside the volume shown where it lies), while its snapshot is at hand, up to MAX_PICTURES for
        the whole audit."""
        failing: dict[str, tuple[float, float, float] | None] = {}
        for record in records:
            if record.status == RecordStatus.FAILED:
                failing[record.entity] = failing.get(record.entity) or focus_of(record)
        for entity in entities:
            if len(self.pictures) >= MAX_PICTURES:
                return
            if entity.kind in PICTURE_KINDS and entity.path in failing:
                picture = entity_picture(context.reader, entity, failing[entity.path])
                if picture is not None:
                    self.pictures[entity.path] = picture

    def _list_depositions(self, snapshot: Snapshot, fingerprints: Fingerprints, deposition_ids: Iterable[str]) -> None:
        """List each referenced deposition once per run (later datasets reuse the listing)."""
        for deposition_id in deposition_ids:
            prefix = f"{DEPOSITIONS_PREFIX}/{deposition_id}"
            if prefix in snapshot.listed_prefixes:
                continue
            listing = _list(self.bucket, snapshot, prefix, f"deposition {deposition_id}")
            self.deposition_listings[deposition_id] = listing
            fingerprints.add(listing)

    def _plan(self, entity: Entity, fingerprint: str, previous: dict) -> tuple[list[Check], list[Record]]:
        """The checks to run on an entity, and the previous records to carry over (same fingerprint)."""
        todo, carried = [], []
        for registered in checks_for(entity.kind):
            earlier = previous.get((registered.code, entity.path))
            rotating = self.rotation is not None and registered.tier is Tier.SAMPLE  # tonight's slice is new
            if earlier is not None and earlier.fingerprint == fingerprint and not rotating:
                carried.append(earlier)
            else:
                todo.append(registered)
        return todo, carried

    def _prefetch(
        self,
        snapshot: Snapshot,
        listed: dict[str, ObjectInfo],
        found: dict[EntityKind, list[Entity]],
        plan: dict[str, tuple[list[Check], list[Record]]],
        dataset_path: str,
    ) -> None:
        """Prefetch the small objects of the entities with a check to run, and the dataset's metadata
        documents when the dataset-wide checks run (they read every one)."""
        paths = {entity.path for entities in found.values() for entity in entities}
        pending = {path for path, (todo, _) in plan.items() if todo}
        dataset_pending = dataset_path in pending
        wanted = {
            key: info
            for key, info in listed.items()
            if (dataset_pending and is_metadata_json(key)) or owner_path(key, paths) in pending
        }
        _prefetch(self.bucket, snapshot, {k: v for k, v in wanted.items() if k not in snapshot.objects})

    def _evaluate(
        self,
        context: CheckContext,
        entities: list[Entity],
        plan: dict[str, tuple[list[Check], list[Record]]],
        fingerprint: dict[str, str],
    ) -> dict[str, list[Record]]:
        """Run the planned checks through the engine, many entities at once."""
        planned = [Case(check, entity) for entity in entities for check in plan[entity.path][0]]
        done: dict[str, list[Record]] = {entity.path: [] for entity in entities}
        last = {case.entity.path: index for index, case in enumerate(planned)}
        with Engine(context, planned, budgets=self.options.budgets, threads=self.options.jobs) as engine:
            for index, (case, result) in enumerate(zip(planned, engine, strict=True)):
                done[case.entity.path].append(self._record(result, fingerprint=fingerprint[case.entity.path]))
                finished = last[case.entity.path] == index and case.entity.kind is not EntityKind.DEPOSITION
                if finished and self.progress is not None:
                    self.progress.entity_done()
        return done

    def _record(self, result: Result, *, fingerprint: str) -> Record:
        verdict = judge(result, self.options.waivers, self.options.fail_level)
        return make_record(result, verdict, fingerprint=fingerprint)

    def _carry(self, earlier: Record, fingerprint: str) -> Record:
        """A previous record, judged again against today's waivers; nothing was read for it."""
        result = earlier.result()
        verdict = judge(result, self.options.waivers, self.options.fail_level)
        return make_record(result, verdict, fingerprint=fingerprint, carried_over=True)


def run_audit(bucket: Bucket, options: AuditOptions, progress_stream: TextIO | None = sys.stderr) -> AuditOutcome:
    """Audit the selected datasets of ``bucket``; writes the report directory and returns the outcome. A
    bucket whose root cannot be listed, or that holds no dataset, is not audited (exit status 2)."""
    try:
        candidates = options.datasets or bucket_datasets(bucket)
    except StorageError as error:
        return Audit(bucket, options).not_audited(f"cannot list {bucket.url_of('')}: {error.problem}")
    if not candidates:
        why = f"no dataset in {bucket.url_of('')}: it is empty or missing, or has no numeric folder at its root"
        return Audit(bucket, options).not_audited(why)
    datasets = select_datasets(bucket, candidates, options.shards, options.shard)
    progress = Progress(progress_stream, len(datasets))
    return Audit(bucket, options, progress).run(datasets)


# -- the command -------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="validate every dataset of a bucket (or a shard), incrementally; JSONL, summary and HTML report",
        description="Validate every dataset of a bucket, or a shard of them, in-process. With --previous, "
        "results whose objects (ETag, size) are unchanged are carried over without reading them. Writes "
        f"{RESULTS_FILE}, {SUMMARY_JSON}, {SUMMARY_TEXT}, {HTML_FILE} (and an Allure report when Node.js is "
        "present) into --report. Exit status 1 when a check at or above --severity fails.",
    )
    parser.add_argument(
        "--bucket",
        default=os.environ.get("CRYOET_BUCKET", DEFAULT_BUCKET),
        metavar="URL",
        help=f"bucket root (default: $CRYOET_BUCKET or {DEFAULT_BUCKET}, where ingestion writes; the portal's public "
        "data: s3://cryoet-data-portal-public with --anon)",
    )
    parser.add_argument("--endpoint-url", default=None, metavar="URL", help="S3 endpoint")
    parser.add_argument(
        "--anon",
        action="store_true",
        help="read S3 with unsigned requests, as public data is read without an account (also $CRYOET_S3_ANON=1; "
        "without credentials the bucket is read so anyway)",
    )
    parser.add_argument(
        "--datasets",
        "--dataset",
        action="append",
        default=[],
        metavar="IDS",
        help="only these dataset ids (comma-separated, repeatable; default: every numeric folder of the bucket)",
    )
    parser.add_argument("--shards", type=int, default=1, metavar="N", help="split the datasets into N shards")
    parser.add_argument("--shard", type=int, default=0, metavar="K", help="audit shard K (0 ≤ K < N)")
    parser.add_argument(
        "--previous",
        type=Path,
        default=None,
        metavar="RESULTS",
        help=f"a previous run's {RESULTS_FILE} (or its report directory): unchanged results are carried over, "
        "and the summary tells new and fixed failures",
    )
    parser.add_argument("--full", action="store_true", help="run every check, carrying nothing over")
    parser.add_argument(
        "--rotate",
        type=int,
        default=0,
        metavar="K",
        help="content checks also read whole the chunks of every sampled array whose index is the night modulo K: "
        "K nights read every chunk once (the SAMPLE budget is then lifted unless --io-budget sets it)",
    )
    parser.add_argument(
        "--night", type=int, default=None, metavar="N", help="the night of --rotate (default: today's day number)"
    )
    parser.add_argument("--full-content", action="store_true", help="content checks read every chunk (as --rotate 1)")
    parser.add_argument(
        "--report", type=Path, default=Path(DEFAULT_REPORT), metavar="DIR", help=f"(default: ./{DEFAULT_REPORT})"
    )
    parser.add_argument("--waivers", type=Path, default=None, metavar="FILE", help="accepted failures (YAML)")
    parser.add_argument(
        "--severity",
        default="error",
        choices=["error", "warning", "info"],
        help="lowest severity that fails the audit (exit 1); default: error",
    )
    parser.add_argument("--db-url", default=None, metavar="URL", help="portal database of the DB-* checks")
    parser.add_argument("--https-prefix", default=None, metavar="URL", help="prefix of the database's https_*")
    parser.add_argument(
        "--sample-chunks",
        type=int,
        default=sampling.DEFAULT_SAMPLE_CHUNKS,
        metavar="N",
        help=f"chunks sampled per array by the SAMPLE-tier checks (default: {sampling.DEFAULT_SAMPLE_CHUNKS})",
    )
    parser.add_argument("--io-budget", action="append", default=[], metavar="TIER=SIZE", help="as for pytest")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help=f"entities checked at once (default: {REMOTE_THREADS} on S3, {LOCAL_THREADS} on a local folder)",
    )
    parser.add_argument("--no-allure", action="store_true", help="no Allure report, even when Node.js is present")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run_command)


def options_from(args: argparse.Namespace) -> AuditOptions:
    """AuditOptions from the command line; a bad value raises ValueError with a one-line message."""
    if args.shards < 1 or not 0 <= args.shard < args.shards:
        raise ValueError(f"--shard {args.shard} --shards {args.shards}: need N ≥ 1 and 0 ≤ K < N")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError("--jobs needs at least 1")
    datasets = [part.strip() for value in args.datasets for part in value.split(",") if part.strip()]
    if args.rotate < 0 or (args.full_content and args.rotate > 1):
        raise ValueError(f"--rotate {args.rotate}: need K ≥ 1 (--full-content is K = 1)")
    rotation = {"rotate": 1 if args.full_content else args.rotate}
    if args.night is not None:
        rotation["night"] = args.night
    budgets = io_accounting.parse_budgets(args.io_budget)
    if rotation["rotate"] and not any("SAMPLE" in spec.upper() for spec in args.io_budget):
        # A night's slice is as large as the arrays divided by K: the default budget, made for samples, would
        # fail every large array; memory stays bounded by the entity cache's capacity.
        budgets[Tier.SAMPLE] = None
    return AuditOptions(
        datasets=datasets or None,
        shards=args.shards,
        shard=args.shard,
        previous=args.previous,
        full=args.full,
        report=args.report,
        waivers=load_waivers(args.waivers) if args.waivers else [],
        fail_level=Severity[args.severity.upper()],
        sample_chunks=args.sample_chunks,
        budgets=budgets,
        https_prefix=args.https_prefix or "",
        jobs=args.jobs,
        allure=not args.no_allure,
        **rotation,
    )


def run_command(args: argparse.Namespace) -> int:
    from importers.db.connect import DatabaseError

    try:
        options = options_from(args)
        bucket = Bucket(
            args.bucket, endpoint_url=args.endpoint_url, read_only=True, anonymous=reading_access(args.anon)
        )
        options.database = open_for_checks(args.db_url, bucket, args.https_prefix)
    except (ValueError, WaiverError, DatabaseError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    if bucket.notice:
        print(f"audit: {bucket.notice}", file=sys.stderr)
    try:
        outcome = run_audit(bucket, options, None if args.quiet else sys.stderr)
    except ValueError as error:  # a malformed --previous file
        print(f"audit: {error}", file=sys.stderr)
        return 2
    finally:
        if options.database is not None:
            options.database.close()
    if outcome.summary.not_audited:
        print(f"audit: not audited: {outcome.summary.not_audited} (report: {outcome.html})", file=sys.stderr)
        return outcome.exit_code
    for line in outcome.summary.lines():
        print(line)
    print()
    print(f"results: {outcome.results}")
    print(f"summary: {outcome.report / SUMMARY_JSON}, {outcome.report / SUMMARY_TEXT}")
    print(f"report:  {outcome.html}")
    if outcome.allure_report is not None:
        print(f"allure:  {outcome.allure_report / 'index.html'}")
    elif outcome.allure_note:
        print(outcome.allure_note)
    return outcome.exit_code
