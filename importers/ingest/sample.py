"""Deterministic synthetic *source* dataset for ``dataset_configs/10001.yaml``.

Writes what a lab would upload (not the standardized output): per run a tomogram, a raw tilt series with its
SerialEM mdoc, raw tilt angles, an IMOD alignment, CTFFIND4 results, ribosome picks and a membrane mask.
File formats mirror the reference upload in ``shared/reference-90001/input``. Same arguments give
byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

from importers.formats.mrc import RunningStatistics

SOURCE_PREFIX = "sample_10001"
VOXEL_SIZE = 13.48  # Å, tomograms and masks
PIXEL_SIZE = 6.74  # Å, tilt images (tomograms are binned ×2 relative to them)
TILT_AXIS = 84.7  # degrees, SerialEM convention
TILT_ANGLES = tuple(float(a) for a in range(-60, 61, 3))  # section order of the stack
EXPOSURE_TIME = 1.0  # s per tilt
DOSE_PER_TILT = 3.0  # e⁻/Å² per tilt; dose_rate 3.0 e⁻/Å²/s in the config
SUBFRAMES = 8

_RIBOSOMES = 36
_RIBOSOME_DENSITY = 1.0
_MEMBRANE_DENSITY = 0.6
_MEMBRANE_HALF_WIDTH = 1.0  # voxels either side of the shell radius
_BACKGROUND_STD = 0.25
_TILT_NOISE_STD = 3.0
# Bounds the working set of the tomogram/mask writers to ~64 MB of float32 per slab, whatever the size.
_SLAB_VOXELS = 1 << 24

# Independent random streams per run, so that e.g. changing the noise never moves the particles.
_LAYOUT, _NOISE, _TILT_NOISE, _ALIGN, _CTF, _CLOCK = range(6)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CTF_HEADER = (
    "# Columns: #1 micrograph number; #2 defocus 1 [A]; #3 defocus 2; #4 azimuth; #5 phase shift [rad]; "
    "#6 cross correlation; #7 max resolution [A]; #8 dfHand"
)


@dataclass(frozen=True)
class _Phantom:
    """Analytic content of one tomogram, in voxel coordinates (0-based, voxel centres at integers)."""

    shape: tuple[int, int, int]  # (z, y, x)
    centres: np.ndarray  # (n, 3) ribosome centres as x, y, z
    radii: np.ndarray  # (n,)
    membrane_centre: np.ndarray  # (3,) x, y, z
    membrane_radius: float


def write_sample(
    out_dir: str | Path,
    runs: int = 2,
    size: int = 64,
    seed: int = 0,
    on_run: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Write the sample source dataset to ``out_dir/sample_10001/``, replacing any previous one there.

    Tomograms are ``(size//2, size, size)`` voxels at 13.48 Å; tilt series are 41 images of ``2·size`` square
    pixels at 6.74 Å. ``on_run(run_name, bytes_written)`` is called after each run. Returns ``root`` (the
    dataset directory), ``runs`` (run names), ``files`` (paths relative to ``root``) and ``bytes`` (total).
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    root = Path(out_dir) / SOURCE_PREFIX
    # Leftovers of a larger earlier sample would be picked up as extra runs by the config's globs.
    if root.exists():
        shutil.rmtree(root)
    for sub in ("tomograms", "tiltseries", "alignments", "ctf", "annotations"):
        (root / sub).mkdir(parents=True)

    run_names = [f"TS_{i:03d}" for i in range(1, runs + 1)]
    # The whole sample is one microscope session on a seed-dependent day (never the clock: reproducibility).
    day = int(np.random.default_rng((seed, _CLOCK)).integers(0, 365))
    session = dt.datetime(2024, 1, 1, 9) + dt.timedelta(days=day)
    files: list[str] = []
    total = 0
    for index, run in enumerate(run_names):
        written = _write_run(root, run, index, size, seed, session)
        run_bytes = sum((root / path).stat().st_size for path in written)
        files.extend(written)
        total += run_bytes
        if on_run is not None:
            on_run(run, run_bytes)
    return {"root": str(root), "runs": run_names, "files": files, "bytes": total}


def _write_run(root: Path, run: str, index: int, size: int, seed: int, session: dt.datetime) -> list[str]:
    """Write every file of one run; returns their paths relative to ``root``."""
    phantom = _make_phantom((size // 2, size, size), _rng(seed, index, _LAYOUT))
    raw = np.array(TILT_ANGLES)
    align_rng = _rng(seed, index, _ALIGN)
    # Aligned angles = nominal + a per-run offset + per-section jitter, |total| <= 0.2°.
    aligned = np.round(raw + align_rng.uniform(-0.1, 0.1) + align_rng.uniform(-0.1, 0.1, raw.size), 2)
    shifts = np.round(np.clip(align_rng.normal(0.0, 2.0, (raw.size, 2)), -5.0, 5.0), 3)
    label = f"cryoet-ingest sample {run} seed {seed}"
    clock = _rng(seed, index, _CLOCK)
    # Runs follow each other through the session.
    start = session + dt.timedelta(minutes=45 * index + int(clock.integers(0, 30)))

    paths = {
        "tomogram": f"tomograms/{run}.mrc",
        "mask": f"annotations/{run}_membrane.mrc",
        "tiltseries": f"tiltseries/{run}.mrc",
        "mdoc": f"tiltseries/{run}.mdoc",
        "rawtlt": f"tiltseries/{run}.rawtlt",
        "tlt": f"alignments/{run}.tlt",
        "xf": f"alignments/{run}.xf",
        "ctf": f"ctf/{run}_ctffind4.txt",
        "points": f"annotations/{run}_ribosome.csv",
    }
    _write_tomogram(root / paths["tomogram"], phantom, seed, index, label)
    _write_mask(root / paths["mask"], phantom, label)
    _write_tiltseries(root / paths["tiltseries"], phantom, aligned, shifts, seed, index, label)
    ctf_rng = _rng(seed, index, _CTF)
    target_defocus_um = float(ctf_rng.choice([2.5, 3.0, 3.5, 4.0]))
    texts = {
        "mdoc": _mdoc_text(run, size, target_defocus_um, start, clock),
        "rawtlt": "".join(f"{a:.2f}\n" for a in raw),
        "tlt": "".join(f"{a:.2f}\n" for a in aligned),
        "xf": _xf_text(shifts),
        "ctf": _ctf_text(raw, target_defocus_um, ctf_rng),
        "points": "".join(f"{x:.2f},{y:.2f},{z:.2f}\n" for x, y, z in phantom.centres),
    }
    for key, text in texts.items():
        (root / paths[key]).write_text(text, encoding="ascii")
    return list(paths.values())


def _rng(seed: int, run_index: int, stream: int, *extra: int) -> np.random.Generator:
    return np.random.default_rng((seed, run_index, stream, *extra))


# --- volume content -------------------------------------------------------------------------------------


def _make_phantom(shape: tuple[int, int, int], rng: np.random.Generator) -> _Phantom:
    """Place one membrane vesicle and up to ``_RIBOSOMES`` non-overlapping ribosomes clear of its shell."""
    nz, ny, nx = shape
    extent = np.array([nx, ny, nz], dtype=float)  # x, y, z
    middle = (extent - 1) / 2
    # The vesicle fits in z, like one caught whole inside a lamella.
    radius = 0.38 * nz
    outer = radius + _MEMBRANE_HALF_WIDTH
    room = np.maximum(middle - outer - 1, 0.0)
    room[2] = 0.0
    membrane_centre = middle + rng.uniform(-1.0, 1.0, 3) * room

    # Radii shrink for tiny volumes so that a ribosome always fits.
    r_hi = min(4.0, max(1.0, min(shape) / 4))
    r_lo = min(3.0, r_hi)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    for _ in range(50 * _RIBOSOMES):
        if len(centres) == _RIBOSOMES:
            break
        r = float(rng.uniform(r_lo, r_hi))
        c = rng.uniform(r, extent - 1 - r)
        clearance = abs(float(np.linalg.norm(c - membrane_centre)) - radius)
        if clearance < r + _MEMBRANE_HALF_WIDTH:
            continue
        if centres and np.any(np.linalg.norm(np.array(centres) - c, axis=1) < np.array(radii) + r + 1):
            continue
        centres.append(c)
        radii.append(r)
    if not centres:
        # The smallest volumes leave no room beside the vesicle; an overlapping ribosome still gives a pick.
        centres.append(rng.uniform(r_lo, extent - 1 - r_lo))
        radii.append(r_lo)
    return _Phantom(
        shape=shape,
        centres=np.array(centres).reshape(-1, 3),
        radii=np.array(radii),
        membrane_centre=membrane_centre,
        membrane_radius=radius,
    )


def _slabs(shape: tuple[int, int, int]) -> Iterator[tuple[int, int]]:
    nz, ny, nx = shape
    depth = max(1, _SLAB_VOXELS // (ny * nx))
    for z0 in range(0, nz, depth):
        yield z0, min(nz, z0 + depth)


def _distances(
    z0: int, z1: int, shape: tuple[int, int, int], centre: np.ndarray, reach: float
) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """Distances to ``centre`` over the part of slab ``[z0, z1)`` within ``reach`` of it (None if empty)."""
    _, ny, nx = shape
    x, y, z = centre
    lo = (max(z0, math.floor(z - reach)), max(0, math.floor(y - reach)), max(0, math.floor(x - reach)))
    hi = (
        min(z1, math.ceil(z + reach) + 1),
        min(ny, math.ceil(y + reach) + 1),
        min(nx, math.ceil(x + reach) + 1),
    )
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        return None
    zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    distance = np.sqrt((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2)
    box = (slice(lo[0] - z0, hi[0] - z0), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
    return box, distance


def _shell_offset(z0: int, z1: int, phantom: _Phantom) -> tuple[tuple[slice, slice, slice], np.ndarray] | None:
    """``|distance − radius|`` to the membrane over the slab, or None if the shell misses it."""
    reach = phantom.membrane_radius + _MEMBRANE_HALF_WIDTH + 1
    found = _distances(z0, z1, phantom.shape, phantom.membrane_centre, reach)
    if found is None:
        return None
    box, distance = found
    return box, np.abs(distance - phantom.membrane_radius)


def _smooth(a: np.ndarray, axis: int) -> np.ndarray:
    """[1, 2, 1] / 4 filter along ``axis`` with edge replication."""

    def at(s: slice) -> tuple[slice, ...]:
        index = [slice(None)] * a.ndim
        index[axis] = s
        return tuple(index)

    out = a * 2
    out[at(slice(1, None))] += a[at(slice(None, -1))]
    out[at(slice(0, 1))] += a[at(slice(0, 1))]
    out[at(slice(None, -1))] += a[at(slice(1, None))]
    out[at(slice(-1, None))] += a[at(slice(-1, None))]
    out *= 0.25
    return out


def _noise_slab(z0: int, z1: int, shape: tuple[int, int, int], seed: int, run_index: int) -> np.ndarray:
    """Low-passed Gaussian noise for planes ``[z0, z1)``.

    Each plane's white noise comes from its own generator, so the planes either side of the slab (needed for
    the z filter) can be regenerated and the result does not depend on how the volume is cut into slabs.
    """
    nz, ny, nx = shape
    planes = np.empty((z1 - z0 + 2, ny, nx), dtype=np.float32)
    for i, z in enumerate(range(z0 - 1, z1 + 1)):
        z_clamped = min(max(z, 0), nz - 1)
        planes[i] = _rng(seed, run_index, _NOISE, z_clamped).standard_normal((ny, nx), dtype=np.float32)
    planes = _smooth(_smooth(planes, 1), 2)
    out = planes[:-2] + 2 * planes[1:-1] + planes[2:]
    # Three [1, 2, 1]/4 passes keep 0.375 of the variance each.
    out *= np.float32(0.25 * _BACKGROUND_STD / 0.375**1.5)
    return out


def _tomogram_slab(z0: int, z1: int, phantom: _Phantom, seed: int, run_index: int) -> np.ndarray:
    slab = _noise_slab(z0, z1, phantom.shape, seed, run_index)
    shell = _shell_offset(z0, z1, phantom)
    if shell is not None:
        box, offset = shell
        # Soft edges (one voxel of linear ramp) avoid aliasing staircases.
        slab[box] += _MEMBRANE_DENSITY * np.clip(_MEMBRANE_HALF_WIDTH + 0.5 - offset, 0, 1).astype(np.float32)
    for centre, radius in zip(phantom.centres, phantom.radii, strict=True):
        found = _distances(z0, z1, phantom.shape, centre, radius + 1)
        if found is not None:
            box, distance = found
            slab[box] += _RIBOSOME_DENSITY * np.clip(radius + 0.5 - distance, 0, 1).astype(np.float32)
    return slab


def _write_tomogram(path: Path, phantom: _Phantom, seed: int, run_index: int, label: str) -> None:
    stats = RunningStatistics()
    with mrcfile.new_mmap(path, phantom.shape, mrc_mode=2, overwrite=True) as mrc:
        for z0, z1 in _slabs(phantom.shape):
            slab = _tomogram_slab(z0, z1, phantom, seed, run_index)
            mrc.data[z0:z1] = slab
            stats.add(slab)
        _finish_header(mrc, VOXEL_SIZE, stats, label)


def _write_mask(path: Path, phantom: _Phantom, label: str) -> None:
    stats = RunningStatistics()
    with mrcfile.new_mmap(path, phantom.shape, mrc_mode=0, overwrite=True) as mrc:
        for z0, z1 in _slabs(phantom.shape):
            slab = np.zeros((z1 - z0, *phantom.shape[1:]), dtype=np.int8)
            shell = _shell_offset(z0, z1, phantom)
            if shell is not None:
                box, offset = shell
                slab[box] = offset <= _MEMBRANE_HALF_WIDTH
            mrc.data[z0:z1] = slab
            stats.add(slab)
        _finish_header(mrc, VOXEL_SIZE, stats, label)


def _finish_header(mrc: Any, spacing: float, stats: RunningStatistics, label: str) -> None:
    mrc.voxel_size = spacing
    found = stats.result()
    header = mrc.header
    header.dmin, header.dmax, header.dmean, header.rms = found.minimum, found.maximum, found.mean, found.rms
    # mrcfile stamps new files with a "Created by mrcfile.py <time>" label, which would break reproducibility.
    mrc.header.label[:] = b""
    mrc.header.nlabl = 0
    mrc.add_label(label)


# --- tilt series ----------------------------------------------------------------------------------------


def _xf_matrix() -> np.ndarray:
    """IMOD ``a11 a12 / a21 a22`` for the tilt axis, as in the reference ``.xf`` (cos, sin / −sin, cos)."""
    c, s = math.cos(math.radians(TILT_AXIS)), math.sin(math.radians(TILT_AXIS))
    return np.array([[c, s], [-s, c]])


def _paint_disc(image: np.ndarray, u: float, v: float, radius: float, value: float, inner: float = 0.0) -> None:
    """Add the projection (chord length × value) of a ball, or of a hollow ball if ``inner`` > 0.

    ``u, v`` are the pixel column/row of its centre; radii are in tomogram voxels (two pixels each).
    """
    h, w = image.shape
    reach = 2 * radius + 1
    c0, c1 = max(0, math.floor(u - reach)), min(w, math.ceil(u + reach) + 1)
    r0, r1 = max(0, math.floor(v - reach)), min(h, math.ceil(v + reach) + 1)
    if c0 >= c1 or r0 >= r1:
        return
    rows, cols = np.ogrid[r0:r1, c0:c1]
    rho2 = ((cols - u) ** 2 + (rows - v) ** 2) / 4.0
    chord = 2 * np.sqrt(np.clip(radius**2 - rho2, 0, None))
    if inner > 0:
        chord -= 2 * np.sqrt(np.clip(inner**2 - rho2, 0, None))
    image[r0:r1, c0:c1] += (value * chord).astype(np.float32)


def _tilt_image(phantom: _Phantom, angle: float, shift: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """One raw tilt image: the phantom projected at ``angle`` about the tomogram's y axis, plus noise.

    Projecting the analytic phantom instead of the voxel data keeps this cheap for large sizes. The image is
    placed in the raw (unaligned) frame, so that applying the run's ``.xf`` row maps it onto the aligned view.
    """
    noise = _TILT_NOISE_STD / math.sqrt(math.cos(math.radians(angle)))  # thicker ice path at high tilt
    image = rng.standard_normal((side, side), dtype=np.float32) * np.float32(noise)
    middle = (np.array(phantom.shape[::-1], dtype=float) - 1) / 2  # x, y, z
    centre_px = (side - 1) / 2
    cos_t, sin_t = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    to_raw = _xf_matrix().T  # inverse of the orthogonal xf rotation

    def raw_position(point: np.ndarray) -> tuple[float, float]:
        x, y, z = point - middle
        aligned = 2 * np.array([x * cos_t + z * sin_t, y])  # voxels → pixels
        u, v = to_raw @ (aligned - shift) + centre_px
        return float(u), float(v)

    u, v = raw_position(phantom.membrane_centre)
    _paint_disc(
        image,
        u,
        v,
        phantom.membrane_radius + _MEMBRANE_HALF_WIDTH,
        _MEMBRANE_DENSITY,
        inner=phantom.membrane_radius - _MEMBRANE_HALF_WIDTH,
    )
    for centre, radius in zip(phantom.centres, phantom.radii, strict=True):
        u, v = raw_position(centre)
        _paint_disc(image, u, v, float(radius), _RIBOSOME_DENSITY)
    return image


def _write_tiltseries(
    path: Path,
    phantom: _Phantom,
    angles: np.ndarray,
    shifts: np.ndarray,
    seed: int,
    run_index: int,
    label: str,
) -> None:
    side = 2 * phantom.shape[2]
    stats = RunningStatistics()
    with mrcfile.new_mmap(path, (len(angles), side, side), mrc_mode=2, overwrite=True) as mrc:
        mrc.set_image_stack()
        for section, (angle, shift) in enumerate(zip(angles, shifts, strict=True)):
            rng = _rng(seed, run_index, _TILT_NOISE, section)
            image = _tilt_image(phantom, float(angle), shift, side, rng)
            mrc.data[section] = image
            stats.add(image[np.newaxis])
        _finish_header(mrc, PIXEL_SIZE, stats, label)


# --- acquisition text files -----------------------------------------------------------------------------


def _acquisition_order() -> list[float]:
    """Dose-symmetric order from 0°: 0, +3, −3, +6, −6, …"""
    order = [0.0]
    for step in range(3, 61, 3):
        order += [float(step), float(-step)]
    return order


def _serialem_time(moment: dt.datetime) -> str:
    # Spelled out instead of strftime("%b") so the output does not depend on the locale.
    return f"{moment.day:02d}-{_MONTHS[moment.month - 1]}-{moment.year % 100:02d}  {moment:%H:%M:%S}"


def _mdoc_text(run: str, size: int, defocus_um: float, start: dt.datetime, clock: np.random.Generator) -> str:
    """SerialEM mdoc with sections in acquisition order; each tilt takes 30–40 s."""
    side = 2 * size
    lines = [
        f"PixelSpacing = {PIXEL_SIZE}",
        "Voltage = 300",
        f"ImageFile = {run}.mrc",
        f"ImageSize = {side} {side}",
        "DataMode = 2",
        "",
        f"[T = SerialEM: cryoet-ingest sample                         {_serialem_time(start)}    ]",
        "",
        f"[T =     Tilt axis angle = {TILT_AXIS}, binning = 1  spot = 6  camera = 0]",
        "",
    ]
    moment = start
    for z_value, angle in enumerate(_acquisition_order()):
        lines += [
            f"[ZValue = {z_value}]",
            f"TiltAngle = {angle:.2f}",
            f"ExposureDose = {DOSE_PER_TILT}",
            f"PixelSpacing = {PIXEL_SIZE}",
            f"Defocus = {-defocus_um}",
            f"RotationAngle = {TILT_AXIS + 90:.1f}",
            f"ExposureTime = {EXPOSURE_TIME}",
            "Binning = 1",
            f"SubFramePath = X:\\frames\\{run}_{z_value:03d}_{angle:.1f}.tif",
            f"NumSubFrames = {SUBFRAMES}",
            f"DateTime = {_serialem_time(moment)}",
            "",
        ]
        moment += dt.timedelta(seconds=int(clock.integers(30, 41)))
    return "\n".join(lines) + "\n"


def _xf_text(shifts: np.ndarray) -> str:
    (a11, a12), (a21, a22) = _xf_matrix()
    return "".join(f"{a11:10.6f} {a12:10.6f} {a21:10.6f} {a22:10.6f} {dx:9.3f} {dy:9.3f}\n" for dx, dy in shifts)


def _ctf_text(angles: np.ndarray, defocus_um: float, rng: np.random.Generator) -> str:
    """CTFFIND4 fit per section: defocus near the target, fits degrade with tilt."""
    astigmatism = rng.uniform(200.0, 800.0)
    azimuth = rng.uniform(-90.0, 90.0)
    rows = [_CTF_HEADER]
    for section, angle in enumerate(angles, start=1):
        cos_t = math.cos(math.radians(angle))
        mean = defocus_um * 1e4 + rng.normal(0.0, 150.0)
        split = astigmatism / 2 + rng.uniform(-30.0, 30.0)
        phi = azimuth + rng.uniform(-3.0, 3.0)
        correlation = 0.05 + 0.25 * cos_t**2 + rng.uniform(0.0, 0.02)
        resolution = 6.0 + 8.0 * (1 - cos_t) + rng.uniform(0.0, 1.0)
        rows.append(
            f"{section:4d} {mean + split:10.2f} {mean - split:10.2f} {phi:8.2f} {0.0:.4f} "
            f"{correlation:.4f} {resolution:.4f} 1"
        )
    return "\n".join(rows) + "\n"


# --- command line ---------------------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sample`` subcommand to a ``cryoet-ingest`` subparsers object."""
    parser = subparsers.add_parser(
        "sample",
        help="write a synthetic source dataset to try the ingester on",
        description=(
            "Write a small, realistic, deterministic source dataset (what a lab uploads) to\n"
            "OUT/sample_10001/, replacing any previous one. Per run TS_001, TS_002, ...:\n"
            "  tomograms/{run}.mrc                   tomogram, S/2 x S x S voxels of 13.48 A\n"
            "  tiltseries/{run}.mrc, .mdoc, .rawtlt  41 tilts -60..60, 2S x 2S px of 6.74 A\n"
            "  alignments/{run}.xf, .tlt             IMOD alignment\n"
            "  ctf/{run}_ctffind4.txt                CTFFIND4 fits\n"
            "  annotations/{run}_ribosome.csv        ribosome centres (x,y,z voxels)\n"
            "  annotations/{run}_membrane.mrc        membrane mask (0/1)\n"
            "The same arguments always give byte-identical files."
        ),
        epilog=(
            "Ingest the result with:\n"
            "  cryoet-ingest standardize dataset_configs/10001.yaml --input OUT ...\n"
            "(the config's source_prefix is sample_10001)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", metavar="OUT", type=Path, help="directory that receives sample_10001/")
    parser.add_argument(
        "--runs", metavar="N", type=_int_at_least(1), default=2, help="number of runs (default: %(default)s)"
    )
    parser.add_argument(
        "--size",
        metavar="S",
        type=_int_at_least(8),
        default=64,
        help="tomogram x and y size in voxels, at least 8; 1024 writes 3.4 GB per run (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", metavar="K", type=_int_at_least(0), default=0, help="random seed (default: %(default)s)"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    def report(run: str, written: int) -> None:
        print(f"{run}: {written / 1e6:.1f} MB", flush=True)

    summary = write_sample(args.out, runs=args.runs, size=args.size, seed=args.seed, on_run=report)
    print(
        f"wrote {len(summary['runs'])} runs, {len(summary['files'])} files, {summary['bytes'] / 1e6:.1f} MB "
        f"to {summary['root']}"
    )
    return 0
