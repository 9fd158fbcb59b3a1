"""migrate-config: each step against its before/after pair, idempotence, minimal diffs on real configs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from importers.ingest.config import ConfigError, load_config
from importers.ingest.config.migrate import LEGACY_VERSION, STEPS, migrate_data, migrate_file, slug
from importers.ingest.config.models import CONFIG_MODELS, CURRENT_VERSION
from tests.config.paths import portal_dir

PAIRS = Path(__file__).parent / "data" / "migrate"


@pytest.mark.parametrize("version", list(STEPS))
def test_step_turns_before_into_after(tmp_path: Path, version: str) -> None:
    target = STEPS[version][0]
    path = tmp_path / "config.yaml"
    shutil.copy(PAIRS / f"{version}-before.yaml", path)
    result = migrate_file(path, target)
    assert (result.from_version, result.written) == (version, True)
    assert path.read_text() == (PAIRS / f"{version}-after.yaml").read_text()


@pytest.mark.parametrize("version", list(STEPS))
def test_pairs_match_their_schema_versions(version: str) -> None:
    """Each before file is valid at its version (a legacy one has no schema) and each after file at the next one."""
    if version != LEGACY_VERSION:
        CONFIG_MODELS[version].model_validate(load_config(PAIRS / f"{version}-before.yaml"))
    CONFIG_MODELS[STEPS[version][0]].model_validate(load_config(PAIRS / f"{version}-after.yaml"))


def test_a_legacy_config_migrates_to_a_valid_current_one() -> None:
    """No version is 0.0.0, as the portal's migration takes it; the whole chain gives a current config."""
    data = load_config(PAIRS / f"{LEGACY_VERSION}-before.yaml")
    changes = migrate_data(data)
    assert changes[0] == "0.0.0 -> 1.0.0: dataset became datasets[0]" and data["version"] == CURRENT_VERSION
    CONFIG_MODELS[CURRENT_VERSION].model_validate(data)
    assert data["collection_metadata"] == [{"sources": [{"source_multi_glob": {"list_globs": [
        "tilt_series/{run_name}.mdoc"]}}]}]  # fmt: skip
    assert data["frames"][0]["metadata"] == {"dose_rate": 3.0, "is_gain_corrected": True}


@pytest.mark.parametrize("version", list(STEPS))
def test_step_is_idempotent(tmp_path: Path, version: str) -> None:
    path = tmp_path / "config.yaml"
    shutil.copy(PAIRS / f"{version}-after.yaml", path)
    data = load_config(path)
    assert migrate_data(data, data["version"]) == []
    result = migrate_file(path, data["version"])
    assert not result.written
    assert path.read_text() == (PAIRS / f"{version}-after.yaml").read_text()


@pytest.mark.parametrize("version", list(STEPS))
def test_in_memory_migration_matches_file_migration(version: str) -> None:
    """Validation migrates plain dicts, migrate-config ruamel trees: both give the same config."""
    data = load_config(PAIRS / f"{version}-before.yaml")
    migrate_data(data, STEPS[version][0])
    assert data == load_config(PAIRS / f"{version}-after.yaml")


@pytest.mark.parametrize(("name", "line"), [("10473.yaml", 5), ("10477.yaml", 403)])
def test_real_configs_change_only_the_version_line(tmp_path: Path, name: str, line: int) -> None:
    path = tmp_path / name
    shutil.copy(portal_dir() / name, path)
    before = path.read_text().splitlines()
    assert migrate_file(path).written
    after = path.read_text().splitlines()
    assert [i + 1 for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new] == [line]
    assert after[line - 1] == "version: 1.3.0"
    text = path.read_text()
    assert not migrate_file(path).written
    assert path.read_text() == text


def test_migrate_to_intermediate_version(tmp_path: Path) -> None:
    path = tmp_path / "10477.yaml"
    shutil.copy(portal_dir() / "10477.yaml", path)
    migrate_file(path, "1.2.0")
    assert load_config(path)["version"] == "1.2.0"


def test_check_only_does_not_write(tmp_path: Path) -> None:
    path = tmp_path / "10473.yaml"
    shutil.copy(portal_dir() / "10473.yaml", path)
    result = migrate_file(path, write=False)
    assert (result.from_version, result.to_version, result.written) == ("1.1.0", "1.3.0", False)
    assert path.read_text() == (portal_dir() / "10473.yaml").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1.3.0\nruns: []\n", "version 1.3.0 is newer than 1.1.0; configs are never downgraded"),
        ("version: 0.9.0\n", "unknown config version '0.9.0' (known: 0.0.0, 1.0.0"),
        ("version: 2.0.0\n", "unknown config version '2.0.0'"),
        ("version: [1\n", "invalid YAML"),
    ],
)
def test_unsupported_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        migrate_file(path, "1.1.0")
    assert path.read_text() == text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cytosolic ribosome", "cytosolic-ribosome"),
        ("Golgi apparatus (trans)", "golgi-apparatus-trans"),
        ("***", "annotation"),
    ],
)
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected
