"""Mesh source files → the binary glTF the portal publishes (``*_triangularmesh.glb``), as its importer converts
them (ingestion_tools ``mesh_converter``): the file loaded with trimesh (obj, stl, glb; a legacy VTK polydata
file read here, as the portal reads it with VTK; one named segment of an EMDB-SFF ``hff`` file), scaled by
``scale_factor`` and exported as glb. A glb source is converted too: the published file is trimesh's export, not
the depositor's bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

from importers.lazy import lazy

h5py = lazy("h5py")
trimesh = lazy("trimesh")

#: ``TriangularMesh`` source formats (the portal's ``TriangularMeshAnnotation.map_functions``), and
#: ``TriangularMeshGroup``'s.
MESH_FORMATS = ("obj", "stl", "vtk", "glb")
GROUP_FORMATS = ("hff",)
_VTK_TYPES = {"float": ">f4", "double": ">f8", "int": ">i4", "vtktypeint64": ">i8", "vtktypeint32": ">i4"}


class MeshFileError(ValueError):
    """A mesh source that cannot be converted."""


def to_glb(data: bytes, file_format: str, name: str, scale_factor: float = 1.0, segment: str | None = None) -> bytes:
    """The glb of a mesh source file (``name`` is its file name: trimesh names the mesh after it); of an ``hff``
    file, the segment whose biological annotation is named ``segment``."""
    if file_format == "vtk":
        mesh: trimesh.parent.Geometry = _vtk_mesh(data)
    elif file_format == "hff":
        mesh = _hff_mesh(data, str(segment))
    elif file_format in MESH_FORMATS:
        mesh = _trimesh_load(data, file_format, PurePosixPath(name).name)
    else:
        formats = ", ".join(MESH_FORMATS + GROUP_FORMATS)
        raise MeshFileError(f"{file_format} meshes are not supported (only {formats})")
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


def _hff(data: bytes) -> h5py.File:
    try:
        return h5py.File(io.BytesIO(data), "r")
    except OSError as error:
        raise MeshFileError(f"not a readable hff (HDF5) file ({error})") from None


def _hff_segment(hff: h5py.File, name: str) -> str | None:
    for key, segment in (hff.get("segment_list") or {}).items():
        found = segment.get("biological_annotation/name")
        if found is not None and found[()] and found[()].decode() == name:
            return str(key)
    return None


def hff_has_segment(data: bytes, name: str) -> bool:
    """Whether an ``hff`` file has a segment of this biological annotation name (the portal's ``is_valid`` of a
    ``TriangularMeshGroup``: a file without one is passed over)."""
    with _hff(data) as hff:
        return _hff_segment(hff, name) is not None


def _hff_mesh(data: bytes, name: str) -> trimesh.Trimesh:
    """The named segment's meshes joined, as the portal's ``from_hff`` reads EMDB-SFF: per mesh of its
    ``mesh_list``, base64 vertices and triangles of the numpy type its ``mode`` names."""
    with _hff(data) as hff:
        key = _hff_segment(hff, name)
        if key is None:
            raise MeshFileError(f"no segment named {name!r}")
        meshes = []
        try:
            for mesh in hff[f"segment_list/{key}/mesh_list"].values():
                vertices, triangles = (_hff_array(mesh[part]) for part in ("vertices", "triangles"))
                meshes.append(trimesh.Trimesh(vertices=vertices, faces=triangles))
        except (KeyError, ValueError, TypeError, binascii.Error) as error:
            raise MeshFileError(f"segment {name!r}: unreadable mesh ({error})") from None
    return trimesh.util.concatenate(meshes)


def _hff_array(group: h5py.Group) -> np.ndarray:
    mode = group["mode"][()].decode()
    if mode not in ("float32", "float64", "int32", "int64", "uint32", "uint64"):
        raise ValueError(f"data mode {mode}")
    return np.frombuffer(base64.b64decode(group["data"][()]), dtype=np.dtype(mode)).reshape(-1, 3)


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
