"""The corruption library: small functions that each break one thing in a clean bucket folder.

The checks' own tests apply one of these to a copy of the standardized sample and expect exactly
the check that targets the defect to fail.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from mrcfile.dtypes import HEADER_DTYPE

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
