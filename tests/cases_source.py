"""One defect per SRC-* check code, made in a copy of the sample *source* (what a lab uploads).

The copy is the sample of ``cryoet-ingest sample`` extended by :func:`extend_source` with what the sample lacks
(one movie per mdoc section and a gain reference per run, and their config entries), so that the frame and
gain checks have something to pass on and to fail on. ``CASES`` holds the corruptions (a plain list, like
``cases_db.CASES``: the MRC header suite's are generated per source family);
``test_every_check_has_a_corruption_case`` counts them.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import yaml

from data_validation.registry import Severity
from importers.formats.mdoc import parse_mdoc
from importers.ingest.config import load_config
from tests.conftest import REPO_ROOT
from tests.corruptions import Corruption, all_of, append_bytes, delete, patch_mrc_header, read_mrc_field, write_file

SOURCE = "sample_10001"
#: The config entity's path is the config file's; tests fill it in.
CONFIG = "{config}"
RUN = "10001/TS_001"
TS = f"{SOURCE}/tiltseries/TS_001.mrc"
TOMOGRAM = f"{SOURCE}/tomograms/TS_001.mrc"
MDOC = f"{SOURCE}/tiltseries/TS_001.mdoc"
RAWTLT = f"{SOURCE}/tiltseries/TS_001.rawtlt"
POINTS = f"{SOURCE}/annotations/TS_001_ribosome.csv"
MASK = f"{SOURCE}/annotations/TS_001_membrane.mrc"
GAIN = f"{SOURCE}/gains/TS_001_gain.mrc"
CONFIG_NAME = "10001.yaml"

Change = Callable[[Path], None]


# -- the extended sample --------------------------------------------------------------------------


def _write_config(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def extend_source(sample_source: Path, root: Path) -> Path:
    """Copy the sample source to ``root``, add movies and gains with their config entries; returns the config."""
    shutil.copytree(sample_source / SOURCE, root / SOURCE)
    for mdoc in sorted((root / SOURCE / "tiltseries").glob("*.mdoc")):
        run = mdoc.stem
        (root / SOURCE / "frames").mkdir(exist_ok=True)
        for section in parse_mdoc(mdoc.read_text(), str(mdoc)).sections:
            (root / SOURCE / "frames" / section.sub_frame_path).write_bytes(b"movie")
        (root / SOURCE / "gains").mkdir(exist_ok=True)
        with mrcfile.new(root / SOURCE / "gains" / f"{run}_gain.mrc") as gain:
            gain.set_data(np.ones((16, 16), dtype=np.float32))
    config = load_config(REPO_ROOT / "dataset_configs" / CONFIG_NAME)
    config["frames"][0]["sources"] = [{"source_glob": {"list_glob": "frames/{run_name}_*.tif"}}]
    config["gains"] = [{"sources": [{"source_glob": {"list_glob": "gains/{run_name}_gain.mrc"}}]}]
    _write_config(root / CONFIG_NAME, config)
    return root / CONFIG_NAME


# -- changes --------------------------------------------------------------------------------------


def config_edit(edit: Callable[[dict[str, Any]], None]) -> Change:
    def change(root: Path) -> None:
        data = load_config(root / CONFIG_NAME)
        edit(data)
        _write_config(root / CONFIG_NAME, data)

    return change


def set_list_glob(config_key: str, glob: str) -> Change:
    return config_edit(lambda data: data[config_key][0]["sources"][0]["source_glob"].update(list_glob=glob))


def text_edit(key: str, edit: Callable[[str], str]) -> Change:
    def change(root: Path) -> None:
        path = root / key
        edited = edit(path.read_text(encoding="latin-1"))
        assert edited != path.read_text(encoding="latin-1"), f"the edit of {key} changed nothing"
        path.write_text(edited, encoding="latin-1")

    return change


def rename(key: str, target: str) -> Change:
    return lambda root: (root / key).rename(root / target)


def copy(key: str, target: str) -> Change:
    return lambda root: shutil.copyfile(root / key, root / target)


def header(key: str, **fields: Any) -> Change:
    return lambda root: patch_mrc_header(root / key, **fields)


def scale_cell_x(key: str, factor: float) -> Change:
    def change(root: Path) -> None:
        cella = read_mrc_field(root / key, "cella").copy()
        cella["x"] = cella["x"] * factor
        patch_mrc_header(root / key, cella=cella)

    return change


def not_for_first_run(config_key: str) -> Change:
    """The entry's source leaves run TS_001 out (``parent_filters``)."""
    return config_edit(
        lambda data: data[config_key][0]["sources"][0].update(parent_filters={"exclude": {"run": ["TS_001"]}})
    )


def drop_mdoc_section(z_value: int) -> Change:
    """Remove one ``[ZValue = n]`` block (up to the next blank line) from the run's mdoc."""
    return text_edit(MDOC, lambda text: re.sub(rf"\[ZValue = {z_value}\]\n(?:.+\n)+\n", "", text, count=1))


# -- the shared MRC header suite, per source family -----------------------------------------------

#: Code suffix -> the defect, for an MRC at ``key`` (as the bucket suite's cases make them).
MRC_DEFECTS: dict[str, Callable[[str], Change]] = {
    "MRC-READABLE": lambda key: write_file(key, b"\0" * 100),
    "MRC-SPACEGROUP": lambda key: header(key, ispg=5),
    "MRC-MAP-ID": lambda key: header(key, map=b"MAPX"),
    "MRC-MACHINE-STAMP": lambda key: header(key, machst=[0x22, 0x22, 0, 0]),
    "MRC-DTYPE": lambda key: header(key, mode=4),
    "MRC-DIMS": lambda key: header(key, mx=0),
    "MRC-CELL": lambda key: header(key, cellb=(80.0, 90.0, 90.0)),
    "MRC-SAMPLING": lambda key: header(key, my=1),
    "MRC-NLABL": lambda key: header(key, nlabl=3),
    "MRC-NVERSION": lambda key: header(key, nversion=20130),
    "MRC-EXTTYP": lambda key: header(key, nsymbt=16, exttyp=b"ABCD"),
    "MRC-AXIS-MAP": lambda key: header(key, mapc=2, mapr=1),
    "MRC-ORIGIN": lambda key: header(key, origin=(5.0, 0.0, 0.0)),
    "MRC-NSTART": lambda key: header(key, nxstart=3),
    "MRC-VOXEL-SPACING": lambda key: scale_cell_x(key, 1.05),
    "MRC-FILE-SIZE": lambda key: append_bytes(key, 2 << 20),
    "MRC-STATS-ORDER": lambda key: header(key, dmean=1e9),
}

#: Defects of header fields that standardize writes anew, or honours (a permuted axis map is reordered): info on a
#: source, nothing of them reaches the portal (docs/checks.md).
SOURCE_INFO = {
    "MRC-SPACEGROUP",
    "MRC-MAP-ID",
    "MRC-SAMPLING",
    "MRC-NLABL",
    "MRC-NVERSION",
    "MRC-AXIS-MAP",
    "MRC-ORIGIN",
    "MRC-NSTART",
    "MRC-STATS-ORDER",
}
#: An extended header of an unknown type reads correctly but departs from convention: a warning.
SOURCE_WARNINGS = {"MRC-EXTTYP"}

MRC_CASES = [
    Corruption(
        f"{prefix}-{suffix}",
        key,
        defect(key),
        Severity.INFO if suffix in SOURCE_INFO else Severity.WARNING if suffix in SOURCE_WARNINGS else Severity.ERROR,
    )
    for prefix, key in (("SRC-TS", TS), ("SRC-TOMO", TOMOGRAM))
    for suffix, defect in MRC_DEFECTS.items()
] + [
    # Axes that are no permutation cannot be reordered: standardize refuses the file.
    Corruption("SRC-TOMO-MRC-AXIS-MAP", TOMOGRAM, header(TOMOGRAM, mapc=1, mapr=1)),
]


# -- every other source check ---------------------------------------------------------------------


def _unknown_top_level_key(data: dict[str, Any]) -> None:
    data["curator_notes"] = "not a config key"


CASES: list[Corruption] = [
    Corruption("SRC-CONFIG-VALID", CONFIG, config_edit(_unknown_top_level_key)),
    Corruption("SRC-RUNS-EXIST", CONFIG, set_list_glob("runs", "tomograms_v2/*.mrc")),
    # An entry that matches nothing in any run (in some runs only: a warning, as the importer takes it).
    Corruption("SRC-SOURCES-FOUND", RUN, set_list_glob("ctfs", "ctf/{run_name}_ctffind5.txt")),
    Corruption(
        "SRC-TS-PER-RUN",
        RUN,
        all_of(set_list_glob("tiltseries", "tiltseries/{run_name}*.mrc"), copy(TS, f"{SOURCE}/tiltseries/TS_001b.mrc")),
    ),
    # No source entry for TS_001's mdoc / rawtlt (a file the entry misses is SRC-SOURCES-FOUND's).
    Corruption("SRC-MDOC-PRESENT", RUN, not_for_first_run("collection_metadata")),
    Corruption("SRC-RAWTLT-PRESENT", RUN, not_for_first_run("rawtilts")),
    Corruption(
        "SRC-TS-FILETYPE",
        f"{SOURCE}/tiltseries/TS_001.img",
        all_of(
            set_list_glob("tiltseries", "tiltseries/{run_name}.img"),
            rename(TS, f"{SOURCE}/tiltseries/TS_001.img"),
            rename(f"{SOURCE}/tiltseries/TS_002.mrc", f"{SOURCE}/tiltseries/TS_002.img"),
        ),
    ),
    Corruption("SRC-TS-Z-RAWTLT", TS, text_edit(RAWTLT, lambda text: text.rsplit("\n", 2)[0] + "\n")),
    Corruption("SRC-MDOC-TILT-AXIS", RUN, text_edit(MDOC, lambda text: text.replace("Tilt axis angle", "Rotation"))),
    Corruption(
        "SRC-MDOC-SUBFRAMEPATH", RUN, text_edit(MDOC, lambda text: re.sub(r"SubFramePath = .*\n", "", text, count=1))
    ),
    Corruption(
        "SRC-TILT-MDOC-RANGE", RUN, text_edit(MDOC, lambda text: text.replace("TiltAngle = 60.00", "TiltAngle = 95.00"))
    ),
    Corruption("SRC-TILT-RAWTLT-NONEMPTY", RUN, write_file(RAWTLT, b"")),
    Corruption("SRC-TILT-RAWTLT-RANGE", RUN, text_edit(RAWTLT, lambda text: text.replace("-60.00", "-95.00", 1))),
    # An mdoc angle missing: the rawtlt's 3° has no section of its own.
    Corruption("SRC-TILT-RAWTLT-VS-MDOC", RUN, drop_mdoc_section(1)),
    Corruption("SRC-FRAME-MDOC-PATHS", RUN, delete(f"{SOURCE}/frames/TS_001_000_0.0.tif")),
    Corruption(
        "SRC-FRAME-EXT",
        RUN,
        all_of(set_list_glob("frames", "frames/{run_name}_*"), write_file(f"{SOURCE}/frames/TS_001_notes.txt", b"x")),
        Severity.WARNING,
    ),
    Corruption(
        "SRC-GAIN-EXT",
        RUN,
        all_of(set_list_glob("gains", "gains/{run_name}_gain.*"), rename(GAIN, f"{SOURCE}/gains/TS_001_gain.dat")),
        Severity.WARNING,
    ),
    Corruption("SRC-GAIN-READABLE", RUN, write_file(GAIN, b"not a gain reference")),
    # A CSV with the wrong column count: x, y only.
    Corruption(
        "SRC-ANNO-PARSE",
        POINTS,
        text_edit(POINTS, lambda text: "".join(",".join(line.split(",")[:2]) + "\n" for line in text.splitlines())),
    ),
    Corruption("SRC-ANNO-IN-VOLUME", POINTS, text_edit(POINTS, lambda text: text + "1000.00,5.00,5.00\n")),
    Corruption("SRC-ANNO-IN-VOLUME", MASK, header(MASK, nx=8, mx=8)),
    *MRC_CASES,
]
