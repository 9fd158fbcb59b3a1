"""Mesh source files converted to the published glb, as the portal's importer converts them (trimesh; legacy VTK
read here as its VTK reader reads it; hff segments), and scaled by ``scale_factor``."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from importers.formats.mesh_files import MeshFileError, hff_has_segment, to_glb

PORTAL_MESHES = Path(__file__).parent / "data" / "portal_meshes"
#: A tetrahedron: 4 points, 4 triangles.
POINTS = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 2.5]])
TRIANGLES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
#: A binary glTF 2.0 of no mesh: the header and a JSON chunk naming the asset only.
EMPTY_GLB = b"glTF" + struct.pack("<II", 2, 52) + struct.pack("<I4s", 32, b"JSON") + b'{"asset": {"version": "2.0"}}   '


def _published(glb: bytes) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh")


def _identity(mesh: trimesh.Trimesh) -> str:
    return trimesh.comparison.identifier_hash(trimesh.comparison.identifier_simple(mesh))


@pytest.mark.parametrize("file_format", ["glb", "obj", "stl", "vtk", "hff"])
def test_the_portals_fixtures_become_the_portals_mesh(file_format: str) -> None:
    """The portal's test: every format of its fixture mesh converts to the glb's mesh (trimesh's identifier)."""
    data = (PORTAL_MESHES / f"triangular_mesh.{file_format}").read_bytes()
    glb = to_glb(data, file_format, f"triangular_mesh.{file_format}", segment="special_name")
    expected = trimesh.load(PORTAL_MESHES / "triangular_mesh.glb", force="mesh")
    assert _identity(_published(glb)) == _identity(expected) and len(expected.faces) == 72


def test_an_hff_file_without_the_named_segment_is_passed_over() -> None:
    data = (PORTAL_MESHES / "triangular_mesh.hff").read_bytes()
    assert hff_has_segment(data, "special_name") and not hff_has_segment(data, "another")
    with pytest.raises(MeshFileError, match="no segment named 'another'"):
        to_glb(data, "hff", "m.hff", segment="another")


def _vtk_ascii_v4() -> bytes:
    lines = ["# vtk DataFile Version 4.2", "tetrahedron", "ASCII", "DATASET POLYDATA", "POINTS 4 float"]
    lines += [" ".join(map(str, point)) for point in POINTS]
    lines += ["POLYGONS 4 16", *(f"3 {a} {b} {c}" for a, b, c in TRIANGLES), "POINT_DATA 4", "SCALARS s float 1"]
    return ("\n".join(lines) + "\n").encode()


def _vtk_ascii_v5() -> bytes:
    lines = ["# vtk DataFile Version 5.1", "tetrahedron", "ASCII", "DATASET POLYDATA", "POINTS 4 float"]
    lines += [" ".join(map(str, POINTS.ravel()[:6])), " ".join(map(str, POINTS.ravel()[6:]))]
    lines += ["POLYGONS 5 12", "OFFSETS vtktypeint64", "0 3 6 9 12", "CONNECTIVITY vtktypeint64"]
    lines += [" ".join(map(str, TRIANGLES.ravel()))]
    return ("\n".join(lines) + "\n").encode()


def _vtk_binary_v4() -> bytes:
    head = b"# vtk DataFile Version 4.2\ntetrahedron\nBINARY\nDATASET POLYDATA\nPOINTS 4 double\n"
    cells = np.hstack([np.full((4, 1), 3), TRIANGLES]).astype(">i4")
    return head + POINTS.astype(">f8").tobytes() + b"\nPOLYGONS 4 16\n" + cells.tobytes() + b"\n"


@pytest.mark.parametrize("file_format", ["obj", "stl", "glb"])
def test_trimesh_formats_become_the_same_triangles(file_format: str) -> None:
    source = trimesh.Trimesh(vertices=POINTS, faces=TRIANGLES).export(file_type=file_format)
    data = source.encode() if isinstance(source, str) else source
    mesh = _published(to_glb(data, file_format, f"lab/tetra.{file_format}"))
    assert len(mesh.vertices) == 4 and len(mesh.faces) == 4
    assert np.allclose(mesh.bounds, [[0, 0, 0], [4, 3, 2.5]])


def test_the_mesh_is_named_after_its_source_file() -> None:
    """trimesh names an obj's mesh after the file it loads, as it does the portal's local copy."""
    source = trimesh.Trimesh(vertices=POINTS, faces=TRIANGLES).export(file_type="obj")
    assert b'"name":"tetra.obj"' in to_glb(source.encode(), "obj", "deep/folder/tetra.obj").replace(b" ", b"")


@pytest.mark.parametrize("vtk", [_vtk_ascii_v4, _vtk_ascii_v5, _vtk_binary_v4])
def test_legacy_vtk_polydata_becomes_its_triangles(vtk) -> None:
    mesh = _published(to_glb(vtk(), "vtk", "tetra.vtk"))
    assert len(mesh.vertices) == 4 and len(mesh.faces) == 4
    assert np.allclose(mesh.bounds, [[0, 0, 0], [4, 3, 2.5]])


def test_scale_factor_scales_the_mesh() -> None:
    source = trimesh.Trimesh(vertices=POINTS, faces=TRIANGLES).export(file_type="stl")
    mesh = _published(to_glb(source, "stl", "tetra.stl", scale_factor=2.5))
    assert np.allclose(mesh.bounds, [[0, 0, 0], [10, 7.5, 6.25]])


@pytest.mark.parametrize(
    ("data", "file_format", "problem"),
    [
        (b"# just a comment\n", "obj", "no triangles in this obj file"),
        (EMPTY_GLB, "glb", "no triangles in this glb file"),
        (b"not a glb", "glb", "not a readable glb file"),
        (b"# vtk DataFile Version 4.2\nx\nASCII\nDATASET POLYDATA\nPOINTS 4 float\n0 0 0 1 0 0 0 1 0 0 0 1\n"
         b"POLYGONS 1 5\n4 0 1 2 3\n", "vtk", "VTK polygons that are not triangles"),
        (b"# vtk DataFile Version 4.2\nx\nASCII\nDATASET POLYDATA\nPOINTS 4 float\n0 0 0\n", "vtk", "cut short"),
        (b"# vtk DataFile Version 4.2\nx\nASCII\nDATASET STRUCTURED_POINTS\n", "vtk", "not a legacy VTK POLYDATA"),
        (b"", "hff", "not a readable hff"),
        (b"", "ply", "ply meshes are not supported"),
    ],
)  # fmt: skip
def test_a_mesh_that_cannot_be_converted_is_named(data: bytes, file_format: str, problem: str) -> None:
    with pytest.raises(MeshFileError, match=problem):
        to_glb(data, file_format, f"m.{file_format}")
