"""``rescale`` of mask annotations: a mask deposited at another size, resampled to its voxel spacing's size.

The target size is the run's alignment ``volume_dimension`` (Å) over the voxel spacing, rounded, as the portal's
``VolumeAnnotationSource.get_output_dim``; a source of that size already is not resampled. The resampling is the
portal's: a semantic mask is selected (``== mask_label``) and then averaged over each target voxel's footprint
(scikit-image ``resize_local_mean``), any coverage making a 1; with a ``threshold``, the source values are averaged
first and the threshold applied after (``>=``); an instance mask takes the nearest label (scipy ``zoom``, order 0).
The whole mask is resampled in memory, as the portal does: masks are deposited at the tomogram's size or smaller.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def target_shape(volume_dimension: Mapping[str, float], spacing: float) -> tuple[int, int, int]:
    """(z, y, x) voxels of the aligned volume at ``spacing``."""
    return tuple(round(float(volume_dimension[axis]) / spacing) for axis in "zyx")


def rescale_semantic(
    data: np.ndarray, shape: tuple[int, int, int], mask_label: int = 1, threshold: float | None = None
) -> np.ndarray:
    """A semantic mask (int8 0/1) of ``shape`` from source values ``data`` (as stored, before selection)."""
    from skimage.transform import resize_local_mean  # imported when a mask is rescaled

    values = data.astype(np.float32)
    if threshold is not None:
        return (resize_local_mean(values, shape, preserve_range=True) >= threshold).astype(np.int8)
    selected = (values == mask_label).astype(np.int8)
    return (resize_local_mean(selected, shape, preserve_range=True) > 0).astype(np.int8)


def rescale_instances(data: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """An instance mask (uint16 labels) of ``shape``: each target voxel takes its nearest source voxel's label."""
    from scipy.ndimage import zoom  # imported when a mask is rescaled

    factors = tuple(target / size for target, size in zip(shape, data.shape, strict=True))
    return zoom(data.astype(np.float32), zoom=factors, order=0).astype(np.uint16)
