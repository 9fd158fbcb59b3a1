"""Export the models as the JSON Schema files under ``schema/`` (editor completion, the validation suite).

Run ``python -m importers.ingest.config.export`` (or ``cryoet-ingest export-schemas``) after changing ``models.py``;
``--check`` only reports files that are out of date. tests/config checks that the committed files are current.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from importers.ingest.config.models import CONFIG_MODELS
from importers.metadata.models import CONFIG_ONLY, METADATA_MODELS

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schema"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _for_files(node: Any) -> Any:
    """Metadata files allow unknown keys everywhere and never hold config-only forms such as templates."""
    if isinstance(node, list):
        return [_for_files(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _for_files(value) for key, value in node.items() if (key, value) != ("additionalProperties", False)}
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option.get("$comment") != CONFIG_ONLY["$comment"]]
        if len(options) == 1:
            del node["anyOf"]
            node = {**options[0], **node}
        else:
            node["anyOf"] = options
    return node


@functools.cache  # the models cannot change while the process runs
def generate() -> dict[str, str]:
    """Path relative to ``schema/`` -> file content, for every config version and metadata kind."""
    files: dict[str, Any] = {}
    for version, model in CONFIG_MODELS.items():
        files[f"config/v{version}.json"] = {"$schema": _DIALECT, **model.model_json_schema()}
    for kind, model in METADATA_MODELS.items():
        schema = _for_files(model.model_json_schema())
        schema["title"] = f"{kind} metadata file"
        files[f"metadata/{kind}.json"] = {"$schema": _DIALECT, **schema}
    return {path: json.dumps(schema, indent=2, ensure_ascii=False) + "\n" for path, schema in files.items()}


def stale_files(directory: Path = SCHEMA_DIR) -> list[str]:
    """Schema files under ``directory`` that are missing, differ from the models, or no longer generated."""
    expected = generate()
    stale = [
        path
        for path, text in expected.items()
        if not (directory / path).is_file() or (directory / path).read_text(encoding="utf-8") != text
    ]
    extra = [
        str(file.relative_to(directory))
        for sub in ("config", "metadata")
        for file in sorted((directory / sub).glob("*.json"))
        if str(file.relative_to(directory)) not in expected
    ]
    return stale + extra


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Write every schema file that changed (and remove ones no longer generated); returns their paths."""
    changed = stale_files(directory)
    expected = generate()
    for path in changed:
        target = directory / path
        if path in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def run(args: argparse.Namespace) -> int:
    """Export (or with ``--check`` only compare) the schema files; exit code 1 if ``--check`` finds stale files."""
    changed = stale_files(args.dir) if args.check else write_schemas(args.dir)
    verb = "out of date" if args.check else "written"
    for path in changed:
        print(f"{args.dir / path}: {verb}")
    if not changed:
        print(f"{args.dir}: schema files are up to date")
    return 1 if args.check and changed else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``export-schemas`` / ``python -m importers.ingest.config.export``; sets ``func``."""
    parser.add_argument("--check", action="store_true", help="only report out-of-date files (exit 1 if any)")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory (default: %(default)s)")
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m importers.ingest.config.export", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
