"""Per-check I/O accounting, tier budgets, ``--io-report``, and the byte figure of a 2 GiB tomogram."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from data_validation import io_accounting
from data_validation.checks import CheckContext, content
from data_validation.engine import Result, Status, evaluate, validate
from data_validation.entities import Entity
from data_validation.io_accounting import (
    DEFAULT_BUDGETS,
    MIB,
    IoRecord,
    IoReport,
    Usage,
    parse_budgets,
    parse_size,
)
from data_validation.reader import ObjectReader
from data_validation.registry import Check, EntityKind, Severity, Tier, fail
from data_validation.sampling import WHOLE_OBJECT_BYTES, ArrayMeta, SampleSettings
from data_validation.snapshot import Snapshot
from importers.formats.mrc import HEADER_SIZE, DataStatistics, build_header, portal_label
from importers.formats.omezarr import VolumeKind, codec, downsample, dumps, level_shapes, zarray, zattrs
from importers.storage import Bucket
from tests.corruptions import TOMOGRAM
from tests.test_validation_suite import run_suite

STORE = f"{TOMOGRAM}/TS_001"


def test_sizes_and_budgets_parse() -> None:
    assert parse_size("64MiB") == 64 * MIB
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("4096") == 4096
    assert parse_size("none") is None
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")
    budgets = parse_budgets(["SAMPLE=128MiB", "full=1GiB,HEADER=none"])
    assert budgets[Tier.SAMPLE] == 128 * MIB and budgets[Tier.FULL] == 1 << 30 and budgets[Tier.HEADER] is None
    assert budgets[Tier.LIST] == DEFAULT_BUDGETS[Tier.LIST]
    with pytest.raises(ValueError, match="TIER=SIZE"):
        parse_budgets(["HUGE=1MiB"])


def validate_accounted(bucket: Bucket, dataset_ids: list[str]) -> tuple[list[Result], IoReport]:
    """The suite's results on a bucket, with the I/O report: the snapshot's figures and every check's."""
    report = IoReport()
    return validate(bucket, dataset_ids, report=report), report


def test_reads_count_into_the_account_of_the_view_that_made_them(tmp_path: Path) -> None:
    (tmp_path / "object").write_bytes(b"x" * 5000)
    bucket = Bucket(str(tmp_path), read_only=True)
    outer, inner = Usage(), Usage()
    bucket.read_range("object", 0, 100)  # no account
    outer_view = bucket.counting_into(outer)
    outer_view.read_range("object", 0, 1000)
    outer_view.counting_into(inner).read_many([("object", 0, 10), ("object", 10, 30)])
    other = threading.Thread(target=bucket.read, args=("object",))  # the bucket itself counts to no account
    other.start()
    other.join()
    assert (outer.total_requests, outer.bytes_read) == (3, 1030)  # a view of a view counts in both accounts
    assert (inner.total_requests, inner.bytes_read) == (2, 30)
    assert bucket.stats.bytes_read == 100 + 1000 + 30 + 5000
    assert outer_view.stats.bytes_read == bucket.stats.bytes_read  # a view's figures are the bucket's


def _reading_check(tmp_path: Path, reads: int) -> tuple[Check, CheckContext]:
    (tmp_path / "blob").write_bytes(bytes(4096))

    def function(context, entity) -> None:
        for _ in range(reads):
            context.reader.bucket.read_range("blob", 0, 1024)
        fail("the check ran to its end")

    check = Check("TEST-READER", EntityKind.TOMOGRAM, Tier.SAMPLE, content.Severity.ERROR, "reads", function)
    bucket = Bucket(str(tmp_path), read_only=True)
    return check, CheckContext(ObjectReader(Snapshot(bucket.url, None), bucket))


def test_a_check_over_its_budget_fails_at_the_read_that_crossed_it(tmp_path: Path) -> None:
    check, context = _reading_check(tmp_path, reads=4)
    entity = Entity.of(EntityKind.DATASET, dataset_id="10001")
    result = evaluate(check, context, entity, 2500)
    assert result.status is Status.FAILED
    assert result.message == (
        "read 3.0 KiB in 3 requests, over the SAMPLE budget of 2.4 KiB per check (--io-budget SAMPLE=SIZE)"
    )
    assert result.requests == 3  # the fourth read never happened
    result = evaluate(check, context, entity, None)
    assert "ran to its end" in result.message and result.bytes_read == 4096


def test_report_tables() -> None:
    report = IoReport(session_requests=12, session_bytes=4096)
    report.add(IoRecord("TOMO-VOL-PYRAMID", "SAMPLE", "10001/a", 10, 3 * MIB))
    report.add(IoRecord("TOMO-VOL-PYRAMID", "SAMPLE", "10001/b", 14, 5 * MIB))
    report.add(IoRecord("TOMO-MRC-DTYPE", "HEADER", "10001/a", 0, 0))
    lines = report.lines()
    assert lines[0] == "session snapshot (listings + prefetch, read once): 12 requests, 4.0 KiB"
    assert lines[1] == "checks: 24 requests, 8.0 MiB in 3 evaluations"
    row = next(line for line in lines if line.startswith("TOMO-VOL-PYRAMID"))
    assert row.split() == ["TOMO-VOL-PYRAMID", "SAMPLE", "2", "24", "8.0", "MiB", "5.0", "MiB", "64.0", "MiB"]
    assert "checks that read nothing beyond the snapshot: 1" in lines
    assert [line.split()[0] for line in lines[lines.index("per entity:") + 2 :]] == ["10001/b", "10001/a"]


def test_everything_read_is_attributed_once(clean_tree: Path) -> None:
    bucket = Bucket(str(clean_tree), read_only=True)
    results, report = validate_accounted(bucket, ["10001"])
    assert report.session_bytes + report.check_bytes == bucket.stats.bytes_read
    assert report.session_requests + report.check_requests == bucket.stats.total_requests
    sample = [r for r in report.records if r.tier == "SAMPLE"]
    assert sample and all(r.bytes_read <= DEFAULT_BUDGETS[Tier.SAMPLE] for r in sample)
    # An entity's checks share what they read: the first content check of a tomogram reads its samples, and
    # the others read only what it did not.
    decoding = [r for r in sample if r.code == "TOMO-VOL-CHUNK-DECODE"]
    assert decoding and all(r.bytes_read > 0 for r in decoding)
    assert not [r for r in results if r.code.startswith("TOMO-VOL") and r.status is not Status.PASSED]


def test_plugin_reports_and_enforces_budgets(clean_tree: Path) -> None:
    bucket = f"file://{clean_tree}"
    arguments = ["--dataset", "10001", "--bucket", bucket, "-k", "TOMO-VOL or TOMO-MRC-DTYPE", "--io-report"]
    strict = run_suite(*arguments, "--io-budget", "SAMPLE=1KiB")
    failures = [line for line in strict.stdout.splitlines() if line.startswith("TOMO-VOL") and "[error]" in line]
    assert len(failures) == 12, strict.stdout + strict.stderr  # 6 checks × 2 tomograms
    assert all("over the SAMPLE budget of 1.0 KiB per check (--io-budget SAMPLE=SIZE)" in f for f in failures)
    text = strict.stdout.split("cryoet I/O report", 1)[1]
    assert "session snapshot (listings + prefetch, read once):" in text
    pyramid = next(line for line in text.splitlines() if line.startswith("TOMO-VOL-PYRAMID"))
    assert pyramid.split()[1:3] == ["SAMPLE", "2"]  # both tomograms
    assert "checks that read nothing beyond the snapshot: 1" in text  # TOMO-MRC-DTYPE
    assert f"{TOMOGRAM}  " in text and "per entity:" in text


def test_sample_chunks_and_budget_options_make_the_session_settings() -> None:
    from data_validation import session

    options = {"cryoet_io_budget": ["SAMPLE=8MiB"], "cryoet_sample_chunks": 0, "cryoet_waivers": None}
    options["cryoet_severity"] = "warning"
    settings = session.settings_of(SimpleNamespace(getoption=options.__getitem__))
    assert settings.sampling == SampleSettings(chunks=0)
    assert settings.budgets[Tier.SAMPLE] == 8 * MIB and settings.fail_level is Severity.WARNING


@pytest.mark.parametrize(("option", "value"), [("cryoet_io_budget", ["SAMPLE=much"]), ("cryoet_sample_chunks", -1)])
def test_bad_options_are_usage_errors(option: str, value: object) -> None:
    from data_validation import session

    options = {"cryoet_io_budget": [], "cryoet_sample_chunks": 2, "cryoet_waivers": None, "cryoet_severity": "error"}
    options[option] = value
    with pytest.raises(pytest.UsageError, match=r"not a size|must be >= 0"):
        session.settings_of(SimpleNamespace(getoption=options.__getitem__))


# -- a 2 GiB tomogram: the whole check set reads less than the SAMPLE budget ------------------

SHAPE = (512, 1024, 1024)  # float32: 2 GiB


def _noisy_planes(entity_path: str) -> list[int]:
    """Level-0 planes feeding every block the content checks read: the sampled slabs of each level,
    widened to 8 planes (one Blosc block of level 2 is 8 planes of level 0)."""
    planes: set[int] = set()
    metas = [
        ArrayMeta(f"s/{level}", level, shape, (256,) * 3, np.dtype("<f4"), "/", "C", None, None, 0.0)
        for level, shape in enumerate(level_shapes(SHAPE, (2, 2, 2)))
    ]
    volume = content.Volume("s", None, metas, VolumeKind.TOMOGRAM)  # type: ignore[arg-type]
    # Sampled samples need the settings only; the levels verified whole read zeros beyond these planes.
    context = CheckContext(None, sampling=SampleSettings(whole_bytes=0))  # type: ignore[arg-type]
    for level, meta in enumerate(metas):
        for sample in content.samples_of(context, SimpleNamespace(path=entity_path), volume, level):
            (z0, z1), *_ = sample.global_box(meta)
            low, high = z0 * 2**level // 8 * 8, -(-z1 * 2**level // 8) * 8
            planes.update(range(low, min(high, SHAPE[0])))
    return sorted(planes)


def write_large_tomogram(root: Path) -> dict[int, list[int]]:
    """A sparse 2 GiB MRC and its OME-Zarr: noise on the planes the checks sample, zeros elsewhere (zero
    chunks are not written; readers see the fill value 0, as the MRC holds)."""
    bucket = Bucket(str(root))
    rng = np.random.default_rng(3)
    planes = {z: rng.standard_normal(SHAPE[1:], dtype=np.float32) for z in _noisy_planes(TOMOGRAM)}
    count = np.prod(SHAPE, dtype=np.int64)
    total = sum(float(p.sum(dtype=np.float64)) for p in planes.values())
    squares = sum(float((p.astype(np.float64) ** 2).sum()) for p in planes.values())
    mean = total / count
    statistics = DataStatistics(
        min(0.0, *(float(p.min()) for p in planes.values())),
        max(0.0, *(float(p.max()) for p in planes.values())),
        mean,
        float(np.sqrt(squares / count - mean**2)),
    )
    mrc = root / f"{STORE}.mrc"
    mrc.parent.mkdir(parents=True)
    mrc.write_bytes(
        build_header(SHAPE, np.dtype("<f4"), (13.48,) * 3, statistics=statistics, ispg=1, label=portal_label())
    )
    with open(mrc, "r+b") as handle:
        handle.truncate(HEADER_SIZE + int(count) * 4)
    voxels = np.memmap(mrc, dtype="<f4", mode="r+", offset=HEADER_SIZE, shape=SHAPE)
    for z, plane in planes.items():
        voxels[z] = plane
    voxels.flush()
    del voxels

    kind = VolumeKind.TOMOGRAM
    shapes = level_shapes(SHAPE, kind.factor)
    levels = [planes]
    for _ in shapes[1:]:
        previous = levels[-1]
        levels.append(
            {
                z: downsample(np.stack([previous.get(2 * z, 0), previous.get(2 * z + 1, 0)]).astype("<f4"), kind)[0]
                for z in sorted({z // 2 for z in previous})
            }
        )
    chunk = np.zeros(kind.chunks, dtype="<f4")
    written: dict[int, list[int]] = {}
    for level, (shape, level_planes) in enumerate(zip(shapes, levels, strict=True)):
        grid = [-(-n // c) for n, c in zip(shape, kind.chunks, strict=True)]
        for cz in range(grid[0]):
            inside = [z for z in level_planes if cz * 256 <= z < cz * 256 + 256]
            for cy in range(grid[1]):
                for cx in range(grid[2]):
                    if not inside:
                        continue
                    chunk[:] = 0
                    for z in inside:
                        part = level_planes[z][cy * 256 : cy * 256 + 256, cx * 256 : cx * 256 + 256]
                        chunk[z - cz * 256, : part.shape[0], : part.shape[1]] = part
                    data = codec().encode(chunk)
                    bucket.write(f"{STORE}.zarr/{level}/{cz}/{cy}/{cx}", data)
                    written.setdefault(level, []).append(len(data))
        bucket.write(f"{STORE}.zarr/{level}/.zarray", dumps(zarray(shape, kind)))
    bucket.write(f"{STORE}.zarr/.zattrs", dumps(zattrs(kind, 13.48)))
    bucket.write(f"{STORE}.zarr/.zgroup", dumps({"zarr_format": 2}))
    return written


def test_a_2_gib_tomogram_reads_less_than_the_sample_budget(tmp_path: Path) -> None:
    written = write_large_tomogram(tmp_path)
    assert (tmp_path / f"{STORE}.mrc").stat().st_size == HEADER_SIZE + 2 * 1024**3
    # The chunks are noisy where sampled: too large to be read whole, and together over the budget.
    assert min(written[0]) > WHOLE_OBJECT_BYTES and sum(written[0]) > DEFAULT_BUDGETS[Tier.SAMPLE]
    bucket = Bucket(str(tmp_path), read_only=True)
    results, report = validate_accounted(bucket, ["10001"])
    content_results = {r.code: r for r in results if r.code.startswith("TOMO-VOL")}
    assert len(content_results) == 6
    assert all(r.status is Status.PASSED for r in content_results.values()), [
        r.line() for r in content_results.values()
    ]
    sample = [r for r in report.records if r.tier == "SAMPLE"]
    sample_bytes = sum(r.bytes_read for r in sample)
    print(
        f"\n2 GiB tomogram: SAMPLE checks {sum(r.requests for r in sample)} requests, {sample_bytes / MIB:.1f} MiB; "
        f"all checks {report.check_bytes / MIB:.1f} MiB; snapshot {report.session_bytes / 1024:.1f} KiB\n"
        + "\n".join(report.lines())
    )
    assert report.check_bytes <= DEFAULT_BUDGETS[Tier.SAMPLE]
    assert sample_bytes <= DEFAULT_BUDGETS[Tier.SAMPLE]


def test_budget_defaults_are_documented() -> None:
    from tests.conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "validation.md").read_text()
    for tier, budget in DEFAULT_BUDGETS.items():
        assert f"| {tier.name} | {io_accounting.format_bytes(budget)} |" in text


def test_s3_reads_are_accounted_as_local_ones(tmp_path: Path, s3_bucket: str) -> None:
    from tests.conftest import upload_tree
    from tests.test_content_checks import noisy, write_volume

    write_volume(tmp_path, noisy((300, 70, 90)))
    upload_tree(tmp_path, s3_bucket)
    figures = {}
    for url in (s3_bucket, str(tmp_path)):
        results, report = validate_accounted(Bucket(url, read_only=True), ["10001"])
        assert all(r.status is Status.PASSED for r in results if r.code.startswith("TOMO-VOL")), url
        figures[url] = {(r.code, r.requests, r.bytes_read) for r in report.records if r.tier == "SAMPLE"}
    assert figures[s3_bucket] == figures[str(tmp_path)]
