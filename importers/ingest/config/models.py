"""Pydantic models: the one source of truth for the ingestion config versions and the metadata JSON files.

Config models (``CONFIG_MODELS``) describe the YAML of ``shared/spec/config.md``; they forbid unknown keys and are
strict about types (the config's values are copied into the metadata JSON unchanged, so a quoted number or a
``"true"`` string would end up with the wrong type in the portal). Metadata-file models (``METADATA_MODELS``)
describe the JSON files of ``metadata.md``: config keys plus the computed (**C**) ones. ``export.py`` turns both
into the JSON Schema files under ``schema/``; cross-field rules live in ``rules.py``.
"""

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError, core_schema

from importers.enums import (
    AlignmentFormat,
    AlignmentMethod,
    AlignmentType,
    AnnotationFileFormat,
    AnnotationMethodType,
    AnnotationShape,
    CameraAcquireMode,
    CameraManufacturer,
    CtfFormat,
    DepositionType,
    FiducialAlignmentStatus,
    MethodLinkType,
    MicroscopeManufacturer,
    Processing,
    ReconstructionMethod,
    SampleType,
)

CURRENT_VERSION = "1.3.0"
VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")

# name -> (regex, what a user should write); validate.py turns pattern errors into these descriptions.
_DOI = r"(doi:)?10\.\d{4,9}/[-._;()/:a-zA-Z0-9]+"
_DB_ENTRY = r"EMPIAR-\d{5}|EMD-\d{4,5}|PDB-[0-9a-zA-Z]{4,8}"


def _comma_list(item: str) -> str:
    return rf"^\s*(?:{item})(?:\s*,\s*(?:{item}))*\s*$"


PATTERNS: dict[str, tuple[str, str]] = {
    "template": (r"^(?:float *|int *| *)\{[A-Za-z0-9_-]+\} *$", "a run-data-map template like 'float {col}'"),
    "version": (r"^\d+\.\d+\.\d+$", "a version like 1.3.0"),
    "date": (r"^\d{4}-\d{2}-\d{2}$", "a date YYYY-MM-DD"),
    "orcid": (r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$", "an ORCID like 0000-0002-1825-0097"),
    "ingest_id": (r"^[a-z0-9]+(-[a-z0-9]+)*-[0-9]+$", "lower-case words joined by '-' and ending in -<n>"),
    "publications": (_comma_list(_DOI), "a comma-separated list of DOIs (10.xxxx/...)"),
    "database_entries": (_comma_list(_DB_ENTRY), "a comma-separated list of EMPIAR-/EMD-/PDB- ids"),
    "annotation_publications": (
        _comma_list(f"{_DOI}|{_DB_ENTRY}"),
        "a comma-separated list of DOIs and EMPIAR-/EMD-/PDB- ids",
    ),
    "empiar": (r"^EMPIAR-\d+$", "an EMPIAR id like EMPIAR-10988"),
    "tissue_id": (
        r"^(BTO:\d{7}|CL:\d{7}|UBERON:\d{7}|WBbt:\d{7}|ZFA:\d{7}|FBbt:\d{8}|not_reported)$",
        "a BTO/CL/UBERON/WBbt/ZFA (7 digits) or FBbt (8 digits) id",
    ),
    "cell_type_id": (
        r"^(CL:\d{7}|WBbt:\d{7}|ZFA:\d{7}|UBERON:\d{7}|FBbt:\d{8}|not_reported)$",
        "a CL/WBbt/ZFA/UBERON (7 digits) or FBbt (8 digits) id",
    ),
    "cell_strain_id": (
        r"^(NCBITaxon:\d+|CVCL_[A-Z0-9]{4,}|WBStrain\d{8}|CC-\d{4}|not_reported)$",
        "an NCBITaxon:, CVCL_, WBStrain or CC- id",
    ),
    "cell_component_id": (r"^(GO:\d{7}|not_reported)$", "a GO id like GO:0005737"),
    "assay_id": (r"^(EFO:\d{7}|not_reported)$", "an EFO id like EFO:0002909"),
    "development_stage_id": (
        r"^(unknown|UBERON:\d{7}|HsapDv:\d{7}|MmusDv:\d{7}|WBls:\d{7}|ZFS:\d{7}|FBdv:\d{8}|not_reported)$",
        "'unknown' or an UBERON/HsapDv/MmusDv/WBls/ZFS (7 digits) or FBdv (8 digits) id",
    ),
    "disease_id": (r"^(MONDO:\d{7}|PATO:\d{7}|not_reported)$", "a MONDO or PATO id like PATO:0000461"),
    "annotation_object_id": (
        r"^(GO:\d{7}|UniProtKB:[A-Za-z0-9_-]+|UBERON:\d{7}|CHEBI:\d+|CDPO:\d{7}|CL:\d{7}|PDB-[0-9a-zA-Z]{4,8})$",
        "a GO/UBERON/CDPO/CL (7 digits), CHEBI:, UniProtKB: or PDB- id",
    ),
    "version_string": (r"^\d+(\.\d+)?$", "a number"),
}
PATTERN_DESCRIPTIONS = {regex: description for regex, description in PATTERNS.values()}
TEMPLATE_RE = re.compile(PATTERNS["template"][0])


def _pattern(name: str) -> Any:
    return Field(pattern=PATTERNS[name][0])


class _AlsoAccept:
    """Annotation marker: the field keeps its type but also accepts other values (templates, legacy spellings).

    A wrap validator rather than a union keeps pydantic's error locations and messages those of the real type.
    """

    def __init__(self, json_schema: dict[str, Any], accepts: Callable[[Any], bool]) -> None:
        self.json_schema = json_schema
        self.accepts = accepts

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        def validate(value: Any, inner: Any) -> Any:
            return value if self.accepts(value) else inner(value)

        return core_schema.no_info_wrap_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: Any) -> dict[str, Any]:
        return {"anyOf": [handler(schema["schema"]), self.json_schema]}


# Alternatives that only make sense in a config (the ingester resolves them) carry this marker; export.py drops
# them from the metadata-file schemas.
CONFIG_ONLY = {"$comment": "config only"}

# Run-data-map templates (config.md §5): typed values of tiltseries/tomogram/frames metadata and voxel-spacing
# literals may be written as "float {column}", "int {column}" or "{column}" and are filled in per run.
TEMPLATE_JSON_SCHEMA = {"type": "string", "pattern": PATTERNS["template"][0], "title": "template", **CONFIG_ONLY}
TEMPLATED = _AlsoAccept(TEMPLATE_JSON_SCHEMA, lambda v: isinstance(v, str) and TEMPLATE_RE.fullmatch(v) is not None)


def _valid_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date", "'{value}' is not a calendar date", {"value": value}) from None
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PydanticCustomError("scalar", "must be a string or a number")
    return value


Num = float  # strict float: accepts ints and floats, never strings or booleans
Date = Annotated[str, _pattern("date"), AfterValidator(_valid_date), Field(json_schema_extra={"format": "date"})]
Scalar = Annotated[Any, AfterValidator(_scalar), WithJsonSchema({"type": ["string", "number"]})]
TNum = Annotated[float, TEMPLATED]
TInt = Annotated[int, TEMPLATED]
TBool = Annotated[bool, TEMPLATED]
Matrix4 = Annotated[list[Annotated[list[Num], Field(min_length=4, max_length=4)]], Field(min_length=4, max_length=4)]


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------------------------------------------------------
# Shared metadata objects (metadata.md §1)


class Author(Model):
    name: str
    ORCID: Annotated[str, _pattern("orcid")] | None = None
    email: str | None = None
    affiliation_name: str | None = None
    affiliation_address: str | None = None
    affiliation_identifier: str | None = None
    kaggle_id: str | None = None
    primary_author_status: bool | None = None
    corresponding_author_status: bool | None = None


Authors = Annotated[list[Author], Field(min_length=1)]


class Dates(Model):
    deposition_date: Date
    release_date: Date
    last_modified_date: Date


class CrossReferences(Model):
    publications: Annotated[str, _pattern("publications")] | None = None
    related_database_entries: Annotated[str, _pattern("database_entries")] | None = None
    dataset_citations: str | None = None
    related_database_links: str | None = None


class XYZ(Model):
    x: Num
    y: Num
    z: Num


class IntXYZ(Model):
    x: TInt
    y: TInt
    z: TInt


class Size(Model):
    z: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]
    x: Annotated[int, Field(ge=0)]


class Picture(Model):
    snapshot: str | None = None
    thumbnail: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# Config metadata blocks (metadata.md §2-§9, the keys a config may set)


class DepositionMetadata(Model):
    deposition_identifier: int
    deposition_title: str
    deposition_description: str
    deposition_types: Annotated[list[DepositionType], Field(min_length=1)]
    authors: Authors
    dates: Dates
    tag: str | None = None
    cross_references: CrossReferences | None = None


def _ontology(name: str, pattern: str, *, name_required: bool = True) -> type[Model]:
    """An ontology term ``{name, id}``; the dataset's terms differ only in their id pattern (metadata.md §3)."""
    name_type: Any = str if name_required else str | None
    return type(
        name,
        (Model,),
        {
            "__annotations__": {"name": name_type, "id": Annotated[str, _pattern(pattern)] | None},
            **({} if name_required else {"name": None}),
            "id": None,
            "__module__": __name__,
        },
    )


Tissue = _ontology("Tissue", "tissue_id")
CellType = _ontology("CellType", "cell_type_id")
CellStrain = _ontology("CellStrain", "cell_strain_id")
CellComponent = _ontology("CellComponent", "cell_component_id")
Assay = _ontology("Assay", "assay_id")
DevelopmentStage = _ontology("DevelopmentStage", "development_stage_id", name_required=False)
Disease = _ontology("Disease", "disease_id", name_required=False)


class Organism(Model):
    name: str
    taxonomy_id: Annotated[int, Field(ge=1)] | None = None


class Funding(Model):
    funding_agency_name: str | None = None
    grant_id: str | None = None


class DatasetMetadata(Model):
    dataset_identifier: int
    dataset_title: str
    dataset_description: str
    authors: Authors
    dates: Dates
    sample_type: SampleType
    organism: Organism | None = None
    tissue: Tissue | None = None  # type: ignore[valid-type]
    cell_type: CellType | None = None  # type: ignore[valid-type]
    cell_strain: CellStrain | None = None  # type: ignore[valid-type]
    cell_component: CellComponent | None = None  # type: ignore[valid-type]
    assay: Assay  # type: ignore[valid-type]
    development_stage: DevelopmentStage  # type: ignore[valid-type]
    disease: Disease  # type: ignore[valid-type]
    funding: list[Funding] | None = None
    cross_references: CrossReferences | None = None
    sample_preparation: str | None = None
    grid_preparation: str | None = None
    other_setup: str | None = None


class Microscope(Model):
    manufacturer: Annotated[MicroscopeManufacturer, TEMPLATED]
    model: str
    additional_info: str | None = None


class Camera(Model):
    manufacturer: Annotated[CameraManufacturer, TEMPLATED]
    model: str
    acquire_mode: Annotated[CameraAcquireMode, TEMPLATED] | None = None


class OpticalSetup(Model):
    energy_filter: str
    phase_plate: str | None = None
    image_corrector: str | None = None


class TiltRange(Model):
    min: Annotated[float, Field(ge=-90, le=90), TEMPLATED]
    max: Annotated[float, Field(ge=-90, le=90), TEMPLATED]


class TiltSeriesMetadata(Model):
    acceleration_voltage: Annotated[float, Field(ge=20000), TEMPLATED]
    spherical_aberration_constant: Annotated[float, Field(ge=0), TEMPLATED]
    microscope: Microscope
    camera: Camera
    microscope_optical_setup: OpticalSetup
    data_acquisition_software: str
    is_aligned: TBool
    tilt_axis: Annotated[float, Field(ge=-360, le=360), TEMPLATED]
    tilt_range: TiltRange
    tilt_step: Annotated[float, Field(ge=0, le=90), TEMPLATED]
    tilting_scheme: str
    tilt_series_quality: Annotated[int, Field(ge=1, le=5), TEMPLATED]
    total_flux: Annotated[float, Field(ge=0), TEMPLATED]
    pixel_spacing: Annotated[float, Field(ge=0.001), TEMPLATED]
    binning_from_frames: Annotated[float, Field(ge=0), TEMPLATED] | None = None
    aligned_tiltseries_binning: Annotated[float, Field(ge=0), TEMPLATED] | None = None
    alignment_binning_factor: TNum | None = Field(None, description="deprecated; ignored by ingestion")
    related_empiar_entry: Annotated[str, _pattern("empiar")] | None = None
    tilt_alignment_software: str | None = None


class AlignmentMetadata(Model):
    format: AlignmentFormat
    alignment_type: AlignmentType | None = None
    method_type: AlignmentMethod | None = None
    is_portal_standard: bool | None = None
    volume_offset: XYZ | None = None
    volume_dimension: XYZ | None = None
    x_rotation_offset: int | None = None
    tilt_offset: Num | None = None
    affine_transformation_matrix: Matrix4 | None = None


# Older portal configs spell the fiducial status as a boolean; ingestion normalises it (metadata.md §7).
_FIDUCIAL_LEGACY = _AlsoAccept(
    {"anyOf": [{"type": "boolean"}, {"enum": ["True", "False"]}], **CONFIG_ONLY},
    lambda v: isinstance(v, bool) or v in ("True", "False"),
)


class TomogramMetadata(Model):
    voxel_spacing: Annotated[float, Field(ge=0.001), TEMPLATED]
    fiducial_alignment_status: Annotated[FiducialAlignmentStatus, _FIDUCIAL_LEGACY, TEMPLATED]
    reconstruction_method: Annotated[ReconstructionMethod, TEMPLATED]
    reconstruction_software: str
    processing: Annotated[Processing, TEMPLATED]
    processing_software: str | None = None
    tomogram_version: Annotated[float, Field(ge=0), TEMPLATED]
    offset: IntXYZ
    is_visualization_default: TBool | None = None
    ctf_corrected: TBool | None = None
    align_software: str | None = None
    affine_transformation_matrix: Matrix4 | None = None
    is_portal_standard: TBool | None = None
    cross_references: CrossReferences | None = None
    size: IntXYZ | None = None
    authors: Authors
    dates: Dates


class AnnotationObject(Model):
    id: Annotated[str, _pattern("annotation_object_id")]
    name: str
    description: str | None = None
    state: str | None = None


class MethodLink(Model):
    link: str
    link_type: MethodLinkType
    custom_name: str | None = None


class Confidence(Model):
    precision: Annotated[float, Field(ge=0, le=100)] | None = None
    recall: Annotated[float, Field(ge=0, le=100)] | None = None
    ground_truth_used: str | None = None


class AnnotationMetadata(Model):
    annotation_ingest_id: Annotated[str, _pattern("ingest_id")]
    annotation_object: AnnotationObject
    annotation_method: str
    method_type: AnnotationMethodType
    method_links: list[MethodLink] | None = None
    annotation_publications: Annotated[str, _pattern("annotation_publications")] | None = None
    annotation_software: str | None = None
    ground_truth_status: bool | None = None
    is_curator_recommended: bool | None = None
    confidence: Confidence | None = None
    # Real portal data has both 1.0 and "1.0".
    version: (
        Annotated[
            float,
            Field(ge=0),
            _AlsoAccept(
                {"type": "string", "pattern": PATTERNS["version_string"][0]},
                lambda v: isinstance(v, str) and re.fullmatch(PATTERNS["version_string"][0], v) is not None,
            ),
        ]
        | None
    ) = None
    authors: Authors
    dates: Dates


class FramesMetadata(Model):
    dose_rate: Annotated[float, Field(gt=0), TEMPLATED]
    is_gain_corrected: TBool


class CtfMetadata(Model):
    format: CtfFormat


class IdentifiedObjectsMetadata(Model):
    filter_value: str | None = None


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
DatasetKeyPhotoSource = _source("DatasetKeyPhoto", {"literal": KeyPhotoLiteral}, PARENTS["dataset_keyphotos"])
DepositionKeyPhotoSource = _source("DepositionKeyPhoto", {"literal": KeyPhotoLiteral}, PARENTS["deposition_keyphotos"])


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
    file_format: Literal["json"]


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


class ConfigV1_3_0(Model):
    """Ingestion config, version 1.3.0 (current)."""

    model_config = ConfigDict(title="Ingestion config 1.3.0")

    version: Annotated[str, _pattern("version")]
    standardization_config: StandardizationConfig
    depositions: _entities(DepositionEntity)
    datasets: _entities(DatasetEntity)
    runs: _entities(RunEntity)
    voxel_spacings: _entities(VoxelSpacingEntity)
    # Optional lists are never null: an entity key that is present must list at least one entity.
    tiltseries: _entities(TiltSeriesEntity) = None
    tomograms: _entities(TomogramEntity) = None
    alignments: _entities(AlignmentEntity) = None
    annotations: _entities(AnnotationEntity) = None
    ctfs: _entities(CtfEntity) = None
    frames: _entities(FramesEntity) = None
    gains: _entities(GainEntity) = None
    rawtilts: _entities(RawTiltEntity) = None
    collection_metadata: _entities(CollectionMetadataEntity) = None
    key_images: _entities(KeyImageEntity) = None
    identified_objects: _entities(IdentifiedObjectsEntity) = None
    dataset_keyphotos: _entities(DatasetKeyPhotoEntity) = None
    deposition_keyphotos: _entities(DepositionKeyPhotoEntity) = None


# Older versions: only what differs from the next version up (the migration steps in migrate.py undo it).


class AnnotationMetadataV1_2_0(AnnotationMetadata):
    annotation_ingest_id: Annotated[str, _pattern("ingest_id")] | None = None


class AnnotationEntityV1_2_0(AnnotationEntity):
    metadata: AnnotationMetadataV1_2_0


class ConfigV1_2_0(ConfigV1_3_0):
    """Ingestion config, version 1.2.0: annotations may lack annotation_ingest_id."""

    model_config = ConfigDict(title="Ingestion config 1.2.0")
    annotations: _entities(AnnotationEntityV1_2_0) = None


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
    tiltseries: _entities(TiltSeriesEntityV1_1_0) = None


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
    tomograms: _entities(TomogramEntityV1_0_0) = None
    alignments: _entities(AlignmentEntityV1_0_0) = None


CONFIG_MODELS: dict[str, type[Model]] = {
    "1.0.0": ConfigV1_0_0,
    "1.1.0": ConfigV1_1_0,
    "1.2.0": ConfigV1_2_0,
    "1.3.0": ConfigV1_3_0,
}


# ---------------------------------------------------------------------------------------------------------------
# Metadata JSON files (metadata.md): config keys + computed keys. Unknown keys are allowed (the validation suite
# warns on them); export.py also lifts the nested config models' ban on unknown keys and drops templates.


class FileModel(Model):
    model_config = ConfigDict(extra="allow")
    deposition_id: int
    last_updated_at: int


class DepositionFile(DepositionMetadata, FileModel):
    key_photos: Picture


class DatasetFile(DatasetMetadata, FileModel):
    key_photos: Picture


class RunFile(FileModel):
    run_name: str


class SectionParameters(Model):
    z_index: Annotated[int, Field(ge=0)]
    frame_acquisition_order: int
    raw_angle: Annotated[float, Field(ge=-90, le=90)] | None = None
    astigmatic_angle: Annotated[float, Field(ge=-180, le=180)] | None = None
    major_defocus: Num | None = None
    minor_defocus: Num | None = None
    max_resolution: Num | None = None
    phase_shift: Num | None = None
    cross_correlation: Num | None = None


class TiltSeriesFile(TiltSeriesMetadata, FileModel):
    size: Size
    scales: list[Size]
    omezarr_dir: str
    mrc_file: str
    run_name: str
    frames_count: Annotated[int, Field(ge=0)]
    raw_tlt_path: str | None
    ctf_path: str | None
    per_section_parameter: list[SectionParameters]


class SectionAlignment(Model):
    z_index: Annotated[int, Field(ge=0)]
    tilt_angle: Num | None = None
    volume_x_rotation: Num | None = None
    in_plane_rotation: (
        Annotated[list[Annotated[list[Num], Field(min_length=2, max_length=2)]], Field(min_length=2, max_length=2)]
        | None
    ) = None
    x_offset: Num | None = None
    y_offset: Num | None = None
    beam_tilt: Num | None = None


class AlignmentFile(AlignmentMetadata, FileModel):
    format: AlignmentFormat | None = Field(None, description="absent on default alignments")
    per_section_alignment_parameters: list[SectionAlignment]
    files: list[str]
    alignment_path: str | None = None
    tilt_path: str | None = None
    tiltx_path: str | None = None
    tiltseries_path: str | None = None


class TomogramFile(TomogramMetadata, FileModel):
    is_visualization_default: bool
    size: Size
    scales: list[Size]
    omezarr_dir: str
    mrc_file: str
    run_name: str
    key_photo: Picture
    alignment_metadata_path: str
    neuroglancer_config_path: str


class AnnotationFileEntry(Model):
    format: AnnotationFileFormat
    path: str
    shape: AnnotationShape
    is_visualization_default: bool


class AnnotationFile(AnnotationMetadata, FileModel):
    object_count: Annotated[int, Field(ge=0)]
    files: list[AnnotationFileEntry]
    alignment_metadata_path: str | None


class FrameEntry(Model):
    acquisition_order: int
    accumulated_dose: Num | None = None
    exposure_dose: Num | None = None
    is_gain_corrected: bool | None = None
    path: str | None = None


class FramesFile(FramesMetadata, FileModel):
    frames_acquisition_file: str
    frames: list[FrameEntry]


class IdentifiedObjectsFile(IdentifiedObjectsMetadata, FileModel):
    object_count: Annotated[int, Field(ge=0)]
    columns: list[str]
    file_format: Literal["json"]
    source_file: str
    identifier: int


METADATA_MODELS: dict[str, type[Model]] = {
    "deposition": DepositionFile,
    "dataset": DatasetFile,
    "run": RunFile,
    "tiltseries": TiltSeriesFile,
    "alignment": AlignmentFile,
    "tomogram": TomogramFile,
    "annotation": AnnotationFile,
    "frames": FramesFile,
    "identified_objects": IdentifiedObjectsFile,
}
