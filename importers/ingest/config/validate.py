"""Validate config files: schema (models.py) + rules (rules.py), every problem at once as ``file:line: key.path: msg``.

Configs at an older version are migrated in memory first (config.md §7: validation always runs on the migrated
form) and get a warning saying so; errors then point at the nearest line of the original file.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from importers.ingest.config.loader import ConfigError, Document, load_document
from importers.ingest.config.migrate import MigrationError, check_version, migrate_data, version_of
from importers.ingest.config.models import CONFIG_MODELS, CURRENT_VERSION, PATTERN_DESCRIPTIONS
from importers.ingest.config.rules import check, check_file_name
from importers.metadata.rules import Finding, KeyPath, Severity


@dataclass(frozen=True)
class Problem:
    """One finding in one file; ``str()`` is the line the CLI prints."""

    file: str
    line: int | None
    key_path: str
    message: str
    severity: Severity = "error"
    code: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line is not None else self.file]
        if self.key_path:
            parts.append(self.key_path)
        message = f"warning: {self.message}" if self.severity == "warning" else self.message
        parts.append(f"{message} [{self.code}]" if self.code else message)
        return ": ".join(parts)


def format_key_path(path: KeyPath) -> str:
    """``("datasets", 0, "metadata")`` -> ``datasets[0].metadata``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _data_path(data: Any, loc: tuple[Any, ...], missing: bool) -> KeyPath:
    """The part of a pydantic error location that indexes into the data (drops validator and union labels)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        indexes = isinstance(node, dict) and part in node
        indexes |= isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if indexes:
            node = node[part]
            path.append(part)
    if missing and loc and isinstance(loc[-1], str):
        path.append(loc[-1])
    return tuple(path)


def _message(error: Mapping[str, Any]) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        return "required key missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if "[key]" in error["loc"]:
        return f"{_show(value)} is not allowed here; expected {ctx.get('expected', 'another key')}"
    if kind == "string_pattern_mismatch":
        description = PATTERN_DESCRIPTIONS.get(ctx.get("pattern", ""), f"matching {ctx.get('pattern')}")
        return f"{_show(value)} is not {description}"
    if kind == "literal_error":
        return f"{_show(value)} is not one of {ctx.get('expected')}"
    if kind == "too_short" and ctx.get("actual_length") == 0:
        return "must not be empty"
    message = error["msg"].replace("Input should", "should")
    return f"{message}, got {_show(value)}" if kind.endswith("_type") else message


def _schema_findings(data: dict[str, Any]) -> list[Finding]:
    try:
        CONFIG_MODELS[CURRENT_VERSION].model_validate(data)
    except ValidationError as error:
        return [
            Finding(_data_path(data, item["loc"], item["type"] == "missing"), _message(item), "")
            for item in error.errors(include_url=False)
        ]
    return []


def _version_findings(document: Document) -> tuple[dict[str, Any], list[Finding]]:
    """The config to validate (migrated in memory if old) and what to say about its version."""
    version = version_of(document.data)
    try:
        check_version(version)
    except MigrationError as error:
        # Check the rest as if current so that one wrong version does not hide every other problem.
        data = {**document.data, "version": CURRENT_VERSION}
        return data, [Finding(("version",), str(error), "version")]
    if version == CURRENT_VERSION:
        return document.data, []
    data = copy.deepcopy(document.data)
    migrate_data(data)
    note = (
        f"version {version} is older than {CURRENT_VERSION}; checked its migrated form "
        "(upgrade the file with `cryoet-ingest migrate-config`)"
    )
    return data, [Finding(("version",), note, "old-version", "warning")]


def validate_document(document: Document, *, check_name: bool = True) -> list[Problem]:
    """Every problem of a loaded config, sorted by line."""
    data, findings = _version_findings(document)
    findings += [
        Finding(path, f"duplicate key (first at line {first}); the later value wins", "duplicate-key")
        for path, _, first in document.duplicates
    ]
    findings += _schema_findings(data)
    findings += check(data)
    if check_name:
        findings += check_file_name(document.path.name, data)
    duplicate_lines = {path: line for path, line, _ in document.duplicates}
    problems = [
        Problem(
            str(document.path),
            duplicate_lines.get(finding.path) if finding.code == "duplicate-key" else document.line_of(finding.path),
            format_key_path(finding.path),
            finding.message,
            finding.severity,
            finding.code or None,
        )
        for finding in findings
    ]
    # A problem inside an anchored block repeats for every alias of it: report it once, at its first use.
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for problem in problems:
        key = (problem.line, problem.code, problem.message, problem.key_path.rsplit(".", 1)[-1])
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda problem: problem.line or 0)


def validate_file(
    path: str | Path, *, exclusions: Mapping[str, Collection[str]] | None = None, check_name: bool = True
) -> list[Problem]:
    """Every problem of one config file (errors and warnings); never raises for bad input.

    ``exclusions`` maps a config's file stem (``"10477"``, ``"deposition_10301"``) to rule codes it waives.
    """
    try:
        document = load_document(path)
    except ConfigError as error:
        return [Problem(error.path, error.line, "", error.message)]
    waived = set((exclusions or {}).get(document.path.stem, ()))
    return [
        problem
        for problem in validate_document(document, check_name=check_name)
        if problem.code is None or problem.code not in waived
    ]
