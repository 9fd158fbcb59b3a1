"""Buckets as the portal's own importer writes them, beyond what reference-90001 shows: no false error on them, and
the defect each convention could hide is still an error.

Each variant rewrites the portal's reference output as the portal's importer (``ingestion_tools/scripts``: the
alignment importer, ``cryoet_alignment``'s ``Alignment.from_aretomo3``, the ``IMODCTF`` converter) writes such data.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from data_validation.engine import Result, Status, validate
from data_validation.registry import Severity
from importers.storage import Bucket
from tests.conftest import shared_dir

RUN = "90001/SYN_run1"
ALIGNMENT = f"{RUN}/Alignments/100"
TILTSERIES = f"{RUN}/TiltSeries/100"
#: Raw sections AreTomo found dark in the AreTomo variant: the first and the last of the 31.
DARK = (0, 30)
ROTATION = 84.7
ALPHA_OFFSET = 0.5


def _edit(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _rotation(degrees: float) -> list[list[float]]:
    radians = math.radians(degrees)
    return [[math.cos(radians), -math.sin(radians)], [math.sin(radians), math.cos(radians)]]


def default_alignment(root: Path) -> None:
    """The alignment the portal gives a run whose config has no alignment source (AlignmentImporter's default:
    a literal ``default`` with no path, so ``files`` is ``[null]``, and no ``format``)."""
    for name in ("SYN_run1.xf", "SYN_run1.tlt"):
        (root / ALIGNMENT / name).unlink()

    def change(document: dict) -> None:
        for key in ("format", "alignment_path", "tilt_path", "tiltx_path"):
            document.pop(key)
        document.update(
            per_section_alignment_parameters=[],
            alignment_path=None,
            tilt_path=None,
            tiltx_path=None,
            files=[None],
            method_type="undefined",
            is_portal_standard=False,
        )

    _edit(root / ALIGNMENT / "alignment_metadata.json", change)


def _raw_angles(root: Path) -> list[float]:
    return [float(line) for line in (root / TILTSERIES / "SYN_run1.rawtlt").read_text().split()]


def aretomo_alignment(root: Path, *, first_sec: int = 0) -> None:
    """An AreTomo3 alignment with dark frames: SEC counts the kept sections from ``first_sec``, TILT is the raw
    angle plus AlphaOffset, and the portal pairs row i with the i-th raw section that is not dark."""
    angles = _raw_angles(root)
    kept = [z for z in range(len(angles)) if z not in DARK]
    rows = [
        f"{first_sec + i:5d} {ROTATION:10.4f}    1.00000 {0.5 * i:10.3f} {-0.25 * i:10.3f}     1.00     1.00     "
        f"1.00     0.00 {angles[z] + ALPHA_OFFSET:9.2f}"
        for i, z in enumerate(kept)
    ]
    text = "\n".join(
        [
            "# AreTomo Alignment / Priims bprmMn",
            f"# RawSize = 64 64 {len(angles)}",
            "# NumPatches = 0",
            *(f"# DarkFrame = {z:5d} {z:4d} {angles[z]:8.2f}" for z in DARK),
            f"# AlphaOffset = {ALPHA_OFFSET:8.2f}",
            "# BetaOffset =     0.00",
            "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT",
            *rows,
        ]
    )
    for name in ("SYN_run1.xf", "SYN_run1.tlt"):
        (root / ALIGNMENT / name).unlink()
    (root / ALIGNMENT / "SYN_run1.aln").write_text(text + "\n")
    parameters = [
        {
            "z_index": z,
            "tilt_angle": round(angles[z] + ALPHA_OFFSET, 2),
            "volume_x_rotation": 0,
            "in_plane_rotation": _rotation(ROTATION),
            "x_offset": 0.5 * i,
            "y_offset": -0.25 * i,
        }
        for i, z in enumerate(kept)
    ]

    def change(document: dict) -> None:
        document.update(
            format="ARETOMO3",
            per_section_alignment_parameters=parameters,
            alignment_path=f"{ALIGNMENT}/SYN_run1.aln",
            tilt_path=None,
            files=[f"{ALIGNMENT}/SYN_run1.aln"],
            tilt_offset=ALPHA_OFFSET,
            x_rotation_offset=0.0,  # BetaOffset as AreTomo writes it, a float
        )

    _edit(root / ALIGNMENT / "alignment_metadata.json", change)


def imod_ctf(root: Path) -> None:
    """An IMOD ``.defocus`` CTF file (flag 1: astigmatism, nm): the portal's converter stores
    ``cross_correlation`` and ``max_resolution`` as 0.0, the columns IMOD does not have."""
    (root / TILTSERIES / "SYN_run1_CTFFIND_ctf.txt").unlink()
    angles = _raw_angles(root)
    rows = [(z + 1, 3000.0 + z, 2950.0 + z, -40.0 + z) for z in range(len(angles))]
    lines = ["1 0 0.0 0.0 0.0 3"] + [
        f"{view} {view} {angles[view - 1]:.2f} {angles[view - 1]:.2f} {d1:.2f} {d2:.2f} {azimuth:.2f}"
        for view, d1, d2, azimuth in rows
    ]
    key = f"{TILTSERIES}/SYN_run1_IMOD_ctf.txt"
    (root / key).write_text("\n".join(lines) + "\n")

    def change(document: dict) -> None:
        document["ctf_path"] = key
        for parameter, (_, d1, d2, azimuth) in zip(document["per_section_parameter"], rows, strict=True):
            parameter.update(
                major_defocus=d1 * 10,
                minor_defocus=d2 * 10,
                astigmatic_angle=azimuth,
                phase_shift=0.0,
                cross_correlation=0.0,
                max_resolution=0.0,
            )

    _edit(root / TILTSERIES / "tiltseries_metadata.json", change)


def _portal_bucket(tmp_path: Path, *variants: Callable[[Path], None]) -> Path:
    root = tmp_path / "portal"
    shutil.copytree(shared_dir() / "reference-90001" / "output", root)
    for variant in variants:
        variant(root)
    return root


def _errors(root: Path) -> list[Result]:
    results = validate(Bucket(str(root), read_only=True), ["90001"])
    return [r for r in results if r.status is Status.FAILED and r.severity is Severity.ERROR]


@pytest.mark.parametrize(
    "variant", [default_alignment, aretomo_alignment, imod_ctf], ids=lambda variant: variant.__name__
)
def test_portal_output_has_no_false_error(variant: Callable[[Path], None], tmp_path: Path) -> None:
    errors = _errors(_portal_bucket(tmp_path, variant))
    assert not errors, "\n".join(r.line() for r in errors)


def test_aretomo2_numbering_from_one_pairs_the_same(tmp_path: Path) -> None:
    errors = _errors(_portal_bucket(tmp_path, lambda root: aretomo_alignment(root, first_sec=1)))
    assert not errors, "\n".join(r.line() for r in errors)


def _error_codes(root: Path) -> set[str]:
    return {r.code for r in _errors(root)}


def test_an_alignment_paired_as_sec_minus_one_is_an_error(tmp_path: Path) -> None:
    """z_index = SEC − 1 (the importer's old pairing) gives −1 and puts every angle on the wrong section."""
    root = _portal_bucket(tmp_path, aretomo_alignment)
    _edit(
        root / ALIGNMENT / "alignment_metadata.json",
        lambda d: [p.update(z_index=i - 1) for i, p in enumerate(d["per_section_alignment_parameters"])],
    )
    assert {"ALN-Z-INDEX", "TILT-PSAP-ANGLE"} <= _error_codes(root)


def test_an_aln_row_count_that_does_not_add_up_is_an_error(tmp_path: Path) -> None:
    root = _portal_bucket(tmp_path, aretomo_alignment)
    aln = root / ALIGNMENT / "SYN_run1.aln"
    aln.write_text(aln.read_text().replace("RawSize = 64 64 31", "RawSize = 64 64 32"))
    assert "ALN-XF-ROWS" in _error_codes(root)


def test_null_files_outside_the_default_alignment_are_an_error(tmp_path: Path) -> None:
    root = _portal_bucket(tmp_path)
    _edit(root / ALIGNMENT / "alignment_metadata.json", lambda d: d["files"].append(None))
    assert "ALN-FILES" in _error_codes(root)


def test_a_default_alignment_with_parameters_needs_a_format(tmp_path: Path) -> None:
    root = _portal_bucket(tmp_path, default_alignment)
    reference = json.loads(
        (shared_dir() / "reference-90001" / "output" / ALIGNMENT / "alignment_metadata.json").read_text()
    )
    _edit(
        root / ALIGNMENT / "alignment_metadata.json",
        lambda d: d.update(per_section_alignment_parameters=reference["per_section_alignment_parameters"]),
    )
    assert "ALN-ENUMS" in _error_codes(root)


def test_an_imod_ctf_value_that_differs_is_an_error(tmp_path: Path) -> None:
    root = _portal_bucket(tmp_path, imod_ctf)
    _edit(
        root / TILTSERIES / "tiltseries_metadata.json",
        lambda d: d["per_section_parameter"][3].update(cross_correlation=0.4),
    )
    assert "CTF-PSP-AGREE" in _error_codes(root)


def test_imod_ctf_values_stored_as_null_are_right_too(tmp_path: Path) -> None:
    """metadata.md's null for a column the format lacks (what this project wrote before it followed the portal)."""
    root = _portal_bucket(tmp_path, imod_ctf)
    _edit(
        root / TILTSERIES / "tiltseries_metadata.json",
        lambda d: [p.update(cross_correlation=None, max_resolution=None) for p in d["per_section_parameter"]],
    )
    assert "CTF-PSP-AGREE" not in _error_codes(root)
