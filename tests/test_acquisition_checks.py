"""The acquisition checks on what the clean sample lacks: MRC movies with a gain, and an AreTomo3 alignment.

The clean sample deposits no movies or gains and aligns with IMOD; the reference output has TIFF movies.
These tests give the sample MRC movies (+ an MRC gain) or an AreTomo3 ``.aln`` and expect every check of
checks.md §8–12 to pass, then break one thing each.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_validation.engine import Result, Status, validate
from data_validation.registry import REGISTRY
from importers.formats.alignment_files import parse_aln
from importers.formats.mdoc import parse_mdoc
from importers.ingest.entities.alignment import aretomo_sections
from importers.storage import Bucket
from tests import corruptions as acq

PREFIXES = ("TS", "TILT", "CTF", "ALN", "MDOC", "FRAME", "GAIN")
MINE = [check for code, check in REGISTRY.items() if code.split("-")[0] in PREFIXES]


def _mine(root: Path) -> list[Result]:
    results = validate(Bucket(str(root), read_only=True), ["10001"], checks=MINE)
    return [result for result in results if result.code.split("-")[0] in PREFIXES]


def _not_passed(results: list[Result]) -> list[str]:
    return [
        result.line()
        for result in results
        if result.status is Status.FAILED
        or (result.status is Status.SKIPPED and "not applicable" not in result.message)
    ]


def _mrc_movies(root: Path, pixel: float = 6.74) -> None:
    """MRC movies (nz = NumSubFrames) for every mdoc section, frames[].path and frames_count to match, a gain."""
    mdoc_path = root / acq.MDOC
    text = mdoc_path.read_text()
    names = []
    for section in parse_mdoc(text, "mdoc").sections:
        name = section.sub_frame_path.replace(".tif", ".mrc")
        text = text.replace(section.sub_frame_path, name)
        (root / acq.FRAMES / name).write_bytes(acq.mrc_file_bytes(8, 8, section.num_sub_frames, pixel))
        names.append(name)
    mdoc_path.write_text(text)

    def set_paths(document: dict) -> None:
        for frame, name in zip(document["frames"], names, strict=True):
            frame["path"] = f"{acq.FRAMES}/{name}"

    acq.edit_json(root / acq.FRAMES_METADATA, set_paths)
    acq.edit_json(root / acq.TS_METADATA, lambda d: d.update(frames_count=len(names)))
    (root / acq.GAINS).mkdir()
    (root / acq.GAINS / "gain.mrc").write_bytes(acq.mrc_file_bytes(8, 8, 1, pixel))


def test_mrc_movies_and_gain_pass(bucket_copy: Path) -> None:
    _mrc_movies(bucket_copy)
    assert not _not_passed(_mine(bucket_copy))


def test_mrc_movie_checks_catch_their_defects(bucket_copy: Path) -> None:
    _mrc_movies(bucket_copy)
    first = bucket_copy / acq.FRAMES / sorted(p.name for p in (bucket_copy / acq.FRAMES).glob("*.mrc"))[0]
    first.write_bytes(acq.mrc_file_bytes(8, 8, 3, 3.37))  # 3 sections for NumSubFrames 8; binning 2
    (bucket_copy / acq.GAINS / "gain.mrc").write_bytes(acq.mrc_file_bytes(16, 16, 1, 6.74))
    failed = {result.code for result in _mine(bucket_copy) if result.status is Status.FAILED}
    assert {"FRAME-NUMSUBFRAMES", "FRAME-CONSISTENT", "GAIN-FRAME-MATCH"} <= failed
    assert "FRAME-TS-BINNING" not in failed  # 6.74 / 3.37 = 2


def _aretomo(root: Path, raw_size_extra: int = 1) -> None:
    """Replace the IMOD alignment of TS_001 by an AreTomo3 one with a dark frame."""
    angles = (root / acq.TLT).read_text().split()
    rows = [
        f"{i + 1:5d} {84.7:10.4f} 1.00000 0.500 -0.200 1.00 1.00 1.00 0.00 {float(a):8.2f}"
        for i, a in enumerate(angles)
    ]
    text = "\n".join(
        [
            "# AreTomo Alignment / Priims bprmMn",
            f"# RawSize = 32 32 {len(angles) + raw_size_extra}",
            "# DarkFrame =     41    41   63.00",
            "# AlphaOffset =     0.50",
            "# BetaOffset =     0.00",
            *rows,
            "# Local Alignment",
            "    0    0   10.0   10.0  0.5  0.5  1.0",
        ]
    )
    aln_key = f"{acq.ALIGNMENT}/TS_001.aln"
    (root / aln_key).write_text(text + "\n")
    (root / acq.XF).unlink()
    (root / acq.TLT).unlink()
    sections = aretomo_sections(parse_aln(text, "aln"))
    acq.edit_json(
        root / acq.ALN_METADATA,
        lambda d: d.update(
            format="ARETOMO3",
            per_section_alignment_parameters=sections,
            alignment_path=aln_key,
            tilt_path=None,
            files=[aln_key],
            tilt_offset=0.5,
        ),
    )


def test_aretomo_alignment_passes(bucket_copy: Path) -> None:
    _aretomo(bucket_copy)
    assert not _not_passed(_mine(bucket_copy))


def test_aretomo_tilt_angle_is_compared_with_the_aln(bucket_copy: Path) -> None:
    _aretomo(bucket_copy, raw_size_extra=0)
    document = json.loads((bucket_copy / acq.ALN_METADATA).read_text())
    document["per_section_alignment_parameters"][3]["tilt_angle"] += 1.0
    (bucket_copy / acq.ALN_METADATA).write_text(json.dumps(document))
    failed = {result.code for result in _mine(bucket_copy) if result.status is Status.FAILED}
    assert {"TILT-PSAP-ANGLE", "ALN-XF-ROWS"} <= failed
