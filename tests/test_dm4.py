"""DM4 gain references (importers/formats/dm4.py) on files DigitalMicrograph saved (hyperspy's test files:
tests/real_files.py), and their MRC form as the portal's ``dm2mrc`` writes it."""

from __future__ import annotations

import datetime as dt
import resource
import struct
import time
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from dm4 import DM4File

from importers.formats.dm4 import IMOD_STAMP, Dm4FormatError, dm2mrc, raw2mrc_label, read_dm4
from importers.formats.mrc import parse_header
from tests.real_files import PACKAGES, FetchError, fetch

#: hyperspy's DigitalMicrograph script made each ``test-{type}.dm4`` a 2×2 image of that DM data type with
#: rows (1, 2) at the top and (3, 4) below (generate_dm_testing_files.py).
DM_SCRIPT_IMAGE = [[1, 2], [3, 4]]


@pytest.fixture(scope="module")
def dm4_files() -> Path:
    package = next(package for package in PACKAGES if package.name == "hyperspy")
    try:
        return fetch(package)
    except (FetchError, OSError) as error:
        pytest.skip(f"real files of {package.name} {package.version} unavailable: {error}")


@pytest.mark.parametrize(
    ("code", "dtype"),
    [(1, "int16"), (2, "float32"), (7, "int32"), (10, "uint16"), (11, "uint32"), (12, "float64")],
)
def test_real_dm4_images_read_as_digitalmicrograph_saved_them(dm4_files: Path, code: int, dtype: str) -> None:
    image = read_dm4((dm4_files / f"test-{code}.dm4").read_bytes())
    assert image.data.dtype == np.dtype(dtype)
    assert image.data.tolist() == [DM_SCRIPT_IMAGE]
    assert image.pixel_size is None  # uncalibrated (scale 1, no unit): dm2mrc then writes 1 Å


def test_a_calibrated_image_gives_its_pixel_size_in_angstroms(dm4_files: Path) -> None:
    """The CL image is calibrated 18.32535 µm per pixel: dm2mrc's pixel size is the float32 scale × 10⁴ Å."""
    image = read_dm4((dm4_files / "test-MonarcCL_mono-image.dm4").read_bytes())
    assert image.pixel_size == 183253.5
    header, _ = dm2mrc(image)
    assert parse_header(header).voxel_size == pytest.approx((183253.5, 183253.5, 183253.5))


@pytest.mark.parametrize(("code", "kind"), [(3, "complex"), (6, "uint8"), (9, "int8")])
def test_data_types_no_gain_uses_are_refused_in_one_line(dm4_files: Path, code: int, kind: str) -> None:
    with pytest.raises(Dm4FormatError, match=f"DM data type {code} is not one a gain reference uses") as error:
        read_dm4((dm4_files / f"test-{code}.dm4").read_bytes())
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("code", [1, 2, 7, 10, 11, 12])
def test_the_dm4_package_reads_the_same_image(dm4_files: Path, code: int) -> None:
    """An independent reader (the ``dm4`` package, a dev dependency) finds the same last image and type."""
    with DM4File.open(str(dm4_files / f"test-{code}.dm4")) as theirs:
        image_data = theirs.read_directory().named_subdirs["ImageList"].unnamed_subdirs[-1].named_subdirs["ImageData"]
        data = theirs.read_tag_data(image_data.named_tags["Data"])
        assert theirs.read_tag_data(image_data.named_tags["DataType"]) == code
    ours = read_dm4((dm4_files / f"test-{code}.dm4").read_bytes()).data
    assert ours.tobytes() == data.tobytes()


def test_damaged_files_are_format_errors_in_bounded_time_and_memory(dm4_files: Path) -> None:
    """A few bytes changed anywhere in a real file: a Dm4FormatError or an image, never another exception, a
    gigabyte allocation or a hang (the dm4 package runs out of memory on some of these)."""
    original = (dm4_files / "test-2.dm4").read_bytes()
    rng = np.random.default_rng(4)
    started = time.monotonic()
    for _ in range(2000):
        damaged = bytearray(original)
        for position in rng.integers(0, len(damaged), rng.integers(1, 9)):
            damaged[position] = rng.integers(0, 256)
        try:
            image = read_dm4(bytes(damaged))
        except Dm4FormatError as error:
            assert "\n" not in str(error)
        else:
            assert image.data.nbytes <= len(damaged)
    assert time.monotonic() - started < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 4 << 20  # KiB: well under 4 GiB


@pytest.mark.parametrize("cut", [16, 1000, 26000])
def test_truncated_and_foreign_files_are_one_line_errors(dm4_files: Path, cut: int) -> None:
    data = (dm4_files / "test-2.dm4").read_bytes()
    for broken in (data[:cut], b"IMODV1.2" + bytes(cut)):
        with pytest.raises(Dm4FormatError) as error:
            read_dm4(broken)
        assert "\n" not in str(error.value)


def test_a_real_float_gain_converts_as_dm2mrc_writes_it(dm4_files: Path, tmp_path: Path) -> None:
    """raw2mrc -f: rows bottom first, float32 kept, 1 Å without calibration, space group 0, one dated label."""
    when = dt.datetime(2026, 12, 8, 1, 2, 3, tzinfo=dt.UTC)
    header, data = dm2mrc(read_dm4((dm4_files / "test-2.dm4").read_bytes()), when)
    parsed = parse_header(header)
    assert (parsed.nx, parsed.ny, parsed.nz, parsed.mode) == (2, 2, 1, 2)
    assert (parsed.mx, parsed.my, parsed.mz) == (2, 2, 1) and parsed.cella == (2.0, 2.0, 1.0)
    assert (parsed.ispg, parsed.nsymbt, parsed.nversion, parsed.origin) == (0, 0, 20140, (0.0, 0.0, 0.0))
    assert (parsed.dmin, parsed.dmax, parsed.dmean) == (1.0, 4.0, 2.5)
    assert parsed.nlabl == 1 and parsed.labels[0] == raw2mrc_label(when)
    assert parsed.labels[0] == f"{'raw2mrc: Converted to mrc format.':<55} 08-Dec-26  01:02:03    "
    assert struct.unpack_from("<i", header, 152)[0] == IMOD_STAMP
    path = tmp_path / "gain.mrc"
    path.write_bytes(header + np.ascontiguousarray(data).tobytes())
    with mrcfile.open(path, permissive=False) as mrc:
        assert mrc.data.dtype == np.float32
        assert mrc.data.tolist() == DM_SCRIPT_IMAGE[::-1]


def test_unsigned_16_bit_gains_lose_32767(dm4_files: Path) -> None:
    header, data = dm2mrc(read_dm4((dm4_files / "test-10.dm4").read_bytes()))
    assert parse_header(header).mode == 1 and data.dtype == np.int16
    assert data.tolist() == [[[3 - 32767, 4 - 32767], [1 - 32767, 2 - 32767]]]


@pytest.mark.parametrize("code", [7, 11, 12])
def test_32_bit_integers_and_doubles_become_float32(dm4_files: Path, code: int) -> None:
    header, data = dm2mrc(read_dm4((dm4_files / f"test-{code}.dm4").read_bytes()))
    assert parse_header(header).mode == 2 and data.dtype == np.float32
    assert data.tolist() == [DM_SCRIPT_IMAGE[::-1]]
