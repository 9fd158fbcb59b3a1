"""The engine: one evaluation path for pytest, the audit and the WDL task; threads, worker processes, order."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_validation.checks import CheckContext
from data_validation.engine import Engine, cases
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import EntityKind
from data_validation.snapshot import discover
from importers.storage import Bucket
from tests.cases_checks import case_mrc_voxel_spacing


def _context(root: Path) -> CheckContext:
    bucket = Bucket(str(root), read_only=True)
    return CheckContext(ObjectReader(discover(bucket, ["10001"]), bucket))


def test_results_come_in_case_order_and_equal_with_threads_or_processes(bucket_copy: Path) -> None:
    case_mrc_voxel_spacing().apply(bucket_copy)
    context = _context(bucket_copy)
    planned = cases(context.reader.snapshot)
    with Engine(context, planned, threads=1) as engine:
        serial = list(engine)
    with Engine(context, planned, threads=8) as engine:
        threaded = list(engine)
    with Engine(context, planned, threads=4, processes=2) as engine:
        remote = list(engine)
    assert [(r.code, r.entity) for r in serial] == [(c.check.code, c.entity.path) for c in planned]
    assert serial == threaded == remote  # code, entity, status, severity and message of every case
    failed = [r for r in remote if r.status == "failed" and r.code == "TOMO-MRC-VOXEL-SPACING"]
    assert len(failed) == 1 and "expected 13.480" in failed[0].message
    # What each check read travels back from the worker processes with its result.
    assert sum(r.bytes_read for r in remote) == sum(r.bytes_read for r in serial) > 0


def test_an_entitys_checks_share_what_they_read(clean_tree: Path) -> None:
    context = _context(clean_tree)
    tomograms = [c for c in cases(context.reader.snapshot) if c.entity.kind is EntityKind.TOMOGRAM]
    one = [c for c in tomograms if c.entity == tomograms[0].entity]
    bucket = context.reader.bucket
    before = bucket.stats.snapshot()
    with Engine(context, one) as engine:
        results = list(engine)
    after = bucket.stats.snapshot()
    # Each object is read once for the entity, by the first check that needs it; the others read nothing new.
    assert after["total_requests"] - before["total_requests"] == sum(r.requests for r in results)
    content = [r for r in results if r.code.startswith("TOMO-VOL-")]
    assert content[0].requests > 0 and sum(r.requests for r in content[1:]) < content[0].requests


def test_each_result_is_handed_out_once(clean_tree: Path) -> None:
    context = _context(clean_tree)
    planned = cases(context.reader.snapshot)[:3]
    with Engine(context, planned) as engine:
        engine.result(0)
        with pytest.raises(AssertionError, match="handed out already"):
            engine.result(0)


def test_entities_with_database_checks_stay_here_in_their_order(clean_tree: Path) -> None:
    """With worker processes, the entities whose checks need the database are checked in this process (which
    holds the connection); the results still come in case order."""
    context = _context(clean_tree)
    context.database = object()  # type: ignore[assignment]  # its presence routes the dataset's checks here
    planned = cases(context.reader.snapshot)[:120]
    assert planned[0].entity.kind is EntityKind.DEPOSITION and any(c.check.code.startswith("DB-") for c in planned)
    with Engine(context, planned, threads=2, processes=1) as engine:
        results = list(engine)
    assert [(r.code, r.entity) for r in results] == [(c.check.code, c.entity.path) for c in planned]


def test_read_many_gives_each_object_or_why_not_in_order(bucket_copy: Path) -> None:
    """Objects the snapshot holds cost no request; the others are read together (a batch at a time); a missing
    or vanished object is an Unreadable in its place, not an exception."""
    context = _context(bucket_copy)
    reader = context.reader
    held = next(key for key in reader.snapshot.objects if key.endswith("run_metadata.json"))
    photos = [key for key in reader.snapshot.listing if key.endswith(".png")]
    gone = photos[0]
    (bucket_copy / gone).unlink()
    keys = [*photos, held, "10001/nowhere.png", photos[1]]
    before = reader.bucket.stats.snapshot()["total_requests"]
    outcomes = list(reader.read_many(keys))
    assert [key for key, _ in outcomes] == keys
    by_key = dict(outcomes)
    assert isinstance(by_key[gone], Unreadable) and gone in str(by_key[gone])
    assert isinstance(by_key["10001/nowhere.png"], Unreadable)
    assert by_key[held] == reader.snapshot.objects[held]
    for key in photos[1:]:
        assert by_key[key] == (bucket_copy / key).read_bytes()
    # one read per photo that is there (the held document, the unlisted key and the vanished photo count none)
    assert reader.bucket.stats.snapshot()["total_requests"] - before == len(set(photos)) - 1
