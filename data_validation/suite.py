"""The validation suite: one test per (check, discovered entity). Run: ``pytest --dataset ID``."""

from data_validation.plugin import Case, ValidationSession, run_case


def test_check(check_case: Case, validation_session: ValidationSession, record_property) -> None:
    run_case(check_case, validation_session, record_property)
