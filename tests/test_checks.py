"""Every check passes on the clean standardized sample and fails on the defect it targets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_cases import parametrize_with_cases

from data_validation.database import is_database_check
from data_validation.engine import Result, Status, validate
from data_validation.registry import REGISTRY, Severity
from importers.storage import Bucket
from tests import cases_checks, cases_db
from tests.corruptions import TOMOGRAM, TOMOGRAM_MRC, Corruption, append_bytes


def _results(root: Path) -> list[Result]:
    return validate(Bucket(str(root), read_only=True), ["10001"])


def _failures(results: list[Result]) -> list[Result]:
    return [result for result in results if result.status is Status.FAILED]


@pytest.fixture(scope="module")
def clean_results(clean_tree: Path) -> list[Result]:
    return _results(clean_tree)


def test_clean_sample_passes_every_check(clean_results: list[Result]) -> None:
    assert not _failures(clean_results), "\n".join(r.line() for r in _failures(clean_results))


# DB-* checks need a database: tests/test_db_checks.py runs them against an import.
@pytest.mark.parametrize("code", sorted(code for code in REGISTRY if not is_database_check(code)))
def test_check_runs_and_passes_on_clean_sample(code: str, clean_results: list[Result]) -> None:
    mine = [result for result in clean_results if result.code == code]
    assert mine, f"{code} ran on no entity of the sample"
    assert all(result.status is Status.PASSED for result in mine), [r.line() for r in mine]


def test_every_check_has_a_corruption_case() -> None:
    covered = {function().code for name, function in vars(cases_checks).items() if name.startswith("case_")}
    covered |= {corruption.code for corruption in cases_db.CASES}
    assert set(REGISTRY) - covered == set()


@parametrize_with_cases("corruption", cases=cases_checks)
def test_check_fails_on_its_defect(corruption: Corruption, bucket_copy: Path) -> None:
    corruption.apply(bucket_copy)
    failures = _failures(_results(bucket_copy))
    targeted = [f for f in failures if f.code == corruption.code and f.entity == corruption.entity]
    assert targeted, f"{corruption.code} did not fail on {corruption.entity}; failures: {[f.line() for f in failures]}"
    assert all("\n" not in f.message for f in targeted)


def test_small_file_size_difference_is_a_warning(bucket_copy: Path) -> None:
    append_bytes(TOMOGRAM_MRC, 10)(bucket_copy)
    (finding,) = [f for f in _failures(_results(bucket_copy)) if f.code == "TOMO-MRC-FILE-SIZE"]
    assert finding.severity is Severity.WARNING and finding.entity == TOMOGRAM
    assert "+10" in finding.message


def test_voxel_size_message_names_the_values(bucket_copy: Path) -> None:
    cases_checks.case_mrc_voxel_spacing().apply(bucket_copy)
    (finding,) = [f for f in _failures(_results(bucket_copy)) if f.code == "TOMO-MRC-VOXEL-SPACING"]
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
    assert passed >= {code for code in REGISTRY if not is_database_check(code)} - {"GEN-DISCOVERY"}
