"""pytest-cases: one corruption per check code (see corruptions.py).

Adding a check means adding its case here; ``test_every_check_has_a_corruption_case`` enforces it.
"""

from __future__ import annotations

from pytest_cases import case

from tests.corruptions import (
    DATASET,
    RUN,
    TOMOGRAM,
    TOMOGRAM_METADATA,
    TOMOGRAM_MRC,
    TOMOGRAM_ZARR,
    VOXEL_SPACING,
    Corruption,
    append_bytes,
    delete,
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
