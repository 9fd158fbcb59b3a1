"""pytest-cases: one corruption per check code (see corruptions.py).

Adding a check means adding its case here; ``test_every_check_has_a_corruption_case`` enforces it.
"""

from __future__ import annotations

from pathlib import Path

from pytest_cases import case

from data_validation.registry import Severity
from tests.corruptions import (
    DATASET,
    DATASET_METADATA,
    DEPOSITION_METADATA,
    RUN,
    TOMOGRAM,
    TOMOGRAM_METADATA,
    TOMOGRAM_MRC,
    TOMOGRAM_ZARR,
    VOLUME_DEFECT_SEVERITY,
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
    truncate,
    warns,
    write_file,
)


@case(tags="dataset")
def case_dataset_metadata_missing() -> Corruption:
    return Corruption("DS-METADATA-EXISTS", DATASET, delete(f"{DATASET}/dataset_metadata.json"))


@case(tags="dataset")
def case_chunk_truncated_after_the_manifest() -> Corruption:
    # A local bucket's manifest records sizes (tests/test_manifest.py: checksums on S3).
    return Corruption("DS-MANIFEST", DATASET, truncate(f"{TOMOGRAM_ZARR}/0/0/0/0", 16))


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
    return warns(Corruption("TOMO-MRC-SPACEGROUP", TOMOGRAM, mrc(ispg=0)))


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
    return warns(Corruption("TOMO-MRC-SAMPLING", TOMOGRAM, mrc(my=1)))


def case_mrc_nlabl() -> Corruption:
    return warns(Corruption("TOMO-MRC-NLABL", TOMOGRAM, mrc(nlabl=3)))


def case_mrc_nversion() -> Corruption:
    return warns(Corruption("TOMO-MRC-NVERSION", TOMOGRAM, mrc(nversion=20130)))


def case_mrc_exttyp() -> Corruption:
    return warns(Corruption("TOMO-MRC-EXTTYP", TOMOGRAM, mrc(nsymbt=16, exttyp=b"ABCD")))


def case_mrc_extended_header_beyond_the_file() -> Corruption:
    return Corruption("TOMO-MRC-EXTTYP", TOMOGRAM, mrc(nsymbt=1 << 30, exttyp=b"MRCO"))


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
    return warns(Corruption("TOMO-MRC-STATS-ORDER", TOMOGRAM, mrc(dmean=1e9)))


def case_mrc_label_not_portal() -> Corruption:
    return warns(Corruption("TOMO-MRC-LABEL-PORTAL", TOMOGRAM, mrc(label=[b"lab label"] + [b""] * 9)), Severity.INFO)


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
    return warns(
        Corruption(
            "TOMO-ZARR-CONVENTIONS",
            TOMOGRAM,
            json_edit(f"{TOMOGRAM_ZARR}/0/.zarray", lambda d: d.update(chunks=[64, 64, 64])),
        )
    )


def case_zarr_level_without_chunks() -> Corruption:
    return Corruption("TOMO-ZARR-LEVEL-NO-CHUNKS", TOMOGRAM, delete(f"{TOMOGRAM_ZARR}/2/0"))


def case_zarr_chunk_missing() -> Corruption:
    return Corruption("TOMO-ZARR-CHUNK-COVERAGE", TOMOGRAM, delete(f"{TOMOGRAM_ZARR}/0/0/0/0"))


def case_zarr_chunk_outside_grid() -> Corruption:
    return warns(Corruption("TOMO-ZARR-CHUNK-COVERAGE", TOMOGRAM, write_file(f"{TOMOGRAM_ZARR}/0/9/9/9", b"x")))


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
    return warns(Corruption("GEN-ORPHAN", DATASET, write_file(f"{RUN}/notes.txt", b"x")))


# -- dataset and deposition -----------------------------------------------------------------


@case(tags="dataset")
def case_dataset_title_empty() -> Corruption:
    return Corruption("DS-FIELDS", DATASET, json_edit(DATASET_METADATA, lambda d: d.update(dataset_title="")))


@case(tags="dataset")
def case_unknown_sample_type() -> Corruption:
    return Corruption("DS-SAMPLE-TYPE", DATASET, json_edit(DATASET_METADATA, lambda d: d.update(sample_type="alien")))


@case(tags="dataset")
def case_dataset_key_photo_too_small() -> Corruption:
    return warns(Corruption("DS-KEYPHOTO", DATASET, write_file(f"{DATASET}/Images/thumbnail.png", fake_png(40, 30))))


@case(tags="dataset")
def case_dataset_without_runs() -> Corruption:
    def remove(root: Path) -> None:
        for metadata in (root / DATASET).glob("*/run_metadata.json"):
            metadata.unlink()

    return warns(Corruption("DS-HAS-RUNS", DATASET, remove))


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
    return warns(
        Corruption(
            "RUN-HAS-DATA",
            f"{DATASET}/TS_009",
            write_file(f"{DATASET}/TS_009/run_metadata.json", b'{"run_name": "TS_009"}'),
        )
    )


@case(tags="run")
def case_two_tiltseries() -> Corruption:
    return warns(Corruption("RUN-TS-COUNT", RUN, copy_dir(f"{RUN}/TiltSeries/100", f"{RUN}/TiltSeries/101")))


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
    return warns(
        Corruption(
            "VS-RANGE",
            f"{RECONSTRUCTIONS}/VoxelSpacing40.000",
            write_file(f"{RECONSTRUCTIONS}/VoxelSpacing40.000/x", b""),
        )
    )


@case(tags="voxel_spacing")
def case_voxel_spacing_integral() -> Corruption:
    return warns(
        Corruption(
            "VS-INTEGRAL",
            f"{RECONSTRUCTIONS}/VoxelSpacing10.000",
            write_file(f"{RECONSTRUCTIONS}/VoxelSpacing10.000/x", b""),
        ),
        Severity.INFO,
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
    return warns(
        Corruption("VS-SIBLING-DIMS", VOXEL_SPACING, copy_dir(VOXEL_SPACING, f"{RECONSTRUCTIONS}/VoxelSpacing26.960"))
    )


# -- tomogram metadata ----------------------------------------------------------------------


@case(tags="tomogram")
def case_tomogram_processing_unknown() -> Corruption:
    return Corruption("TOMO-ENUMS", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d.update(processing="smoothed")))


@case(tags="tomogram")
def case_tomogram_affine_singular() -> Corruption:
    def edit(document: dict) -> None:
        document["affine_transformation_matrix"] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]

    return Corruption("TOMO-AFFINE", TOMOGRAM, json_edit(TOMOGRAM_METADATA, edit))


@case(tags="tomogram")
def case_tomogram_identity_twin() -> Corruption:
    return Corruption("TOMO-IDENTITY-UNIQUE", TOMOGRAM, copy_dir(TOMOGRAM, TOMOGRAM.replace("/100", "/101")))


@case(tags="tomogram")
def case_two_visualization_defaults() -> Corruption:
    return warns(Corruption("TOMO-VIS-DEFAULT", TOMOGRAM, copy_dir(TOMOGRAM, TOMOGRAM.replace("/100", "/102"))))


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
    return warns(
        Corruption(
            "TOMO-NG-REF", TOMOGRAM, json_edit(TOMOGRAM_METADATA, lambda d: d.update(neuroglancer_config_path="x.json"))
        )
    )


@case(tags="tomogram")
def case_tomogram_snapshot_too_small() -> Corruption:
    snapshot = f"{VOXEL_SPACING}/Images/100/key-photo-snapshot.png"
    return warns(Corruption("TOMO-KEYPHOTO", TOMOGRAM, write_file(snapshot, fake_png(200, 150))))


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


# -- acquisition: tilt series (and its TS-MRC/ZARR/VOL suites), tilt angles, CTF, alignment, frames, gains --

from collections.abc import Callable  # noqa: E402

from tests import corruptions as acq  # noqa: E402

Change = Callable[[Path], None]

TS_ENTITY = acq.TILTSERIES
ALN_ENTITY = acq.ALIGNMENT


def _ts(code: str, change: Change) -> Corruption:
    return Corruption(code, TS_ENTITY, change)


def _aln(code: str, change: Change) -> Corruption:
    return Corruption(code, ALN_ENTITY, change)


def _run(code: str, change: Change) -> Corruption:
    return Corruption(code, RUN, change)


def _ts_meta(edit: Callable[[dict], object]) -> Change:
    return json_edit(acq.TS_METADATA, edit)


def _aln_meta(edit: Callable[[dict], object]) -> Change:
    return json_edit(acq.ALN_METADATA, edit)


def _frames_meta(edit: Callable[[dict], object]) -> Change:
    return json_edit(acq.FRAMES_METADATA, edit)


def _ts_mrc(**fields: object) -> Change:
    return acq.patch_mrc(acq.TS_MRC, **fields)


# The shared MRC header suite on the tilt series.


@case(tags="tiltseries")
def case_ts_mrc_truncated() -> Corruption:
    return _ts("TS-MRC-READABLE", write_file(acq.TS_MRC, b"\0" * 100))


@case(tags="tiltseries")
def case_ts_mrc_spacegroup_volume() -> Corruption:
    return warns(_ts("TS-MRC-SPACEGROUP", _ts_mrc(ispg=1)))


@case(tags="tiltseries")
def case_ts_mrc_map_id() -> Corruption:
    return _ts("TS-MRC-MAP-ID", _ts_mrc(map=b"MAPX"))


@case(tags="tiltseries")
def case_ts_mrc_machine_stamp() -> Corruption:
    return _ts("TS-MRC-MACHINE-STAMP", _ts_mrc(machst=[0x22, 0x22, 0, 0]))


@case(tags="tiltseries")
def case_ts_mrc_dtype() -> Corruption:
    return _ts("TS-MRC-DTYPE", _ts_mrc(mode=4))


@case(tags="tiltseries")
def case_ts_mrc_dims() -> Corruption:
    return _ts("TS-MRC-DIMS", _ts_mrc(mx=0))


@case(tags="tiltseries")
def case_ts_mrc_cell_angles() -> Corruption:
    return _ts("TS-MRC-CELL", _ts_mrc(cellb=(80.0, 90.0, 90.0)))


@case(tags="tiltseries")
def case_ts_mrc_sampling_mz_is_nz() -> Corruption:
    return warns(_ts("TS-MRC-SAMPLING", _ts_mrc(mz=41)))


@case(tags="tiltseries")
def case_ts_mrc_nlabl() -> Corruption:
    return warns(_ts("TS-MRC-NLABL", _ts_mrc(nlabl=3)))


@case(tags="tiltseries")
def case_ts_mrc_nversion() -> Corruption:
    return warns(_ts("TS-MRC-NVERSION", _ts_mrc(nversion=20130)))


@case(tags="tiltseries")
def case_ts_mrc_exttyp() -> Corruption:
    return warns(_ts("TS-MRC-EXTTYP", _ts_mrc(nsymbt=16, exttyp=b"ABCD")))


@case(tags="tiltseries")
def case_ts_mrc_axis_map() -> Corruption:
    return _ts("TS-MRC-AXIS-MAP", _ts_mrc(mapc=2, mapr=1))


@case(tags="tiltseries")
def case_ts_mrc_origin() -> Corruption:
    return _ts("TS-MRC-ORIGIN", _ts_mrc(origin=(5.0, 0.0, 0.0)))


@case(tags="tiltseries")
def case_ts_mrc_nstart() -> Corruption:
    return _ts("TS-MRC-NSTART", _ts_mrc(nxstart=3))


@case(tags="tiltseries")
def case_ts_mrc_voxel_spacing() -> Corruption:
    return _ts("TS-MRC-VOXEL-SPACING", acq.scale_mrc_cell_x(acq.TS_MRC, 7.0 / 6.74))


@case(tags="tiltseries")
def case_ts_mrc_file_size() -> Corruption:
    return _ts("TS-MRC-FILE-SIZE", append_bytes(acq.TS_MRC, 2 << 20))


@case(tags="tiltseries")
def case_ts_mrc_stats_order() -> Corruption:
    return warns(_ts("TS-MRC-STATS-ORDER", _ts_mrc(dmean=1e9)))


@case(tags="tiltseries")
def case_ts_mrc_label_not_portal() -> Corruption:
    return warns(_ts("TS-MRC-LABEL-PORTAL", _ts_mrc(label=[b"lab label"] + [b""] * 9)), Severity.INFO)


# The shared OME-Zarr suite on the tilt series.


@case(tags="tiltseries")
def case_ts_zarr_stray_child() -> Corruption:
    return _ts("TS-ZARR-CHILDREN", write_file(f"{acq.TS_ZARR}/notes.txt", b"x"))


@case(tags="tiltseries")
def case_ts_zarr_level_path() -> Corruption:
    return _ts(
        "TS-ZARR-PATHS",
        json_edit(f"{acq.TS_ZARR}/.zattrs", lambda d: d["multiscales"][0]["datasets"][2].update(path="3")),
    )


@case(tags="tiltseries")
def case_ts_zarr_axis_unit() -> Corruption:
    return _ts(
        "TS-ZARR-AXES",
        json_edit(f"{acq.TS_ZARR}/.zattrs", lambda d: d["multiscales"][0]["axes"][0].update(unit="nanometer")),
    )


@case(tags="tiltseries")
def case_ts_zarr_level_dtype() -> Corruption:
    return _ts("TS-ZARR-DTYPE", json_edit(f"{acq.TS_ZARR}/1/.zarray", lambda d: d.update(dtype="<f8")))


@case(tags="tiltseries")
def case_ts_zarr_sections_scaled() -> Corruption:
    def edit(document: dict) -> None:
        document["multiscales"][0]["datasets"][1]["coordinateTransformations"][0]["scale"] = [13.48, 13.48, 13.48]

    return _ts("TS-ZARR-SCALE", json_edit(f"{acq.TS_ZARR}/.zattrs", edit))


@case(tags="tiltseries")
def case_ts_zarr_level_shape() -> Corruption:
    return _ts("TS-ZARR-LEVEL-SHAPE", json_edit(f"{acq.TS_ZARR}/2/.zarray", lambda d: d.update(shape=[9, 9, 9])))


@case(tags="tiltseries")
def case_ts_zarr_volume_chunking() -> Corruption:
    return warns(
        _ts("TS-ZARR-CONVENTIONS", json_edit(f"{acq.TS_ZARR}/0/.zarray", lambda d: d.update(chunks=[64, 64, 64])))
    )


@case(tags="tiltseries")
def case_ts_zarr_level_without_chunks() -> Corruption:
    return _ts("TS-ZARR-LEVEL-NO-CHUNKS", acq.delete_chunks(acq.TS_ZARR, 2))


@case(tags="tiltseries")
def case_ts_zarr_chunk_outside_grid() -> Corruption:
    return warns(_ts("TS-ZARR-CHUNK-COVERAGE", write_file(f"{acq.TS_ZARR}/0/99/0/0", b"x")))


@case(tags="tiltseries")
def case_ts_zarr_store_missing() -> Corruption:
    return _ts("TS-MRC-ZARR-PAIR", delete(acq.TS_ZARR))


@case(tags="tiltseries")
def case_ts_mrc_dims_differ_from_zarr() -> Corruption:
    return _ts("TS-MRC-ZARR-SHAPE", _ts_mrc(nx=15, mx=15))


@case(tags="tiltseries")
def case_ts_mrc_dtype_differs_from_zarr() -> Corruption:
    return _ts("TS-MRC-ZARR-DTYPE", _ts_mrc(mode=1))


# The sampled content suite on the tilt series.


@case(tags="tiltseries")
def case_ts_vol_level_without_chunks() -> Corruption:
    return _ts("TS-VOL-CHUNK-DECODE", acq.delete_chunks(acq.TS_ZARR, 2))


@case(tags="tiltseries")
def case_ts_vol_mrc_flipped() -> Corruption:
    return _ts("TS-VOL-MRC-EQ-ZARR", acq.edit_mrc_data(acq.TS_MRC, acq.flip_z))


@case(tags="tiltseries")
def case_ts_vol_level_from_other_data() -> Corruption:
    return _ts("TS-VOL-PYRAMID", acq.edit_zarr_level(acq.TS_ZARR, 1, acq.other_data))


@case(tags="tiltseries")
def case_ts_section_lost_in_the_zarr() -> Corruption:
    # Every chunk of level 0 rewritten as zeros (the fill value), the MRC keeps the sections' data.
    return _ts("TS-SECTIONS-FILLED", acq.edit_zarr_level(acq.TS_ZARR, 0, acq.zeros))


@case(tags="tiltseries")
def case_ts_vol_nan_column() -> Corruption:
    nan = acq.all_of(acq.edit_mrc_data(acq.TS_MRC, acq.nan_column), acq.edit_zarr_level(acq.TS_ZARR, 0, acq.nan_column))
    return _ts("TS-VOL-FINITE", nan)


@case(tags="tiltseries")
def case_ts_vol_constant() -> Corruption:
    flat = acq.all_of(acq.edit_mrc_data(acq.TS_MRC, acq.constant), acq.edit_zarr_level(acq.TS_ZARR, 0, acq.constant))
    return _ts("TS-VOL-NOT-CONSTANT", flat)


@case(tags="tiltseries")
def case_ts_vol_dmax_below_data() -> Corruption:
    def lower_dmax(root: Path) -> None:
        acq.patch_mrc_header(root / acq.TS_MRC, dmax=acq.read_mrc_field(root / acq.TS_MRC, "dmean"))

    return _ts("TS-VOL-STATS-PLAUSIBLE", lower_dmax)


# Tilt-series metadata and its per-section parameters.


def _psp(index: int, **values: object) -> Change:
    return _ts_meta(lambda d: d["per_section_parameter"][index].update(values))


@case(tags="tiltseries")
def case_ts_metadata_missing() -> Corruption:
    return _ts("TS-METADATA-EXISTS", delete(acq.TS_METADATA))


@case(tags="tiltseries")
def case_ts_mrc_file_missing() -> Corruption:
    return _ts("TS-METADATA-EXISTS", delete(acq.TS_MRC))


@case(tags="tiltseries")
def case_ts_total_flux_zero() -> Corruption:
    return _ts("TS-FIELDS", _ts_meta(lambda d: d.update(total_flux=0)))


@case(tags="tiltseries")
def case_ts_voltage_in_kv() -> Corruption:
    return _ts("TS-FIELDS", _ts_meta(lambda d: d.update(acceleration_voltage=300)))


@case(tags="tiltseries")
def case_ts_mrc_file_points_elsewhere() -> Corruption:
    return _ts("TS-FILE-NAMES", _ts_meta(lambda d: d.update(mrc_file="x.mrc")))


@case(tags="tiltseries")
def case_ts_scales_not_halved() -> Corruption:
    return _ts("TS-SIZE-SCALES", _ts_meta(lambda d: d["scales"][1].update(y=d["scales"][1]["y"] + 1)))


@case(tags="tiltseries")
def case_ts_sections_scaled_in_scales() -> Corruption:
    return _ts("TS-SIZE-SCALES", _ts_meta(lambda d: d["scales"][1].update(z=21)))


@case(tags="tiltseries")
def case_ts_size_differs_from_mrc() -> Corruption:
    return _ts("TS-SIZE-MRC", _ts_meta(lambda d: d["size"].update(x=3)))


@case(tags="tiltseries")
def case_ts_zarr_level_differs_from_scales() -> Corruption:
    return _ts("TS-SCALES-ZARR", json_edit(f"{acq.TS_ZARR}/2/.zarray", lambda d: d.update(shape=[1, 1, 1])))


@case(tags="tiltseries")
def case_ts_pixel_spacing_differs() -> Corruption:
    return _ts("TS-PS-MATCH", _ts_meta(lambda d: d.update(pixel_spacing=7.0)))


@case(tags="tiltseries")
def case_ts_more_sections_than_mdoc() -> Corruption:
    return _ts("TS-MDOC-SECTIONS", _ts_meta(lambda d: d["size"].update(z=99)))


@case(tags="tiltseries")
def case_ts_tilt_range_max() -> Corruption:
    return _ts("TS-TILT-RANGE", _ts_meta(lambda d: d["tilt_range"].update(max=50.0)))


@case(tags="tiltseries")
def case_ts_tilt_step() -> Corruption:
    return _ts("TS-TILT-STEP", _ts_meta(lambda d: d.update(tilt_step=2.0)))


@case(tags="tiltseries")
def case_ts_tilt_axis_far_from_mdoc() -> Corruption:
    return _ts("TS-TILT-AXIS", _ts_meta(lambda d: d.update(tilt_axis=120.0)))


@case(tags="tiltseries")
def case_ts_total_flux_differs_from_frames() -> Corruption:
    return _ts("TS-TOTAL-FLUX", _ts_meta(lambda d: d.update(total_flux=200.0)))


@case(tags="tiltseries")
def case_ts_fewer_frames_than_sections() -> Corruption:
    return _ts("TS-PSP-FRAMES", _frames_meta(lambda d: d.update(frames=d["frames"][:10])))


@case(tags="tiltseries")
def case_ts_astigmatic_angle_out_of_range() -> Corruption:
    return _ts("TS-PSP-RANGES", _psp(0, astigmatic_angle=200.0))


@case(tags="tiltseries")
def case_ts_z_index_repeated() -> Corruption:
    return _ts("TS-PSP-Z-INDEX", _psp(1, z_index=0))


@case(tags="tiltseries")
def case_ts_psp_one_short() -> Corruption:
    def drop_last(document: dict) -> None:
        del document["per_section_parameter"][-1]

    return warns(_ts("TS-PSP-COUNT", _ts_meta(drop_last)))


@case(tags="tiltseries")
def case_ts_raw_angle_differs_from_rawtlt() -> Corruption:
    return _ts("TS-PSP-RAWTLT", _psp(0, raw_angle=-57.0))


@case(tags="tiltseries")
def case_ts_frame_order_unknown() -> Corruption:
    return _ts("TS-PSP-FRAME-ORDER", _psp(0, frame_acquisition_order=999))


@case(tags="tiltseries")
def case_ts_raw_tlt_path_wrong() -> Corruption:
    return _ts("TS-SIDECAR-PATHS", _ts_meta(lambda d: d.update(raw_tlt_path=f"{acq.TILTSERIES}/x.rawtlt")))


@case(tags="tiltseries")
def case_ts_ctf_path_missing() -> Corruption:
    return _ts("TS-SIDECAR-PATHS", delete(acq.CTF_FILE))


@case(tags="tiltseries")
def case_ts_frames_count_differs() -> Corruption:
    return warns(_ts("TS-FRAMES-COUNT", _ts_meta(lambda d: d.update(frames_count=5))))


# Tilt angles: rawtlt, mdoc, tlt and the alignment's parameters.


@case(tags="tiltseries")
def case_tilt_second_rawtlt() -> Corruption:
    return _ts("TILT-RAWTLT-UNIQUE", write_file(f"{acq.TILTSERIES}/copy.rawtlt", b"0.0\n"))


@case(tags="tiltseries")
def case_tilt_rawtlt_missing() -> Corruption:
    return warns(_ts("TILT-RAWTLT-UNIQUE", delete(acq.RAWTLT)))


@case(tags="tiltseries")
def case_tilt_rawtlt_empty() -> Corruption:
    return _ts("TILT-RAWTLT-NONEMPTY", write_file(acq.RAWTLT, b"\n"))


@case(tags="tiltseries")
def case_tilt_rawtlt_not_numbers() -> Corruption:
    return _ts("TILT-RAWTLT-NONEMPTY", acq.edit_lines(acq.RAWTLT, lambda lines: ["abc", *lines[1:]]))


@case(tags="tiltseries")
def case_tilt_rawtlt_out_of_range() -> Corruption:
    return _ts("TILT-RAWTLT-RANGE", acq.edit_lines(acq.RAWTLT, lambda lines: ["-95.00", *lines[1:]]))


@case(tags="tiltseries")
def case_tilt_rawtlt_longer_than_stack() -> Corruption:
    return _ts("TILT-RAWTLT-VS-SIZE", acq.edit_lines(acq.RAWTLT, lambda lines: [*lines, "63.00"]))


@case(tags="tiltseries")
def case_tilt_rawtlt_angle_not_in_mdoc() -> Corruption:
    return _ts("TILT-RAWTLT-VS-MDOC", acq.edit_lines(acq.RAWTLT, lambda lines: ["1.50", *lines[1:]]))


@case(tags="tiltseries")
def case_tilt_psp_angle_not_in_mdoc() -> Corruption:
    return _ts("TILT-PSP-IN-MDOC", _psp(0, raw_angle=1.5))


@case(tags="run")
def case_tilt_mdoc_angle_out_of_range() -> Corruption:
    return _run("TILT-MDOC-RANGE", acq.edit_text(acq.MDOC, lambda t: t.replace("TiltAngle = 0.00", "TiltAngle = -95")))


@case(tags="alignment")
def case_tilt_second_tlt() -> Corruption:
    return _aln("TILT-TLT-UNIQUE", write_file(f"{acq.ALIGNMENT}/copy.tlt", b"0.0\n"))


@case(tags="alignment")
def case_tilt_tlt_empty() -> Corruption:
    return _aln("TILT-TLT-NONEMPTY", write_file(acq.TLT, b""))


@case(tags="alignment")
def case_tilt_tlt_out_of_range() -> Corruption:
    return _aln("TILT-TLT-RANGE", acq.edit_lines(acq.TLT, lambda lines: ["95.00", *lines[1:]]))


@case(tags="alignment")
def case_tilt_tlt_shorter_than_rawtlt() -> Corruption:
    return _aln("TILT-TLT-VS-RAWTLT", acq.edit_lines(acq.TLT, lambda lines: lines[:-1]))


@case(tags="alignment")
def case_tilt_tlt_longer_than_mdoc() -> Corruption:
    return _aln("TILT-TLT-VS-MDOC", acq.edit_lines(acq.TLT, lambda lines: [*lines, "63.00"]))


@case(tags="alignment")
def case_tilt_tlt_longer_than_stack() -> Corruption:
    return _aln("TILT-TLT-VS-SIZE", acq.edit_lines(acq.TLT, lambda lines: [*lines, "63.00"]))


@case(tags="alignment")
def case_tilt_alignment_angle_differs_from_tlt() -> Corruption:
    return _aln("TILT-PSAP-ANGLE", _aln_meta(lambda d: d["per_section_alignment_parameters"][0].update(tilt_angle=10)))


@case(tags="alignment")
def case_tilt_rotation_far_from_tilt_axis() -> Corruption:
    return _aln(
        "TILT-AXIS-ALIGNMENT",
        _aln_meta(lambda d: d["per_section_alignment_parameters"][0].update(in_plane_rotation=[[1, 0], [0, 1]])),
    )


# CTF fits.


def _ctf_row(column: int, value: str) -> Change:
    """Replace one column of the CTF file's first data row."""

    def edit(lines: list[str]) -> list[str]:
        fields = lines[1].split()
        fields[column] = value
        return [lines[0], "   ".join(fields), *lines[2:]]

    return acq.edit_lines(acq.CTF_FILE, edit)


@case(tags="tiltseries")
def case_ctf_not_numbers() -> Corruption:
    return _ts("CTF-PARSE", acq.edit_lines(acq.CTF_FILE, lambda lines: [*lines, "1 x y z 0 0 0"]))


@case(tags="tiltseries")
def case_ctf_unknown_format_name() -> Corruption:
    return _ts("CTF-PARSE", write_file(f"{acq.TILTSERIES}/TS_001_CTFPLOT_ctf.txt", b"1 2 3 4 5 6 7\n"))


@case(tags="tiltseries")
def case_ctf_section_repeated() -> Corruption:
    return warns(_ts("CTF-SECTIONS", acq.edit_lines(acq.CTF_FILE, lambda lines: [*lines, lines[1]])))


@case(tags="tiltseries")
def case_ctf_major_below_minor() -> Corruption:
    return _ts("CTF-DEFOCUS-ORDER", _ctf_row(1, "1000.00"))


@case(tags="tiltseries")
def case_ctf_negative_defocus() -> Corruption:
    return _ts("CTF-DEFOCUS-RANGE", _ctf_row(2, "-5.00"))


@case(tags="tiltseries")
def case_ctf_psp_differs_from_file() -> Corruption:
    return _ts("CTF-PSP-AGREE", _psp(0, cross_correlation=0.99))


# Alignments.


@case(tags="alignment")
def case_aln_metadata_missing() -> Corruption:
    return _aln("ALN-METADATA-EXISTS", delete(acq.ALN_METADATA))


@case(tags="alignment")
def case_aln_type_unknown() -> Corruption:
    return _aln("ALN-ENUMS", _aln_meta(lambda d: d.update(alignment_type="SEMI")))


@case(tags="alignment")
def case_aln_format_missing_with_files() -> Corruption:
    def drop_format(document: dict) -> None:
        del document["format"]

    return _aln("ALN-ENUMS", _aln_meta(drop_format))


@case(tags="alignment")
def case_aln_file_not_listed() -> Corruption:
    return _aln("ALN-FILES", _aln_meta(lambda d: d.update(files=d["files"][:1])))


@case(tags="alignment")
def case_aln_listed_file_missing() -> Corruption:
    return _aln("ALN-FILES", delete(acq.TLT))


@case(tags="alignment")
def case_aln_tiltseries_of_another_run() -> Corruption:
    other = f"{DATASET}/TS_002/TiltSeries/100/tiltseries_metadata.json"
    return _aln("ALN-TS-REF", _aln_meta(lambda d: d.update(tiltseries_path=other)))


@case(tags="alignment")
def case_aln_affine_singular() -> Corruption:
    matrix = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    return _aln("ALN-AFFINE", _aln_meta(lambda d: d.update(affine_transformation_matrix=matrix)))


@case(tags="alignment")
def case_aln_rotation_scaled() -> Corruption:
    return _aln(
        "ALN-ROTATION",
        _aln_meta(lambda d: d["per_section_alignment_parameters"][0].update(in_plane_rotation=[[2, 0], [0, 2]])),
    )


@case(tags="alignment")
def case_aln_z_index_repeated() -> Corruption:
    return _aln("ALN-Z-INDEX", _aln_meta(lambda d: d["per_section_alignment_parameters"][1].update(z_index=0)))


@case(tags="alignment")
def case_aln_xf_shorter_than_tlt() -> Corruption:
    return _aln("ALN-XF-ROWS", acq.edit_lines(acq.XF, lambda lines: lines[:-1]))


@case(tags="alignment")
def case_aln_xf_not_numbers() -> Corruption:
    return _aln("ALN-XF-ROWS", write_file(acq.XF, b"1 0 0 1 x 0\n"))


@case(tags="alignment")
def case_aln_aretomo_dark_frames_unaccounted() -> Corruption:
    aln = (
        "# AreTomo Alignment / Priims bprmMn\n# RawSize = 32 32 43\n# NumPatches = 0\n"
        "# DarkFrame =     0    0   -63.00\n"
        "# AlphaOffset =     0.00\n# BetaOffset =     0.00\n"
        "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT\n"
        "    1    84.7000    1.00000      0.000      0.000     1.00     1.00     1.00     0.00   -60.00\n"
    )
    return _aln("ALN-XF-ROWS", write_file(f"{acq.ALIGNMENT}/TS_001.aln", aln.encode()))


@case(tags="alignment")
def case_aln_volume_dimension_matches_no_tomogram() -> Corruption:
    return warns(_aln("ALN-VOLUME-DIM", _aln_meta(lambda d: d["volume_dimension"].update(x=999.0))))


@case(tags="run")
def case_aln_annotation_references_missing_alignment() -> Corruption:
    annotation = f"{VOXEL_SPACING}/Annotations/100/cytosolic_ribosome-1.0.json"
    missing = f"{RUN}/Alignments/105/alignment_metadata.json"
    return _run("ALN-REFERENCED", json_edit(annotation, lambda d: d.update(alignment_metadata_path=missing)))


# The mdoc, frames and gains of a run (the clean sample deposits no movies and no gains: cases add them).


@case(tags="run")
def case_mdoc_second_file() -> Corruption:
    return _run("MDOC-UNIQUE", write_file(f"{acq.FRAMES}/other.mdoc", b"[ZValue = 0]\nTiltAngle = 0\n"))


@case(tags="run")
def case_mdoc_missing_with_tiltseries() -> Corruption:
    return _run("MDOC-UNIQUE", delete(acq.MDOC))


@case(tags="run")
def case_mdoc_section_without_sub_frame_path() -> Corruption:
    def drop_first(text: str) -> str:
        first = next(line for line in text.splitlines(keepends=True) if line.startswith("SubFramePath"))
        return text.replace(first, "", 1)

    return _run("MDOC-SUBFRAMEPATH", acq.all_of(acq.add_movies(), acq.edit_text(acq.MDOC, drop_first)))


@case(tags="run")
def case_mdoc_without_tilt_axis() -> Corruption:
    return _run("MDOC-TILT-AXIS", acq.edit_text(acq.MDOC, lambda t: t.replace("Tilt axis angle = 84.7, ", "")))


@case(tags="run")
def case_mdoc_unparsable() -> Corruption:
    return _run("MDOC-TILT-AXIS", acq.edit_text(acq.MDOC, lambda t: t.replace("[ZValue = 3]", "[ZValue = x]")))


@case(tags="run")
def case_frames_metadata_missing_with_movies() -> Corruption:
    return _run("FRAME-METADATA-EXISTS", acq.all_of(acq.add_movies(), delete(acq.FRAMES_METADATA)))


@case(tags="run")
def case_frames_one_movie_short() -> Corruption:
    return _run("FRAME-COUNTS", acq.add_movies(skip_last=True))


@case(tags="run")
def case_frames_movie_no_section_names() -> Corruption:
    return _run("FRAME-MDOC-PATHS", acq.add_movies(extra="TS_001_stray.tif"))


@case(tags="run")
def case_frames_fewer_pages_than_subframes() -> Corruption:
    return _run("FRAME-NUMSUBFRAMES", acq.add_movies(pages=3))  # subframes lost: an error


@case(tags="run")
def case_frames_acquisition_order_repeated() -> Corruption:
    return _run("FRAME-ACQ-ORDER", _frames_meta(lambda d: d["frames"][0].update(acquisition_order=5)))


@case(tags="run")
def case_frames_dose_out_of_order() -> Corruption:
    return _run("FRAME-DOSE-ORDER", _frames_meta(lambda d: d["frames"][0].update(accumulated_dose=1000.0)))


@case(tags="run")
def case_frames_exposure_dose_wrong() -> Corruption:
    return _run("FRAME-DOSE-MATH", _frames_meta(lambda d: d["frames"][1].update(exposure_dose=9.0)))


@case(tags="run")
def case_frames_path_missing() -> Corruption:
    return _run("FRAME-PATHS", _frames_meta(lambda d: d["frames"][0].update(path=f"{acq.FRAMES}/missing.tif")))


@case(tags="run")
def case_frames_sizes_differ() -> Corruption:
    return _run("FRAME-CONSISTENT", acq.add_movies(odd_size_first=True))


@case(tags="run")
def case_frames_tiff_truncated() -> Corruption:
    def truncate(root: Path) -> None:
        first = root / acq.FRAMES / acq.movie_names(root)[0]
        first.write_bytes(first.read_bytes()[:100])

    return _run("FRAME-CONSISTENT", acq.all_of(acq.add_movies(), truncate))


@case(tags="run")
def case_frames_tiff_data_cut() -> Corruption:
    def cut(root: Path) -> None:
        last = root / acq.FRAMES / acq.movie_names(root)[-1]
        last.write_bytes(last.read_bytes()[:-10])  # the IFDs are whole, the last page's data is not

    return _run("FRAME-DATA-SIZE", acq.all_of(acq.add_movies(), cut))


@case(tags="run")
def case_frames_mrc_movie_cut() -> Corruption:
    return _run("FRAME-DATA-SIZE", write_file(f"{acq.FRAMES}/TS_001_000.mrc", acq.mrc_file_bytes(8, 8, 2, 6.74)[:-64]))


@case(tags="run")
def case_frames_unknown_extension() -> Corruption:
    return warns(_run("FRAME-EXT", write_file(f"{acq.FRAMES}/TS_001_000.avi", b"x")))


@case(tags="run")
def case_frames_binning_not_whole() -> Corruption:
    return _run("FRAME-TS-BINNING", write_file(f"{acq.FRAMES}/TS_001_000.mrc", acq.mrc_file_bytes(8, 8, 2, 4.0)))


@case(tags="run")
def case_frames_not_gain_corrected_without_gain() -> Corruption:
    return _run("FRAME-GAIN-REQUIRED", acq.add_movies())


@case(tags="run")
def case_gain_dm4() -> Corruption:
    return _run("GAIN-NO-DM4", write_file(f"{acq.GAINS}/gain.dm4", b"x"))


@case(tags="run")
def case_gain_unknown_extension() -> Corruption:
    return warns(_run("GAIN-EXT", write_file(f"{acq.GAINS}/gain.png", b"x")))


@case(tags="run")
def case_gain_stack() -> Corruption:
    return _run("GAIN-NZ", write_file(f"{acq.GAINS}/gain.mrc", acq.mrc_file_bytes(8, 8, 2, 6.74)))


@case(tags="run")
def case_gain_size_differs_from_frames() -> Corruption:
    return _run(
        "GAIN-FRAME-MATCH",
        acq.all_of(
            write_file(f"{acq.FRAMES}/TS_001_000.mrc", acq.mrc_file_bytes(8, 8, 2, 6.74)),
            write_file(f"{acq.GAINS}/gain.mrc", acq.mrc_file_bytes(16, 16, 1, 6.74)),
        ),
    )


# == annotations, key images, viewer states, identified objects (checks.md §15-18) ===========================
# The clean sample has point and semantic-mask annotations; oriented and instance points, instance masks,
# meshes, captions and identified objects are in the every-shape sample, which ``on_shapes`` starts from.

from tests.corruptions import (  # noqa: E402  (this section's helpers)
    ANNOTATIONS,
    KEY_IMAGES,
    MASK,
    MASK_LAYER,
    MASK_MRC,
    MASK_ZARR,
    NEUROGLANCER,
    POINTS,
    POINTS_METADATA,
    POINTS_NDJSON,
    all_of,
    append_text,
    edit_ndjson,
    edit_zarr_level,
    mrc_at,
    volume_defects,
    with_label,
)
from tests.shapes_sample import (  # noqa: E402
    GLOBAL_CAPTION,
    INSTANCE_MASK,
    INSTANCE_MASK_MRC,
    INSTANCE_MASK_ZARR,
    INSTANCES,
    INSTANCES_NDJSON,
    MESH,
    ORIENTED,
    ORIENTED_NDJSON,
    on_shapes,
)

SEGMENTATION_DEFECTS = volume_defects(MASK_MRC, MASK_ZARR)
INSTANCE_MASK_DEFECTS = volume_defects(INSTANCE_MASK_MRC, INSTANCE_MASK_ZARR)
INSTANCE_MASK_METADATA = f"{INSTANCE_MASK}/mitochondrion-2.0.json"
INSTANCES_METADATA = f"{INSTANCES}/microtubule-1.0.json"
IDENTIFIED_OBJECTS = f"{RUN}/IdentifiedObjects"


def _seg(suffix: str) -> Corruption:
    severity = VOLUME_DEFECT_SEVERITY.get(suffix, Severity.ERROR)
    return Corruption(f"SEG-{suffix}", MASK, SEGMENTATION_DEFECTS[suffix], severity)


def _iseg(suffix: str) -> Corruption:
    severity = VOLUME_DEFECT_SEVERITY.get(suffix, Severity.ERROR)
    return Corruption(f"ISEG-{suffix}", INSTANCE_MASK, on_shapes(INSTANCE_MASK_DEFECTS[suffix]), severity)


# -- annotation metadata and files --------------------------------------------------------------------------


@case(tags="annotation")
def case_annotation_second_metadata() -> Corruption:
    def copy(root: Path) -> None:
        (root / POINTS_METADATA.replace("-1.0.json", "-2.0.json")).write_bytes((root / POINTS_METADATA).read_bytes())

    return Corruption("ANNO-METADATA-GLOB", POINTS, copy)


@case(tags="annotation")
def case_annotation_metadata_not_found_by_glob() -> Corruption:
    def rename(root: Path) -> None:
        (root / POINTS_METADATA).rename(root / POINTS_METADATA.replace("-1.0.json", "-none.json"))

    return Corruption("ANNO-METADATA-GLOB", POINTS, rename)


@case(tags="annotation")
def case_annotation_metadata_unreadable() -> Corruption:
    return Corruption("ANNO-METADATA-GLOB", POINTS, write_file(POINTS_METADATA, b'{"files": '))


@case(tags="annotation")
def case_annotation_without_metadata() -> Corruption:
    return Corruption("ANNO-PARTIAL-DIR", POINTS, delete(POINTS_METADATA))


@case(tags="annotation")
def case_annotation_negative_object_count() -> Corruption:
    return Corruption("ANNO-FIELDS", POINTS, json_edit(POINTS_METADATA, lambda d: d.update(object_count=-1)))


@case(tags="annotation")
def case_annotation_ingest_id_malformed() -> Corruption:
    return warns(
        Corruption(
            "ANNO-INGEST-ID", POINTS, json_edit(POINTS_METADATA, lambda d: d.update(annotation_ingest_id="Ribosomes"))
        )
    )


@case(tags="annotation")
def case_annotation_identity_twin() -> Corruption:
    return Corruption("ANNO-INGEST-ID", POINTS, copy_dir(POINTS, f"{ANNOTATIONS}/105"))


@case(tags="annotation")
def case_annotation_method_type_unknown() -> Corruption:
    return Corruption("ANNO-ENUMS", POINTS, json_edit(POINTS_METADATA, lambda d: d.update(method_type="guessed")))


@case(tags="annotation")
def case_annotation_file_missing() -> Corruption:
    return Corruption("ANNO-FILES-EXIST", MASK, delete(MASK_MRC))


@case(tags="annotation")
def case_annotation_unlisted_file() -> Corruption:
    return Corruption("ANNO-FILES-CLAIMED", POINTS, write_file(f"{POINTS}/cytosolic_ribosome-1.0_extra.ndjson", b""))


@case(tags="annotation")
def case_annotation_renamed_object() -> Corruption:
    return warns(
        Corruption(
            "ANNO-FILE-NAMING",
            POINTS,
            json_edit(POINTS_METADATA, lambda d: d["annotation_object"].update(name="ribosome")),
        )
    )


@case(tags="annotation")
def case_annotation_alignment_of_no_tomogram() -> Corruption:
    return Corruption(
        "ANNO-ALIGNMENT-TOMO",
        POINTS,
        json_edit(POINTS_METADATA, lambda d: d.update(alignment_metadata_path=f"{RUN}/Alignments/101/x.json")),
    )


# -- points ---------------------------------------------------------------------------------------------------


@case(tags="annotation")
def case_points_extra_record() -> Corruption:
    record = '\n{"type": "point", "location": {"x": 1.0, "y": 1.0, "z": 1.0}}'
    return Corruption("PT-COUNT", POINTS, append_text(POINTS_NDJSON, record))


@case(tags="annotation")
def case_points_record_of_another_type() -> Corruption:
    return Corruption("PT-RECORD", POINTS, edit_ndjson(POINTS_NDJSON, lambda r: r[1].update(type="orientedPoint")))


@case(tags="annotation")
def case_points_line_not_json() -> Corruption:
    return Corruption("PT-RECORD", POINTS, append_text(POINTS_NDJSON, '\n{"type": "point", '))


@case(tags="annotation")
def case_points_outside_the_tomogram() -> Corruption:
    return Corruption("PT-IN-VOLUME", POINTS, edit_ndjson(POINTS_NDJSON, lambda r: r[0]["location"].update(x=16.0)))


@case(tags="annotation")
def case_oriented_points_record_added() -> Corruption:
    return Corruption("OPT-COUNT", ORIENTED, on_shapes(edit_ndjson(ORIENTED_NDJSON, lambda r: [*r, r[0]])))


@case(tags="annotation")
def case_oriented_points_outside_the_tomogram() -> Corruption:
    edit = edit_ndjson(ORIENTED_NDJSON, lambda r: r[1]["location"].update(z=-0.5))
    return Corruption("OPT-IN-VOLUME", ORIENTED, on_shapes(edit))


@case(tags="annotation")
def case_oriented_points_scaled_rotation() -> Corruption:
    def scale(records: list[dict]) -> None:
        records[2]["xyz_rotation_matrix"] = [[2 * v for v in row] for row in records[2]["xyz_rotation_matrix"]]

    return Corruption("OPT-ROTATION", ORIENTED, on_shapes(edit_ndjson(ORIENTED_NDJSON, scale)))


@case(tags="annotation")
def case_instance_points_extra_instance() -> Corruption:
    edit = edit_ndjson(INSTANCES_NDJSON, lambda r: r[0].update(instance_id=5))
    return Corruption("IPT-COUNT", INSTANCES, on_shapes(edit))


@case(tags="annotation")
def case_instance_points_outside_the_tomogram() -> Corruption:
    edit = edit_ndjson(INSTANCES_NDJSON, lambda r: r[2]["location"].update(y=15.5))
    return Corruption("IPT-IN-VOLUME", INSTANCES, on_shapes(edit))


@case(tags="annotation")
def case_instance_points_negative_id() -> Corruption:
    def negative(records: list[dict]) -> None:
        for record in records[:2]:
            record["instance_id"] = -1

    return Corruption("IPT-ID", INSTANCES, on_shapes(edit_ndjson(INSTANCES_NDJSON, negative)))


# -- masks, meshes, captions -----------------------------------------------------------------------------------


@case(tags="annotation")
def case_mask_smaller_than_tomogram() -> Corruption:
    return Corruption("SEG-DIMS", MASK, mrc_at(MASK_MRC, ny=15, my=15))


@case(tags="annotation")
def case_mask_values_not_binary() -> Corruption:
    return Corruption("SEG-BINARY", MASK, edit_zarr_level(MASK_ZARR, 0, with_label(2)))


@case(tags="annotation")
def case_instance_mask_smaller_than_tomogram() -> Corruption:
    return Corruption("ISEG-DIMS", INSTANCE_MASK, on_shapes(mrc_at(INSTANCE_MASK_MRC, nz=7, mz=7)))


@case(tags="annotation")
def case_instance_mask_label_zero() -> Corruption:
    def edit(document: dict) -> None:
        document["multiscales"][0]["metadata"]["image-label"]["colors"][0]["label-value"] = 0

    return Corruption("ISEG-LABEL-META", INSTANCE_MASK, on_shapes(json_edit(f"{INSTANCE_MASK_ZARR}/.zattrs", edit)))


@case(tags="annotation")
def case_instance_mask_count_differs() -> Corruption:
    edit = json_edit(INSTANCE_MASK_METADATA, lambda d: d.update(object_count=4))
    return Corruption("ISEG-LABEL-COUNT", INSTANCE_MASK, on_shapes(edit))


@case(tags="annotation")
def case_instance_mask_undeclared_label() -> Corruption:
    edit = edit_zarr_level(INSTANCE_MASK_ZARR, 0, with_label(99))
    return Corruption("ISEG-LABELS-SAMPLED", INSTANCE_MASK, on_shapes(edit))


@case(tags="annotation")
def case_mesh_truncated() -> Corruption:
    def truncate(root: Path) -> None:
        (root / MESH).write_bytes((root / MESH).read_bytes()[:-4])

    return Corruption("MESH-GLB", INSTANCES, on_shapes(truncate))


@case(tags="annotation")
def case_caption_counts_more_than_the_annotation() -> Corruption:
    edit = json_edit(GLOBAL_CAPTION, lambda d: d.update(captions=["a", "b", "c"]))
    return Corruption("CAP-JSON", INSTANCES, on_shapes(edit))


@case(tags="annotation")
def case_caption_unparsable() -> Corruption:
    return Corruption("CAP-JSON", INSTANCES, on_shapes(write_file(GLOBAL_CAPTION, b'{"captions": [')))


# -- the shared volume suites on the segmentation masks (SEG: clean sample, ISEG: every-shape sample) -----------


def case_seg_mrc_readable() -> Corruption:
    return _seg("MRC-READABLE")


def case_seg_mrc_spacegroup() -> Corruption:
    return _seg("MRC-SPACEGROUP")


def case_seg_mrc_map_id() -> Corruption:
    return _seg("MRC-MAP-ID")


def case_seg_mrc_machine_stamp() -> Corruption:
    return _seg("MRC-MACHINE-STAMP")


def case_seg_mrc_dtype() -> Corruption:
    return _seg("MRC-DTYPE")


def case_seg_mrc_dims() -> Corruption:
    return _seg("MRC-DIMS")


def case_seg_mrc_cell() -> Corruption:
    return _seg("MRC-CELL")


def case_seg_mrc_sampling() -> Corruption:
    return _seg("MRC-SAMPLING")


def case_seg_mrc_nlabl() -> Corruption:
    return _seg("MRC-NLABL")


def case_seg_mrc_nversion() -> Corruption:
    return _seg("MRC-NVERSION")


def case_seg_mrc_exttyp() -> Corruption:
    return _seg("MRC-EXTTYP")


def case_seg_mrc_axis_map() -> Corruption:
    return _seg("MRC-AXIS-MAP")


def case_seg_mrc_origin() -> Corruption:
    return _seg("MRC-ORIGIN")


def case_seg_mrc_nstart() -> Corruption:
    return _seg("MRC-NSTART")


def case_seg_mrc_voxel_spacing() -> Corruption:
    return _seg("MRC-VOXEL-SPACING")


def case_seg_mrc_file_size() -> Corruption:
    return _seg("MRC-FILE-SIZE")


def case_seg_mrc_stats_order() -> Corruption:
    return _seg("MRC-STATS-ORDER")


def case_seg_mrc_label_portal() -> Corruption:
    return _seg("MRC-LABEL-PORTAL")


def case_seg_zarr_children() -> Corruption:
    return _seg("ZARR-CHILDREN")


def case_seg_zarr_paths() -> Corruption:
    return _seg("ZARR-PATHS")


def case_seg_zarr_axes() -> Corruption:
    return _seg("ZARR-AXES")


def case_seg_zarr_dtype() -> Corruption:
    return _seg("ZARR-DTYPE")


def case_seg_zarr_scale() -> Corruption:
    return _seg("ZARR-SCALE")


def case_seg_zarr_level_shape() -> Corruption:
    return _seg("ZARR-LEVEL-SHAPE")


def case_seg_zarr_conventions() -> Corruption:
    return _seg("ZARR-CONVENTIONS")


def case_seg_zarr_level_no_chunks() -> Corruption:
    return _seg("ZARR-LEVEL-NO-CHUNKS")


def case_seg_zarr_chunk_coverage() -> Corruption:
    return _seg("ZARR-CHUNK-COVERAGE")


def case_seg_mrc_zarr_pair() -> Corruption:
    return _seg("MRC-ZARR-PAIR")


def case_seg_mrc_zarr_shape() -> Corruption:
    return _seg("MRC-ZARR-SHAPE")


def case_seg_mrc_zarr_dtype() -> Corruption:
    return _seg("MRC-ZARR-DTYPE")


def case_seg_vol_chunk_decode() -> Corruption:
    return _seg("VOL-CHUNK-DECODE")


def case_seg_vol_mrc_eq_zarr() -> Corruption:
    return _seg("VOL-MRC-EQ-ZARR")


def case_seg_vol_pyramid() -> Corruption:
    return _seg("VOL-PYRAMID")


def case_seg_vol_finite() -> Corruption:
    return _seg("VOL-FINITE")


def case_seg_vol_not_constant() -> Corruption:
    return _seg("VOL-NOT-CONSTANT")


def case_seg_vol_stats_plausible() -> Corruption:
    return _seg("VOL-STATS-PLAUSIBLE")


def case_iseg_mrc_readable() -> Corruption:
    return _iseg("MRC-READABLE")


def case_iseg_mrc_spacegroup() -> Corruption:
    return _iseg("MRC-SPACEGROUP")


def case_iseg_mrc_map_id() -> Corruption:
    return _iseg("MRC-MAP-ID")


def case_iseg_mrc_machine_stamp() -> Corruption:
    return _iseg("MRC-MACHINE-STAMP")


def case_iseg_mrc_dtype() -> Corruption:
    return _iseg("MRC-DTYPE")


def case_iseg_mrc_dims() -> Corruption:
    return _iseg("MRC-DIMS")


def case_iseg_mrc_cell() -> Corruption:
    return _iseg("MRC-CELL")


def case_iseg_mrc_sampling() -> Corruption:
    return _iseg("MRC-SAMPLING")


def case_iseg_mrc_nlabl() -> Corruption:
    return _iseg("MRC-NLABL")


def case_iseg_mrc_nversion() -> Corruption:
    return _iseg("MRC-NVERSION")


def case_iseg_mrc_exttyp() -> Corruption:
    return _iseg("MRC-EXTTYP")


def case_iseg_mrc_axis_map() -> Corruption:
    return _iseg("MRC-AXIS-MAP")


def case_iseg_mrc_origin() -> Corruption:
    return _iseg("MRC-ORIGIN")


def case_iseg_mrc_nstart() -> Corruption:
    return _iseg("MRC-NSTART")


def case_iseg_mrc_voxel_spacing() -> Corruption:
    return _iseg("MRC-VOXEL-SPACING")


def case_iseg_mrc_file_size() -> Corruption:
    return _iseg("MRC-FILE-SIZE")


def case_iseg_mrc_stats_order() -> Corruption:
    return _iseg("MRC-STATS-ORDER")


def case_iseg_mrc_label_portal() -> Corruption:
    return _iseg("MRC-LABEL-PORTAL")


def case_iseg_zarr_children() -> Corruption:
    return _iseg("ZARR-CHILDREN")


def case_iseg_zarr_paths() -> Corruption:
    return _iseg("ZARR-PATHS")


def case_iseg_zarr_axes() -> Corruption:
    return _iseg("ZARR-AXES")


def case_iseg_zarr_dtype() -> Corruption:
    return _iseg("ZARR-DTYPE")


def case_iseg_zarr_scale() -> Corruption:
    return _iseg("ZARR-SCALE")


def case_iseg_zarr_level_shape() -> Corruption:
    return _iseg("ZARR-LEVEL-SHAPE")


def case_iseg_zarr_conventions() -> Corruption:
    return _iseg("ZARR-CONVENTIONS")


def case_iseg_zarr_level_no_chunks() -> Corruption:
    return _iseg("ZARR-LEVEL-NO-CHUNKS")


def case_iseg_zarr_chunk_coverage() -> Corruption:
    return _iseg("ZARR-CHUNK-COVERAGE")


def case_iseg_mrc_zarr_pair() -> Corruption:
    return _iseg("MRC-ZARR-PAIR")


def case_iseg_mrc_zarr_shape() -> Corruption:
    return _iseg("MRC-ZARR-SHAPE")


def case_iseg_mrc_zarr_dtype() -> Corruption:
    return _iseg("MRC-ZARR-DTYPE")


def case_iseg_vol_chunk_decode() -> Corruption:
    return _iseg("VOL-CHUNK-DECODE")


def case_iseg_vol_mrc_eq_zarr() -> Corruption:
    return _iseg("VOL-MRC-EQ-ZARR")


def case_iseg_vol_pyramid() -> Corruption:
    return _iseg("VOL-PYRAMID")


def case_iseg_vol_finite() -> Corruption:
    return _iseg("VOL-FINITE")


def case_iseg_vol_not_constant() -> Corruption:
    return _iseg("VOL-NOT-CONSTANT")


def case_iseg_vol_stats_plausible() -> Corruption:
    return _iseg("VOL-STATS-PLAUSIBLE")


# -- key photos and key images --------------------------------------------------------------------------------


@case(tags="dataset")
def case_dataset_snapshot_does_not_decode() -> Corruption:
    return Corruption("KEY-IMAGE-VALID", DATASET, write_file(f"{DATASET}/Images/snapshot.png", fake_png(512, 384)))


@case(tags="dataset")
def case_deposition_thumbnail_too_small() -> Corruption:
    photos = {name: f"depositions_metadata/{DATASET}/Images/{name}.png" for name in ("snapshot", "thumbnail")}
    small = all_of(
        write_file(photos["snapshot"], fake_png(512, 384)),
        write_file(photos["thumbnail"], fake_png(40, 30)),
        json_edit(DEPOSITION_METADATA, lambda d: d.update(key_photos=photos)),
    )
    return warns(Corruption("KEY-MIN-SIZE", DATASET, small))


@case(tags="tomogram")
def case_tomogram_thumbnail_too_small() -> Corruption:
    return warns(
        Corruption("KEY-TOMO-SIZE", TOMOGRAM, write_file(f"{KEY_IMAGES}/key-photo-thumbnail.png", fake_png(120, 90)))
    )


@case(tags="tomogram")
def case_tomogram_expanded_image_missing() -> Corruption:
    return warns(Corruption("KEY-TOMO-SET", TOMOGRAM, delete(f"{KEY_IMAGES}/key-photo-expanded.png")))


@case(tags="tomogram")
def case_tomogram_expanded_image_resized() -> Corruption:
    return warns(
        Corruption("KEY-TOMO-EXACT", TOMOGRAM, write_file(f"{KEY_IMAGES}/key-photo-expanded.png", fake_png(1000, 768)))
    )


@case(tags="dataset")
def case_dataset_stray_image() -> Corruption:
    return warns(
        Corruption("KEY-DATASET-FILES", DATASET, write_file(f"{DATASET}/Images/snapshot-old.png", fake_png(60, 60)))
    )


# -- viewer states ----------------------------------------------------------------------------------------------


@case(tags="voxel_spacing")
def case_viewer_state_without_layers() -> Corruption:
    return Corruption("NG-LAYERS", VOXEL_SPACING, json_edit(NEUROGLANCER, lambda d: d.update(layers=[])))


@case(tags="voxel_spacing")
def case_viewer_state_missing() -> Corruption:
    return warns(Corruption("NG-PER-TOMOGRAM", VOXEL_SPACING, delete(NEUROGLANCER)))


@case(tags="voxel_spacing")
def case_viewer_state_in_nanometres() -> Corruption:
    return Corruption(
        "NG-DIMENSIONS", VOXEL_SPACING, json_edit(NEUROGLANCER, lambda d: d["dimensions"].update(x=[1.348, "nm"]))
    )


@case(tags="voxel_spacing")
def case_viewer_state_image_of_another_store() -> Corruption:
    def edit(document: dict) -> None:
        source = document["layers"][0]["source"]
        source["url"] = source["url"].replace("TS_001.zarr", "TS_002.zarr")

    return Corruption("NG-IMAGE-LAYER", VOXEL_SPACING, json_edit(NEUROGLANCER, edit))


@case(tags="voxel_spacing")
def case_viewer_state_source_without_info() -> Corruption:
    return Corruption("NG-SOURCES-EXIST", VOXEL_SPACING, delete(f"{MASK_LAYER}/info"))


@case(tags="voxel_spacing")
def case_viewer_state_without_the_mask_layer() -> Corruption:
    def edit(document: dict) -> None:
        document["layers"] = [layer for layer in document["layers"] if not layer["name"].startswith("101 ")]

    return warns(Corruption("NG-LAYER-COVERAGE", VOXEL_SPACING, json_edit(NEUROGLANCER, edit)))


@case(tags="voxel_spacing")
def case_viewer_state_two_prefixes() -> Corruption:
    def edit(document: dict) -> None:
        source = document["layers"][1]["source"]
        source["url"] = source["url"].replace("https://files.cryoetdataportal.cziscience.com", "https://mirror.example")

    return warns(Corruption("NG-URL-PREFIX", VOXEL_SPACING, json_edit(NEUROGLANCER, edit)))


# -- identified objects ---------------------------------------------------------------------------------------


@case(tags="run")
def case_identified_objects_count_differs() -> Corruption:
    edit = json_edit(f"{IDENTIFIED_OBJECTS}/identified_objects_metadata.json", lambda d: d.update(object_count=3))
    return Corruption("IDO-FILES", RUN, on_shapes(edit))


@case(tags="run")
def case_identified_objects_metadata_missing() -> Corruption:
    return Corruption("IDO-FILES", RUN, on_shapes(delete(f"{IDENTIFIED_OBJECTS}/identified_objects_metadata.json")))


@case(tags="run")
def case_identified_object_id_unknown() -> Corruption:
    edit = json_edit(f"{IDENTIFIED_OBJECTS}/identified_objects.json", lambda d: d[0].update(object_id="mito"))
    return warns(Corruption("IDO-IDS", RUN, on_shapes(edit)))
