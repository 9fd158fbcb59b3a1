"""The ``cryoet-ingest`` command: one subcommand per module that registers itself."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence

from importers.version import package_version

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


class CommandParser(argparse.ArgumentParser):
    """A parser that names a mistyped option (``--ouput``) before it complains about the options it lacks:
    argparse checks the required options first, so the typo would be reported as ``--output`` missing."""

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if not any(isinstance(action, argparse._SubParsersAction) for action in self._actions):
            for argument in args if args is not None else sys.argv[1:]:
                if argument == "--":
                    break
                self._refuse_unknown(argument)
        return super().parse_known_args(args, namespace)

    def _refuse_unknown(self, argument: str) -> None:
        name = argument.split("=", 1)[0]
        if not name.startswith("--") or name in self._option_string_actions:
            return
        if any(option.startswith(name) for option in self._option_string_actions):
            return  # an abbreviation; argparse resolves it, or says it is ambiguous
        close = difflib.get_close_matches(name, list(self._option_string_actions), n=1)
        self.error(f"unrecognized option {name}" + (f" (did you mean {close[0]}?)" if close else ""))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a known command, only that command's module is loaded."""
    parser = CommandParser(
        prog="cryoet-ingest",
        description="Ingest cryo-ET data into the CryoET Data Portal layout, and validate the result.",
        epilog="Validate a bucket with: pytest --dataset ID --bucket URL (from the repository root).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
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
