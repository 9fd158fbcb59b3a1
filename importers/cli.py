"""The ``cryoet-ingest`` command: one subcommand per module that registers itself."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Modules that each add subcommands with ``register(subparsers)``.
COMMAND_MODULES = (
    "importers.sample",
    "importers.standardize",
    "importers.config.commands",
    "data_validation.catalog",
    "importers.db.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryoet-ingest",
        description="Ingest cryo-ET data into the CryoET Data Portal layout, and validate the result.",
        epilog="Validate a bucket with: pytest --dataset ID --bucket URL (from the repository root).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
