"""Pydantic models of the portal's metadata documents (shared/spec/metadata.md): what they are and how they read.

The metadata blocks a config may set (``DepositionMetadata`` …, metadata.md §2-§9) and the JSON files the importer
writes from them (``METADATA_MODELS``: the blocks' keys plus the computed **C** ones). Blocks forbid unknown keys and
are strict about types; a value that only a config may hold (a run-data-map template, a legacy spelling) is accepted
through a marker that ``importers/ingest/config/export.py`` drops from the metadata-file schemas. ``PATTERNS`` are
the id and text patterns of both. The ingestion config's models (``importers/ingest/config/models.py``) embed these
blocks.
"""

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
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
from importers.metadata.patterns import PATTERNS

TEMPLATE_RE = re.compile(PATTERNS["template"][0])


def pattern_field(name: str) -> Any:
    """A field constraint: the value matches ``PATTERNS[name]``."""
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


# Alternatives that only make sense in a config (the ingester resolves them) carry this marker; the schema export
# (importers/ingest/config/export.py) drops them from the metadata-file schemas.
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


Num = float  # strict float: accepts ints and floats, never strings or booleans
Date = Annotated[str, pattern_field("date"), AfterValidator(_valid_date), Field(json_schema_extra={"format": "date"})]
TNum = Annotated[float, TEMPLATED]
TInt = Annotated[int, TEMPLATED]
TBool = Annotated[bool, TEMPLATED]
Matrix4 = Annotated[list[Annotated[list[Num], Field(min_length=4, max_length=4)]], Field(min_length=4, max_length=4)]


class Model(BaseModel):
    """Base of every metadata and config model: unknown keys are errors, values are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------------------------------------------------------
# Shared metadata objects (metadata.md §1)


class Author(Model):
    name: str
    ORCID: Annotated[str, pattern_field("orcid")] | None = None
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
    publications: Annotated[str, pattern_field("publications")] | None = None
    related_database_entries: Annotated[str, pattern_field("database_entries")] | None = None
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
            "__annotations__": {"name": name_type, "id": Annotated[str, pattern_field(pattern)] | None},
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
    related_empiar_entry: Annotated[str, pattern_field("empiar")] | None = None
    tilt_alignment_software: str | None = None


class AlignmentMetadata(Model):
    format: AlignmentFormat
    alignment_type: AlignmentType | None = None
    method_type: AlignmentMethod | None = None
    is_portal_standard: bool | None = None
    volume_offset: XYZ | None = None
    volume_dimension: XYZ | None = None
    # The portal's schema says integer, but its importer writes AreTomo's BetaOffset as it is (0.0, or -1.5).
    x_rotation_offset: Num | None = None
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
    id: Annotated[str, pattern_field("annotation_object_id")]
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
    # Any name the portal accepts ('byu_kaggle_flagellar_motor_10485' in published configs); the words-and-number
    # convention of PATTERNS["ingest_id"] is a warning (config rule ingest-id, check ANNO-INGEST-ID).
    annotation_ingest_id: Annotated[str, Field(min_length=1)]
    annotation_object: AnnotationObject
    annotation_method: str
    method_type: AnnotationMethodType
    method_links: list[MethodLink] | None = None
    annotation_publications: Annotated[str, pattern_field("annotation_publications")] | None = None
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
# Metadata JSON files (metadata.md): config keys + computed keys. Unknown keys are allowed (the validation suite
# warns on them); the schema export also lifts the nested config models' ban on unknown keys and drops templates.


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
    files: list[str | None] = Field(description="the portal's default alignment lists one null (no files)")
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
