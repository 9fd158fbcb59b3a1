"""The ``cryoet-ingest`` command: one subcommand per module that registers itself."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Modules that add subcommands with ``register(subparsers)``, and the commands each adds. Only the
#: module of the command being run is imported (the others pull in heavy libraries: SQLAlchemy,
#: scikit-learn, pydantic), except for ``--help``, which lists them all.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "importers.ingest.sample": ("sample",),
    "importers.ingest.standardize": ("standardize",),
    "importers.ingest.config.commands": ("validate-config", "migrate-config", "export-schemas"),
    "importers.ingest.db_import.commands": ("db-init", "db-import"),
    "data_validation.catalog": ("checks",),
    "data_validation.audit": ("audit",),
    "importers.ingest.sync": ("sync",),
    "importers.ingest.manifest": ("manifest",),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a known command, only that command's module is loaded."""
    parser = argparse.ArgumentParser(
        prog="cryoet-ingest",
        description="Ingest cryo-ET data into the CryoET Data Portal layout, and validate the result.",
        epilog="Validate a bucket with: pytest --dataset ID --bucket URL (from the repository root).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    command = next((a for a in argv or [] if not a.startswith("-")), None)
    modules = [module for module, commands in COMMAND_MODULES.items() if command in commands]
    for module in modules or COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
