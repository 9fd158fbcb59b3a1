"""pytest-cases: one corruption per check code (see corruptions.py).

Adding a check means adding its case here; ``test_every_check_has_a_corruption_case`` enforces it.
"""

from __future__ import annotations

from pathlib import Path

from pytest_cases import case

from tests.corruptions import (
    DATASET,
    DATASET_METADATA,
    DEPOSITION_METADATA,
    RUN,
    TOMOGRAM,
    TOMOGRAM_METADATA,
    TOMOGRAM_MRC,
    TOMOGRAM_ZARR,
    VOXEL_SPACING,
    Corruption,
    append_bytes,
    copy_dir,
    delete,
    fake_png,
    json_edit,
    mrc,
    scale_cell_x,
    set_zattrs_level,
    write_file,
)


@case(tags="dataset")
def case_dataset_metadata_missing() -> Corruption:
    return Corruption("DS-METADATA-EXISTS", DATASET, delete(f"{DATASET}/dataset_metadata.json"))


@case(tags="dataset")
def case_dataset_identifier_differs() -> Corruption:
    return Corruption(
        "DS-ID-MATCH",
        DATASET,
        json_edit(f"{DATASET}/dataset_metadata.json", lambda d: d.update(dataset_identifier=10002)),
    )


@case(tags="run")
def case_run_metadata_missing() -> Corruption:
    return Corruption("RUN-METADATA-EXISTS", RUN, delete(f"{RUN}/run_metadata.json"))


@case(tags="run")
def case_run_name_differs() -> Corruption:
    return Corruption("RUN-NAME-MATCH", RUN, json_edit(f"{RUN}/run_metadata.json", lambda d: d.update(run_name="X")))


@case(tags="voxel_spacing")
def case_tomogram_voxel_spacing_differs_from_folder() -> Corruption:
    return Corruption(
        "VS-TOMO-MATCH", VOXEL_SPACING, json_edit(TOMOGRAM_METADATA, lambda d: d.update(voxel_spacing=14.0))
    )


@case(tags="tomogram")
def case_tomogram_metadata_missing() -> Corruption:
    return Corruption("TOMO-METADATA-EXISTS", TOMOGRAM, delete(TOMOGRAM_METADATA))


@case(tags="tomogram")
def case_tomogram_mrc_file_points_elsewhere() -> Corruption:
    return Corruption("TOMO-FILE-NAMES", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d.update(mrc_file="x.mrc")))


@case(tags="tomogram")
def case_tomogram_stray_second_mrc() -> Corruption:
    return Corruption("TOMO-FILE-NAMES", TOMOGRAM, write_file(f"{TOMOGRAM}/copy.mrc", b""))


@case(tags="tomogram")
def case_tomogram_scales_not_halved() -> Corruption:
    return Corruption(
        "TOMO-SIZE-SCALES",
        TOMOGRAM,
        json_edit(TOMOGRAM_METADATA, lambda d: d["scales"][1].update(x=d["scales"][1]["x"] + 1)),
    )


@case(tags="tomogram")
def case_tomogram_size_differs_from_mrc() -> Corruption:
    return Corruption("TOMO-SIZE-MRC", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d["size"].update(x=3)))


@case(tags="tomogram")
def case_tomogram_zarr_level_differs_from_scales() -> Corruption:
    return Corruption(
        "TOMO-SCALES-ZARR", TOMOGRAM, json_edit(f"{TOMOGRAM_ZARR}/2/.zarray", lambda d: d.update(shape=[1, 1, 1]))
    )


# -- the shared MRC header suite, on the tomogram ---------------------------------------------


def case_mrc_truncated() -> Corruption:
    return Corruption("TOMO-MRC-READABLE", TOMOGRAM, write_file(TOMOGRAM_MRC, b"\0" * 100))


def case_mrc_spacegroup() -> Corruption:
    return Corruption("TOMO-MRC-SPACEGROUP", TOMOGRAM, mrc(ispg=0))


def case_mrc_map_id() -> Corruption:
    return Corruption("TOMO-MRC-MAP-ID", TOMOGRAM, mrc(map=b"MAPX"))


def case_mrc_machine_stamp() -> Corruption:
    return Corruption("TOMO-MRC-MACHINE-STAMP", TOMOGRAM, mrc(machst=[0x22, 0x22, 0, 0]))


def case_mrc_dtype() -> Corruption:
    return Corruption("TOMO-MRC-DTYPE", TOMOGRAM, mrc(mode=4))


def case_mrc_dims() -> Corruption:
    return Corruption("TOMO-MRC-DIMS", TOMOGRAM, mrc(mx=0))


def case_mrc_cell_angles() -> Corruption:
    return Corruption("TOMO-MRC-CELL", TOMOGRAM, mrc(cellb=(80.0, 90.0, 90.0)))


def case_mrc_sampling() -> Corruption:
    return Corruption("TOMO-MRC-SAMPLING", TOMOGRAM, mrc(my=1))


def case_mrc_nlabl() -> Corruption:
    return Corruption("TOMO-MRC-NLABL", TOMOGRAM, mrc(nlabl=3))


def case_mrc_nversion() -> Corruption:
    return Corruption("TOMO-MRC-NVERSION", TOMOGRAM, mrc(nversion=20130))


def case_mrc_exttyp() -> Corruption:
    return Corruption("TOMO-MRC-EXTTYP", TOMOGRAM, mrc(nsymbt=16, exttyp=b"ABCD"))


def case_mrc_axis_map() -> Corruption:
    return Corruption("TOMO-MRC-AXIS-MAP", TOMOGRAM, mrc(mapc=2, mapr=1))


def case_mrc_origin() -> Corruption:
    return Corruption("TOMO-MRC-ORIGIN", TOMOGRAM, mrc(origin=(5.0, 0.0, 0.0)))


def case_mrc_nstart() -> Corruption:
    return Corruption("TOMO-MRC-NSTART", TOMOGRAM, mrc(nxstart=3))


def case_mrc_voxel_spacing() -> Corruption:
    return Corruption("TOMO-MRC-VOXEL-SPACING", TOMOGRAM, scale_cell_x(14.0 / 13.48))


def case_mrc_file_size_large_difference() -> Corruption:
    return Corruption("TOMO-MRC-FILE-SIZE", TOMOGRAM, append_bytes(TOMOGRAM_MRC, 2 << 20))


def case_mrc_stats_order() -> Corruption:
    return Corruption("TOMO-MRC-STATS-ORDER", TOMOGRAM, mrc(dmin=10.0, dmax=-10.0))


def case_mrc_label_not_portal() -> Corruption:
    return Corruption("TOMO-MRC-LABEL-PORTAL", TOMOGRAM, mrc(label=[b"lab label"] + [b""] * 9))


# -- the shared OME-Zarr suite, on the tomogram --------------------------------------------


def case_zarr_stray_child() -> Corruption:
    return Corruption("TOMO-ZARR-CHILDREN", TOMOGRAM, write_file(f"{TOMOGRAM_ZARR}/notes.txt", b"x"))


def case_zarr_level_path() -> Corruption:
    return Corruption("TOMO-ZARR-PATHS", TOMOGRAM, set_zattrs_level(2, lambda d: d.update(path="3")))


def case_zarr_axis_unit() -> Corruption:
    return Corruption(
        "TOMO-ZARR-AXES",
        TOMOGRAM,
        json_edit(f"{TOMOGRAM_ZARR}/.zattrs", lambda d: d["multiscales"][0]["axes"][0].update(unit="nanometer")),
    )


def case_zarr_level_dtype() -> Corruption:
    return Corruption(
        "TOMO-ZARR-DTYPE", TOMOGRAM, json_edit(f"{TOMOGRAM_ZARR}/1/.zarray", lambda d: d.update(dtype="<f8"))
    )


def case_zarr_scale() -> Corruption:
    return Corruption(
        "TOMO-ZARR-SCALE",
        TOMOGRAM,
        set_zattrs_level(1, lambda d: d["coordinateTransformations"][0].update(scale=[13.48, 13.48, 13.48])),
    )


def case_zarr_level_shape() -> Corruption:
    return Corruption(
        "TOMO-ZARR-LEVEL-SHAPE", TOMOGRAM, json_edit(f"{TOMOGRAM_ZARR}/2/.zarray", lambda d: d.update(shape=[9, 9, 9]))
    )


def case_zarr_chunking() -> Corruption:
    return Corruption(
        "TOMO-ZARR-CONVENTIONS",
        TOMOGRAM,
        json_edit(f"{TOMOGRAM_ZARR}/0/.zarray", lambda d: d.update(chunks=[64, 64, 64])),
    )


def case_zarr_level_without_chunks() -> Corruption:
    return Corruption("TOMO-ZARR-LEVEL-NO-CHUNKS", TOMOGRAM, delete(f"{TOMOGRAM_ZARR}/2/0"))


def case_zarr_chunk_outside_grid() -> Corruption:
    return Corruption("TOMO-ZARR-CHUNK-COVERAGE", TOMOGRAM, write_file(f"{TOMOGRAM_ZARR}/0/9/9/9", b"x"))


def case_zarr_store_missing() -> Corruption:
    return Corruption("TOMO-MRC-ZARR-PAIR", TOMOGRAM, delete(TOMOGRAM_ZARR))


def case_mrc_dims_differ_from_zarr() -> Corruption:
    return Corruption("TOMO-MRC-ZARR-SHAPE", TOMOGRAM, mrc(nx=15, mx=15))


def case_mrc_dtype_differs_from_zarr() -> Corruption:
    return Corruption("TOMO-MRC-ZARR-DTYPE", TOMOGRAM, mrc(mode=1))


@case(tags="dataset")
def case_metadata_json_unparsable() -> Corruption:
    return Corruption("GEN-JSON-PARSE", DATASET, write_file(f"{RUN}/run_metadata.json", b'{"run_name": '))


RUN_METADATA = f"{RUN}/run_metadata.json"
RECONSTRUCTIONS = f"{RUN}/Reconstructions"
DEPOSITION = "depositions_metadata/10001"


# -- generic metadata checks ----------------------------------------------------------------


@case(tags="dataset")
def case_metadata_violates_schema() -> Corruption:
    return Corruption("GEN-JSON-SCHEMA", DATASET, json_edit(TOMOGRAM_METADATA, lambda d: d.update(size="big")))


@case(tags="dataset")
def case_deposition_id_zero() -> Corruption:
    return Corruption(
        "GEN-DEFAULTS", DATASET, json_edit(f"{RUN}/run_metadata.json", lambda d: d.update(deposition_id=0))
    )


@case(tags="dataset")
def case_absolute_path_in_metadata() -> Corruption:
    return Corruption(
        "GEN-PATH-RELATIVE",
        DATASET,
        json_edit(TOMOGRAM_METADATA, lambda d: d.update(mrc_file="s3://b/" + d["mrc_file"])),
    )


@case(tags="dataset")
def case_referenced_path_missing() -> Corruption:
    return Corruption(
        "GEN-PATH-EXISTS",
        DATASET,
        json_edit(TOMOGRAM_METADATA, lambda d: d["key_photo"].update(thumbnail="10001/x.png")),
    )


@case(tags="dataset")
def case_unknown_deposition_referenced() -> Corruption:
    return Corruption("GEN-DEPOSITION-REF", DATASET, json_edit(RUN_METADATA, lambda d: d.update(deposition_id=99999)))


@case(tags="dataset")
def case_no_corresponding_author() -> Corruption:
    def edit(document: dict) -> None:
        for author in document["authors"]:
            author.pop("corresponding_author_status", None)

    return Corruption("GEN-AUTHORS", DATASET, json_edit(DATASET_METADATA, edit))


@case(tags="dataset")
def case_release_before_deposition() -> Corruption:
    return Corruption(
        "GEN-DATES", DATASET, json_edit(DATASET_METADATA, lambda d: d["dates"].update(release_date="1999-01-01"))
    )


@case(tags="dataset")
def case_entity_id_below_100() -> Corruption:
    return Corruption("GEN-ID-DIR", DATASET, copy_dir(TOMOGRAM, TOMOGRAM.replace("/100", "/99")))


@case(tags="dataset")
def case_stray_file() -> Corruption:
    return Corruption("GEN-ORPHAN", DATASET, write_file(f"{RUN}/notes.txt", b"x"))


# -- dataset and deposition -----------------------------------------------------------------


@case(tags="dataset")
def case_dataset_title_empty() -> Corruption:
    return Corruption("DS-FIELDS", DATASET, json_edit(DATASET_METADATA, lambda d: d.update(dataset_title="")))


@case(tags="dataset")
def case_unknown_sample_type() -> Corruption:
    return Corruption("DS-SAMPLE-TYPE", DATASET, json_edit(DATASET_METADATA, lambda d: d.update(sample_type="alien")))


@case(tags="dataset")
def case_dataset_key_photo_too_small() -> Corruption:
    return Corruption("DS-KEYPHOTO", DATASET, write_file(f"{DATASET}/Images/thumbnail.png", fake_png(40, 30)))


@case(tags="dataset")
def case_dataset_without_runs() -> Corruption:
    def remove(root: Path) -> None:
        for metadata in (root / DATASET).glob("*/run_metadata.json"):
            metadata.unlink()

    return Corruption("DS-HAS-RUNS", DATASET, remove)


@case(tags="deposition")
def case_deposition_metadata_missing() -> Corruption:
    return Corruption("DEP-METADATA-EXISTS", DEPOSITION, delete(DEPOSITION_METADATA))


@case(tags="deposition")
def case_deposition_title_empty() -> Corruption:
    return Corruption(
        "DEP-FIELDS",
        DEPOSITION,
        json_edit(DEPOSITION_METADATA, lambda d: d.update(deposition_title="")),
    )


@case(tags="deposition")
def case_deposition_identifier_differs() -> Corruption:
    return Corruption(
        "DEP-ID-MATCH",
        DEPOSITION,
        json_edit(DEPOSITION_METADATA, lambda d: d.update(deposition_identifier=5)),
    )


@case(tags="deposition")
def case_unknown_deposition_type() -> Corruption:
    return Corruption(
        "DEP-TYPES",
        DEPOSITION,
        json_edit(DEPOSITION_METADATA, lambda d: d.update(deposition_types=["movie"])),
    )


@case(tags="deposition")
def case_deposition_key_photo_missing() -> Corruption:
    return Corruption(
        "DEP-KEYPHOTO",
        DEPOSITION,
        json_edit(DEPOSITION_METADATA, lambda d: d.update(key_photos={"snapshot": "x.png", "thumbnail": "y.png"})),
    )


# -- runs and voxel spacings ----------------------------------------------------------------


@case(tags="run")
def case_run_without_data() -> Corruption:
    return Corruption(
        "RUN-HAS-DATA",
        f"{DATASET}/TS_009",
        write_file(f"{DATASET}/TS_009/run_metadata.json", b'{"run_name": "TS_009"}'),
    )


@case(tags="run")
def case_two_tiltseries() -> Corruption:
    return Corruption("RUN-TS-COUNT", RUN, copy_dir(f"{RUN}/TiltSeries/100", f"{RUN}/TiltSeries/101"))


@case(tags="run")
def case_two_alignments_of_one_deposition() -> Corruption:
    return Corruption("RUN-ALN-PER-DEP", RUN, copy_dir(f"{RUN}/Alignments/100", f"{RUN}/Alignments/101"))


@case(tags="voxel_spacing")
def case_voxel_spacing_name_not_canonical() -> Corruption:
    return Corruption(
        "VS-NAME",
        f"{RECONSTRUCTIONS}/VoxelSpacing13.48",
        copy_dir(VOXEL_SPACING, f"{RECONSTRUCTIONS}/VoxelSpacing13.48"),
    )


@case(tags="voxel_spacing")
def case_voxel_spacing_out_of_range() -> Corruption:
    return Corruption(
        "VS-RANGE",
        f"{RECONSTRUCTIONS}/VoxelSpacing40.000",
        write_file(f"{RECONSTRUCTIONS}/VoxelSpacing40.000/x", b""),
    )


@case(tags="voxel_spacing")
def case_voxel_spacing_integral() -> Corruption:
    return Corruption(
        "VS-INTEGRAL",
        f"{RECONSTRUCTIONS}/VoxelSpacing10.000",
        write_file(f"{RECONSTRUCTIONS}/VoxelSpacing10.000/x", b""),
    )


@case(tags="voxel_spacing")
def case_voxel_spacing_without_tomograms() -> Corruption:
    return Corruption(
        "VS-NONEMPTY",
        f"{RECONSTRUCTIONS}/VoxelSpacing20.000",
        write_file(f"{RECONSTRUCTIONS}/VoxelSpacing20.000/x", b""),
    )


@case(tags="voxel_spacing")
def case_sibling_spacing_with_the_same_dims() -> Corruption:
    return Corruption(
        "VS-SIBLING-DIMS", VOXEL_SPACING, copy_dir(VOXEL_SPACING, f"{RECONSTRUCTIONS}/VoxelSpacing26.960")
    )


# -- tomogram metadata ----------------------------------------------------------------------


@case(tags="tomogram")
def case_tomogram_processing_unknown() -> Corruption:
    return Corruption("TOMO-ENUMS", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d.update(processing="smoothed")))


@case(tags="tomogram")
def case_tomogram_affine_bottom_row() -> Corruption:
    def edit(document: dict) -> None:
        document["affine_transformation_matrix"] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]

    return Corruption("TOMO-AFFINE", TOMOGRAM, json_edit(TOMOGRAM_METADATA, edit))


@case(tags="tomogram")
def case_tomogram_identity_twin() -> Corruption:
    return Corruption("TOMO-IDENTITY-UNIQUE", TOMOGRAM, copy_dir(TOMOGRAM, TOMOGRAM.replace("/100", "/101")))


@case(tags="tomogram")
def case_two_visualization_defaults() -> Corruption:
    return Corruption("TOMO-VIS-DEFAULT", TOMOGRAM, copy_dir(TOMOGRAM, TOMOGRAM.replace("/100", "/102")))


@case(tags="tomogram")
def case_tomogram_alignment_of_another_run() -> Corruption:
    return Corruption(  # the path of nothing, in no run
        "TOMO-ALIGNMENT-REF",
        TOMOGRAM,
        json_edit(
            TOMOGRAM_METADATA,
            lambda d: d.update(alignment_metadata_path=d["alignment_metadata_path"].replace("TS_001", "TS_002")),
        ),
    )


@case(tags="tomogram")
def case_tomogram_neuroglancer_path_wrong() -> Corruption:
    return Corruption(
        "TOMO-NG-REF", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d.update(neuroglancer_config_path="x.json"))
    )


@case(tags="tomogram")
def case_tomogram_snapshot_too_small() -> Corruption:
    snapshot = f"{VOXEL_SPACING}/Images/100/key-photo-snapshot.png"
    return Corruption("TOMO-KEYPHOTO", TOMOGRAM, write_file(snapshot, fake_png(200, 150)))


# -- the shared volume content suite (SAMPLE tier), on the tomogram ---------------------------


@case(tags="tomogram")
def case_vol_level_without_chunks() -> Corruption:
    from tests.corruptions import TOMOGRAM_ZARR, delete

    return Corruption("TOMO-VOL-CHUNK-DECODE", TOMOGRAM, delete(f"{TOMOGRAM_ZARR}/2/0"))


@case(tags="tomogram")
def case_vol_mrc_flipped_in_z() -> Corruption:
    from tests.corruptions import TOMOGRAM_MRC, edit_mrc_data, flip_z

    return Corruption("TOMO-VOL-MRC-EQ-ZARR", TOMOGRAM, edit_mrc_data(TOMOGRAM_MRC, flip_z))


@case(tags="tomogram")
def case_vol_level_from_other_data() -> Corruption:
    from tests.corruptions import TOMOGRAM_ZARR, edit_zarr_level, other_data

    return Corruption("TOMO-VOL-PYRAMID", TOMOGRAM, edit_zarr_level(TOMOGRAM_ZARR, 1, other_data))


@case(tags="tomogram")
def case_vol_nan_block() -> Corruption:
    from tests.corruptions import TOMOGRAM_MRC, TOMOGRAM_ZARR, all_of, edit_mrc_data, edit_zarr_level, nan_column

    nan = all_of(edit_mrc_data(TOMOGRAM_MRC, nan_column), edit_zarr_level(TOMOGRAM_ZARR, 0, nan_column))
    return Corruption("TOMO-VOL-FINITE", TOMOGRAM, nan)


@case(tags="tomogram")
def case_vol_constant() -> Corruption:
    from tests.corruptions import TOMOGRAM_MRC, TOMOGRAM_ZARR, all_of, constant, edit_mrc_data, edit_zarr_level

    flat = all_of(edit_mrc_data(TOMOGRAM_MRC, constant), edit_zarr_level(TOMOGRAM_ZARR, 0, constant))
    return Corruption("TOMO-VOL-NOT-CONSTANT", TOMOGRAM, flat)


@case(tags="tomogram")
def case_vol_dmax_below_data() -> Corruption:
    from tests.corruptions import TOMOGRAM_MRC, patch_mrc_header, read_mrc_field

    def lower_dmax(root: Path) -> None:
        patch_mrc_header(root / TOMOGRAM_MRC, dmax=read_mrc_field(root / TOMOGRAM_MRC, "dmean"))

    return Corruption("TOMO-VOL-STATS-PLAUSIBLE", TOMOGRAM, lower_dmax)
