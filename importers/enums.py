"""The portal's enumerations (metadata.md §10), defined once.

The config and metadata models, the validation checks and the database schema take their allowed
values from here; ``values(Enum)`` gives the set of a ``Literal``.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Processing = Literal["raw", "filtered", "denoised"]
ReconstructionMethod = Literal["SART", "Fourier Space", "SIRT", "WBP", "Unknown"]
FiducialAlignmentStatus = Literal["FIDUCIAL", "NON_FIDUCIAL"]
AlignmentFormat = Literal["IMOD", "ARETOMO3"]
AlignmentType = Literal["LOCAL", "GLOBAL"]
AlignmentMethod = Literal["fiducial_based", "patch_tracking", "projection_matching", "simulated", "undefined"]
AnnotationMethodType = Literal["manual", "automated", "hybrid", "simulated"]
AnnotationShape = Literal[
    "Point", "OrientedPoint", "InstanceSegmentation", "SegmentationMask", "InstanceSegmentationMask",
    "TriangularMesh", "GlobalCaption", "AnnotationCaption",
]  # fmt: skip
AnnotationFileFormat = Literal["ndjson", "mrc", "zarr", "glb", "json"]
MethodLinkType = Literal["documentation", "models_weights", "other", "source_code", "website"]
CtfFormat = Literal["CTFFIND", "Gctf", "IMOD"]
DepositionType = Literal["annotation", "dataset", "tomogram"]
SampleType = Literal[
    "cell_line", "in_silico", "in_vitro", "organelle", "organism", "organoid", "other",
    "primary_cell_culture", "tissue", "virus",
]  # fmt: skip
CameraAcquireMode = Literal["counting", "superresolution", "linear", "cds"]
MicroscopeManufacturer = Literal["FEI", "TFS", "JEOL", "SIMULATED"]
CameraManufacturer = Literal["Gatan", "FEI", "TFS", "simulated"]

#: Values only the database knows (metadata.md §10 notes).
DATABASE_ONLY: dict[Any, tuple[str, ...]] = {
    Processing: ("filtered_even", "filtered_odd"),
    SampleType: ("cell",),
    ReconstructionMethod: ("Fourier_Space",),
    AnnotationShape: ("Mesh",),
}


def values(enum: Any) -> frozenset[str]:
    """The allowed values of a ``Literal`` enumeration."""
    return frozenset(get_args(enum))


def database_values(enum: Any) -> tuple[str, ...]:
    """The values a database column of this enumeration accepts (metadata spellings first)."""
    return (*get_args(enum), *DATABASE_ONLY.get(enum, ()))
