"""Pydantic models of the ingestion config versions (shared/spec/config.md): the one source of truth for the YAML.

Config models (``CONFIG_MODELS``) forbid unknown keys and are strict about types (the config's values are copied
into the metadata JSON unchanged, so a quoted number or a ``"true"`` string would end up with the wrong type in the
portal). Their metadata blocks are the metadata documents' models (``importers/metadata/models.py``). ``export.py``
turns both into the JSON Schema files under ``schema/``; cross-field rules live in ``rules.py``.
"""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from importers.enums import AlignmentFormat
from importers.metadata.models import (
    TEMPLATED,
    AlignmentMetadata,
    AnnotationMetadata,
    CtfMetadata,
    DatasetMetadata,
    Dates,
    DepositionMetadata,
    FramesMetadata,
    IdentifiedObjectsMetadata,
    Model,
    Num,
    Picture,
    TiltSeriesMetadata,
    TNum,
    TomogramMetadata,
    pattern_field,
)
from importers.metadata.patterns import PATTERNS

CURRENT_VERSION = "1.3.0"
VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")

# Pattern regex -> what a user should write; validate.py turns pattern errors into these descriptions.
PATTERN_DESCRIPTIONS = {regex: description for regex, description in PATTERNS.values()}


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError("scalar", "must be a string or a number")
    return value


Scalar = Annotated[Any, AfterValidator(_scalar), WithJsonSchema({"type": ["string", "number"]})]


# ---------------------------------------------------------------------------------------------------------------
# Sources and finders (config.md §3, §4)


class GlobFinder(Model):
    list_glob: str
    match_regex: str | None = None
    name_regex: str | None = None


class MultiGlobFinder(Model):
    list_globs: Annotated[list[str], Field(min_length=1)]


class DestinationFilterItem(Model):
    key: Annotated[list[str], Field(min_length=1)]
    value: Any


class DestinationFilterFinder(Model):
    filters: Annotated[list[DestinationFilterItem], Field(min_length=1)]


class TomogramHeaderFinder(Model):
    list_glob: str
    match_regex: str | None = None
    header_key: Literal["voxel_size"] | None = None


class ScalarLiteral(Model):
    value: Annotated[list[Scalar], Field(min_length=1)]


class IntLiteral(Model):
    value: Annotated[list[int], Field(min_length=1)]


class StrLiteral(Model):
    value: Annotated[list[str], Field(min_length=1)]


class SpacingLiteral(Model):
    value: Annotated[list[Annotated[float, Field(gt=0), TEMPLATED]], Field(min_length=1)]


class KeyPhotoLiteral(Model):
    value: Picture


Regexes = list[str]
FINDERS = ("source_glob", "source_multi_glob", "destination_glob", "literal", "destination_filter", "tomogram_header")


def _parent_filters(entity: str, parents: tuple[str, ...]) -> type[Model]:
    parent = Literal[parents]  # type: ignore[valid-type]
    return type(
        f"{entity}ParentFilters",
        (Model,),
        {
            "__annotations__": {"include": dict[parent, Regexes] | None, "exclude": dict[parent, Regexes] | None},
            "include": None,
            "exclude": None,
            "__module__": __name__,
            "__doc__": f"Regex filters on the names of a {entity} source's ancestors ({', '.join(parents)}).",
        },
    )


def _source(entity: str, finders: dict[str, type[Model]], parents: tuple[str, ...]) -> type[Model]:
    """A source entry: finders (exactly one, checked in rules.py), parent filters and an exclude list."""
    annotations: dict[str, Any] = {name: finder | None for name, finder in finders.items()}
    if parents:
        annotations["parent_filters"] = _parent_filters(entity, parents) | None
    annotations["exclude"] = Regexes | None
    return type(
        f"{entity}Source",
        (Model,),
        {"__annotations__": annotations, **dict.fromkeys(annotations), "__module__": __name__},
    )


_GLOBS = {"source_glob": GlobFinder, "source_multi_glob": MultiGlobFinder, "destination_glob": GlobFinder}
_DEFAULT_FINDERS = {**_GLOBS, "literal": ScalarLiteral}
_FILTER_FINDERS = {**_DEFAULT_FINDERS, "destination_filter": DestinationFilterFinder}
_RUN_PARENTS = ("dataset", "deposition", "run")
_SPACING_PARENTS = (*_RUN_PARENTS, "voxel_spacing")

# Allowed parent-filter types per entity (config.md §3 "Filters").
PARENTS: dict[str, tuple[str, ...]] = {
    "depositions": (),
    "datasets": ("deposition",),
    "runs": ("dataset", "deposition"),
    "voxel_spacings": _RUN_PARENTS,
    "tiltseries": _RUN_PARENTS,
    "alignments": _RUN_PARENTS,
    "ctfs": _RUN_PARENTS,
    "rawtilts": _RUN_PARENTS,
    "frames": _RUN_PARENTS,
    "gains": _RUN_PARENTS,
    "collection_metadata": _RUN_PARENTS,
    "identified_objects": _RUN_PARENTS,
    "tomograms": _SPACING_PARENTS,
    "annotations": _SPACING_PARENTS,
    "key_images": (*_SPACING_PARENTS, "tomogram"),
    "dataset_keyphotos": ("deposition",),
    "deposition_keyphotos": ("deposition",),
}

DepositionSource = _source("Deposition", {**_GLOBS, "literal": IntLiteral}, PARENTS["depositions"])
DatasetSource = _source("Dataset", {**_GLOBS, "literal": StrLiteral}, PARENTS["datasets"])
RunSource = _source("Run", _DEFAULT_FINDERS, PARENTS["runs"])
VoxelSpacingSource = _source(
    "VoxelSpacing",
    {
        "source_glob": GlobFinder,
        "destination_glob": GlobFinder,
        "literal": SpacingLiteral,
        "tomogram_header": TomogramHeaderFinder,
    },
    PARENTS["voxel_spacings"],
)
TiltSeriesSource = _source("TiltSeries", _FILTER_FINDERS, PARENTS["tiltseries"])
TomogramSource = _source("Tomogram", _FILTER_FINDERS, PARENTS["tomograms"])
AlignmentSource = _source("Alignment", _DEFAULT_FINDERS, PARENTS["alignments"])
CtfSource = _source("Ctf", _DEFAULT_FINDERS, PARENTS["ctfs"])
RawTiltSource = _source("RawTilt", _DEFAULT_FINDERS, PARENTS["rawtilts"])
FramesSource = _source("Frames", _DEFAULT_FINDERS, PARENTS["frames"])
GainSource = _source("Gain", _DEFAULT_FINDERS, PARENTS["gains"])
CollectionMetadataSource = _source("CollectionMetadata", _DEFAULT_FINDERS, PARENTS["collection_metadata"])
IdentifiedObjectsSource = _source("IdentifiedObjects", _DEFAULT_FINDERS, PARENTS["identified_objects"])
KeyImageSource = _source("KeyImage", _DEFAULT_FINDERS, PARENTS["key_images"])
# A destination_glob finds photos an earlier ingestion already wrote to the output (published portal configs).
_PHOTO_FINDERS = {"literal": KeyPhotoLiteral, "destination_glob": GlobFinder}
DatasetKeyPhotoSource = _source("DatasetKeyPhoto", _PHOTO_FINDERS, PARENTS["dataset_keyphotos"])
DepositionKeyPhotoSource = _source("DepositionKeyPhoto", _PHOTO_FINDERS, PARENTS["deposition_keyphotos"])


class ShapeArgs(Model):
    """Arguments shared by every annotation shape; exactly one of glob_string/glob_strings (rules.py)."""

    glob_string: str | None = None
    glob_strings: Annotated[list[str], Field(min_length=1)] | None = None
    is_visualization_default: bool | None = None
    is_portal_standard: bool | None = None


class PointLikeArgs(ShapeArgs):
    binning: Annotated[float, Field(gt=0)] | None = None
    columns: Literal["xyz", "zyx"] | None = None
    order: Literal["xyz", "zyx"] | None = None
    delimiter: str | None = None
    filter_value: str | None = None


class PointArgs(PointLikeArgs):
    file_format: Literal["csv", "csv_with_header", "mod", "relion3_star", "relion4_star", "tomoman_relion_star",
                         "copick"]  # fmt: skip


class OrientedPointArgs(PointLikeArgs):
    file_format: Literal["relion3_star", "relion4_star", "tomoman_relion_star", "stopgap_star", "mod", "copick"]
    mesh_source_path: str | None = None


class InstanceSegmentationArgs(PointLikeArgs):
    file_format: Literal["tardis", "copick"]
    mesh_source_path: str | None = None


class SegmentationMaskArgs(ShapeArgs):
    file_format: Literal["mrc", "zarr"]


class SemanticSegmentationMaskArgs(SegmentationMaskArgs):
    mask_label: Annotated[int, Field(ge=0)] | None = None
    threshold: Num | None = None
    rescale: bool | None = None


class InstanceSegmentationMaskArgs(SegmentationMaskArgs):
    rescale: bool | None = None


class TriangularMeshArgs(ShapeArgs):
    file_format: Literal["obj", "stl", "vtk", "glb"]
    scale_factor: Annotated[float, Field(gt=0)] | None = None


class TriangularMeshGroupArgs(ShapeArgs):
    file_format: Literal["hff"]
    scale_factor: Annotated[float, Field(gt=0)] | None = None
    name: str


class GlobalCaptionArgs(ShapeArgs):
    # "saber": the SABER caption JSON the portal copies as it is (its only caption format; published configs use it).
    file_format: Literal["json", "saber"]


ShapeName = Literal[
    "Point", "OrientedPoint", "InstanceSegmentation", "SegmentationMask", "SemanticSegmentationMask",
    "InstanceSegmentationMask", "TriangularMesh", "TriangularMeshGroup", "GlobalCaption", "AnnotationCaption",
]  # fmt: skip


class AnnotationCaptionArgs(GlobalCaptionArgs):
    companion_shape: ShapeName


AnnotationParentFilters = _parent_filters("Annotation", PARENTS["annotations"])


class AnnotationSource(Model):
    """One annotation source entry: exactly one shape key (rules.py) plus optional filters."""

    Point: PointArgs | None = None
    OrientedPoint: OrientedPointArgs | None = None
    InstanceSegmentation: InstanceSegmentationArgs | None = None
    SegmentationMask: SegmentationMaskArgs | None = Field(None, description="legacy: use SemanticSegmentationMask")
    SemanticSegmentationMask: SemanticSegmentationMaskArgs | None = None
    InstanceSegmentationMask: InstanceSegmentationMaskArgs | None = None
    TriangularMesh: TriangularMeshArgs | None = None
    TriangularMeshGroup: TriangularMeshGroupArgs | None = None
    GlobalCaption: GlobalCaptionArgs | None = None
    AnnotationCaption: AnnotationCaptionArgs | None = None
    parent_filters: AnnotationParentFilters | None = None  # type: ignore[valid-type]
    exclude: Regexes | None = None


SHAPES: tuple[str, ...] = ShapeName.__args__


# ---------------------------------------------------------------------------------------------------------------
# Entities and the config file


def _sources(source: type[Model]) -> Any:
    return Annotated[list[source], Field(min_length=1)]  # type: ignore[valid-type]


class DepositionEntity(Model):
    metadata: DepositionMetadata | None = None
    sources: _sources(DepositionSource)


class DatasetEntity(Model):
    metadata: DatasetMetadata | None = None
    sources: _sources(DatasetSource)


class RunEntity(Model):
    sources: _sources(RunSource)


class VoxelSpacingEntity(Model):
    sources: _sources(VoxelSpacingSource)


class TiltSeriesEntity(Model):
    metadata: TiltSeriesMetadata | None = None
    sources: _sources(TiltSeriesSource)


class TomogramEntity(Model):
    metadata: TomogramMetadata | None = None
    sources: _sources(TomogramSource)


class AlignmentEntity(Model):
    metadata: AlignmentMetadata | None = None
    sources: _sources(AlignmentSource)


class AnnotationEntity(Model):
    metadata: AnnotationMetadata
    sources: _sources(AnnotationSource)


class CtfEntity(Model):
    metadata: CtfMetadata | None = None
    sources: _sources(CtfSource)


class FramesEntity(Model):
    metadata: FramesMetadata | None = None
    sources: _sources(FramesSource)


class IdentifiedObjectsEntity(Model):
    metadata: IdentifiedObjectsMetadata | None = None
    sources: _sources(IdentifiedObjectsSource)


class GainEntity(Model):
    sources: _sources(GainSource)


class RawTiltEntity(Model):
    sources: _sources(RawTiltSource)


class CollectionMetadataEntity(Model):
    sources: _sources(CollectionMetadataSource)


class KeyImageEntity(Model):
    sources: _sources(KeyImageSource)


class DatasetKeyPhotoEntity(Model):
    sources: _sources(DatasetKeyPhotoSource)


class DepositionKeyPhotoEntity(Model):
    sources: _sources(DepositionKeyPhotoSource)


class StandardizationConfig(Model):
    deposition_id: int
    source_prefix: str
    run_data_map_file: str | None = None
    run_to_tomo_map_csv: str | None = None
    run_to_frame_map_csv: str | None = None
    run_to_ts_map_csv: str | None = None


def _entities(entity: type[Model]) -> Any:
    return Annotated[list[entity], Field(min_length=1)]  # type: ignore[valid-type]


def _optional_entities(entity: type[Model]) -> Any:
    """An optional entity list: never null, but it may be empty (``annotations: []`` in published portal configs
    means none; rules.py warns)."""
    return list[entity]  # type: ignore[valid-type]


class ConfigV1_3_0(Model):
    """Ingestion config, version 1.3.0 (current)."""

    model_config = ConfigDict(title="Ingestion config 1.3.0")

    version: Annotated[str, pattern_field("version")]
    standardization_config: StandardizationConfig
    depositions: _entities(DepositionEntity)
    datasets: _entities(DatasetEntity)
    runs: _entities(RunEntity)
    voxel_spacings: _entities(VoxelSpacingEntity)
    # Optional lists are never null; an empty one ingests nothing (the empty-list rule warns).
    tiltseries: _optional_entities(TiltSeriesEntity) = None
    tomograms: _optional_entities(TomogramEntity) = None
    alignments: _optional_entities(AlignmentEntity) = None
    annotations: _optional_entities(AnnotationEntity) = None
    ctfs: _optional_entities(CtfEntity) = None
    frames: _optional_entities(FramesEntity) = None
    gains: _optional_entities(GainEntity) = None
    rawtilts: _optional_entities(RawTiltEntity) = None
    collection_metadata: _optional_entities(CollectionMetadataEntity) = None
    key_images: _optional_entities(KeyImageEntity) = None
    identified_objects: _optional_entities(IdentifiedObjectsEntity) = None
    dataset_keyphotos: _optional_entities(DatasetKeyPhotoEntity) = None
    deposition_keyphotos: _optional_entities(DepositionKeyPhotoEntity) = None


# Older versions: only what differs from the next version up (the migration steps in migrate.py undo it).


class AnnotationMetadataV1_2_0(AnnotationMetadata):
    annotation_ingest_id: Annotated[str, Field(min_length=1)] | None = None


class AnnotationEntityV1_2_0(AnnotationEntity):
    metadata: AnnotationMetadataV1_2_0


class ConfigV1_2_0(ConfigV1_3_0):
    """Ingestion config, version 1.2.0: annotations may lack annotation_ingest_id."""

    model_config = ConfigDict(title="Ingestion config 1.2.0")
    annotations: _optional_entities(AnnotationEntityV1_2_0) = None


class StandardizationConfigV1_1_0(StandardizationConfig):
    frame_dose_rate: TNum | None = Field(None, description="moved to frames[].metadata.dose_rate in 1.2.0")


class TiltSeriesMetadataV1_1_0(TiltSeriesMetadata):
    frame_dose_rate: TNum | None = Field(None, description="moved to frames[].metadata.dose_rate in 1.2.0")


class TiltSeriesEntityV1_1_0(TiltSeriesEntity):
    metadata: TiltSeriesMetadataV1_1_0 | None = None


class ConfigV1_1_0(ConfigV1_2_0):
    """Ingestion config, version 1.1.0: the frame dose rate may still sit outside frames metadata."""

    model_config = ConfigDict(title="Ingestion config 1.1.0")
    standardization_config: StandardizationConfigV1_1_0
    tiltseries: _optional_entities(TiltSeriesEntityV1_1_0) = None


class TomogramMetadataV1_0_0(TomogramMetadata):
    dates: Dates | None = None


class TomogramEntityV1_0_0(TomogramEntity):
    metadata: TomogramMetadataV1_0_0 | None = None


class AlignmentMetadataV1_0_0(AlignmentMetadata):
    format: AlignmentFormat | None = None


class AlignmentEntityV1_0_0(AlignmentEntity):
    metadata: AlignmentMetadataV1_0_0 | None = None


class ConfigV1_0_0(ConfigV1_1_0):
    """Ingestion config, version 1.0.0: tomogram dates and alignment formats may be missing."""

    model_config = ConfigDict(title="Ingestion config 1.0.0")
    tomograms: _optional_entities(TomogramEntityV1_0_0) = None
    alignments: _optional_entities(AlignmentEntityV1_0_0) = None


CONFIG_MODELS: dict[str, type[Model]] = {
    "1.0.0": ConfigV1_0_0,
    "1.1.0": ConfigV1_1_0,
    "1.2.0": ConfigV1_2_0,
    "1.3.0": ConfigV1_3_0,
}
