"""Neuroglancer viewer states (formats.md §7), as the portal's importer writes them.

Pure functions, from a tomogram's numbers and its run's annotation metadata to the JSON state.
The values the portal derives from the data (contrast limits, layer colours) are derived the same
way here, so that a state equals the portal's for the same data, timestamps aside.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

METRES_PER_ANGSTROM = 1e-10
#: Layer name suffix per annotation shape; shapes not listed get no layer.
LAYER_KINDS = {
    "Point": "point",
    "InstanceSegmentation": "point",
    "OrientedPoint": "orientedpoint",
    "SegmentationMask": "segmentation",
    "InstanceSegmentationMask": "instancesegmentation",
    "TriangularMesh": "mesh",
}
#: Only these files have a precomputed counterpart (the MRC twin of a zarr mask does not).
LAYER_FORMATS = ("zarr", "ndjson", "glb")
POINT_SHAPES = ("Point", "OrientedPoint", "InstanceSegmentation")
MASK_SHAPES = ("SegmentationMask", "InstanceSegmentationMask")
MESH_SHAPES = ("TriangularMesh",)

#: Half-depth (slices) of the coarsest pyramid level used for the volume-rendering contrast, the
#: fraction of that level sampled, and the portal's component-count → (low, high) std multipliers.
VOLUME_CONTRAST_RADIUS = 15
VOLUME_CONTRAST_FRACTION = 0.3
VOLUME_CONTRAST_MULTIPLIERS = {1: (2.0, 0.5), 2: (2.2, 0.65), 3: (3.0, 0.8)}
#: Bounds the mixture fit's memory on huge tomograms; below it the portal's sample is used as-is.
VOLUME_CONTRAST_MAX_SAMPLES = 1 << 21
RANDOM_SEED = 42

#: Metadata keys that seed an annotation's colour, so one object keeps its colour everywhere.
_COLOR_SEED_KEYS = ("annotation_method", "annotation_object", "deposition_id", "ground_truth_status")
_MAX_SEED = 2**32 - 1

IMAGE_SHADER = """#uicontrol invlerp contrast
#uicontrol bool invert_contrast checkbox
#uicontrol invlerp contrast_3D(clamp=false)
#uicontrol bool invert_contrast_3D checkbox
#uicontrol bool hide_values_outside_limits_3D checkbox

float get_contrast() {
  float value = invert_contrast ? 1.0 - contrast() : contrast();
  return value;
}
float get_contrast_3D() {
  float value = invert_contrast_3D ? 1.0 - contrast_3D() : contrast_3D();
  value = (hide_values_outside_limits_3D && value > 1.0) ? 0.0 : clamp(value, 0.0, 1.0);
  return value;
}

void main() {
  float outputValue;
  if (VOLUME_RENDERING) {
    outputValue = get_contrast_3D();
    emitIntensity(outputValue);
  } else {
    outputValue = get_contrast();
  }
  emitGrayscale(outputValue);
}"""

_SLIDERS = {
    "pointScale": "#uicontrol float pointScale slider(min=0.01, max=2.0, step=0.01)",
    "lineWidth": "#uicontrol float lineWidth slider(min=0.01, max=4.0, step=0.01)",
    "opacity": "#uicontrol float opacity slider(min=0.0, max=1.0, step=0.01)",
}


def _point_shader(color: str, oriented: bool) -> str:
    """Points take the layer's ``annotationColor`` (instance points their per-point colour);
    oriented points also draw their three axes as lines."""
    sliders = ["pointScale", "lineWidth", "opacity"] if oriented else ["pointScale", "opacity"]
    if oriented:
        body = [
            "setLineWidth(lineWidth);",
            "setLineColor(vec4(prop_line_color(), opacity));",
            "setEndpointMarkerSize(pointScale * prop_diameter(), pointScale * 0.5 * prop_diameter());",
            f"setEndpointMarkerColor(vec4({color}, opacity));",
            "setEndpointMarkerBorderWidth(0.1);",
            "setEndpointMarkerBorderColor(vec4(0.0, 0.0, 0.0, opacity));",
        ]
    else:
        body = [
            f"setColor(vec4({color}, opacity));",
            "setPointMarkerSize(pointScale * prop_diameter());",
            "setPointMarkerBorderWidth(0.1);",
            "setPointMarkerBorderColor(vec4(0.0, 0.0, 0.0, opacity));",
        ]
    lines = ["  if (opacity == 0.0) discard;", *(f"  {line}" for line in body)]
    return "\n".join([*(_SLIDERS[s] for s in sliders), "", "void main() {", *lines, "}"])


@dataclass(frozen=True)
class AnnotationLayer:
    """One annotation data file as the viewer (and the key images) show it."""

    annotation_id: int
    object_name: str
    shape: str
    path: str
    #: Bucket key of the annotation's NeuroglancerPrecompute dir for this shape.
    precompute: str
    spacing: float
    visible: bool
    color: str
    #: The MRC twin of a zarr mask (what the key images read), if the annotation has one.
    mrc_path: str | None = None
    #: Oriented points whose precompute step made meshes: the mesh layer is shown instead.
    oriented_mesh: str | None = None
    #: Labels of an instance mask (its ``.zattrs`` image-label colours).
    labels: tuple[int, ...] = (1,)

    @property
    def name(self) -> str:
        return f"{self.annotation_id} {self.object_name} {LAYER_KINDS[self.shape]}"


def color_seed(metadata: dict[str, Any], shape: str) -> int:
    """The portal's colour seed: a hash of what identifies the annotated object, and the shape."""
    seed = {key: metadata.get(key) for key in _COLOR_SEED_KEYS}
    if seed["annotation_object"]:
        seed["annotation_object"] = {key: seed["annotation_object"].get(key) for key in ("id", "name")}
    seed["shape"] = shape
    digest = hashlib.md5(json.dumps(seed, sort_keys=True).encode("utf-8")).hexdigest()
    return int(digest, 16) % _MAX_SEED


#: Past this many colours, distinctipy's optimiser gets slow and hues hard to tell apart: the portal cycles.
MAX_DISTINCT_COLORS = 20


def _visible(color: tuple[float, float, float]) -> bool:
    """Not too pale nor too dark to see on the viewer's black background."""
    _, saturation, value = colorsys.rgb_to_hsv(*color)
    return saturation > 0.15 and value > 0.25


def distinct_colors(count: int, used: list[tuple[float, float, float]], seed: int) -> list[tuple[float, float, float]]:
    """``count`` colours distinct from ``used`` and from each other, as the portal picks them: the
    invisible ones are dropped and picked again, excluding every colour drawn so far; past
    ``MAX_DISTINCT_COLORS`` the first ones repeat."""
    if count == 0:
        return []
    if count > MAX_DISTINCT_COLORS:
        base = distinct_colors(MAX_DISTINCT_COLORS, used, seed)
        return [base[index % MAX_DISTINCT_COLORS] for index in range(count)]
    import distinctipy  # 0.2 s to import: when colours are picked, not at start-up

    drawn = distinctipy.get_colors(count, exclude_colors=used, rng=seed)
    kept = [color for color in drawn if _visible(color)]
    if len(kept) < count:
        return kept + distinct_colors(count - len(kept), used + drawn, seed)
    return kept


def hex_color(color: Iterable[float]) -> str:
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in color)


def annotation_colors(files: Iterable[tuple[dict[str, Any], str]]) -> list[str]:
    """Colours of annotation files ``(metadata, shape)`` in layer order: each is kept distinct from
    the earlier ones, except instance segmentations, whose points have their own colours."""
    used: list[tuple[float, float, float]] = []
    colors = []
    for metadata, shape in files:
        (color,) = distinct_colors(1, used, color_seed(metadata, shape))
        if shape != "InstanceSegmentation":
            used.append(color)
        colors.append(hex_color(color))
    return colors


def volume_contrast_slab(depth: int) -> tuple[int, int]:
    """z range of the coarsest level that the volume-rendering contrast is computed from."""
    centre = 0.5 * depth - 0.5
    start = max(0, math.ceil(centre - VOLUME_CONTRAST_RADIUS))
    return start, min(depth, math.floor(centre + VOLUME_CONTRAST_RADIUS) + 1)


def volume_contrast_limits(slab: np.ndarray, level_voxels: int) -> tuple[float, float]:
    """The portal's volume-rendering contrast limits, from the central slab of the coarsest level.

    A Gaussian mixture of 1-3 components (the best by BIC) is fitted to a seeded sample; the
    component nearest the sample mean gives ``mean - low·std, mean + high·std``.
    """
    # Imported here: scikit-learn takes about a second to import and only this needs it.
    from sklearn.mixture import GaussianMixture

    values = slab.ravel()
    count = int(level_voxels * VOLUME_CONTRAST_FRACTION)
    # The portal fits the whole slab when its sample (a fraction of the whole level) would not fit in it.
    if (count > values.size and values.size <= VOLUME_CONTRAST_MAX_SAMPLES) or values.size < 2:
        sample = values
    else:
        sample = np.random.default_rng(RANDOM_SEED).choice(
            values, max(2, min(count, values.size, VOLUME_CONTRAST_MAX_SAMPLES)), replace=False
        )
    column = sample.reshape(-1, 1)

    def mixture(components: int, iterations: int) -> GaussianMixture:
        return GaussianMixture(
            n_components=components,
            covariance_type="full",
            max_iter=iterations,
            random_state=RANDOM_SEED,
            init_params="k-means++",
        ).fit(column)

    scores = []
    for components in VOLUME_CONTRAST_MULTIPLIERS:
        try:
            scores.append(mixture(components, 100).bic(column))
        except ValueError:  # fewer distinct samples than components
            scores.append(np.inf)
    components = int(np.argmin(scores)) + 1
    fitted = mixture(components, 300)
    means = fitted.means_.ravel()
    nearest = int(np.argmin(np.abs(means - np.mean(sample))))
    # The fit keeps the data's float32; the limits are then computed in float64, as the portal's do.
    mean = float(means[nearest])
    std = float(np.sqrt(fitted.covariances_.ravel()[nearest]))
    low, high = VOLUME_CONTRAST_MULTIPLIERS[components]
    return max(mean - low * std, float(np.min(sample))), min(mean + high * std, float(np.max(sample)))


def _dimensions(spacing: float) -> dict[str, list[Any]]:
    return {axis: [spacing * METRES_PER_ANGSTROM, "m"] for axis in "xyz"}


def _source(url: str, spacing: float, tomogram_spacing: float) -> dict[str, Any]:
    """A layer source; data of another voxel spacing is mapped onto the tomogram's grid."""
    return {
        "url": url,
        "transform": {"outputDimensions": _dimensions(tomogram_spacing), "inputDimensions": _dimensions(spacing)},
    }


def _invlerp(limits: tuple[float, float], margin: float) -> dict[str, list[float]]:
    """A contrast control: the limits, and a slider window ``margin`` widths wider on each side."""
    low, high = limits
    width = high - low
    return {"range": [low, high], "window": [low - margin * width, high + margin * width]}


@dataclass(frozen=True)
class TomogramView:
    """What the image layer needs to know about a tomogram."""

    name: str
    zarr_url: str
    spacing: float
    size: dict[str, int]
    mean: float
    rms: float
    volume_limits: tuple[float, float]


def image_layer(view: TomogramView) -> dict[str, Any]:
    """The tomogram's layer: slices contrasted to mean ± 3 rms, volume rendering prepared (off).

    The ``_``-prefixed keys are the portal library's own (Neuroglancer ignores them); they are
    kept so that states compare equal.
    """
    largest = max(view.size[axis] for axis in "xyz")
    return {
        "type": "image",
        "name": view.name,
        "source": _source(f"zarr://{view.zarr_url}", view.spacing, view.spacing),
        "opacity": 1.0,
        "blend": "additive",
        "tab": "rendering",
        "visible": True,
        "volumeRendering": "off",
        "volumeRenderingGain": -7.8,
        "codeVisible": False,
        "volumeRenderingDepthSamples": 128,
        "shader": IMAGE_SHADER,
        "shaderControls": {
            "contrast": _invlerp((view.mean - 3 * view.rms, view.mean + 3 * view.rms), 0.2),
            "invert_contrast": False,
            "contrast_3D": _invlerp(view.volume_limits, 2.0),
            "invert_contrast_3D": True,
            "hide_values_outside_limits_3D": False,
        },
        "_position": [float(round(view.size[axis] / 2)) for axis in "xyz"],
        "_crossSectionScale": max(largest / 400, 1),
        "_projectionScale": largest * 1.1,
    }


def _segmentation_layer(
    name: str, source: dict[str, Any], *, visible: bool, color: str | None, segments: list[int], scale: float
) -> dict[str, Any]:
    """Masks and meshes: a precomputed segmentation shown with its meshes, no bounding box."""
    layer = {
        "type": "segmentation",
        "name": name,
        "source": {**source, "subsources": {"default": True, "mesh": True}, "enableDefaultSubsources": False},
        "tab": "rendering",
        "selectedAlpha": 1,
        "hoverHighlight": False,
        "segments": segments,
        "visible": visible,
        "meshRenderScale": scale,
        "pick": False,
    }
    if color is not None:
        layer["segmentDefaultColor"] = color
    return layer


def annotation_layers(layer: AnnotationLayer, https_prefix: str, tomogram_spacing: float) -> list[dict[str, Any]]:
    """The viewer layers of one annotation file: one, or two for oriented points with meshes."""
    source = _source(f"precomputed://{https_prefix}/{layer.precompute}", layer.spacing, tomogram_spacing)
    if layer.shape in POINT_SHAPES:
        oriented = layer.shape == "OrientedPoint"
        color = "prop_color()" if layer.shape == "InstanceSegmentation" else "defaultColor()"
        controls = (
            {"pointScale": 1.0, "lineWidth": 1.0, "opacity": 1.0} if oriented else {"pointScale": 1.0, "opacity": 1.0}
        )
        points = {
            "type": "annotation",
            "name": layer.name,
            "source": source,
            "tab": "rendering",
            "annotationColor": layer.color,
            "visible": layer.visible and layer.oriented_mesh is None,
            "codeVisible": False,
            "shader": _point_shader(color, oriented),
            "shaderControls": controls,
        }
        if layer.oriented_mesh is None:
            return [points]
        mesh = _segmentation_layer(
            f"{layer.annotation_id} {layer.object_name} orientedmesh",
            _source(f"precomputed://{https_prefix}/{layer.oriented_mesh}", layer.spacing, tomogram_spacing),
            visible=layer.visible,
            color=layer.color,
            segments=[1],
            scale=4.0,
        )
        return [mesh, points]
    is_instance = layer.shape == "InstanceSegmentationMask"
    return [
        _segmentation_layer(
            layer.name,
            source,
            visible=layer.visible,
            color=None if is_instance else layer.color,
            segments=sorted(layer.labels),
            scale=2.0,
        )
    ]


def viewer_state(view: TomogramView, layers: list[AnnotationLayer], https_prefix: str) -> dict[str, Any]:
    """The whole state: the tomogram's image layer, then one layer per annotation file."""
    image = image_layer(view)
    all_layers = [image]
    for layer in layers:
        all_layers += annotation_layers(layer, https_prefix, view.spacing)
    return {
        "dimensions": _dimensions(view.spacing),
        "crossSectionScale": float(image["_crossSectionScale"]),
        # 45° about x: the 3-D panel looks at the slab from above its edge.
        "projectionOrientation": [math.sin(math.pi / 8), 0.0, 0.0, math.cos(math.pi / 8)],
        "layers": all_layers,
        "selectedLayer": {"visible": True, "layer": image["name"], "side": "left"},
        "crossSectionBackgroundColor": "#000000",
        "hideCrossSectionBackground3D": True,
        "layout": "4panel",
        "showSlices": True,
        "showAxisLines": True,
        "layerListPanel": {"row": 1, "visible": True},
        "helpPanel": {"side": "right", "row": 0},
        "settingsPanel": {"side": "right", "row": 1},
        "selection": {"row": 2, "visible": False},
        "toolPalettes": {
            "Position": {
                "side": "bottom",
                "row": 1,
                "size": 100,
                "visible": True,
                "query": "type:dimension",
                "verticalStacking": False,
            }
        },
        "gpuMemoryLimit": 1_500_000_000,
        "position": image["_position"],
        "projectionScale": image["_projectionScale"],
    }
