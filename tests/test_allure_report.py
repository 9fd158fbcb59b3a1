"""The Allure report as docs/reports.md says to make it: the documented commands, run as written without a
terminal, give one self-contained page (a report that fetches its data is blank from file://)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def documented_commands() -> list[str]:
    """The shell lines of the block after 'Generate the report with the Allure 3 CLI' in docs/reports.md."""
    text = (REPO_ROOT / "docs" / "reports.md").read_text()
    block = re.search(r"Generate the report with the Allure 3 CLI.*?```bash\n(.*?)```", text, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_documented_commands_make_a_self_contained_report(clean_tree: Path, tmp_path: Path) -> None:
    if shutil.which("npx") is None or shutil.which("node") is None:
        pytest.skip("Node.js (npx) is not installed")
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", "10001"]
    run += ["--bucket", f"file://{clean_tree}", "-k", "TOMO-MRC", "--alluredir", str(tmp_path / "allure-results")]
    assert subprocess.run(run, cwd=REPO_ROOT, capture_output=True, timeout=300).returncode == 0
    for line in documented_commands():  # as a script or CI runs them: no terminal on any stream
        completed = subprocess.run(
            line, shell=True, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
        )
        if (
            "npx" in line
            and completed.returncode != 0
            and re.search(r"E(NOTFOUND|AI_AGAIN|CONNREFUSED)", completed.stderr)
        ):
            pytest.skip("the npm registry cannot be reached to fetch allure@3")
        assert completed.returncode == 0, (line, completed.stderr[-2000:])
    report = tmp_path / "allure-report"
    assert sorted(path.name for path in report.iterdir() if path.is_dir()) == []  # no data folder to fetch
    # The results are inside the page, base64-encoded, under the names the default report would fetch.
    page = (report / "index.html").read_text()
    embedded = re.findall(r'd\("data/test-results/[^"]+\.json","([A-Za-z0-9+/=]+)"\)', page)
    names = [json.loads(base64.b64decode(data))["name"] for data in embedded]
    assert names and all("[TOMO-MRC-" in name for name in names), names[:3]
