"""Gather the result files of a sharded validation run into one summary and one report.

``python -m data_validation.gather OUT FILES...`` reads each shard's results, either JSON Lines records
(``pytest --results-jsonl``, the audit's ``results.jsonl``; docs/reports.md) or JUnit XML
(``pytest --junitxml``), and writes ``OUT`` (JSON: the verdict, totals, counts per dataset and per shard,
every failure), ``OUT`` with ``.md`` (a Markdown report) and, with ``--counts DIR``, one integer file per
outcome for a workflow engine to read (``DIR/passed.txt``, ``DIR/failed.txt``, …).

Outcomes: ``passed``; ``failed`` (a finding at or above ``--severity``, default error, that no current
waiver accepts; JUnit failures and errors); ``warned`` (a warning below ``--severity``: JSON Lines only,
JUnit counts those as passed; an info below it is passed, as pytest shows it); ``waived`` (JUnit: xfailed);
``skipped``. A JSON Lines record is judged again at ``--severity`` by
:meth:`~data_validation.results.Record.verdict` (the suite's and the audit's one judgement, keeping the waiver
decision the record was written with). Per dataset means per the record's dataset id; deposition entities count
under ``deposition N``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from data_validation.registry import Severity
from data_validation.results import iter_records

OUTCOMES = ("passed", "failed", "warned", "waived", "skipped")
#: The suite's test ids: ``test_check[CODE:entity/path]``.
_TEST_ID = re.compile(r"^[^\[]*\[(?P<code>[^:\]]+):(?P<entity>.*)\]$")
_DEPOSITION = re.compile(r"^depositions_metadata/(\d+)")
#: Failures listed in the Markdown report (the JSON summary has all of them).
REPORT_FAILURES = 200


class GatherError(Exception):
    """A result file that cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class Outcome:
    shard: str
    code: str
    entity: str
    outcome: str
    severity: str = ""
    message: str = ""
    dataset_id: str | None = None

    @property
    def dataset(self) -> str:
        deposition = _DEPOSITION.match(self.entity)
        if deposition:
            return f"deposition {deposition.group(1)}"
        if self.dataset_id:
            return self.dataset_id
        head = self.entity.split("/", 1)[0]
        return head if head.isdigit() else "other"


def read_jsonl(path: Path, shard: str, fail_level: Severity = Severity.ERROR) -> list[Outcome]:
    """Records of ``--results-jsonl`` / the audit, each judged at ``fail_level``."""
    outcomes = []
    try:
        for record in iter_records(path):
            outcome = record.verdict(fail_level).outcome
            message = record.line() if outcome == "failed" else record.message
            outcomes.append(
                Outcome(shard, record.code, record.entity, outcome, record.severity, message, record.dataset)
            )
    except ValueError as error:  # iter_records names the file and line
        raise GatherError(str(error)) from None
    return outcomes


def read_junit(path: Path, shard: str) -> list[Outcome]:
    """Test cases of ``--junitxml``: failures and errors fail, xfails are waived."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise GatherError(f"{path}: not JUnit XML ({error})") from None
    outcomes = []
    for case in root.iter("testcase"):
        name = case.get("name") or ""
        found = _TEST_ID.match(name)
        code, entity = (found.group("code"), found.group("entity")) if found else (name, "")
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", child.get("message") or (child.text or "")
            elif child.tag == "skipped":
                outcome = "waived" if child.get("type") == "pytest.xfail" else "skipped"
                message = child.get("message") or ""
        first = message.strip().splitlines()[0].removeprefix("Failed: ") if message.strip() else ""
        outcomes.append(Outcome(shard, code, entity, outcome, message=first))
    return outcomes


def shard_names(files: list[Path]) -> list[str]:
    """A name per result file: its name without ``results-`` and the suffix, made unique."""
    names: list[str] = []
    for index, path in enumerate(files):
        name = path.name.removesuffix(path.suffix).removeprefix("results-") or path.name
        names.append(name if name not in names else f"{name}#{index}")
    return names


def read_results(path: Path, shard: str, fail_level: Severity = Severity.ERROR) -> list[Outcome]:
    """One shard's file: JUnit XML (``.xml``) or JSON Lines records (anything else)."""
    if not path.is_file():
        raise GatherError(f"{path}: no such result file")
    if path.suffix == ".xml":
        return read_junit(path, shard)
    return read_jsonl(path, shard, fail_level)


def summarize(outcomes: list[Outcome], files: list[Path], shards_named: list[str] | None = None) -> dict:
    totals: Counter[str] = Counter()
    datasets: dict[str, Counter[str]] = {}
    shards: dict[str, Counter[str]] = {name: Counter() for name in shards_named or []}  # empty shards too
    for item in outcomes:
        totals[item.outcome] += 1
        datasets.setdefault(item.dataset, Counter())[item.outcome] += 1
        shards.setdefault(item.shard, Counter())[item.outcome] += 1

    def counts(counter: Counter[str]) -> dict[str, int]:
        return {outcome: counter.get(outcome, 0) for outcome in OUTCOMES} | {"total": sum(counter.values())}

    failures = [
        {"dataset": item.dataset, "code": item.code, "entity": item.entity, "message": item.message}
        for item in outcomes
        if item.outcome == "failed"
    ]
    return {
        "ok": bool(outcomes) and not failures,
        "files": [str(path) for path in files],
        "totals": counts(totals),
        "datasets": {name: counts(datasets[name]) for name in sorted(datasets, key=_dataset_order)},
        "shards": {name: counts(shards[name]) for name in shards},
        "failures": failures,
    }


def _dataset_order(name: str) -> tuple[int, int, str]:
    if name.isdigit():
        return 0, int(name), name
    if name.startswith("deposition ") and name.split()[1].isdigit():
        return 1, int(name.split()[1]), name
    return 2, 0, name


def report(summary: dict) -> str:
    """The Markdown report: verdict, counts per dataset and per shard, the failures."""
    totals = summary["totals"]
    verdict = "PASSED" if summary["ok"] else ("NO RESULTS" if not totals["total"] else "FAILED")
    header = "| {} | " + " | ".join(OUTCOMES) + " | total |"
    rule = "|---|" + "---:|" * (len(OUTCOMES) + 1)

    def table(title: str, rows: dict[str, dict[str, int]]) -> list[str]:
        lines = [header.format(title), rule]
        for name, counts in rows.items():
            lines.append(f"| {name} | " + " | ".join(str(counts[o]) for o in (*OUTCOMES, "total")) + " |")
        return lines

    lines = [
        f"# Validation report: {verdict}",
        "",
        f"{totals['total']} checks in {len(summary['shards'])} shard(s): "
        + ", ".join(f"{totals[outcome]} {outcome}" for outcome in OUTCOMES),
        "",
        *table("Dataset", summary["datasets"]),
        "",
        *table("Shard", summary["shards"]),
    ]
    failures = summary["failures"]
    if failures:
        lines += ["", f"## Failures ({len(failures)})", ""]
        for failure in failures[:REPORT_FAILURES]:
            text = failure["message"] or f"{failure['code']} {failure['entity']}"
            lines.append(f"* {text if len(text) <= 400 else text[:399] + '…'}")
        if len(failures) > REPORT_FAILURES:
            lines.append(f"* … and {len(failures) - REPORT_FAILURES} more (the JSON summary lists them all)")
    return "\n".join(lines) + "\n"


def gather(
    out: Path, files: list[Path], *, counts_dir: Path | None = None, fail_level: Severity = Severity.ERROR
) -> dict:
    """Read every shard's file, write the summary (``out``), the report (``out`` with ``.md``) and the counts."""
    names = shard_names(files)
    outcomes: list[Outcome] = []
    for path, name in zip(files, names, strict=True):
        outcomes += read_results(path, name, fail_level)
    summary = summarize(outcomes, files, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(report(summary), encoding="utf-8")
    if counts_dir is not None:
        counts_dir.mkdir(parents=True, exist_ok=True)
        for outcome in (*OUTCOMES, "total"):
            (counts_dir / f"{outcome}.txt").write_text(f"{summary['totals'][outcome]}\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data_validation.gather",
        description="Gather the shards' result files (JSON Lines records or JUnit XML) into OUT (JSON) and "
        "OUT.md (Markdown).",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="summary JSON to write (the report goes beside it)")
    parser.add_argument("files", type=Path, nargs="+", metavar="FILES", help="*.jsonl records or *.xml JUnit files")
    parser.add_argument("--counts", type=Path, metavar="DIR", help="also write DIR/<outcome>.txt with each total")
    parser.add_argument(
        "--severity",
        default="error",
        choices=[severity.name.lower() for severity in reversed(Severity)],
        help="lowest finding severity that counts as failed (JSON Lines; default: error)",
    )
    args = parser.parse_args(argv)
    try:
        summary = gather(args.out, args.files, counts_dir=args.counts, fail_level=Severity[args.severity.upper()])
    except (GatherError, OSError) as error:
        print(f"gather: {error}", file=sys.stderr)
        return 2
    totals = summary["totals"]
    print(
        f"gather: {'passed' if summary['ok'] else 'FAILED'}: "
        + ", ".join(f"{totals[outcome]} {outcome}" for outcome in OUTCOMES)
        + f" in {len(args.files)} shard(s); report {args.out.with_suffix('.md')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
