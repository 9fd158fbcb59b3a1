"""CLI subcommands: ``validate-config``, ``migrate-config`` and ``export-schemas`` (wired into ``cryoet-ingest``).

Exit codes: 0 clean, 1 a problem in a file, 2 a usage error (argparse's own convention).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from importers.ingest.config import export
from importers.ingest.config.loader import ConfigError
from importers.ingest.config.migrate import LEGACY_VERSION, migrate_file
from importers.ingest.config.models import CURRENT_VERSION, VERSIONS
from importers.ingest.config.validate import validate_file

DEFAULT_CONFIG_DIR = Path("dataset_configs")

_VALIDATE_EPILOG = """\
Every problem is printed as FILE:LINE: KEY.PATH: MESSAGE [rule], all at once; warnings do not fail the run.
Configs at an older version are checked in their migrated form (see migrate-config).
Exclusions file (JSON): {"10477": ["collection-metadata"]} waives rules by config file stem.
Rules and messages: docs/config.md."""

_MIGRATE_EPILOG = f"""\
Steps: {" -> ".join((LEGACY_VERSION, *VERSIONS))} (a file without a version is {LEGACY_VERSION}). A file is rewritten
only if it changes; comments, key order and anchors are kept (a version-only upgrade edits just the version line).
Running it twice changes nothing."""


def _config_files(paths: list[Path]) -> list[Path]:
    """The given files, with directories expanded to their configs (drafts are skipped in bulk)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(f for f in path.glob("*.yaml") if not f.name.endswith("_draft.yaml"))
        else:
            files.append(path)
    return files


def _load_exclusions(path: Path | None) -> Mapping[str, list[str]]:
    if path is None:
        return {}
    try:
        exclusions: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(path, f"cannot read exclusions: {error}") from None
    valid = isinstance(exclusions, dict) and all(
        isinstance(codes, list) and all(isinstance(code, str) for code in codes) for codes in exclusions.values()
    )
    if not valid:
        raise ConfigError(path, "exclusions must be a JSON object of config name -> list of rule codes")
    return exclusions


def validate_command(args: argparse.Namespace) -> int:
    """``validate-config``: report every problem of every file; 1 if any error."""
    if not args.files and not DEFAULT_CONFIG_DIR.is_dir():
        print(f"error: no files given and no {DEFAULT_CONFIG_DIR}/ here (run from the repo root)", file=sys.stderr)
        return 2
    try:
        exclusions = _load_exclusions(args.exclusions)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = _config_files(args.files or [DEFAULT_CONFIG_DIR])
    errors = warnings = 0
    for path in files:
        for problem in validate_file(path, exclusions=exclusions):
            if problem.severity == "error":
                errors += 1
            else:
                warnings += 1
                if args.quiet:
                    continue
            print(problem)
    print(f"{len(files)} config(s) checked: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def migrate_command(args: argparse.Namespace) -> int:
    """``migrate-config``: upgrade files (or with ``--check`` only report those not at the target version)."""
    failed = False
    for path in _config_files(args.files):
        try:
            result = migrate_file(path, args.to, write=not args.check)
        except ConfigError as error:
            print(error)
            failed = True
            continue
        if result.from_version == result.to_version:
            print(f"{path}: at {result.to_version}")
        elif args.check:
            print(f"{path}: at {result.from_version}, needs migration to {result.to_version}")
            failed = True
        else:
            print(f"{path}: migrated {result.from_version} -> {result.to_version}")
            for change in result.changes:
                print(f"  {change}")
    return 1 if failed else 0


def register(subparsers: Any) -> None:
    """Add the config subcommands to an argparse ``add_subparsers()`` object; each sets ``func``."""
    formatter = argparse.RawDescriptionHelpFormatter
    validate = subparsers.add_parser(
        "validate-config",
        help="check ingestion configs (schema, rules, naming)",
        description="Check ingestion config files against the schema and the rules of shared/spec/config.md.",
        epilog=_VALIDATE_EPILOG,
        formatter_class=formatter,
    )
    validate.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help=f"config files or directories (default: every config in {DEFAULT_CONFIG_DIR}/, drafts excluded)",
    )
    validate.add_argument("--exclusions", type=Path, metavar="JSON", help="JSON file of rules to waive per config")
    validate.add_argument("-q", "--quiet", action="store_true", help="print errors only, not warnings")
    validate.set_defaults(func=validate_command)

    migrate = subparsers.add_parser(
        "migrate-config",
        help="upgrade configs to a newer config version, in place",
        description="Upgrade ingestion config files step by step through the config versions, in place.",
        epilog=_MIGRATE_EPILOG,
        formatter_class=formatter,
    )
    migrate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="config files or directories")
    migrate.add_argument(
        "--to", choices=VERSIONS, default=CURRENT_VERSION, metavar="VERSION",
        help=f"target version, one of {', '.join(VERSIONS)} (default: %(default)s)",
    )  # fmt: skip
    migrate.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is not at the target version"
    )
    migrate.set_defaults(func=migrate_command)

    schemas = subparsers.add_parser(
        "export-schemas",
        help="regenerate the JSON Schema files in schema/ from the models",
        description=export.__doc__,
        formatter_class=formatter,
    )
    export.add_arguments(schemas)
