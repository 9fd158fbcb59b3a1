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
