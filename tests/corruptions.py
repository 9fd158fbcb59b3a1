"""The corruption library: small functions that each break one thing in a clean bucket folder.

The checks' own tests apply one of these to a copy of the standardized sample and expect exactly
the check that targets the defect to fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from mrcfile.dtypes import HEADER_DTYPE

from data_validation.registry import Severity

DATASET = "10001"
RUN = f"{DATASET}/TS_001"
VOXEL_SPACING = f"{RUN}/Reconstructions/VoxelSpacing13.480"
TOMOGRAM = f"{VOXEL_SPACING}/Tomograms/100"
TOMOGRAM_MRC = f"{TOMOGRAM}/TS_001.mrc"
TOMOGRAM_ZARR = f"{TOMOGRAM}/TS_001.zarr"
TOMOGRAM_METADATA = f"{TOMOGRAM}/tomogram_metadata.json"


@dataclass(frozen=True)
class Corruption:
    """A defect: which check must catch it, on which entity, and how to make it."""

    code: str
    entity: str
    apply: Callable[[Path], None]
    #: How bad the defect is (docs/checks.md: error = data lost, unreadable or wrong for a user; warning = a
    #: departure from convention that reads correctly): the check must report it at exactly this severity.
    severity: Severity = Severity.ERROR


def warns(corruption: Corruption, severity: Severity = Severity.WARNING) -> Corruption:
    """The same defect, reported below error: it departs from convention but reads correctly."""
    return replace(corruption, severity=severity)


#: Severity of the defects ``volume_defects`` makes that depart from convention but read correctly (the portal's
#: stamp is information); the others are errors.
VOLUME_DEFECT_SEVERITY = {
    "MRC-SPACEGROUP": Severity.WARNING,
    "MRC-SAMPLING": Severity.WARNING,
    "MRC-NLABL": Severity.WARNING,
    "MRC-NVERSION": Severity.WARNING,
    "MRC-EXTTYP": Severity.WARNING,  # an unknown type; an extended header that does not fit is an error
    "MRC-STATS-ORDER": Severity.WARNING,
    "MRC-LABEL-PORTAL": Severity.INFO,
    "ZARR-CONVENTIONS": Severity.WARNING,
    "ZARR-CHUNK-COVERAGE": Severity.WARNING,  # a chunk outside the grid; a missing chunk is an error
    "VOL-NOT-CONSTANT": Severity.WARNING,  # an all-zero mask
}


def patch_mrc_header(path: Path, **fields: Any) -> None:
    """Overwrite main-header fields of an MRC in place (little-endian files)."""
    dtype = HEADER_DTYPE.newbyteorder("<")
    with open(path, "r+b") as handle:
        header = np.frombuffer(bytearray(handle.read(1024)), dtype=dtype)[0].copy()
        for name, value in fields.items():
            header[name] = value
        handle.seek(0)
        handle.write(header.tobytes())


def read_mrc_field(path: Path, name: str) -> Any:
    return np.frombuffer(path.read_bytes()[:1024], dtype=HEADER_DTYPE.newbyteorder("<"))[0][name]


def edit_json(path: Path, edit: Callable[[Any], Any]) -> None:
    """Rewrite a JSON document through ``edit`` (which may mutate it, or return a replacement)."""
    document = json.loads(path.read_text())
    replaced = edit(document)
    path.write_text(json.dumps(document if replaced is None else replaced, indent=4))


def mrc(**fields: Any) -> Callable[[Path], None]:
    return lambda root: patch_mrc_header(root / TOMOGRAM_MRC, **fields)


def json_edit(key: str, edit: Callable[[Any], Any]) -> Callable[[Path], None]:
    return lambda root: edit_json(root / key, edit)


def delete(key: str) -> Callable[[Path], None]:
    def remove(root: Path) -> None:
        target = root / key
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    return remove


def append_bytes(key: str, count: int) -> Callable[[Path], None]:
    def grow(root: Path) -> None:
        with open(root / key, "ab") as handle:
            handle.write(b"\0" * count)

    return grow


def truncate(key: str, count: int) -> Callable[[Path], None]:
    """Cut the last ``count`` bytes of an object (an upload cut short)."""

    def cut(root: Path) -> None:
        data = (root / key).read_bytes()
        (root / key).write_bytes(data[:-count])

    return cut


def write_file(key: str, data: bytes) -> Callable[[Path], None]:
    def put(root: Path) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)

    return put


def scale_cell_x(factor: float) -> Callable[[Path], None]:
    """Change the MRC voxel size along x by scaling cella.x (the usual header defect)."""

    def change(root: Path) -> None:
        cella = read_mrc_field(root / TOMOGRAM_MRC, "cella").copy()
        cella["x"] = cella["x"] * factor
        patch_mrc_header(root / TOMOGRAM_MRC, cella=cella)

    return change


def set_zattrs_level(level: int, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def change(document: dict) -> None:
        edit(document["multiscales"][0]["datasets"][level])

    return json_edit(f"{TOMOGRAM_ZARR}/.zattrs", change)


DEPOSITION_METADATA = f"depositions_metadata/{DATASET}/deposition_metadata.json"
DATASET_METADATA = f"{DATASET}/dataset_metadata.json"


def copy_dir(source: str, target: str) -> Callable[[Path], None]:
    """Duplicate an entity folder under another name (a second tilt series, a stray id, …)."""
    return lambda root: shutil.copytree(root / source, root / target)


def fake_png(width: int, height: int) -> bytes:
    """The first bytes of a PNG of the given size: all a size check reads."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


# -- volume content (the SAMPLE-tier checks): edit voxels of the tomogram's MRC and zarr chunks ---------


def edit_mrc_data(key: str, edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """Replace the voxels (z, y, x) of an MRC by ``edit(voxels)``; the header is kept as it is."""

    def change(root: Path) -> None:
        path = root / key
        raw = bytearray(path.read_bytes())
        header = np.frombuffer(bytes(raw[:1024]), dtype=HEADER_DTYPE.newbyteorder("<"))[0]
        shape = (int(header["nz"]), int(header["ny"]), int(header["nx"]))
        dtype = {0: "i1", 1: "<i2", 2: "<f4", 6: "<u2", 12: "<f2"}[int(header["mode"])]
        offset = 1024 + int(header["nsymbt"])
        data = np.frombuffer(bytes(raw[offset:]), dtype=dtype, count=int(np.prod(shape))).reshape(shape)
        edited = np.ascontiguousarray(edit(data.copy()), dtype=dtype)
        raw[offset : offset + edited.nbytes] = edited.tobytes()
        path.write_bytes(bytes(raw))

    return change


def edit_zarr_level(store: str, level: int, edit: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], None]:
    """Replace every chunk of a zarr level by ``edit(chunk)`` (Blosc-LZ4 as the writer encodes)."""
    from numcodecs import Blosc

    def change(root: Path) -> None:
        level_dir = root / store / str(level)
        zarray = json.loads((level_dir / ".zarray").read_text())
        codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=0)
        for chunk in sorted(p for p in level_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            data = np.frombuffer(codec.decode(chunk.read_bytes()), dtype=zarray["dtype"]).reshape(zarray["chunks"])
            edited = np.ascontiguousarray(edit(data.copy()), dtype=zarray["dtype"])
            chunk.write_bytes(codec.encode(edited))

    return change


def all_of(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for change in changes:
            change(root)

    return apply


def flip_z(data: np.ndarray) -> np.ndarray:
    return data[::-1]


def nan_column(data: np.ndarray) -> np.ndarray:
    """NaN in a 2×2 column through every z-plane (whatever planes are sampled, some hold it)."""
    data[:, :2, :2] = np.nan
    return data


def other_data(data: np.ndarray) -> np.ndarray:
    return np.random.default_rng(0).normal(size=data.shape).astype(data.dtype)


def constant(data: np.ndarray) -> np.ndarray:
    return np.ones_like(data)


# -- acquisition: tilt series, alignment, frames, mdoc, gains ------------------------------------------

TILTSERIES = f"{RUN}/TiltSeries/100"
TS_MRC = f"{TILTSERIES}/TS_001.mrc"
TS_ZARR = f"{TILTSERIES}/TS_001.zarr"
TS_METADATA = f"{TILTSERIES}/tiltseries_metadata.json"
RAWTLT = f"{TILTSERIES}/TS_001.rawtlt"
CTF_FILE = f"{TILTSERIES}/TS_001_CTFFIND_ctf.txt"
ALIGNMENT = f"{RUN}/Alignments/100"
ALN_METADATA = f"{ALIGNMENT}/alignment_metadata.json"
XF = f"{ALIGNMENT}/TS_001.xf"
TLT = f"{ALIGNMENT}/TS_001.tlt"
FRAMES = f"{RUN}/Frames"
MDOC = f"{FRAMES}/TS_001.mdoc"
FRAMES_METADATA = f"{FRAMES}/frames_metadata.json"
GAINS = f"{RUN}/Gains"


def patch_mrc(key: str, **fields: Any) -> Callable[[Path], None]:
    """Like :func:`mrc`, for the MRC at ``key``."""
    return lambda root: patch_mrc_header(root / key, **fields)


def scale_mrc_cell_x(key: str, factor: float) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        cella = read_mrc_field(root / key, "cella").copy()
        cella["x"] = cella["x"] * factor
        patch_mrc_header(root / key, cella=cella)

    return change


def edit_text(key: str, edit: Callable[[str], str]) -> Callable[[Path], None]:
    """Rewrite a text file through ``edit``."""

    def change(root: Path) -> None:
        path = root / key
        path.write_text(edit(path.read_text()))

    return change


def edit_lines(key: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    """Rewrite a text file's lines through ``edit``."""
    return edit_text(key, lambda text: "\n".join(edit(text.splitlines())) + "\n")


def delete_chunks(store: str, level: int) -> Callable[[Path], None]:
    """Remove every chunk object of a zarr level (its ``.zarray`` stays)."""

    def remove(root: Path) -> None:
        for child in (root / store / str(level)).iterdir():
            if not child.name.startswith("."):
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    return remove


def tiff_bytes(pages: int, width: int = 8, height: int = 8) -> bytes:
    """A little-endian multi-page TIFF of ``pages`` uint8 images (uncompressed, one strip each)."""
    import struct

    entries = 8
    ifd_size = 2 + entries * 12 + 4
    image = width * height
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        data_offset = start + ifd_size
        next_ifd = data_offset + image if page < pages - 1 else 0
        tags = [
            (256, 4, 1, width),  # ImageWidth
            (257, 4, 1, height),  # ImageLength
            (258, 3, 1, 8),  # BitsPerSample
            (259, 3, 1, 1),  # Compression: none
            (262, 3, 1, 1),  # Photometric: min-is-black
            (273, 4, 1, data_offset),  # StripOffsets
            (278, 4, 1, height),  # RowsPerStrip
            (279, 4, 1, image),  # StripByteCounts
        ]
        out += struct.pack("<H", entries)
        for tag, kind, count, value in tags:
            packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, kind, count) + packed
        out += struct.pack("<I", next_ifd)
        out += bytes(image)
    return bytes(out)


def mrc_file_bytes(nx: int, ny: int, nz: int, pixel: float) -> bytes:
    """A small float32 MRC stack (ispg 0, mz 1) of zeros with the given pixel size."""
    from importers.formats.mrc import DataStatistics, build_header

    header = build_header(
        (nz, ny, nx), np.dtype("<f4"), (pixel,) * 3, statistics=DataStatistics(0.0, 0.0, 0.0, 0.0), ispg=0, mz=1
    )
    return header + bytes(4 * nx * ny * nz)


def movie_names(root: Path) -> list[str]:
    """The movie basenames the run's mdoc names, in section order."""
    from importers.formats.mdoc import parse_mdoc

    return [section.sub_frame_path for section in parse_mdoc((root / MDOC).read_text(), "mdoc").sections]


def add_movies(
    pages: int = 8, *, skip_last: bool = False, odd_size_first: bool = False, extra: str | None = None
) -> Callable[[Path], None]:
    """TIFF movies in Frames/ for the mdoc's SubFramePaths (the clean sample deposits none)."""

    def write(root: Path) -> None:
        names = movie_names(root)
        if skip_last:
            names = names[:-1]
        for index, name in enumerate(names + ([extra] if extra else [])):
            size = 16 if odd_size_first and index == 0 else 8
            (root / FRAMES / name).write_bytes(tiff_bytes(pages, size, size))

    return write


# -- annotations, key images, viewer states (checks.md §15-18) -------------------------------------------


def mrc_at(key: str, **fields: Any) -> Callable[[Path], None]:
    """Overwrite main-header fields of the MRC at ``key`` (as :func:`mrc` does for the tomogram)."""
    return lambda root: patch_mrc_header(root / key, **fields)


def scale_cell_x_at(key: str, factor: float) -> Callable[[Path], None]:
    """Change the voxel size along x of the MRC at ``key`` by scaling cella.x."""

    def change(root: Path) -> None:
        cella = read_mrc_field(root / key, "cella").copy()
        cella["x"] = cella["x"] * factor
        patch_mrc_header(root / key, cella=cella)

    return change


def dmax_to_dmean(key: str) -> Callable[[Path], None]:
    """Claim a maximum (the mean) that the data exceeds."""
    return lambda root: patch_mrc_header(root / key, dmax=read_mrc_field(root / key, "dmean"))


def retype_zarr_level(
    store: str, level: int, dtype: str, edit: Callable[[np.ndarray], np.ndarray]
) -> Callable[[Path], None]:
    """Rewrite a zarr level as ``dtype`` (its ``.zarray`` and every chunk), ``edit`` applied to each chunk."""
    from numcodecs import Blosc

    def change(root: Path) -> None:
        level_dir = root / store / str(level)
        zarray = json.loads((level_dir / ".zarray").read_text())
        codec = Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE, blocksize=0)
        for chunk in sorted(p for p in level_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
            data = np.frombuffer(codec.decode(chunk.read_bytes()), dtype=zarray["dtype"]).reshape(zarray["chunks"])
            chunk.write_bytes(codec.encode(np.ascontiguousarray(edit(data.astype(dtype)))))
        edit_json(level_dir / ".zarray", lambda d: d.update(dtype=dtype, fill_value=0.0))

    return change


def zeros(data: np.ndarray) -> np.ndarray:
    return np.zeros_like(data)


def plus_one(data: np.ndarray) -> np.ndarray:
    return data + 1


def with_label(value: int) -> Callable[[np.ndarray], np.ndarray]:
    """Put ``value`` in a 2×2 column through every z-plane (masks: a value the mask may not hold)."""

    def change(data: np.ndarray) -> np.ndarray:
        data[:, :2, :2] = value
        return data

    return change


def edit_ndjson(key: str, edit: Callable[[list[dict]], Any]) -> Callable[[Path], None]:
    """Rewrite an NDJSON annotation through ``edit`` of its parsed records (which may mutate them)."""

    def change(root: Path) -> None:
        lines = (root / key).read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        replaced = edit(records)
        records = records if replaced is None else replaced
        (root / key).write_text("\n".join(json.dumps(record) for record in records))

    return change


def append_text(key: str, text: str) -> Callable[[Path], None]:
    def grow(root: Path) -> None:
        with open(root / key, "a") as handle:
            handle.write(text)

    return grow


ANNOTATIONS = f"{VOXEL_SPACING}/Annotations"
POINTS = f"{ANNOTATIONS}/100"
POINTS_METADATA = f"{POINTS}/cytosolic_ribosome-1.0.json"
POINTS_NDJSON = f"{POINTS}/cytosolic_ribosome-1.0_point.ndjson"
MASK = f"{ANNOTATIONS}/101"
MASK_METADATA = f"{MASK}/membrane-1.0.json"
MASK_MRC = f"{MASK}/membrane-1.0_segmentationmask.mrc"
MASK_ZARR = f"{MASK}/membrane-1.0_segmentationmask.zarr"
NEUROGLANCER = f"{VOXEL_SPACING}/NeuroglancerPrecompute/100-neuroglancer_config.json"
MASK_LAYER = f"{VOXEL_SPACING}/NeuroglancerPrecompute/101-membrane-1.0_segmentationmask"
KEY_IMAGES = f"{VOXEL_SPACING}/Images/100"


def volume_defects(mrc_key: str, zarr_key: str) -> dict[str, Callable[[Path], None]]:
    """One defect per code suffix of the shared volume suites (checks.md §5-7) for a mask volume (int8 or
    uint16 MRC + zarr), as the TOMO-* cases make them for the tomogram."""
    zattrs = f"{zarr_key}/.zattrs"

    def level(index: int, edit: Callable[[dict], None]) -> Callable[[Path], None]:
        return json_edit(zattrs, lambda d: edit(d["multiscales"][0]["datasets"][index]))

    return {
        "MRC-READABLE": write_file(mrc_key, b"\0" * 100),
        "MRC-SPACEGROUP": mrc_at(mrc_key, ispg=0),
        "MRC-MAP-ID": mrc_at(mrc_key, map=b"MAPX"),
        "MRC-MACHINE-STAMP": mrc_at(mrc_key, machst=[0x22, 0x22, 0, 0]),
        "MRC-DTYPE": mrc_at(mrc_key, mode=2),
        "MRC-DIMS": mrc_at(mrc_key, mx=0),
        "MRC-CELL": mrc_at(mrc_key, cellb=(80.0, 90.0, 90.0)),
        "MRC-SAMPLING": mrc_at(mrc_key, my=1),
        "MRC-NLABL": mrc_at(mrc_key, nlabl=3),
        "MRC-NVERSION": mrc_at(mrc_key, nversion=20130),
        "MRC-EXTTYP": mrc_at(mrc_key, nsymbt=16, exttyp=b"ABCD"),
        "MRC-AXIS-MAP": mrc_at(mrc_key, mapc=2, mapr=1),
        "MRC-ORIGIN": mrc_at(mrc_key, origin=(5.0, 0.0, 0.0)),
        "MRC-NSTART": mrc_at(mrc_key, nxstart=3),
        "MRC-VOXEL-SPACING": scale_cell_x_at(mrc_key, 14.0 / 13.48),
        "MRC-FILE-SIZE": append_bytes(mrc_key, 2 << 20),
        "MRC-STATS-ORDER": mrc_at(mrc_key, dmean=1e9),
        "MRC-LABEL-PORTAL": mrc_at(mrc_key, label=[b"lab label"] + [b""] * 9),
        "ZARR-CHILDREN": write_file(f"{zarr_key}/notes.txt", b"x"),
        "ZARR-PATHS": level(2, lambda d: d.update(path="3")),
        "ZARR-AXES": json_edit(zattrs, lambda d: d["multiscales"][0]["axes"][0].update(unit="nanometer")),
        "ZARR-DTYPE": json_edit(f"{zarr_key}/1/.zarray", lambda d: d.update(dtype="<f8")),
        "ZARR-SCALE": level(1, lambda d: d["coordinateTransformations"][0].update(scale=[13.48, 13.48, 13.48])),
        "ZARR-LEVEL-SHAPE": json_edit(f"{zarr_key}/2/.zarray", lambda d: d.update(shape=[9, 9, 9])),
        "ZARR-CONVENTIONS": json_edit(f"{zarr_key}/0/.zarray", lambda d: d.update(chunks=[64, 64, 64])),
        "ZARR-LEVEL-NO-CHUNKS": delete(f"{zarr_key}/2/0"),
        "ZARR-CHUNK-COVERAGE": write_file(f"{zarr_key}/0/9/9/9", b"x"),
        "MRC-ZARR-PAIR": delete(zarr_key),
        "MRC-ZARR-SHAPE": mrc_at(mrc_key, nx=15, mx=15),
        "MRC-ZARR-DTYPE": mrc_at(mrc_key, mode=1),
        "VOL-CHUNK-DECODE": delete(f"{zarr_key}/2/0"),
        "VOL-MRC-EQ-ZARR": edit_mrc_data(mrc_key, plus_one),
        "VOL-PYRAMID": edit_zarr_level(zarr_key, 1, plus_one),
        "VOL-FINITE": retype_zarr_level(zarr_key, 0, "<f4", nan_column),
        "VOL-NOT-CONSTANT": all_of(edit_mrc_data(mrc_key, zeros), edit_zarr_level(zarr_key, 0, zeros)),
        "VOL-STATS-PLAUSIBLE": dmax_to_dmean(mrc_key),
    }
