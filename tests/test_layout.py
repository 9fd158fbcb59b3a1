"""importers/layout.py: the bucket layout of shared/spec/layout.md, built and parsed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from importers.layout import (
    ENTITY_DIRS,
    FIELD_PATTERNS,
    TEMPLATES,
    LayoutError,
    Match,
    build,
    entity_prefix,
    format_voxel_spacing,
    parse,
    slug,
    strip_bucket_name,
    version_slug,
    voxel_spacing_from_name,
)
from tests.conftest import shared_dir

#: A plausible value of every template field (strings, as parse returns them).
SAMPLE = {
    "deposition_id": "10301",
    "dataset_id": "10001",
    "run_name": "TS_001",
    "voxel_spacing": "13.480",
    "tiltseries_id": "100",
    "alignment_id": "101",
    "tomogram_id": "102",
    "annotation_id": "103",
    "photo": "snapshot",
    "ext": "png",
    "filename": "TS_001_000_0.0.eer",
    "file_ext": ".xf",
    "ctf_format": "CTFFIND",
    "key_image": "expanded",
    "slug": "cytosolic_ribosome",
    "version": "1.0",
    "shape_suffix": "point",
    "precompute_suffix": "segmentationmask",
    "member": "0/1/0/3",
}
#: Field values that must also round-trip (run names are kept verbatim, layout.md §1).
RUN_NAMES = ["TS_001", "14069", "SYN_run1", "Position_12.2", "tomo-7_b", "Images2"]


def _fields_of(pattern: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"{(\w+)}", pattern)))


def test_every_field_of_every_template_has_a_pattern_and_a_sample() -> None:
    used = {name for pattern in [*TEMPLATES.values(), *ENTITY_DIRS.values()] for name in _fields_of(pattern)}
    assert used <= set(FIELD_PATTERNS)
    assert used <= set(SAMPLE)


@pytest.mark.parametrize("run_name", RUN_NAMES)
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_build_then_parse_round_trips_every_template(template: str, run_name: str) -> None:
    fields = {name: SAMPLE[name] for name in _fields_of(TEMPLATES[template])}
    if "run_name" in fields:
        fields["run_name"] = run_name
    key = build(template, **fields)
    assert "{" not in key and not key.startswith("/") and not key.endswith("/")
    assert parse(key) == Match(template, fields)
    assert parse(f"/{key}/") == Match(template, fields)  # stray slashes are tolerated


@pytest.mark.parametrize("kind", list(ENTITY_DIRS))
def test_entity_prefix_recognises_every_entity_dir(kind: str) -> None:
    fields = {name: SAMPLE[name] for name in _fields_of(ENTITY_DIRS[kind])}
    directory = build(kind, **fields)
    assert entity_prefix(kind, directory) == Match(kind, fields)
    assert entity_prefix(kind, directory + "/") == Match(kind, fields)
    assert entity_prefix(kind, directory + "/child/file.json") == Match(kind, fields)
    sibling = entity_prefix(kind, directory + "0/child")  # a longer name is another dir, never this one
    assert sibling is None or sibling != Match(kind, fields)
    assert entity_prefix(kind, "other/" + directory) is None


def test_entity_prefix_examples() -> None:
    key = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100/cytosolic_ribosome-1.0_point.ndjson"
    assert entity_prefix("annotation", key) == Match(
        "annotation",
        {"dataset_id": "10001", "run_name": "TS_001", "voxel_spacing": "13.480", "annotation_id": "100"},
    )
    assert entity_prefix("voxel_spacing", key).fields["voxel_spacing"] == "13.480"
    assert entity_prefix("run", key).fields == {"dataset_id": "10001", "run_name": "TS_001"}
    assert entity_prefix("tomogram", key) is None
    assert entity_prefix("deposition", "depositions_metadata/10301/Images/snapshot.png").fields == {
        "deposition_id": "10301"
    }
    assert entity_prefix("dataset", "depositions_metadata/10301/x") is None, "only all-digit names are datasets"


@pytest.mark.parametrize(
    ("template", "field", "value"),
    [
        ("tiltseries", "tiltseries_id", 99),
        ("alignment", "alignment_id", 0),
        ("tomogram", "tomogram_id", 42),
        ("annotation", "annotation_id", 1),
        ("key_image", "tomogram_id", 7),
        ("neuroglancer_config", "tomogram_id", 99),
        ("neuroglancer_precompute_member", "annotation_id", 5),
    ],
)
def test_build_refuses_ids_below_100(template: str, field: str, value: int) -> None:
    pattern = TEMPLATES.get(template) or ENTITY_DIRS[template]
    fields: dict[str, Any] = {name: SAMPLE[name] for name in _fields_of(pattern)}
    build(template, **fields)  # the sample itself is fine
    fields[field] = value
    with pytest.raises(LayoutError, match=field):
        build(template, **fields)
    fields[field] = 100
    assert parse(build(template, **fields)) is not None or template in ENTITY_DIRS


@pytest.mark.parametrize("spacing", ["13.48", "13.4800", "13", "VoxelSpacing13.480", "-1.000", "1e1", "13,480"])
def test_build_refuses_non_canonical_voxel_spacings(spacing: str) -> None:
    with pytest.raises(LayoutError, match="voxel_spacing"):
        build("voxel_spacing", dataset_id=10001, run_name="TS_001", voxel_spacing=spacing)


@pytest.mark.parametrize(
    ("value", "expected"), [(13.48, "13.480"), (10, "10.000"), (6.74, "6.740"), (4.4, "4.400"), (13.4801, "13.480")]
)
def test_numeric_voxel_spacings_are_formatted_canonically(value: float, expected: str) -> None:
    assert format_voxel_spacing(value) == expected
    key = build("voxel_spacing", dataset_id=10001, run_name="TS_001", voxel_spacing=value)
    assert key == f"10001/TS_001/Reconstructions/VoxelSpacing{expected}"
    assert voxel_spacing_from_name(f"VoxelSpacing{expected}") == pytest.approx(round(value, 3))
    assert voxel_spacing_from_name(expected) == pytest.approx(round(value, 3))


def test_build_refuses_bad_fields() -> None:
    with pytest.raises(LayoutError, match="missing field 'run_name'"):
        build("run_metadata", dataset_id=10001)
    with pytest.raises(LayoutError, match="unknown layout template"):
        build("no_such_template")
    with pytest.raises(LayoutError, match="dataset_id"):
        build("dataset_metadata", dataset_id="10001a")
    with pytest.raises(LayoutError, match="run_name"):
        build("run_metadata", dataset_id=10001, run_name="a/b")
    with pytest.raises(LayoutError, match="ctf_format"):
        build("ctf", **{**SAMPLE, "ctf_format": "ctffind4"})


def test_build_examples_of_layout_md() -> None:
    assert build("dataset_metadata", dataset_id=10001) == "10001/dataset_metadata.json"
    assert build("deposition_metadata", deposition_id=10301) == "depositions_metadata/10301/deposition_metadata.json"
    assert (
        build("tomogram_mrc", dataset_id=10999, run_name="TS_001", voxel_spacing=13.48, tomogram_id=100)
        == "10999/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_001.mrc"
    )
    assert (
        build("ctf", dataset_id=10999, run_name="TS_001", tiltseries_id=100, ctf_format="CTFFIND")
        == "10999/TS_001/TiltSeries/100/TS_001_CTFFIND_ctf.txt"
    )
    assert (
        build(
            "annotation_file",
            dataset_id=10999,
            run_name="TS_001",
            voxel_spacing=13.48,
            annotation_id=100,
            slug=slug("cytosolic ribosome"),
            version=version_slug(1.0),
            shape_suffix="point",
            ext="ndjson",
        )
        == "10999/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100/cytosolic_ribosome-1.0_point.ndjson"
    )
    assert (
        build("neuroglancer_config", dataset_id=10999, run_name="TS_001", voxel_spacing=13.48, tomogram_id=101)
        == "10999/TS_001/Reconstructions/VoxelSpacing13.480/NeuroglancerPrecompute/101-neuroglancer_config.json"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cytosolic ribosome", "cytosolic_ribosome"),
        ("Cytosolic Ribosome", "cytosolic_ribosome"),
        ("membrane", "membrane"),
        ("Microtubule (MT), 25-nm", "microtubule__mt___25_nm"),
        ("80S ribosome", "80s_ribosome"),
    ],
)
def test_slug(text: str, expected: str) -> None:
    assert slug(text) == expected
    assert re.fullmatch(FIELD_PATTERNS["slug"], slug(text))


@pytest.mark.parametrize(
    ("version", "expected"),
    [(1.0, "1.0"), ("1.0", "1.0"), (2, "2"), (None, "none"), ("V2-beta", "v2_beta"), ("1.0 (final)", "1.0__final_")],
)
def test_version_slug(version: Any, expected: str) -> None:
    assert version_slug(version) == expected
    assert re.fullmatch(FIELD_PATTERNS["version"], version_slug(version))


def test_a_repeated_run_name_must_repeat_its_value() -> None:
    mdoc = parse("10001/TS_001/Frames/TS_001.mdoc")
    assert mdoc is not None and mdoc.template == "mdoc"
    other = parse("10001/TS_001/Frames/TS_002.mdoc")
    assert other is not None and other.template == "frame", "another run's mdoc is just a frame file"
    assert parse("10001/TS_001/TiltSeries/100/TS_002.mrc") is None
    assert parse("10001/TS_001/TiltSeries/100/TS_002.zarr/.zattrs") is None
    assert parse("10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_002.mrc") is None
    assert parse("10001/TS_001/Alignments/100/TS_002.xf") is None


def test_images_and_dataset_metadata_are_not_runs() -> None:
    assert parse("10001/Images/snapshot.png") == Match(
        "dataset_keyphoto", {"dataset_id": "10001", "photo": "snapshot", "ext": "png"}
    )
    assert parse("10001/dataset_metadata.json") == Match("dataset_metadata", {"dataset_id": "10001"})
    assert parse("10001/Images/run_metadata.json") is None
    assert parse("10001/Images/Frames/Images.mdoc") is None
    assert entity_prefix("run", "10001/Images/snapshot.png") is None
    assert entity_prefix("run", "10001/Images") is None
    assert entity_prefix("run", "10001/dataset_metadata.json") is None
    assert entity_prefix("run", "10001/Images2/run_metadata.json") is not None, "only the exact name is excluded"
    with pytest.raises(LayoutError):
        build("run_metadata", dataset_id=10001, run_name="Images")
    with pytest.raises(LayoutError):
        build("run", dataset_id=10001, run_name="dataset_metadata.json")


@pytest.mark.parametrize(
    ("key", "template"),
    [
        ("10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100/membrane-1.0.json", "annotation_metadata"),
        ("10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100/membrane-none.json", "annotation_metadata"),
        (
            "10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100/membrane-1.0_segmentationmask.zarr/0/.zarray",
            "annotation_zarr_member",
        ),
        ("10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/TS_001.zarr", "tomogram_zarr"),
        ("10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram_metadata.json", "tomogram_metadata"),
        ("10001/TS_001/TiltSeries/100/TS_001.zarr/.zattrs", "tiltseries_zarr_member"),
        ("10001/TS_001/Alignments/100/alignment_metadata.json", "alignment_metadata"),
        ("10001/TS_001/Frames/frames_metadata.json", "frames_metadata"),
        ("10001/TS_001/Gains/TS_001_gain.mrc", "gain"),
    ],
)
def test_parse_picks_the_right_template(key: str, template: str) -> None:
    found = parse(key)
    assert found is not None and found.template == template, found


ANNOTATION_FILES = [  # layout.md §3: every data file name of every shape
    ("point", "ndjson"),
    ("orientedpoint", "ndjson"),
    ("instancesegmentation", "ndjson"),
    ("segmentationmask", "mrc"),
    ("instancesegmentationmask", "mrc"),
    ("triangularmesh", "glb"),
    ("globalcaption", "json"),
    ("point_caption", "json"),
    ("segmentationmask_caption", "json"),
]


@pytest.mark.parametrize("version", ["1.0", "2", "none"])
@pytest.mark.parametrize(("suffix", "ext"), ANNOTATION_FILES)
def test_annotation_data_files_are_never_taken_for_annotation_metadata(suffix: str, ext: str, version: str) -> None:
    directory = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Annotations/100"
    metadata = parse(f"{directory}/membrane-{version}.json")
    assert metadata is not None and metadata.template == "annotation_metadata"
    assert metadata.fields["version"] == version
    found = parse(f"{directory}/membrane-{version}_{suffix}.{ext}")
    assert found is not None and found.template == "annotation_file", found
    assert (found.fields["slug"], found.fields["version"], found.fields["shape_suffix"]) == (
        "membrane",
        version,
        suffix,
    )


@pytest.mark.parametrize(
    "key",
    [
        "10001/TS_001/Reconstructions/VoxelSpacing13.48/Tomograms/100/TS_001.mrc",  # non-canonical spacing
        "10001/TS_001/TiltSeries/abc/TS_001.mrc",  # non-numeric id
        "DepositionMetadata/10301/deposition_metadata.json",  # the outdated name
        "10001/TS_001/Reconstructions/VoxelSpacing13.480/Images/100/key-photo-huge.png",
        "10001/TS_001/Reconstructions/VoxelSpacing13.480/Tomograms/100/tomogram-metadata.json",
        "abc/dataset_metadata.json",
        "10001/TS_001/TiltSeries/100/TS_001_ctffind_ctf.txt",
    ],
)
def test_keys_outside_the_layout_do_not_parse(key: str) -> None:
    assert parse(key) is None


@pytest.mark.parametrize(
    ("path", "bucket_name", "expected"),
    [
        ("cryoet-data-portal-public/10001/TS_001/run_metadata.json", None, "10001/TS_001/run_metadata.json"),
        ("cryoet-data-portal-staging/10001/x.mrc", None, "10001/x.mrc"),
        ("my-output/10001/x.mrc", "my-output", "10001/x.mrc"),
        ("10001/TS_001/run_metadata.json", "my-output", "10001/TS_001/run_metadata.json"),
        ("10001/TS_001/run_metadata.json", None, "10001/TS_001/run_metadata.json"),
        (" 10001/x.mrc ", None, "10001/x.mrc"),
        (
            "depositions_metadata/10301/deposition_metadata.json",
            None,
            "depositions_metadata/10301/deposition_metadata.json",
        ),
    ],
)
def test_strip_bucket_name(path: str, bucket_name: str | None, expected: str) -> None:
    assert strip_bucket_name(path, bucket_name) == expected


def _reference_keys() -> list[str]:
    output = shared_dir() / "reference-90001" / "output"
    keys = []
    for path in sorted(output.rglob("*")):
        key = path.relative_to(output).as_posix()
        if not path.is_file() or key.startswith(".pytest_cache/"):  # a tool's cache, not portal output
            continue
        keys.append(key)
    return keys


def test_every_key_of_the_portal_reference_output_parses() -> None:
    keys = _reference_keys()
    assert len(keys) > 300
    precompute = re.compile(r"/NeuroglancerPrecompute/[^/]+/")
    unparsed = [key for key in keys if not precompute.search(key) and parse(key) is None]
    assert unparsed == [], f"{len(unparsed)} reference keys follow no template: {unparsed}"


def test_reference_keys_parse_to_the_expected_templates() -> None:
    found: dict[str, set[str]] = {}
    for key in _reference_keys():
        match = parse(key)
        if match is not None:
            found.setdefault(match.template, set()).add(key)
    run = "90001/SYN_run1"
    vs = f"{run}/Reconstructions/VoxelSpacing13.480"
    expected = {
        "deposition_metadata": "depositions_metadata/90001/deposition_metadata.json",
        "deposition_keyphoto": "depositions_metadata/90001/Images/snapshot.png",
        "dataset_metadata": "90001/dataset_metadata.json",
        "dataset_keyphoto": "90001/Images/thumbnail.png",
        "run_metadata": f"{run}/run_metadata.json",
        "gain": f"{run}/Gains/CountRef.mrc",
        "mdoc": f"{run}/Frames/SYN_run1.mdoc",
        "frame": f"{run}/Frames/SYN_run1_000.tif",
        "frames_metadata": f"{run}/Frames/frames_metadata.json",
        "tiltseries_mrc": f"{run}/TiltSeries/100/SYN_run1.mrc",
        "tiltseries_zarr_member": f"{run}/TiltSeries/100/SYN_run1.zarr/0/.zarray",
        "rawtlt": f"{run}/TiltSeries/100/SYN_run1.rawtlt",
        "ctf": f"{run}/TiltSeries/100/SYN_run1_CTFFIND_ctf.txt",
        "alignment_file": f"{run}/Alignments/100/SYN_run1.xf",
        "tomogram_mrc": f"{vs}/Tomograms/100/SYN_run1.mrc",
        "tomogram_zarr_member": f"{vs}/Tomograms/100/SYN_run1.zarr/.zattrs",
        "key_image": f"{vs}/Images/100/key-photo-original.png",
        "annotation_metadata": f"{vs}/Annotations/101/membrane-1.0.json",
        "annotation_file": f"{vs}/Annotations/101/membrane-1.0_segmentationmask.mrc",
        "annotation_zarr_member": f"{vs}/Annotations/101/membrane-1.0_segmentationmask.zarr/.zgroup",
        "neuroglancer_config": f"{vs}/NeuroglancerPrecompute/100-neuroglancer_config.json",
        "neuroglancer_precompute_member": f"{vs}/NeuroglancerPrecompute/101-membrane-1.0_segmentationmask/info",
    }
    wrong = {template: key for template, key in expected.items() if key not in found.get(template, set())}
    assert wrong == {}, {key: parse(key) for key in wrong.values()}
    assert found["annotation_metadata"] == {
        f"90001/{r}/Reconstructions/VoxelSpacing13.480/Annotations/{a}/{n}-1.0.json"
        for r in ("SYN_run1", "SYN_run2")
        for a, n in (("100", "cytosolic_ribosome"), ("101", "membrane"))
    }
