"""The command line as a user meets it: ``--version`` (cryoet-ingest and pytest's header) and mistyped options."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from importers.cli import main
from tests.conftest import REPO_ROOT

VERSION = version("cryoet-ingest")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_version_of_the_command() -> None:
    completed = run("importers.cli", "--version")
    assert completed.returncode == 0 and completed.stdout == f"cryoet-ingest {VERSION}\n", completed.stderr


def test_version_in_pytest_header() -> None:
    completed = run("pytest", "-p", "no:cacheprovider", "--collect-only", "tests/test_layout.py")
    assert f"cryoet-ingest {VERSION}, validation suite at {REPO_ROOT / 'data_validation'}" in completed.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["standardize", "config.yaml", "--input", "in", "--ouput", "out"],
            "cryoet-ingest standardize: error: unrecognized option --ouput (did you mean --output?)",
        ),
        (
            ["audit", "--shrads", "2"],
            "cryoet-ingest audit: error: unrecognized option --shrads (did you mean --shards?)",
        ),
        (["sync", "a", "b", "--zzz"], "cryoet-ingest sync: error: unrecognized option --zzz"),
    ],
)
def test_a_mistyped_option_is_named(arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    error = capsys.readouterr().err
    assert exited.value.code == 2 and error.splitlines()[-1] == message, error
    assert "required" not in error


def test_an_abbreviated_option_still_works(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    config = REPO_ROOT / "dataset_configs" / "10001.yaml"
    assert main(["standardize", str(config), "--inp", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "holds no file" in capsys.readouterr().err  # got past argument parsing
