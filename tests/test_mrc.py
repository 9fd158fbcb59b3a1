"""importers/formats/mrc.py: MRC2014 headers (formats.md §2), built, parsed and checked against the portal's files."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import warnings
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from mrcfile.dtypes import HEADER_DTYPE

from importers.formats.mrc import (
    HEADER_SIZE,
    LITTLE_ENDIAN_STAMP,
    PORTAL_LABEL,
    DataStatistics,
    MrcFormatError,
    MrcHeader,
    RunningStatistics,
    build_header,
    parse_header,
    portal_label,
)
from tests.conftest import shared_dir

WHEN = dt.datetime(2026, 11, 29, 11, 33, 9)
RUN = "90001/SYN_run1"
REFERENCE = {
    "tomogram": f"{RUN}/Reconstructions/VoxelSpacing13.480/Tomograms/100/SYN_run1.mrc",
    "tiltseries": f"{RUN}/TiltSeries/100/SYN_run1.mrc",
    "segmentation_mask": f"{RUN}/Reconstructions/VoxelSpacing13.480/Annotations/101/membrane-1.0_segmentationmask.mrc",
}


def _statistics(data: np.ndarray) -> DataStatistics:
    running = RunningStatistics()
    for slab in data:
        running.add(slab)
    return running.result()


def _write(path: Path, data: np.ndarray, voxel: float, *, ispg: int, mz: int | None = None) -> bytes:
    header = build_header(
        data.shape, data.dtype, (voxel,) * 3, statistics=_statistics(data), ispg=ispg, mz=mz, label=portal_label(WHEN)
    )
    path.write_bytes(header + np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes())
    return header


def _one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert message and "\n" not in message, repr(message)
    return message


# -- build_header -> parse_header --------------------------------------------------------------------

CASES = {
    # name: (dtype, mode, voxel, ispg, mz)
    "tomogram": (np.float32, 2, 13.48, 1, None),
    "tiltseries": (np.float32, 2, 3.37, 0, 1),
    "segmentation_mask": (np.int8, 0, 13.48, 1, None),
    "instance_mask": (np.uint16, 6, 6.74, 1, None),
    "legacy_int16": (np.int16, 1, 10.0, 1, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_build_then_parse_round_trip(case: str, tmp_path: Path) -> None:
    dtype, mode, voxel, ispg, mz = CASES[case]
    rng = np.random.default_rng(7)
    shape = (5, 7, 9)  # z, y, x all different: any axis swap shows
    data = (rng.normal(50, 20, shape) if np.dtype(dtype).kind == "f" else rng.integers(0, 3, shape)).astype(dtype)
    path = tmp_path / f"{case}.mrc"
    raw = _write(path, data, voxel, ispg=ispg, mz=mz)
    assert len(raw) == HEADER_SIZE

    header = parse_header(raw)
    assert (header.nx, header.ny, header.nz) == (9, 7, 5)
    assert header.shape == (5, 7, 9)
    assert header.mode == mode
    assert header.dtype == np.dtype(dtype).newbyteorder("<")
    assert (header.mx, header.my, header.mz) == (9, 7, 1 if mz == 1 else 5)
    expected_cella = tuple(float(np.float32(voxel) * n) for n in (9, 7, 1 if mz == 1 else 5))
    assert header.cella == expected_cella, "cella = float32(voxel size) * m, exactly"
    assert header.voxel_size == pytest.approx((voxel,) * 3, abs=1e-4)
    assert header.cellb == (90.0, 90.0, 90.0)
    assert (header.mapc, header.mapr, header.maps) == (1, 2, 3)
    assert (header.nxstart, header.nystart, header.nzstart) == (0, 0, 0)
    assert header.origin == (0.0, 0.0, 0.0)
    assert header.ispg == ispg
    assert (header.nsymbt, header.exttyp, header.nversion) == (0, "MRCO", 20141)
    assert (header.map_id, header.machst, header.byte_order) == ("MAP ", LITTLE_ENDIAN_STAMP, "<")
    assert header.nlabl == 1
    assert header.labels[0] == portal_label(WHEN)
    assert header.labels[1:] == ("",) * 9
    values = data.astype(np.float64)
    assert header.dmin == pytest.approx(values.min()) and header.dmax == pytest.approx(values.max())
    assert header.dmean == pytest.approx(values.mean(), rel=1e-6)
    assert header.rms == pytest.approx(values.std(), rel=1e-6)
    assert header.data_offset == HEADER_SIZE
    assert header.expected_file_size == path.stat().st_size

    # The reference implementation accepts the file and reads the same geometry and data.
    report = io.StringIO()
    assert mrcfile.validate(str(path), print_file=report), report.getvalue()
    with mrcfile.open(path, permissive=False) as mrc:
        np.testing.assert_array_equal(mrc.data, data)
        assert mrc.voxel_size.x == pytest.approx(voxel, abs=1e-4)
        assert mrc.voxel_size.z == pytest.approx(voxel, abs=1e-4)


def test_extended_header_and_extra_fields_are_carried() -> None:
    extended = bytes(range(256)) * 2
    raw = build_header(
        (2, 3, 4),
        np.dtype(np.float32),
        (1.5, 1.5, 1.5),
        statistics=DataStatistics(0.0, 1.0, 0.5, 0.25),
        ispg=1,
        exttyp="FEI1",
        extended_header=extended,
        extra1=b"\x01\x02",
        extra2=b"tail",
    )
    assert len(raw) == HEADER_SIZE + len(extended) and raw[HEADER_SIZE:] == extended
    header = parse_header(raw)
    assert (header.nsymbt, header.exttyp, header.data_offset) == (512, "FEI1", HEADER_SIZE + 512)
    assert header.expected_file_size == HEADER_SIZE + 512 + 2 * 3 * 4 * 4
    assert header.extra1 == b"\x01\x02" + b"\x00" * 6
    assert header.extra2 == b"tail" + b"\x00" * 80
    assert (header.dmin, header.dmax, header.dmean, header.rms) == (0.0, 1.0, 0.5, 0.25)
    assert header.nlabl == 0 and header.labels == ("",) * 10  # no label asked for, none written


def test_portal_label_layout() -> None:
    label = portal_label(WHEN)
    assert label == f"{PORTAL_LABEL:<40}{'2026-11-29 11:33:09':>39}"
    assert len(label) == 79 and label.startswith("Validated by cryoET data portal.")
    assert label.endswith("2026-11-29 11:33:09") and label[32:60] == " " * 28
    assert portal_label().startswith(PORTAL_LABEL)


# -- the portal's own files (reference-90001/output) -------------------------------------------------


def _reference(name: str) -> Path:
    return shared_dir() / "reference-90001" / "output" / REFERENCE[name]


@pytest.mark.parametrize(
    ("name", "mode", "ispg", "spacing", "tilt_series"),
    [
        ("tomogram", 2, 1, 13.48, False),
        ("tiltseries", 2, 0, 6.74, True),
        ("segmentation_mask", 0, 1, 13.48, False),
    ],
)
def test_reference_headers_follow_formats_md(
    name: str, mode: int, ispg: int, spacing: float, tilt_series: bool
) -> None:
    path = _reference(name)
    header = parse_header(path.read_bytes()[:HEADER_SIZE])
    assert header.mode == mode
    assert header.ispg == ispg
    assert (header.mx, header.my) == (header.nx, header.ny)
    assert header.mz == (1 if tilt_series else header.nz)
    assert header.cella == tuple(float(np.float32(spacing) * m) for m in (header.mx, header.my, header.mz))
    assert header.voxel_size == pytest.approx((spacing,) * 3, abs=1e-3)
    assert header.cellb == (90.0, 90.0, 90.0)
    assert (header.mapc, header.mapr, header.maps) == (1, 2, 3)
    assert header.origin == (0.0, 0.0, 0.0) and (header.nxstart, header.nystart, header.nzstart) == (0, 0, 0)
    assert (header.exttyp, header.nsymbt, header.nversion) == ("MRCO", 0, 20141)
    assert (header.map_id, header.machst, header.byte_order) == ("MAP ", LITTLE_ENDIAN_STAMP, "<")
    assert header.nlabl == 1 and header.labels[0].startswith(PORTAL_LABEL)
    stamp = dt.datetime.strptime(header.labels[0][-19:], "%Y-%m-%d %H:%M:%S")
    assert header.labels[0] == portal_label(stamp), "our label is byte-identical to the portal's"
    assert header.expected_file_size == path.stat().st_size

    # dmin/dmax/dmean/rms are the exact statistics of the data (rms = population std).
    with mrcfile.open(path, permissive=True) as mrc:
        data = np.array(mrc.data)
    assert data.shape == header.shape and data.dtype == header.dtype
    statistics = _statistics(data)
    assert header.dmin == pytest.approx(statistics.minimum)
    assert header.dmax == pytest.approx(statistics.maximum)
    assert header.dmean == pytest.approx(statistics.mean, rel=1e-5, abs=1e-6)
    assert header.rms == pytest.approx(statistics.rms, rel=1e-5)


def test_reference_segmentation_mask_holds_zeros_and_ones() -> None:
    with mrcfile.open(_reference("segmentation_mask"), permissive=True) as mrc:
        assert set(np.unique(mrc.data).tolist()) == {0, 1}


# -- errors -------------------------------------------------------------------------------------------


def _header_fields(order: str = "<", **fields: object) -> np.void:
    header = np.zeros(1, dtype=HEADER_DTYPE.newbyteorder(order))[0]
    values = {"nx": 4, "ny": 3, "nz": 2, "mode": 2, "mx": 4, "my": 3, "mz": 2, "map": b"MAP ", "nversion": 20141}
    values["machst"] = np.frombuffer(LITTLE_ENDIAN_STAMP if order == "<" else b"\x11\x11\x00\x00", dtype=np.uint8)
    values["cella"] = (4.0, 3.0, 2.0)
    for name, value in {**values, **fields}.items():
        header[name] = value
    return header


@pytest.mark.parametrize("size", [0, 1, 100, HEADER_SIZE - 1])
def test_truncated_header(size: int) -> None:
    raw = _header_fields().tobytes()[:size]
    with pytest.raises(MrcFormatError) as raised:
        parse_header(raw)
    assert "truncated" in _one_line(raised)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff" * HEADER_SIZE,
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>' * 20)[:HEADER_SIZE],
        (b"PK\x03\x04" + bytes(range(256)) * 4)[:HEADER_SIZE],
        b"\x89PNG\r\n\x1a\n" + b"\x7f" * (HEADER_SIZE - 8),
    ],
    ids=["ff", "xml-error-page", "zip", "png"],
)
def test_garbage_bytes_are_a_format_error(raw: bytes) -> None:
    with pytest.raises(MrcFormatError) as raised:
        parse_header(raw)
    _one_line(raised)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"nx": 2**20, "ny": 2**20, "nz": 2**20, "mx": 2**20, "my": 2**20, "mz": 2**20}, "implausible"),
        ({"nx": -4}, "implausible"),
        ({"nsymbt": -1}, "nsymbt"),
    ],
    ids=["terabytes", "negative-nx", "negative-nsymbt"],
)
def test_implausible_headers_are_refused(fields: dict[str, int], word: str) -> None:
    with pytest.raises(MrcFormatError) as raised:
        parse_header(_header_fields(**fields).tobytes())
    assert word in _one_line(raised)


def test_big_endian_header_parses() -> None:
    raw = _header_fields(">", cella=(40.0, 30.0, 20.0), ispg=1, dmax=5.0).tobytes()
    assert raw[208:216] == b"MAP \x11\x11\x00\x00"
    header = parse_header(raw)
    assert header.byte_order == ">"
    assert (header.nx, header.ny, header.nz, header.mode) == (4, 3, 2, 2)
    assert header.dtype == np.dtype(">f4")
    assert header.voxel_size == (10.0, 10.0, 10.0)
    assert header.dmax == 5.0 and header.ispg == 1


def test_big_endian_file_written_by_mrcfile_parses(tmp_path: Path) -> None:
    path = tmp_path / "big.mrc"
    data = np.arange(2 * 3 * 4, dtype=">i2").reshape(2, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.new(path) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = 2.5
    raw = path.read_bytes()
    assert raw[212] == 0x11, "mrcfile wrote a big-endian header"
    header = parse_header(raw)
    assert header.byte_order == ">" and header.dtype == np.dtype(">i2")
    assert header.shape == (2, 3, 4) and header.voxel_size == pytest.approx((2.5, 2.5, 2.5))
    assert header.expected_file_size == len(raw)


def test_a_missing_machine_stamp_falls_back_to_the_plausible_byte_order() -> None:
    for order in "<>":
        raw = _header_fields(order, machst=np.zeros(4, dtype=np.uint8)).tobytes()
        header = parse_header(raw)
        assert header.byte_order == order
        assert (header.nx, header.ny, header.nz, header.mode) == (4, 3, 2, 2)


def test_header_is_a_dataclass_of_the_main_fields() -> None:
    header = parse_header(_header_fields().tobytes())
    assert isinstance(header, MrcHeader)
    assert parse_header(_header_fields().tobytes() + b"trailing data is ignored") == header


# -- RunningStatistics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [np.float32, np.int8, np.uint16, np.float64], ids=["float32", "int8", "uint16", "float64"]
)
def test_running_statistics_over_slabs_equal_numpy_over_the_whole_array(dtype: type) -> None:
    rng = np.random.default_rng(11)
    if np.dtype(dtype).kind == "f":
        data = (rng.normal(1.0e4, 3.0, (41, 33, 27))).astype(dtype)  # large mean, small spread
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, (41, 33, 27), endpoint=True).astype(dtype)
    running = RunningStatistics()
    bounds = [0, 1, 1, 5, 6, 20, 41]  # uneven slabs, including an empty one
    for start, stop in itertools.pairwise(bounds):
        running.add(data[start:stop])
    result = running.result()
    whole = data.astype(np.float64)
    assert running.count == data.size
    assert result.minimum == whole.min() and result.maximum == whole.max()
    assert result.mean == pytest.approx(whole.mean(), rel=1e-12)
    assert result.rms == pytest.approx(whole.std(), rel=1e-9)  # population std (ddof=0)


def test_running_statistics_of_one_value_and_of_nothing() -> None:
    assert RunningStatistics().result() == DataStatistics(0.0, 0.0, 0.0, 0.0)
    running = RunningStatistics()
    running.add(np.full((1, 2, 2), 7, dtype=np.int8))
    running.add(np.zeros((0, 2, 2), dtype=np.int8))
    assert running.result() == DataStatistics(7.0, 7.0, 7.0, 0.0)
