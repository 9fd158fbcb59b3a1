"""Mesh source files → the binary glTF the portal publishes (``*_triangularmesh.glb``), as its importer converts
them (ingestion_tools ``mesh_converter``): the file loaded with trimesh (obj, stl, glb; a legacy VTK polydata
file read here, as the portal reads it with VTK), scaled by ``scale_factor`` and exported as glb. A glb source is
converted too: the published file is trimesh's export, not the depositor's bytes.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import trimesh

#: ``TriangularMesh`` source formats (the portal's ``TriangularMeshAnnotation.map_functions``).
MESH_FORMATS = ("obj", "stl", "vtk", "glb")
_VTK_TYPES = {"float": ">f4", "double": ">f8", "int": ">i4", "vtktypeint64": ">i8", "vtktypeint32": ">i4"}


class MeshFileError(ValueError):
    """A mesh source that cannot be converted."""


def to_glb(data: bytes, file_format: str, name: str, scale_factor: float = 1.0) -> bytes:
    """The glb of a mesh source file (``name`` is its file name: trimesh names the mesh after it)."""
    if file_format == "vtk":
        mesh: trimesh.parent.Geometry = _vtk_mesh(data)
    elif file_format in MESH_FORMATS:
        mesh = _trimesh_load(data, file_format, PurePosixPath(name).name)
    else:
        raise MeshFileError(f"{file_format} meshes are not supported (only {', '.join(MESH_FORMATS)})")
    if not _has_triangles(mesh):
        raise MeshFileError(f"no triangles in this {file_format} file")
    mesh.apply_scale(scale_factor)
    return mesh.export(file_type="glb")


def _has_triangles(mesh: trimesh.parent.Geometry) -> bool:
    if isinstance(mesh, trimesh.Scene):
        return any(len(getattr(geometry, "faces", ())) for geometry in mesh.geometry.values())
    return len(getattr(mesh, "faces", ())) > 0


def _trimesh_load(data: bytes, file_format: str, name: str) -> trimesh.parent.Geometry:
    # Loaded from a file of the source's name, as the portal loads its local copy: the mesh is named after it.
    with tempfile.TemporaryDirectory(prefix="cryoet-mesh-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            return trimesh.load(str(path), file_type=file_format)
        except Exception as error:  # trimesh's loaders raise many kinds of errors on malformed files
            raise MeshFileError(f"not a readable {file_format} file ({type(error).__name__}: {error})") from None


def _vtk_mesh(data: bytes) -> trimesh.Trimesh:
    """A legacy VTK ``POLYDATA`` file (ASCII or binary; the cell layouts of versions 4 and 5): its points and
    its polygons as faces, as the portal's VTK reader and ``vtk_to_trimesh`` make them (triangles only)."""
    stream = io.BytesIO(data)
    header = [stream.readline() for _ in range(4)]
    if not header[0].startswith(b"# vtk DataFile") or header[3].split()[-1:] != [b"POLYDATA"]:
        raise MeshFileError("not a legacy VTK POLYDATA file")
    binary = header[2].strip().upper() == b"BINARY"
    points: np.ndarray | None = None
    faces: list[np.ndarray] = []
    while line := stream.readline():
        words = line.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == b"POINTS":
            count, kind = int(words[1]), words[2].decode().lower()
            points = _vtk_values(stream, 3 * count, kind, binary).astype(np.float64).reshape(count, 3)
        elif keyword in (b"POLYGONS", b"VERTICES", b"LINES", b"TRIANGLE_STRIPS"):
            cells = _vtk_cells(stream, int(words[1]), int(words[2]), binary)
            if keyword != b"POLYGONS" and cells:
                raise MeshFileError(f"VTK {keyword.decode()} cells are not triangles")
            faces += cells
        elif keyword in (b"POINT_DATA", b"CELL_DATA"):
            break  # attributes: not part of the mesh
    if points is None:
        raise MeshFileError("a VTK file without POINTS")
    if any(len(face) != 3 for face in faces):
        raise MeshFileError("VTK polygons that are not triangles")
    return trimesh.Trimesh(vertices=points, faces=np.array(faces, dtype=np.int64).reshape(-1, 3))


def _vtk_values(stream: io.BytesIO, count: int, kind: str, binary: bool) -> np.ndarray:
    if kind not in _VTK_TYPES:
        raise MeshFileError(f"VTK data type {kind} is not supported")
    if binary:
        dtype = np.dtype(_VTK_TYPES[kind])
        raw = stream.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise MeshFileError("a VTK file cut short")
        stream.readline()  # the line break after the block
        return np.frombuffer(raw, dtype=dtype)
    values: list[bytes] = []
    while len(values) < count:
        line = stream.readline()
        if not line:
            raise MeshFileError("a VTK file cut short")
        values += line.split()
    # VTK holds "float" points as float32, whatever the text's precision.
    return np.array(values[:count], dtype={"float": np.float32, "double": np.float64}.get(kind, np.int64))


def _vtk_cells(stream: io.BytesIO, first: int, second: int, binary: bool) -> list[np.ndarray]:
    """Version 5 writes ``OFFSETS``/``CONNECTIVITY`` arrays (``first`` = cells + 1); version 4 writes each cell as
    its point count then its point ids (``second`` numbers in all)."""
    position = stream.tell()
    following = stream.readline().split()
    if following[:1] == [b"OFFSETS"]:
        offsets = _vtk_values(stream, first, following[1].decode().lower(), binary).astype(np.int64)
        words = stream.readline().split()
        if words[:1] != [b"CONNECTIVITY"]:
            raise MeshFileError("VTK OFFSETS without CONNECTIVITY")
        connectivity = _vtk_values(stream, second, words[1].decode().lower(), binary).astype(np.int64)
        return [connectivity[a:b] for a, b in itertools.pairwise(offsets)]
    stream.seek(position)
    flat = _vtk_values(stream, second, "int", binary).astype(np.int64)
    cells, at = [], 0
    for _ in range(first):
        size = int(flat[at])
        cells.append(flat[at + 1 : at + 1 + size])
        at += size + 1
    return cells
