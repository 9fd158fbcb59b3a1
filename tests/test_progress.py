"""Progress on long work: the shared line (importers/progress.py), and each command that shows it when its
stream is not a terminal (plain periodic lines; ``$CRYOET_PROGRESS_SECONDS`` makes them frequent here)."""

from __future__ import annotations

import io
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from importers.cli import main
from importers.progress import Progress
from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
ETA = re.compile(r"ETA \d+:\d\d:\d\d")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_plain_lines_with_rate_bytes_and_eta() -> None:
    stream = io.StringIO()
    with Progress("copy", "files", stream, total=4, bytes_done=lambda: 3 << 20, interval=0.01) as meter:
        meter.advance()
        wait_for(lambda: "1/4 files" in stream.getvalue())
    line = stream.getvalue().splitlines()[-1]
    assert line.startswith("copy: 1/4 files · 3.0 MiB (") and "files/s" in line and ETA.search(line), line
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_live_line_that_is_taken_away() -> None:
    terminal = Terminal()
    meter = Progress("copy", "files", terminal, total=2)
    meter.advance()
    wait_for(lambda: "1/2 files" in terminal.getvalue())
    meter.note("done  a")  # the live line is cleared for it
    wait_for(lambda: terminal.getvalue().count("1/2 files") > 1)  # and drawn again
    meter.close()
    text = terminal.getvalue()
    assert text.startswith("\r\033[Kcopy: 1/2 files") and "\r\033[Kdone  a\n\r\033[Kcopy: 1/2" in text
    assert text.endswith("\r\033[K") and "\n" not in text.replace("done  a\n", "")


def test_short_work_shows_nothing_and_without_a_stream_nothing_runs() -> None:
    stream = io.StringIO()
    with Progress("copy", "files", stream, total=1) as meter:  # the default interval: 10 s
        meter.advance()
    assert stream.getvalue() == ""
    threads = threading.active_count()
    Progress("copy", "files", None).advance()
    assert threading.active_count() == threads


@pytest.fixture
def frequent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYOET_PROGRESS_SECONDS", "0.001")


def test_standardize_shows_runs_bytes_and_eta(
    frequent: None, sample_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["standardize", str(CONFIG), "--input", str(sample_source), "--output", str(tmp_path)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("standardize: ")]
    assert any(line.startswith("standardize: 1/2 runs · ") and "MiB (" in line and ETA.search(line) for line in lines)
    assert lines[-1].startswith("standardize: 38 written")  # the summary comes last


def test_sync_shows_objects_copied(
    frequent: None, clean_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", str(clean_tree), str(tmp_path / "copy"), "--dataset", "10001"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^sync: \d+/\d+ objects · ", err, re.M), err[-2000:]


def test_audit_eta_before_the_first_dataset_is_done(
    frequent: None, clean_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = tmp_path / "bucket"
    shutil.copytree(clean_tree, bucket)
    assert main(["audit", "--bucket", str(bucket), "--no-allure", "--report", str(tmp_path / "report")]) == 0
    lines = capsys.readouterr().err.splitlines()
    first = next(line for line in lines if line.startswith("audit 10001: "))  # the one dataset, running
    assert re.match(r"audit 10001: \d+/\d+ entities · [\d.]+ entities/s · ETA \d+:\d\d:\d\d$", first), first


def test_pytest_discovery_shows_progress(frequent: None, clean_tree: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", "10001"]
    command += ["--bucket", f"file://{clean_tree}", "-k", "DS-"]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert re.search(r"^discovery: \d+/\d+ objects · ", result.stderr, re.M), result.stderr[-2000:]
