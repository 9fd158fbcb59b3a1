"""Acquisition text readers (mdoc, tilt angles, .xf/.aln, CTF fits) on the reference inputs and on broken text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from importers.formats.alignment_files import parse_aln, parse_xf
from importers.formats.ctf import canonical_format, parse_ctf
from importers.formats.mdoc import parse_mdoc
from importers.formats.text_table import TextFormatError, decode_text
from importers.formats.tilt_angles import parse_tilt_angles
from tests.conftest import shared_dir


def _reference(relative: str) -> str:
    return (shared_dir() / "reference-90001" / relative).read_text()


def test_mdoc_of_the_reference() -> None:
    mdoc = parse_mdoc(_reference("input/metadata/mdocs/SYN_run1.mdoc"), "SYN_run1.mdoc")
    assert mdoc.values["PixelSpacing"] == "6.74" and mdoc.values["ImageSize"] == "128 128"
    assert mdoc.tilt_axis == 84.7 and len(mdoc.titles) == 2
    assert [s.z_value for s in mdoc.sections] == list(range(31))
    first = mdoc.sections[0]
    assert (first.tilt_angle, first.exposure_time, first.exposure_dose, first.pixel_spacing) == (0.0, 1.0, 3.0, 6.74)
    assert first.sub_frame_path == "SYN_run1_000.tif" and first.num_sub_frames == 2
    assert first.date_time == "01-Jan-24  00:00:00"
    assert mdoc.section_at_angle(-30.004).z_value == 30 and mdoc.section_at_angle(45.0) is None


def test_mdoc_takes_the_basename_of_windows_and_posix_paths() -> None:
    text = (
        "[ZValue = 0]\nTiltAngle = 1\nSubFramePath = D:\\a\\b\\m0.eer\n"
        "[ZValue = 1]\nTiltAngle = 2\nSubFramePath = /x/m1.tif\n"
    )
    assert [s.sub_frame_path for s in parse_mdoc(text, "m").sections] == ["m0.eer", "m1.tif"]


def test_mdoc_skips_sections_other_than_zvalue() -> None:
    text = "[ZValue = 0]\nTiltAngle = 1\n[MontSection = 0]\nTiltAngle = oops\n"
    assert len(parse_mdoc(text, "m").sections) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PixelSpacing = 1\n", "x.mdoc: no [ZValue = n] sections"),
        ("[ZValue = 0]\nExposureTime = 1\n", "x.mdoc: line 1: section [ZValue = 0] has no TiltAngle"),
        ("[ZValue = 0]\nTiltAngle = steep\n", "x.mdoc: line 2: TiltAngle = 'steep' is not a number"),
        ("[ZValue = a]\nTiltAngle = 1\n", "x.mdoc: line 1: ZValue 'a' is not an integer"),
        ("[ZValue = 0\nTiltAngle = 1\n", "x.mdoc: line 1: malformed section header"),
        ("[ZValue = 0]\nTiltAngle 1\n", "x.mdoc: line 2: expected 'Key = Value'"),
        ("[ZValue = 0]\nTiltAngle = 1\n\n[ZValue = 0]\nTiltAngle = 2\n", "line 4: [ZValue = 0] repeats"),
        ("[ZValue = 0]\nTiltAngle = 1\nNumSubFrames = 2.5\n", "line 3: NumSubFrames = '2.5' is not an integer"),
    ],
)
def test_malformed_mdoc_is_reported_with_its_line(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_mdoc(text, "x.mdoc")


def test_tilt_angle_files_of_the_reference() -> None:
    raw = parse_tilt_angles(_reference("input/metadata/SYN_run1.rawtlt"), "r")
    aligned = parse_tilt_angles(_reference("input/alignments/SYN_run1.tlt"), "t")
    assert len(raw) == len(aligned) == 31 and raw[0] == -30.0 and raw[-1] == 30.0 and aligned[0] == -29.9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a.rawtlt: no tilt angles"),
        ("\n  \n", "a.rawtlt: no tilt angles"),
        ("1.0\n2.0 3.0\n", "a.rawtlt: line 2: expected 1 columns, found 2"),
        ("1.0\n\nabc\n", "a.rawtlt: line 3: 'abc' is not a number"),
    ],
)
def test_malformed_tilt_angles(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_tilt_angles(text, "a.rawtlt")


def test_xf_gives_the_portal_rotation_and_offsets_of_the_reference() -> None:
    transforms = parse_xf(_reference("input/alignments/SYN_run1.xf"), "x")
    portal = json.loads(_reference("output/90001/SYN_run1/Alignments/100/alignment_metadata.json"))
    expected = portal["per_section_alignment_parameters"]
    assert len(transforms) == len(expected) == 31
    for transform, section in zip(transforms, expected, strict=True):
        assert transform.in_plane_rotation == section["in_plane_rotation"]
        assert transform.offsets == pytest.approx((section["x_offset"], section["y_offset"]), rel=1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "s.xf: no transforms"),
        ("1 0 0 1 0\n", "s.xf: line 1: expected 6 columns, found 5"),
        ("1 0 0 1 0 0\n1 0 0 1 0 x\n", "s.xf: line 2: 'x' is not a number"),
    ],
)
def test_malformed_xf(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_xf(text, "s.xf")


ALN = """# AreTomo Alignment / Priims bprmMn
# RawSize = 2032 2032 6
# NumPatches = 0
# DarkFrame =     0    0   -66.00
# AlphaOffset =     1.50
# BetaOffset =     -0.25
# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT
    2   -12.6611    1.00000     24.786     -2.677     1.00     1.00     1.00     0.00    -61.50
    3   -12.6611    1.00000     34.451     -8.599     1.00     1.00     1.00     0.00    -60.00
    4    90.0000    1.00000      9.951     -7.690     1.00     1.00     1.00     0.00    -58.50
# Local Alignment
   0   0  -558.42   -802.00   -100.07     24.43   1.0
   0   1  -274.86   -757.91    -36.95     11.98   1.0
"""


def test_aln() -> None:
    aln = parse_aln(ALN, "a.aln")
    assert aln.raw_size == (2032, 2032, 6) and aln.dark_frames == [0] and aln.local_rows == 2
    assert (aln.alpha_offset, aln.beta_offset) == (1.5, -0.25)
    assert aln.z_indices == [1, 2, 3] and aln.sections[0].tilt == -61.5
    rotation = aln.sections[2].in_plane_rotation
    assert rotation[0] == pytest.approx([0.0, -1.0], abs=1e-12) and rotation[1] == pytest.approx([1.0, 0.0], abs=1e-12)
    assert (aln.sections[1].tx, aln.sections[1].ty) == (34.451, -8.599)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ALN.replace("# RawSize = 2032 2032 6\n", ""), "a.aln: no '# RawSize"),
        (ALN.replace("RawSize = 2032 2032 6", "RawSize = 2032 big 6"), "a.aln: line 2: .* not a number"),
        (ALN.replace("-58.50\n", "\n"), "a.aln: line 10: expected 10 columns, found 9"),
        (ALN.replace("34.451", "3x"), "a.aln: line 9: '3x' is not a number"),
        (ALN.replace("    2   -12", "  2.5   -12"), "a.aln: line 8: SEC 2.5 is not a whole number"),
    ],
)
def test_malformed_aln(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_aln(text, "a.aln")


def test_ctffind_of_the_reference_matches_the_portal_per_section_values() -> None:
    rows = parse_ctf(_reference("input/metadata/SYN_run1_ctffind4.txt"), "CTFFIND", "c")
    portal = json.loads(_reference("output/90001/SYN_run1/TiltSeries/100/tiltseries_metadata.json"))
    for row, section in zip(rows, portal["per_section_parameter"], strict=True):
        assert row.section - 1 == section["z_index"]
        for name in ("major_defocus", "minor_defocus", "astigmatic_angle", "phase_shift", "cross_correlation"):
            assert getattr(row, name) == section[name]
        assert row.max_resolution == section["max_resolution"]


def test_gctf_with_and_without_phase_shift() -> None:
    text = "# Gctf\n; comment\n% another\n1 20000 19000 45 0.1 0.2 4.5\n2 21000 20000 46 0.3 5.5\n"
    first, second = parse_ctf(text, "gctf", "g")
    assert (first.section, first.phase_shift, first.cross_correlation, first.max_resolution) == (1, 0.1, 0.2, 4.5)
    assert (second.section, second.phase_shift, second.cross_correlation, second.max_resolution) == (2, 0.0, 0.3, 5.5)


def test_imod_defocus_files() -> None:
    plain = parse_ctf("1 1 -60.0 -60.0 3000.5 2\n2 2 -57.0 -57.0 3010\n", "IMOD", "i")
    assert [(r.section, r.major_defocus, r.minor_defocus) for r in plain] == [
        (1, 30005.0, 30005.0),
        (2, 30100.0, 30100.0),
    ]
    # IMOD fits have neither: 0.0, as the portal's converter stores them.
    assert plain[0].cross_correlation == 0.0 and plain[0].max_resolution == 0.0
    # Flag 1 (astigmatism) + 2 (axis in radians) + 4 (phase shift, degrees).
    astigmatic = parse_ctf("7 0 0.0 0.0 0.0 3\n1 1 -60 -60 3000 2900 0.5 90\n", "IMOD", "i")[0]
    assert (astigmatic.major_defocus, astigmatic.minor_defocus) == (30000.0, 29000.0)
    assert astigmatic.astigmatic_angle == pytest.approx(math.degrees(0.5))
    assert astigmatic.phase_shift == pytest.approx(math.pi / 2)


@pytest.mark.parametrize(
    ("ctf_format", "text", "message"),
    [
        ("CTFFIND", "# header only\n", "c.txt: no CTF rows"),
        ("CTFFIND", "# h\n1 2 3 4 5 6\n", "c.txt: line 2: expected at least 7 columns, found 6"),
        ("CTFFIND", "# h\n1.5 2 3 4 5 6 7\n", "c.txt: line 2: section 1.5 is not a whole number"),
        ("CTFFIND", "# h\n0 2 3 4 5 6 7\n", "c.txt: line 2: section 0 is not 1-based"),
        ("Gctf", "1 2 3 4 5\n", "c.txt: line 1: expected 6 or 7 columns, found 5"),
        ("IMOD", "1 0 0.0 0.0 0.0 3\n1 1 -60 -60 3000\n", "c.txt: line 2: expected 7 columns for flag 1, found 5"),
        ("IMOD", "0 0 -60 -60 3000\n", "c.txt: line 1: view 0 is not 1-based"),
    ],
)
def test_malformed_ctf(ctf_format: str, text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_ctf(text, ctf_format, "c.txt")


def test_ctf_format_names() -> None:
    assert canonical_format("gctf") == "Gctf" and canonical_format("ctffind") == "CTFFIND"
    with pytest.raises(ValueError, match="unknown CTF format 'CTFFIND5'"):
        canonical_format("CTFFIND5")


def test_latin1_text_is_decoded() -> None:
    assert decode_text("PixelSpacing = 1 Å".encode("latin-1")).endswith("Å")
    assert decode_text("Å".encode()) == "Å"


def test_reference_inputs_exist() -> None:
    assert Path(shared_dir() / "reference-90001/input/metadata/SYN_run2.rawtlt").is_file()
