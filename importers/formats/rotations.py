"""Euler angles → 3×3 rotation matrices acting on (x, y, z) column vectors (formats.md §3.1).

Every matrix says how a particle is oriented in the tomogram: it maps the particle's (reference)
axes onto tomogram axes. Each package spells that with its own Euler convention; the functions
below turn each convention into that one matrix, vectorised over particles.
"""

from __future__ import annotations

import numpy as np

_AXIS_INDEX = {"x": 0, "y": 1, "z": 2}


def elementary(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Right-handed (counter-clockwise) rotations about one axis: shape ``(n, 3, 3)``."""
    radians = np.deg2rad(np.asarray(degrees, dtype=np.float64).reshape(-1))
    cos, sin = np.cos(radians), np.sin(radians)
    matrices = np.zeros((radians.size, 3, 3))
    index = _AXIS_INDEX[axis]
    first, second = (index + 1) % 3, (index + 2) % 3
    matrices[:, index, index] = 1.0
    matrices[:, first, first] = cos
    matrices[:, second, second] = cos
    matrices[:, first, second] = -sin
    matrices[:, second, first] = sin
    return matrices


def chain(axes: str, angles: np.ndarray) -> np.ndarray:
    """``R_axes[0](angles[:, 0]) @ R_axes[1](angles[:, 1]) @ …`` for ``angles`` of shape ``(n, len(axes))``."""
    angles = np.asarray(angles, dtype=np.float64).reshape(-1, len(axes))
    result = np.broadcast_to(np.eye(3), (angles.shape[0], 3, 3)).copy()
    for column, axis in enumerate(axes):
        result = result @ elementary(axis, angles[:, column])
    return result


def from_relion(rot: np.ndarray, tilt: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """RELION ``rlnAngleRot/Tilt/Psi`` (ZYZ): RELION's own matrix ``A`` (``Euler_angles2matrix``).

    RELION projects a reference through ``A`` (an image point ``p`` samples the reference at
    ``Aᵀ·p``), so ``A`` carries reference axes onto the particle, i.e. ``A = Rz(−psi)·Ry(−tilt)·Rz(−rot)``
    (= scipy ``Rotation.from_euler("ZYZ", [rot, tilt, psi]).inv()``).
    """
    angles = np.column_stack([psi, tilt, rot]).astype(np.float64)
    return chain("zyz", -angles)


def from_stopgap(phi: np.ndarray, the: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """STOPGAP motive-list ``phi/the/psi`` (TOM/AV3 ZXZ): ``Rz(psi)·Rx(the)·Rz(phi)``, the rotation
    STOPGAP applies to its reference to match the particle."""
    return chain("zxz", np.column_stack([psi, the, phi]))


def from_imod_slicer(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """IMOD slicer angles (a model's ``SLAN`` chunks, degrees about x, y, z): the inverse of the slicer rotation, as
    the portal's ``from_oriented_mod`` takes it after PEET's ``slicer2motl`` (scipy
    ``Rotation.from_euler("xyz", [−x, −y, −z])``, extrinsic), i.e. ``Rz(−z)·Ry(−y)·Rx(−x)``."""
    return chain("zyx", -np.column_stack([z, y, x]).astype(np.float64))


def reverse_axes(matrices: np.ndarray) -> np.ndarray:
    """Matrices expressed in a frame whose axes are listed in reverse order (z, y, x ↔ x, y, z)."""
    return np.ascontiguousarray(matrices[..., ::-1, ::-1])
