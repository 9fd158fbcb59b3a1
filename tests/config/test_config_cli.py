"""The validate-config / migrate-config / export-schemas subcommands through argparse, as cryoet-ingest runs them."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from importers.ingest.config.commands import register
from tests.config.paths import DATA, portal_dir
from tests.conftest import REPO_ROOT


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cryoet-ingest")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_validate_defaults_to_dataset_configs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO_ROOT)
    assert run("validate-config") == 0
    captured = capsys.readouterr()
    checked = len([p for p in (REPO_ROOT / "dataset_configs").glob("*.yaml") if not p.name.endswith("_draft.yaml")])
    assert captured.err == f"{checked} config(s) checked: 0 error(s), 0 warning(s)\n"


def test_validate_reports_every_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "10999.yaml"
    text = (DATA / "minimal.yaml").read_text().replace("release_date: '2025-02-01'", "release_date: '2025-01-01'")
    bad.write_text(text.replace("tilt_axis: 84.7", "tilt_axis: 84.7\n    colour: red"))
    (tmp_path / "broken.yaml").write_text("version: [\n")
    (tmp_path / "10998_draft.yaml").write_text("version: [\n")  # drafts are skipped when a directory is given
    assert run("validate-config", str(tmp_path)) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"{bad}:12: depositions[0].metadata.dates.release_date: release_date 2025-01-01 is before deposition_date "
        "2025-01-10 [date-order]",
        f"{bad}:50: tiltseries[0].metadata.colour: unknown key",
        f"{tmp_path / 'broken.yaml'}:2: invalid YAML: did not find expected node content",
    ]
    assert err == "2 config(s) checked: 3 error(s), 0 warning(s)\n"
    assert "Traceback" not in out + err


def test_warnings_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "10473.yaml"
    shutil.copy(portal_dir() / "10473.yaml", path)
    assert run("validate-config", str(path)) == 0
    assert "warning: version 1.1.0 is older than 1.3.0" in capsys.readouterr().out
    assert run("validate-config", "--quiet", str(path)) == 0
    assert capsys.readouterr().out == ""


def test_validate_exclusions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "10999.yaml"
    path.write_text((DATA / "minimal.yaml").read_text().replace("{min: -60.0, max: 60.0}", "{min: 60.0, max: -60.0}"))
    assert run("validate-config", str(path)) == 1
    exclusions = tmp_path / "exclusions.json"
    exclusions.write_text(json.dumps({"10999": ["tilt-range"]}))
    assert run("validate-config", "--exclusions", str(exclusions), str(path)) == 0
    exclusions.write_text("[1, 2]")
    assert run("validate-config", "--exclusions", str(exclusions), str(path)) == 2
    assert "exclusions must be a JSON object" in capsys.readouterr().err


def test_validate_without_dataset_configs_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("validate-config") == 2
    assert "no files given and no dataset_configs/ here" in capsys.readouterr().err


def test_migrate_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("10000.yaml", "10473.yaml"):
        shutil.copy(portal_dir() / name, tmp_path / name)
    assert run("migrate-config", "--check", str(tmp_path)) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / '10000.yaml'}: at 1.3.0",
        f"{tmp_path / '10473.yaml'}: at 1.1.0, needs migration to 1.3.0",
    ]
    assert run("migrate-config", str(tmp_path / "10473.yaml")) == 0
    assert capsys.readouterr().out == f"{tmp_path / '10473.yaml'}: migrated 1.1.0 -> 1.3.0\n"
    assert run("migrate-config", "--check", str(tmp_path)) == 0


def test_migrate_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "10000.yaml"
    shutil.copy(portal_dir() / "10000.yaml", path)
    assert run("migrate-config", "--to", "1.1.0", str(path)) == 1
    assert capsys.readouterr().out == f"{path}:583: version 1.3.0 is newer than 1.1.0; configs are never downgraded\n"


@pytest.mark.parametrize("argv", [["migrate-config"], ["migrate-config", "--to", "9.0.0", "x.yaml"], ["nope"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(*argv)
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("validate-config", "FILE:LINE: KEY.PATH: MESSAGE"),
        ("migrate-config", "1.0.0 -> 1.1.0 -> 1.2.0 -> 1.3.0"),
        ("export-schemas", "--check"),
    ],
)
def test_help(command: str, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(command, "--help")
    assert exit_info.value.code == 0
    assert text in capsys.readouterr().out
