"""Every check passes on the clean standardized sample and fails on the defect it targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_cases import parametrize_with_cases

from data_validation.checks.database import is_database_check
from data_validation.engine import Result, Status, validate
from data_validation.registry import NOT_APPLICABLE, REGISTRY, Severity
from data_validation.source import is_source_check
from importers.storage import Bucket
from tests import cases_checks, cases_db, cases_source
from tests.corruptions import TOMOGRAM, TOMOGRAM_MRC, Corruption, append_bytes
from tests.shapes_sample import shapes_tree


def _results(root: Path) -> list[Result]:
    return validate(Bucket(str(root), read_only=True), ["10001"])


def _results_of(root: Path, code: str) -> list[Result]:
    """The results of the one check ``code``, evaluated alone: a check's results depend on the data, not on
    the checks beside it (they share reads, not findings); all ~400 of them made a case several times slower."""
    return [
        r for r in validate(Bucket(str(root), read_only=True), ["10001"], checks=[REGISTRY[code]]) if r.code == code
    ]


def _failures(results: list[Result]) -> list[Result]:
    return [result for result in results if result.status is Status.FAILED]


def _not_applicable(result: Result) -> bool:
    """Skipped because the entity lacks the check's subject (an annotation without a mask, ...)."""
    return result.status is Status.SKIPPED and result.message.startswith(NOT_APPLICABLE)


@pytest.fixture(scope="module")
def clean_results(clean_tree: Path) -> list[Result]:
    return _results(clean_tree)


@pytest.fixture(scope="module")
def shapes_results() -> list[Result]:
    """The sample with every annotation shape and identified objects (tests/shapes_sample.py)."""
    return _results(shapes_tree())


def test_clean_sample_passes_every_check(clean_results: list[Result], shapes_results: list[Result]) -> None:
    for results in (clean_results, shapes_results):
        failures = _failures(results)
        assert not failures, "\n".join(r.line() for r in failures)


# DB-* checks need a database: tests/test_db_checks.py runs them against an import.
# SRC-* checks look at a lab's upload, not at a bucket: tests/test_source_checks.py runs them.
@pytest.mark.parametrize(
    "code", sorted(code for code in REGISTRY if not is_database_check(code) and not is_source_check(code))
)
def test_check_runs_and_passes_on_clean_sample(
    code: str, clean_results: list[Result], shapes_results: list[Result]
) -> None:
    """On the clean sample and the every-shape sample, the check passes wherever it applies, and
    passes somewhere."""
    mine = [result for result in clean_results + shapes_results if result.code == code]
    assert any(result.status is Status.PASSED for result in mine), (
        f"{code} passed on no entity of the samples: {[r.line() for r in mine[:3]]}"
    )
    accepted = [r for r in mine if r.status is Status.PASSED or _not_applicable(r)]
    assert accepted == mine, [r.line() for r in mine if r not in accepted]


def test_every_check_has_a_corruption_case() -> None:
    covered = {function().code for name, function in vars(cases_checks).items() if name.startswith("case_")}
    covered |= {corruption.code for corruption in cases_db.CASES}
    covered |= {corruption.code for corruption in cases_source.CASES}
    assert set(REGISTRY) - covered == set()


@parametrize_with_cases("corruption", cases=cases_checks)
def test_check_fails_on_its_defect(corruption: Corruption, bucket_copy: Path) -> None:
    corruption.apply(bucket_copy)
    failures = _failures(_results_of(bucket_copy, corruption.code))
    targeted = [f for f in failures if f.code == corruption.code and f.entity == corruption.entity]
    assert targeted, f"{corruption.code} did not fail on {corruption.entity}; failures: {[f.line() for f in failures]}"
    assert all("\n" not in f.message for f in targeted)
    assert any(f.severity is corruption.severity for f in targeted), [f.line() for f in targeted]


def test_small_file_size_difference_is_a_warning(bucket_copy: Path) -> None:
    append_bytes(TOMOGRAM_MRC, 10)(bucket_copy)
    (finding,) = _failures(_results_of(bucket_copy, "TOMO-MRC-FILE-SIZE"))
    assert finding.severity is Severity.WARNING and finding.entity == TOMOGRAM
    assert "+10" in finding.message


def test_voxel_size_message_names_the_values(bucket_copy: Path) -> None:
    cases_checks.case_mrc_voxel_spacing().apply(bucket_copy)
    (finding,) = _failures(_results_of(bucket_copy, "TOMO-MRC-VOXEL-SPACING"))
    assert "14.0000" in finding.message and "13.480" in finding.message


def test_docs_checks_table_matches_the_registry() -> None:
    from data_validation.catalog import markdown
    from tests.conftest import REPO_ROOT

    assert (REPO_ROOT / "docs" / "checks.md").read_text() == markdown(), (
        "run: cryoet-ingest checks --markdown > docs/checks.md"
    )


def test_portal_reference_output_passes_every_check() -> None:
    from tests.conftest import shared_dir

    results = validate(Bucket(str(shared_dir() / "reference-90001" / "output"), read_only=True), ["90001"])
    assert not _failures(results), "\n".join(r.line() for r in _failures(results))
    passed = {r.code for r in results if r.status is Status.PASSED}
    # The reference has no oriented points, instance points or masks, meshes, captions, identified objects.
    ran = {r.code for r in results}
    absent = {code for code in ran if all(_not_applicable(r) for r in results if r.code == code)}
    bucket_codes = {code for code in REGISTRY if not is_database_check(code) and not is_source_check(code)}
    assert passed >= bucket_codes - {"GEN-DISCOVERY"} - absent
