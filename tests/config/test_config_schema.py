"""The exported JSON Schema files: up to date, and they accept real configs and real metadata files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importers.ingest.config import load_config
from importers.ingest.config.export import SCHEMA_DIR, generate, main, stale_files
from importers.ingest.config.models import CONFIG_MODELS
from importers.metadata.models import METADATA_MODELS
from tests.config.paths import PORTAL_CONFIGS, portal_dir
from tests.conftest import shared_dir

jsonschema = pytest.importorskip("jsonschema")

METADATA_FILES = {
    "deposition_metadata.json": "deposition",
    "dataset_metadata.json": "dataset",
    "run_metadata.json": "run",
    "tiltseries_metadata.json": "tiltseries",
    "alignment_metadata.json": "alignment",
    "tomogram_metadata.json": "tomogram",
    "frames_metadata.json": "frames",
}


def test_committed_schemas_are_current() -> None:
    assert stale_files() == [], "run `python -m importers.ingest.config.export` and commit schema/"


def test_every_version_and_metadata_kind_is_exported() -> None:
    assert sorted(generate()) == sorted(
        [f"config/v{version}.json" for version in CONFIG_MODELS] + [f"metadata/{kind}.json" for kind in METADATA_MODELS]
    )


def test_export_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert main(["--dir", str(tmp_path)]) == 0
    (tmp_path / "metadata" / "old_kind.json").write_text("{}")
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert "metadata/old_kind.json: out of date" in capsys.readouterr().out
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0


def _schema(relative: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / relative).read_text()))


@pytest.mark.parametrize("name", PORTAL_CONFIGS)
def test_config_schema_accepts_portal_configs(name: str) -> None:
    data = load_config(portal_dir() / name)
    assert [error.message for error in _schema(f"config/v{data['version']}.json").iter_errors(data)] == []


def test_config_schema_accepts_templates_and_rejects_unknown_keys() -> None:
    data = load_config(portal_dir() / "10008.yaml")
    assert data["tiltseries"][0]["metadata"]["total_flux"] == "float {total_flux}"
    data["tiltseries"][0]["metadata"]["colour"] = "red"
    error = jsonschema.exceptions.best_match(_schema("config/v1.3.0.json").iter_errors(data))
    assert error.message == "Additional properties are not allowed ('colour' was unexpected)"


def _reference_metadata() -> list[tuple[str, Path]]:
    output = shared_dir() / "reference-90001" / "output"
    found = [(METADATA_FILES[path.name], path) for path in output.rglob("*.json") if path.name in METADATA_FILES]
    found += [("annotation", path) for path in output.rglob("Annotations/*/*.json")]
    return sorted(found)


def test_metadata_schemas_accept_the_reference_dataset() -> None:
    checked = {kind for kind, _ in _reference_metadata()}
    assert checked == set(METADATA_FILES.values()) | {"annotation"}
    for kind, path in _reference_metadata():
        data = json.loads(path.read_text())
        assert [error.message for error in _schema(f"metadata/{kind}.json").iter_errors(data)] == [], path


def test_metadata_schemas_allow_unknown_keys_but_require_computed_ones() -> None:
    kind, path = next(item for item in _reference_metadata() if item[0] == "tomogram")
    data = json.loads(path.read_text())
    data["future_key"] = {"anything": True}
    data["authors"][0]["future_author_key"] = 1
    del data["mrc_file"]
    data["voxel_spacing"] = "float {vs}"  # templates are resolved by ingestion, never valid in a file
    messages = sorted(error.message for error in _schema(f"metadata/{kind}.json").iter_errors(data))
    assert messages == ["'float {vs}' is not of type 'number'", "'mrc_file' is a required property"]
