"""Source point readers (importers/formats/points.py), Euler conventions (rotations.py) and NDJSON
records (ndjson.py), each on small files written here."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from importers.formats import ndjson
from importers.formats.points import READERS, PointFormatError, Points, read_points
from importers.formats.rotations import chain, elementary, from_relion, from_stopgap, reverse_axes

PATH = "s3://lab/picks/TS_1.file"


def _read(text: str | bytes, file_format: str, **options: object) -> Points:
    data = text.encode() if isinstance(text, str) else text
    return read_points(data, file_format, path=PATH, **options)


def _relion_formula(rot: float, tilt: float, psi: float) -> np.ndarray:
    """RELION's ``Euler_angles2matrix`` written out (src/euler.cpp), as an independent reference."""
    a, b, g = np.deg2rad([rot, tilt, psi])
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array(
        [
            [cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
            [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
            [sc, ss, cb],
        ]
    )


def _stopgap_formula(phi: float, the: float, psi: float) -> np.ndarray:
    """STOPGAP's ``sg_euler2matrix`` (ZXZ, angles phi, psi, the) written out."""
    p, t, s = np.deg2rad([phi, the, psi])
    return np.array(
        [
            [np.cos(s) * np.cos(p) - np.cos(t) * np.sin(s) * np.sin(p),
             -np.cos(s) * np.sin(p) - np.cos(t) * np.sin(s) * np.cos(p), np.sin(s) * np.sin(t)],
            [np.sin(s) * np.cos(p) + np.cos(t) * np.cos(s) * np.sin(p),
             -np.sin(s) * np.sin(p) + np.cos(t) * np.cos(s) * np.cos(p), -np.cos(s) * np.sin(t)],
            [np.sin(t) * np.sin(p), np.sin(t) * np.cos(p), np.cos(t)],
        ]
    )  # fmt: skip


# -- rotations ---------------------------------------------------------------------------------


def test_elementary_rotations_are_counter_clockwise() -> None:
    x, y, z = np.eye(3)
    assert np.allclose(elementary("z", [90])[0] @ x, y)
    assert np.allclose(elementary("x", [90])[0] @ y, z)
    assert np.allclose(elementary("y", [90])[0] @ z, x)
    assert np.allclose(chain("zx", [[90, 90]])[0], elementary("z", [90])[0] @ elementary("x", [90])[0])


@pytest.mark.parametrize(
    ("angles", "expected"),
    [
        ((0, 0, 0), np.eye(3)),
        ((90, 0, 0), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
        ((0, 90, 0), [[0, 0, -1], [0, 1, 0], [1, 0, 0]]),
        ((0, 0, 90), [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]),
        ((90, 90, 0), [[0, 0, -1], [-1, 0, 0], [0, 1, 0]]),
    ],
)
def test_relion_known_angles(angles: tuple[float, float, float], expected: list[list[float]]) -> None:
    rot, tilt, psi = angles
    assert np.allclose(from_relion([rot], [tilt], [psi])[0], expected, atol=1e-12)


def test_relion_and_stopgap_match_their_own_formulas_and_are_proper_rotations() -> None:
    angles = np.random.default_rng(3).uniform(-180, 180, (200, 3))
    relion = from_relion(angles[:, 0], angles[:, 1], angles[:, 2])
    stopgap = from_stopgap(angles[:, 0], angles[:, 1], angles[:, 2])
    for index, (a, b, c) in enumerate(angles):
        assert np.allclose(relion[index], _relion_formula(a, b, c), atol=1e-12)
        assert np.allclose(stopgap[index], _stopgap_formula(a, b, c), atol=1e-12)
    # The portal's point_converter, verbatim: RELION's matrix is the inverse (transpose) of scipy's intrinsic ZYZ
    # rotation; STOPGAP's is scipy's extrinsic zxz.
    portal_relion = Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix()
    portal_stopgap = Rotation.from_euler("zxz", angles, degrees=True).as_matrix()
    assert np.allclose(relion, portal_relion, atol=1e-12) and np.allclose(stopgap, portal_stopgap, atol=1e-12)
    for matrices in (relion, stopgap, reverse_axes(relion)):
        assert np.allclose(matrices @ np.swapaxes(matrices, 1, 2), np.eye(3), atol=1e-12)
        assert np.allclose(np.linalg.det(matrices), 1.0, atol=1e-12)
    assert np.allclose(from_stopgap([90], [0], [0])[0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    assert np.allclose(from_stopgap([0], [90], [0])[0], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-12)


def test_reverse_axes_expresses_a_rotation_in_zyx_order() -> None:
    matrix = from_relion([30], [40], [50])[0]
    vector = np.array([1.0, 2.0, 3.0])
    assert np.allclose(reverse_axes(matrix) @ vector[::-1], (matrix @ vector)[::-1])


# -- delimited text ----------------------------------------------------------------------------


def test_csv_keeps_decimal_values_exact_and_standardizes_order_and_binning() -> None:
    points = _read("27.91,51.54,40.86\n49.69,27.07,47.90\n", "csv")
    assert points.locations.tolist() == [[27.91, 51.54, 40.86], [49.69, 27.07, 47.9]]
    assert points.rotations is None and points.instance_ids is None
    standardized = _read("10,20,30\n", "csv").standardized(binning=2, order="zyx")
    assert standardized.locations.tolist() == [[15.0, 10.0, 5.0]]
    assert len(_read("", "csv")) == 0


def test_csv_with_header_delimiters_and_extra_columns() -> None:
    assert _read("x;y;z;score\n1;2;3;0.5\n", "csv_with_header", delimiter=";").locations.tolist() == [[1, 2, 3]]
    assert _read("x y z\n1  2 3\n", "csv_with_header", delimiter=" ").locations.tolist() == [[1, 2, 3]]


def test_tardis_gives_instance_ids() -> None:
    points = _read("IDs,X,Y,Z\n1,10.5,20,30\n1,11,21,31\n4,5,6,7\n", "tardis")
    assert points.instance_ids.tolist() == [1, 1, 4]
    assert points.locations.tolist() == [[10.5, 20, 30], [11, 21, 31], [5, 6, 7]]


# -- STAR --------------------------------------------------------------------------------------

RELION3 = """
# RELION 3 particles
data_

loop_
_rlnMicrographName #1
_rlnCoordinateX #2
_rlnCoordinateY #3
_rlnCoordinateZ #4
_rlnOriginX #5
_rlnOriginY #6
_rlnOriginZ #7
_rlnAngleRot #8
_rlnAngleTilt #9
_rlnAnglePsi #10
TS_1.mrc 100 200 50 1 2 -3 90 0 0
TS_2.mrc 7 8 9 0 0 0 10 20 30
TS_1.mrc 10 20 30 0 0 0 0 90 0
"""

RELION4 = """
data_optics

loop_
_rlnOpticsGroup
_rlnImagePixelSize
1 2.0
2 4.0

data_particles

loop_
_rlnTomoName
_rlnOpticsGroup
_rlnCoordinateX
_rlnCoordinateY
_rlnCoordinateZ
_rlnOriginXAngst
_rlnOriginYAngst
_rlnOriginZAngst
_rlnAngleRot
_rlnAngleTilt
_rlnAnglePsi
TS_1 1 100 100 100 2 4 6 0 0 90
TS_1 2 100 100 100 8 8 8 0 0 0
TS_2 1 1 1 1 0 0 0 0 0 0
"""

STOPGAP = """
data_stopgap_motivelist

loop_
_motl_idx
_tomo_num
_object
_subtomo_num
_halfset
_orig_x
_orig_y
_orig_z
_score
_x_shift
_y_shift
_z_shift
_phi
_psi
_the
_class
1 7 1 1 A 10 20 30 0.5 1 -1 0.5 90 0 0 1
2 8 1 2 B 1 1 1 0.5 0 0 0 0 0 0 1
3 7 1 3 A 40 50 60 0.5 0 0 0 10 20 30 1
"""


def test_relion3_filters_micrographs_subtracts_origins_and_orients() -> None:
    points = _read(RELION3, "relion3_star", filter_value="TS_1.mrc")
    assert points.locations.tolist() == [[99, 198, 53], [10, 20, 30]]
    assert np.allclose(points.rotations[0], _relion_formula(90, 0, 0))
    assert np.allclose(points.rotations[1], _relion_formula(0, 90, 0))
    assert len(_read(RELION3, "relion3_star")) == 3


def test_relion4_uses_the_particles_block_and_the_first_optics_groups_pixel_size() -> None:
    """As the portal's converter (``optics["rlnImagePixelSize"][0]``): the second particle names group 2 (4 Å), and
    its 8 Å shift is still 4 pixels of group 1's 2 Å."""
    points = _read(RELION4, "relion4_star", filter_value="TS_1")
    assert points.locations.tolist() == [[99, 98, 97], [96, 96, 96]]
    assert np.allclose(points.rotations[0], _relion_formula(0, 0, 90))
    assert len(_read(RELION4, "relion4_star", filter_value="TS_3")) == 0


def test_relion3_shifts_are_pixels_and_relion4_shifts_angstroms() -> None:
    """The portal subtracts rlnOriginX/Y/Z (pixels) from RELION 3 particles and rlnOriginX/Y/ZAngst from RELION 4
    ones, and each ignores the other's columns."""
    both = RELION4.replace("_rlnAngleRot", "_rlnOriginX\n_rlnOriginY\n_rlnOriginZ\n_rlnAngleRot")
    both = both.replace(" 0 0 90\n", " 1 1 1 0 0 90\n").replace(" 0 0 0\n", " 1 1 1 0 0 0\n")
    assert _read(both, "relion4_star", filter_value="TS_2").locations.tolist() == [[1, 1, 1]]
    assert _read(both, "tomoman_relion_star", filter_value="TS_2").locations.tolist() == [[0, 0, 0]]


def test_tomoman_filters_by_tomogram_name() -> None:
    text = RELION3.replace("rlnMicrographName", "rlnTomoName").replace(".mrc", "")
    assert _read(text, "tomoman_relion_star", filter_value="TS_2").locations.tolist() == [[7, 8, 9]]


def test_stopgap_adds_shifts_and_matches_tomo_num_numerically() -> None:
    points = _read(STOPGAP, "stopgap_star", filter_value="07")
    assert points.locations.tolist() == [[11, 19, 30.5], [40, 50, 60]]
    assert np.allclose(points.rotations[0], _stopgap_formula(90, 0, 0))
    assert np.allclose(points.rotations[1], _stopgap_formula(10, 30, 20))


# -- IMOD model --------------------------------------------------------------------------------


def imod_model(
    objects: list[list[list[tuple[float, float, float]]]],
    slicer_angles: list[tuple[tuple[float, float, float], tuple[float, float, float]]] = (),
) -> bytes:
    """A binary IMOD model (IMOD binspec, big-endian): objects of contours of (x, y, z) points,
    with a point-size chunk, a mesh and a model view chunk to skip; and ``SLAN`` chunks of (angles about
    x, y, z; centre)."""
    out = bytearray(b"IMODV1.2")
    header = bytearray(232)
    header[:10] = b"test model"
    struct.pack_into(">iiii", header, 128, 64, 64, 32, len(objects))
    out += header
    for contours in objects:
        out += b"OBJT" + bytearray(64) + bytearray(64) + struct.pack(">iIii3fi8Bii", len(contours), 0, 0, 1,
                                                                     1.0, 0.0, 0.0, 5, *([0] * 8), 1, 0)  # fmt: skip
        for points in contours:
            out += b"CONT" + struct.pack(">iIii", len(points), 0, 0, 0)
            out += b"".join(struct.pack(">3f", *point) for point in points)
            out += b"SIZE" + struct.pack(">i", 4 * len(points)) + struct.pack(f">{len(points)}f", *[3.0] * len(points))
        out += (
            b"MESH" + struct.pack(">iiIhh", 1, 2, 0, 0, 0) + struct.pack(">3f", 1, 2, 3) + struct.pack(">2i", -25, -1)
        )
    out += b"VIEW" + struct.pack(">i", 8) + bytes(8)
    for angles, centre in slicer_angles:
        out += b"SLAN" + struct.pack(">i", 60) + struct.pack(">i6f", 1, *angles, *centre) + b"label".ljust(32, b"\0")
    return bytes(out + b"IEOF")


def test_imod_model_points_from_every_object_and_contour() -> None:
    model = imod_model([[[(1.5, 2.5, 3.0), (4.0, 5.0, 6.0)], [(7.0, 8.0, 9.0)]], [[(10.0, 11.0, 12.0)]]])
    points = _read(model, "mod")
    assert points.locations.tolist() == [[1.5, 2.5, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    assert points.rotations is None
    assert len(_read(imod_model([]), "mod")) == 0


def test_imod_model_oriented_points_are_its_slicer_angles() -> None:
    """As the portal's ``from_oriented_mod``: one point per SLAN chunk at its centre, rotated by the inverse of
    the slicer rotation (scipy's extrinsic x, y, z of the negated angles); its contours are not oriented points."""
    angles = [((13.1, 0.0, -30.2), (235.5, 682.75, 302.0)), ((-41.4, 20.0, -47.7), (1.0, 2.0, 3.0))]
    model = imod_model([[[(1.0, 2.0, 3.0)]]], angles)
    points = _read(model, "mod", oriented=True)
    assert points.locations.tolist() == [[235.5, 682.75, 302.0], [1.0, 2.0, 3.0]]
    for rotation, ((x, y, z), _) in zip(points.rotations, angles, strict=True):
        expected = Rotation.from_euler("xyz", [-x, -y, -z], degrees=True).as_matrix()
        assert np.allclose(rotation, expected, atol=1e-6)
    assert _read(model, "mod").locations.tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(PointFormatError, match="slicer angles \\(SLAN chunks\\), and the model has none"):
        _read(imod_model([[[(1.0, 2.0, 3.0)]]]), "mod", oriented=True)


# -- copick ------------------------------------------------------------------------------------


def test_copick_as_the_portal_reads_it() -> None:
    """Locations in Å as they are (the config's binning is the voxel spacing), the transform's rotation block, and
    instance ids numbered in file order: the portal's ``_from_copick`` and ``instance_from_copick``."""
    transform = np.eye(4)
    transform[:3, :3] = elementary("z", [90])[0]
    transform[:3, 3] = [10, 0, -10]
    picks = {
        "pickable_object_name": "ribosome",
        "points": [
            {"location": {"x": 100.0, "y": 200.0, "z": 300.0}, "transformation_": transform.tolist(), "instance_id": 3},
            {"location": {"x": 10.0, "y": 10.0, "z": 10.0}},
        ],
    }
    points = _read(json.dumps(picks), "copick")
    assert points.locations.tolist() == [[100, 200, 300], [10, 10, 10]]
    assert np.allclose(points.rotations[0], transform[:3, :3]) and np.allclose(points.rotations[1], np.eye(3))
    assert points.instance_ids.tolist() == [0, 1]
    assert points.standardized(binning=10.0).locations.tolist() == [[10, 20, 30], [1, 1, 1]]


# -- malformed inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "file_format", "problem"),
    [
        ("1,2,3\n4,x,6\n", "csv", "table row 2, column 1: 'x' is not a number"),
        ("1,2\n", "csv", "table has 2 column(s), needs at least 3"),
        ("1,2,3\n4,5,6,7,8\n", "csv", "not a ','-delimited table: Error tokenizing data"),
        ("1,2,nan\n", "csv", "table row 1: non-finite"),
        ("IDs,X,Y,Z\n1.5,1,2,3\n", "tardis", "instance id 1.5 is not an integer"),
        ("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2\n", "relion3_star", "has no column rlnCoordinateZ"),
        ("data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n1 2 3\n", "relion3_star", "line 5: 3 values for 2 loop"),
        ("loop_\n_a\n", "relion3_star", "line 1: 'loop_' before any data_ block"),
        ("data_\nloop_\n_a\n1\n", "relion4_star", "no data block has a rlnCoordinateX column"),
        (RELION3, "relion4_star", "no rlnTomoName column to filter by 'TS_1'"),
        (RELION4.replace("data_optics", "data_other").replace("rlnImagePixelSize", "rlnX"), "relion4_star",
         "no data block has a rlnImagePixelSize column"),
        (STOPGAP.replace("_phi", "_phee"), "stopgap_star", "motive list has no column phi"),
        (b"\xff\xfe", "relion3_star", "not a text STAR file"),
        (b"NOTAMODEL", "mod", "not an IMOD model file"),
        (imod_model([[[(1.0, 2.0, 3.0)]]])[:-30], "mod", "truncated at byte"),
        (imod_model([])[:-4] + b"\x00\x01\x02\x03", "mod", "unknown chunk"),
        ("{points", "copick", "not JSON"),
        ('{"points": [{"location": {"x": 1}}]}', "copick", "points[0] needs location {x, y, z}"),
        ("1,2,3", "xyz_format", "point file_format 'xyz_format' is not one of"),
    ],
)  # fmt: skip
def test_malformed_input_is_one_line_naming_the_file(data: str | bytes, file_format: str, problem: str) -> None:
    options = {"filter_value": "TS_1"} if "filter by" in problem else {}
    with pytest.raises(PointFormatError) as error:
        _read(data, file_format, **options)
    message = str(error.value)
    assert message.startswith(f"{PATH}: ") and "\n" not in message
    assert problem in message, message


def test_standardized_rejects_a_bad_order_or_binning() -> None:
    points = _read("1,2,3\n", "csv")
    with pytest.raises(ValueError, match="order must be one of xyz, zyx"):
        points.standardized(order="yxz")
    with pytest.raises(ValueError, match="binning must be positive"):
        points.standardized(binning=0)


def test_every_reader_is_documented_in_the_spec() -> None:
    assert set(READERS) == {
        "csv", "csv_with_header", "mod", "relion3_star", "relion4_star", "tomoman_relion_star", "stopgap_star",
        "copick", "tardis",
    }  # fmt: skip


# -- NDJSON records ----------------------------------------------------------------------------


def test_ndjson_records_round_trip_in_the_portal_byte_form() -> None:
    points = _read(RELION3, "relion3_star", filter_value="TS_1.mrc").standardized(binning=2)
    oriented = ndjson.records("OrientedPoint", points)
    data = ndjson.dumps(oriented)
    assert data.startswith(b'{"type": "orientedPoint", "location": {"x": 49.5, "y": 99.0, "z": 26.5}, ')
    assert not data.endswith(b"\n") and data.count(b"\n") == 1
    assert ndjson.loads(data, "OrientedPoint") == oriented
    assert ndjson.dumps(ndjson.records("Point", points)).split(b"\n")[1] == (
        b'{"type": "point", "location": {"x": 5.0, "y": 10.0, "z": 15.0}}'
    )
    instances = ndjson.records("InstanceSegmentation", _read("IDs,X,Y,Z\n2,1,1,1\n2,2,2,2\n5,3,3,3\n", "tardis"))
    assert ndjson.object_count("InstanceSegmentation", instances) == 2
    assert ndjson.object_count("Point", instances) == 3
    assert ndjson.loads(b"") == [] and ndjson.dumps([]) == b""
    assert ndjson.loads(ndjson.dumps(instances) + b"\n") == instances


def test_ndjson_records_need_what_their_shape_carries() -> None:
    with pytest.raises(ValueError, match="oriented points need rotations"):
        ndjson.records("OrientedPoint", _read("1,2,3\n", "csv"))
    with pytest.raises(ValueError, match="instance points need instance ids"):
        ndjson.records("InstanceSegmentation", _read("1,2,3\n", "csv"))


@pytest.mark.parametrize(
    ("line", "shape", "problem"),
    [
        ("{not json", None, "line 2: not JSON"),
        ("[1, 2]", None, "line 2: is not a JSON object"),
        ('{"type": "point", "location": {"x": 1, "y": 2}}', None, "line 2: location needs finite numbers x, y, z"),
        ('{"type": "point", "location": {"x": 1, "y": 2, "z": NaN}}', None, "location needs finite numbers"),
        ('{"type": "point", "location": {"x": 1, "y": 2, "z": 3}}', "OrientedPoint", "type 'point' is not"),
        ('{"type": "box", "location": {"x": 1, "y": 2, "z": 3}}', None, "type 'box' is not one of"),
        ('{"type": "orientedPoint", "location": {"x": 1, "y": 2, "z": 3}, "xyz_rotation_matrix": [[1, 0], [0, 1]]}',
         None, "xyz_rotation_matrix is not a 3x3 list of numbers"),
        ('{"type": "instancePoint", "location": {"x": 1, "y": 2, "z": 3}, "instance_id": 1.5}', None,
         "instance_id 1.5 is not an integer"),
    ],
)  # fmt: skip
def test_ndjson_loads_names_the_first_bad_line(line: str, shape: str | None, problem: str) -> None:
    first = '{"type": "point", "location": {"x": 1, "y": 2, "z": 3}}'
    if shape == "OrientedPoint":
        first = (
            '{"type": "orientedPoint", "location": {"x": 1, "y": 2, "z": 3}, "xyz_rotation_matrix": '
            + json.dumps(np.eye(3).tolist())
            + "}"
        )
    with pytest.raises(ndjson.NdjsonError, match=re.escape(problem)):
        ndjson.loads(f"{first}\n{line}".encode(), shape)
