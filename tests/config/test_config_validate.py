"""validate_file: good configs pass; every rule and every kind of bad input has a failing example."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from importers.ingest.config import load_config
from importers.ingest.config.migrate import migrate_file
from importers.ingest.config.validate import Problem, validate_file
from tests.config.paths import DATA, PORTAL_CONFIGS, PORTAL_EXTRA, portal_dir
from tests.conftest import REPO_ROOT

MINIMAL = yaml.safe_load((DATA / "minimal.yaml").read_text())


def errors(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def check(tmp_path: Path, mutate: Callable[[dict[str, Any]], object], name: str = "10999.yaml") -> list[str]:
    """Problems (as printed) of the minimal example after ``mutate``; YAML anchors survive the dump."""
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return [str(problem) for problem in validate_file(path)]


def check_text(tmp_path: Path, text: str, name: str = "10999.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    return [str(problem) for problem in validate_file(path)]


# -- good configs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "dataset_configs").glob("*.yaml")), ids=lambda p: p.name)
def test_dataset_configs_are_clean(path: Path) -> None:
    assert [str(problem) for problem in validate_file(path)] == []


def test_minimal_example_is_clean(tmp_path: Path) -> None:
    assert check(tmp_path, lambda data: None) == []


def _published(name: str) -> Path:
    return PORTAL_EXTRA / name if (PORTAL_EXTRA / name).is_file() else portal_dir() / name


#: Every published config we have: the portal ingested each, so none may have an error (stricter findings warn).
PUBLISHED = (*PORTAL_CONFIGS, *sorted(path.name for path in PORTAL_EXTRA.glob("*.yaml")))


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_validate(name: str) -> None:
    problems = validate_file(_published(name))
    assert errors(problems) == []
    assert all(problem.code for problem in problems), "every warning names its rule"
    if load_config(_published(name))["version"] != "1.3.0":
        assert "old-version" in [p.code for p in problems]


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_migrate_then_validate(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(_published(name), path)
    migrate_file(path)
    assert errors(validate_file(path)) == []
    assert load_config(path)["version"] == "1.3.0"


# -- schema: structure, types, required keys, patterns, enums -----------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutation setting a dotted path (list indices as numbers) to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        node: Any = data
        for part in parents:
            node = node[part]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part) if part.isdigit() else part]
        del node[last]

    return mutate


SCHEMA_CASES = {
    "unknown top-level key": (_set("tomogram", []), "tomogram: unknown key"),
    "unknown metadata key": (_set("tomograms.0.metadata.colour", "red"), "tomograms[0].metadata.colour: unknown key"),
    "wrong type": (
        _set("datasets.0.metadata.dataset_identifier", "10999"),
        "datasets[0].metadata.dataset_identifier: should be a valid integer, got '10999'",
    ),
    "boolean as string": (
        _set("tiltseries.0.metadata.is_aligned", "no"),
        "tiltseries[0].metadata.is_aligned: should be a valid boolean, got 'no'",
    ),
    "missing required metadata": (
        _delete("datasets.0.metadata.dataset_title"),
        "datasets[0].metadata.dataset_title: required key missing",
    ),
    "missing top-level list": (_delete("runs"), "runs: required key missing"),
    "empty required list": (_set("runs", []), "runs: must not be empty"),
    "deposition literal must be int": (
        _set("depositions.0.sources.0.literal.value", ["10999"]),
        "depositions[0].sources[0].literal.value[0]: should be a valid integer, got '10999'",
    ),
    "dataset literal must be str": (
        _set("datasets.0.sources.0.literal.value", [10999]),
        "datasets[0].sources[0].literal.value[0]: should be a valid string, got 10999",
    ),
    "finder not allowed for entity": (
        _set("runs.0.sources.0", {"tomogram_header": {"list_glob": "*.mrc"}}),
        "runs[0].sources[0].tomogram_header: unknown key",
    ),
    "parent filter not an ancestor": (
        _set("runs.0.sources.0.parent_filters", {"include": {"voxel_spacing": ["13"]}}),
        "runs[0].sources[0].parent_filters.include.voxel_spacing: 'voxel_spacing' is not allowed here; "
        "expected 'dataset' or 'deposition'",
    ),
    "empty ingest id": (
        _set("annotations.0.metadata.annotation_ingest_id", ""),
        "annotations[0].metadata.annotation_ingest_id: String should have at least 1 character",
    ),
    "orcid pattern": (
        _set("depositions.0.metadata.authors.0.ORCID", "0000-0002-1825"),
        "depositions[0].metadata.authors[0].ORCID: '0000-0002-1825' is not an ORCID",
    ),
    "publication ids": (
        _set("annotations.0.metadata.annotation_publications", "EMPIAR-10988, my paper"),
        "annotation_publications: 'EMPIAR-10988, my paper' is not a comma-separated list of DOIs",
    ),
    "enum": (
        _set("tomograms.0.metadata.processing", "smoothed"),
        "tomograms[0].metadata.processing: 'smoothed' is not one of 'raw', 'filtered' or 'denoised'",
    ),
    "file format valid for shape": (
        _set("annotations.0.sources.0.Point.file_format", "mrc"),
        "annotations[0].sources[0].Point.file_format: 'mrc' is not one of 'csv', ",
    ),
    "date format": (
        _set("depositions.0.metadata.dates.release_date", "2025-02-30"),
        "dates.release_date: '2025-02-30' is not a calendar date",
    ),
    "frames dose rate > 0": (
        _set("frames.0.metadata.dose_rate", 0),
        "frames[0].metadata.dose_rate: should be greater than 0",
    ),
    "affine matrix shape": (
        _set("tomograms.0.metadata.affine_transformation_matrix", [[1, 0, 0, 0]] * 3),
        "tomograms[0].metadata.affine_transformation_matrix: List should have at least 4 items",
    ),
    "template only in templated metadata": (
        _set("datasets.0.metadata.dataset_identifier", "int {dataset}"),
        "datasets[0].metadata.dataset_identifier: should be a valid integer, got 'int {dataset}'",
    ),
    "bad template": (
        _set("tiltseries.0.metadata.tilt_step", "float {tilt step}"),
        "tiltseries[0].metadata.tilt_step: should be a valid number, got 'float {tilt step}'",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), SCHEMA_CASES.values(), ids=SCHEMA_CASES.keys())
def test_schema_errors(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    problems = check(tmp_path, mutate)
    assert any(expected in problem for problem in problems), problems


# -- rules ---------------------------------------------------------------------------------------------------------


def _append_copy(key: str, index: int = 0) -> Callable[[dict[str, Any]], None]:
    return lambda data: data[key].append(copy.deepcopy(data[key][index]))


def _second_point_source(data: dict[str, Any]) -> None:
    data["annotations"][0]["sources"].append({"Point": {"file_format": "csv", "glob_string": "b.csv"}})


RULE_CASES = {
    "one-finder (two)": (
        _set("runs.0.sources.0.literal", {"value": ["TS_1"]}),
        "runs[0].sources[0]: source entry has 2 finders (source_glob, literal); use one entry per finder [one-finder]",
    ),
    "one-finder (none)": (
        _set("runs.0.sources.0", {"exclude": ["bad"]}),
        "runs[0].sources[0]: source entry has no finder",
    ),
    "one-shape": (
        _set("annotations.0.sources.0.OrientedPoint", {"file_format": "mod", "glob_string": "a.mod"}),
        "annotations[0].sources[0]: an annotation source needs exactly one shape key, found 2 (Point, OrientedPoint)",
    ),
    "one-glob": (
        _set("annotations.0.sources.0.Point.glob_strings", ["a.csv"]),
        "annotations[0].sources[0].Point: needs exactly one of glob_string / glob_strings, not both [one-glob]",
    ),
    "repeated-shape": (
        _second_point_source,
        "annotations[0].sources[1].Point: Point is already a source of this annotation (sources[0]); repeat a shape "
        "only with parent_filters on each entry [repeated-shape]",
    ),
    "mask-label-threshold": (
        _set(
            "annotations.0.sources.0",
            {
                "SemanticSegmentationMask": {
                    "file_format": "mrc",
                    "glob_string": "m.mrc",
                    "mask_label": 2,
                    "threshold": 0.5,
                }
            },
        ),
        "Mask.threshold: threshold cannot be combined with mask_label 2",
    ),
    "unique-ingest-id": (
        _append_copy("annotations"),
        "annotations[1].metadata.annotation_ingest_id: annotation_ingest_id 'cytosolic-ribosome-1' is already used by "
        "annotations[0] [unique-ingest-id]",
    ),
    "author-roles": (
        _set("depositions.0.metadata.authors.0.corresponding_author_status", False),
        "depositions[0].metadata.authors: at least one author needs corresponding_author_status: true [author-roles]",
    ),
    "date-order": (
        _set("depositions.0.metadata.dates.release_date", "2025-01-01"),
        "depositions[0].metadata.dates.release_date: release_date 2025-01-01 is before deposition_date 2025-01-10 "
        "[date-order]",
    ),
    "sample-type": (
        _delete("datasets.0.metadata.cell_strain"),
        "datasets[0].metadata.sample_type: sample_type cell_line needs cell_strain with name [sample-type]",
    ),
    "sample-type tissue id": (
        lambda data: data["datasets"][0]["metadata"].update(sample_type="tissue", tissue={"name": "liver"}),
        "datasets[0].metadata.tissue: sample_type tissue needs tissue with id [sample-type]",
    ),
    "development stage unknown": (
        _set("datasets.0.metadata.development_stage", {"name": "unknown", "id": "UBERON:0000068"}),
        "datasets[0].metadata.development_stage: development_stage name and id must both be 'unknown' or neither",
    ),
    "confidence": (
        _set("annotations.0.metadata.confidence", {"precision": 90.0}),
        "annotations[0].metadata.confidence.precision: precision needs a non-empty confidence.ground_truth_used",
    ),
    "tilt-range": (
        _set("tiltseries.0.metadata.tilt_range", {"min": 60.0, "max": -60.0}),
        "tiltseries[0].metadata.tilt_range: tilt_range min 60.0 is greater than max -60.0 [tilt-range]",
    ),
    "frames-block": (_delete("frames"), "collection_metadata: collection_metadata needs a frames block"),
    "affine-matrix singular": (
        _set(
            "tomograms.0.metadata.affine_transformation_matrix",
            [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        ),
        "affine_transformation_matrix: the 3×3 rotation/scale block is not invertible [affine-matrix]",
    ),
    "regex": (
        _set("runs.0.sources.0.source_glob.name_regex", "(.*\\.mrc"),
        "runs[0].sources[0].source_glob.name_regex: invalid regular expression '(.*\\\\.mrc': missing ), unterminated",
    ),
    "regex that backtracks exponentially": (
        _set("runs.0.sources.0.source_glob.match_regex", "(a+)+b"),
        "runs[0].sources[0].source_glob.match_regex: regular expression '(a+)+b' has a quantifier inside a repeated "
        "group: Python's re (the portal's importer) takes exponential time",
    ),
    "regex that needs backtracking": (
        _set("runs.0.sources.0.source_glob.name_regex", "(TS)_\\1"),
        "runs[0].sources[0].source_glob.name_regex: invalid regular expression '(TS)_\\\\1': invalid escape",
    ),
    "regex in parent filters": (
        _set("runs.0.sources.0.parent_filters", {"exclude": {"dataset": ["[a-"]}}),
        "runs[0].sources[0].parent_filters.exclude.dataset[0]: invalid regular expression '[a-'",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), RULE_CASES.values(), ids=RULE_CASES.keys())
def test_rule_errors(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    problems = check(tmp_path, mutate)
    matching = [problem for problem in problems if expected in problem]
    assert matching, problems
    assert "warning" not in matching[0]


WARNING_CASES = {
    "empty optional list (published configs)": (
        _set("gains", []),
        "gains: warning: gains is an empty list (nothing to ingest); leave the key out [empty-list]",
    ),
    "ingest id convention (published configs)": (
        _set("annotations.0.metadata.annotation_ingest_id", "byu_kaggle_motor_10485"),
        "annotation_ingest_id: warning: 'byu_kaggle_motor_10485' is not lower-case words joined by '-' and ending "
        "in -<n> [ingest-id]",
    ),
    "ground-truth (the portal's 90001)": (
        lambda data: data["annotations"][0]["metadata"].update(method_type="automated", ground_truth_status=True),
        "annotations[0].metadata.ground_truth_status: warning: an automated annotation is rarely ground truth",
    ),
    "collection-metadata (published 10006)": (
        lambda data: [data.pop(key) for key in ("collection_metadata", "frames")],
        "tiltseries: warning: imported tilt series usually need a collection_metadata (mdoc) source "
        "[collection-metadata]",
    ),
    "affine-matrix bottom row (published 10002)": (
        _set(
            "tomograms.0.metadata.affine_transformation_matrix",
            [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 625, 1]],
        ),
        "affine_transformation_matrix: warning: bottom row should be [0, 0, 0, 1], not [0, 0, 625, 1]",
    ),
    "last modified before deposition": (
        _set("depositions.0.metadata.dates.last_modified_date", "2025-01-01"),
        "warning: last_modified_date 2025-01-01 is before deposition_date 2025-01-10 [date-order]",
    ),
    "unknown camera": (
        _set("tiltseries.0.metadata.camera.model", "Eiger"),
        "tiltseries[0].metadata.camera.model: warning: unknown camera model 'Eiger' [camera-model]",
    ),
    "camera maker": (
        _set("tiltseries.0.metadata.camera.model", "Falcon 4i"),
        "warning: camera model 'Falcon 4i' is not made by Gatan (expected FEI or TFS) [camera-model]",
    ),
    "no rawtilts": (_delete("rawtilts"), "tiltseries: warning: imported tilt series usually need a rawtilts source"),
    "orcid check digit": (
        _set("depositions.0.metadata.authors.0.ORCID", "0000-0002-1825-0098"),
        "ORCID: warning: ORCID 0000-0002-1825-0098 has a wrong check digit (typo?) [orcid-checksum]",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), WARNING_CASES.values(), ids=WARNING_CASES.keys())
def test_rule_warnings(tmp_path: Path, mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    problems = check(tmp_path, mutate)
    assert [p for p in problems if expected in p], problems
    assert not [p for p in problems if "warning" not in p], problems


def test_templates_validate_in_typed_fields(tmp_path: Path) -> None:
    def templated(data: dict[str, Any]) -> None:
        metadata = data["tiltseries"][0]["metadata"]
        metadata.update(
            tilt_range={"min": "float {min_tilt}", "max": "float{max_tilt} "}, tilt_series_quality="int {q}"
        )
        metadata["camera"]["model"] = "{camera_model}"
        data["tomograms"][0]["metadata"]["offset"]["z"] = "int {z_offset}"
        data["frames"][0]["metadata"]["dose_rate"] = "float {dose_rate}"
        data["voxel_spacings"][0]["sources"][0]["literal"]["value"] = ["float {vs}"]

    assert check(tmp_path, templated) == []


def test_alias_problem_reported_once(tmp_path: Path) -> None:
    """The dates block is shared by four entities through an anchor: one error, at its first use."""
    problems = check(tmp_path, _set("depositions.0.metadata.dates.release_date", "2025-01-01"))
    assert len([p for p in problems if "[date-order]" in p]) == 1


def test_every_problem_at_once(tmp_path: Path) -> None:
    def break_three(data: dict[str, Any]) -> None:
        data["extra"] = 1
        data["tiltseries"][0]["metadata"]["tilt_range"] = {"min": 60.0, "max": -60.0}
        del data["datasets"][0]["metadata"]["dataset_title"]

    assert len(check(tmp_path, break_three)) == 3


# -- naming ------------------------------------------------------------------------------------------------------


NAMING_CASES = {
    "not a config name": ("config.yaml", "config.yaml:1: file name config.yaml should be <dataset id>.yaml or"),
    "dataset id differs": (
        "10998.yaml",
        "datasets[0].metadata.dataset_identifier: dataset_identifier 10999 does not match the file name 10998.yaml "
        "(expected 10998) [file-name]",
    ),
    "deposition id differs": (
        "deposition_10998.yaml",
        "standardization_config.deposition_id: deposition_id 10999 does not match the file name deposition_10998.yaml",
    ),
    "deposition identifier differs": ("deposition_10998.yaml", "deposition_identifier 10999 does not match"),
}


@pytest.mark.parametrize(("name", "expected"), NAMING_CASES.values(), ids=NAMING_CASES.keys())
def test_naming(tmp_path: Path, name: str, expected: str) -> None:
    assert [p for p in check(tmp_path, lambda data: None, name) if expected in p]


def test_dataset_config_needs_dataset_metadata(tmp_path: Path) -> None:
    problems = check(tmp_path, _delete("datasets.0.metadata"))
    assert any("datasets: a dataset config (10999.yaml) needs datasets[0].metadata" in p for p in problems)


@pytest.mark.parametrize("name", ["template.yaml", "10999_draft.yaml"])
def test_exempt_and_draft_names(tmp_path: Path, name: str) -> None:
    assert check(tmp_path, lambda data: None, name) == []


# -- versions ----------------------------------------------------------------------------------------------------


def test_unknown_version(tmp_path: Path) -> None:
    problems = check(tmp_path, _set("version", "9.9.9"))
    assert problems == [
        f"{tmp_path / '10999.yaml'}:1: version: unknown config version '9.9.9' (known: 0.0.0, 1.0.0, 1.1.0, 1.2.0, "
        "1.3.0) [version]"
    ]


def test_missing_version(tmp_path: Path) -> None:
    """No version is a legacy (0.0.0) config, as the portal's migration takes it: checked in its migrated form."""
    problems = check(tmp_path, _delete("version"))
    assert len(problems) == 1
    assert "version: warning: version 0.0.0 is older than 1.3.0; checked its migrated form" in problems[0]


def test_old_version_validates_migrated_form(tmp_path: Path) -> None:
    """A 1.2.0 file without ingest ids passes: the ids are generated in memory before validation."""
    problems = check(
        tmp_path,
        lambda data: [data.update(version="1.2.0"), _delete("annotations.0.metadata.annotation_ingest_id")(data)],
    )
    assert [p.split(": ", 2)[1:] for p in problems] == [
        ["version", "warning: version 1.2.0 is older than 1.3.0; checked its migrated form (upgrade the file with "
         "`cryoet-ingest migrate-config`) [old-version]"]
    ]  # fmt: skip


# -- bad input: one line with file and line, never a traceback ---------------------------------------------------


def test_line_numbers(tmp_path: Path) -> None:
    text = (DATA / "minimal.yaml").read_text().replace("release_date: '2025-02-01'", "release_date: '2025-01-01'")
    text = text.replace("    tilt_axis: 84.7\n", "    tilt_axis: 84.7\n    colour: red\n")
    path = tmp_path / "10999.yaml"
    problems = check_text(tmp_path, text)
    assert problems == [
        f"{path}:12: depositions[0].metadata.dates.release_date: release_date 2025-01-01 is before deposition_date "
        "2025-01-10 [date-order]",
        f"{path}:50: tiltseries[0].metadata.colour: unknown key",
    ]


def test_missing_key_points_at_parent_line(tmp_path: Path) -> None:
    text = (DATA / "minimal.yaml").read_text().replace("    dataset_title: HeLa cell lamellae\n", "")
    assert check_text(tmp_path, text) == [
        f"{tmp_path / '10999.yaml'}:15: datasets[0].metadata.dataset_title: required key missing"
    ]


def test_duplicate_key(tmp_path: Path) -> None:
    text = (
        (DATA / "minimal.yaml").read_text().replace("    tilt_axis: 84.7\n", "    tilt_axis: 84.7\n    tilt_axis: 85\n")
    )
    assert check_text(tmp_path, text) == [
        f"{tmp_path / '10999.yaml'}:50: tiltseries[0].metadata.tilt_axis: duplicate key (first at line 49); the later "
        "value wins [duplicate-key]"
    ]


def test_unquoted_dates_are_strings(tmp_path: Path) -> None:
    text = (DATA / "minimal.yaml").read_text().replace("'2025-01-10'", "2025-01-10")
    assert check_text(tmp_path, text) == []
    assert (
        load_config(tmp_path / "10999.yaml")["depositions"][0]["metadata"]["dates"]["deposition_date"] == "2025-01-10"
    )


BAD_INPUT = {
    "yaml syntax": (
        "version: 1.3.0\ndatasets: [\n  - a\nruns: {\n",
        ":3: invalid YAML: did not find expected node content",
    ),
    "not a mapping": ("- version: 1.3.0\n- datasets: []\n", ":1: top level must be a mapping of keys, found a list"),
    "scalar": ("just text\n", ":1: top level must be a mapping of keys, found a string"),
    "empty": ("", ":1: the file is empty; a config is a mapping of keys"),
    "unsafe tag": (
        "version: 1.3.0\nrun: !!python/object/apply:os.system ['echo pwned']\n",
        ":2: unsafe or unknown YAML tag !!python/object/apply:os.system is not allowed",
    ),
    "custom tag": ("version: !include other.yaml\n", ":1: unsafe or unknown YAML tag !include is not allowed"),
    "tab indentation": ("version: 1.3.0\ndatasets:\n\t- a\n", ":3: invalid YAML: "),
    "alias inside its anchor": (
        "version: 1.3.0\nruns: &a\n- sources: *a\n",
        ":3: an alias refers to the anchored block",
    ),
    "two documents": ("version: 1.3.0\n---\nversion: 1.2.0\n", ":2: invalid YAML: but found another document"),
    # Unterminated constructs are reported where they start, not on the line where the parser gave up.
    "key without its colon": (
        "version: 1.3.0\ndatasets\nruns: []\n",
        ":2: invalid YAML: could not find expected ':' while scanning a simple key (noticed on line 3)",
    ),
    "unclosed bracket": (
        "version: 1.3.0\nruns: [a, b\ndatasets: []\n",
        ":2: invalid YAML: did not find expected ',' or ']' while parsing a flow sequence (noticed on line 3)",
    ),
    "unclosed quote": (
        "version: 1.3.0\nruns: 'a\ndatasets: []\n",
        ":2: invalid YAML: found unexpected end of stream while scanning a quoted scalar (noticed at the end of the "
        "file)",
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input(tmp_path: Path, text: str, expected: str) -> None:
    problems = check_text(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / '10999.yaml'}{expected}"), problems
    assert "\n" not in problems[0]


def test_unreadable_file(tmp_path: Path) -> None:
    assert [str(p) for p in validate_file(tmp_path / "10999.yaml")] == [
        f"{tmp_path / '10999.yaml'}: cannot read: No such file or directory"
    ]


def test_exclusions_waive_rules(tmp_path: Path) -> None:
    path = tmp_path / "10999.yaml"
    check(tmp_path, _set("tiltseries.0.metadata.tilt_range", {"min": 60.0, "max": -60.0}))
    assert validate_file(path, exclusions={"10999": ["tilt-range"]}) == []
    assert validate_file(path, exclusions={"10998": ["tilt-range"]}) != []
