"""Alignments: the source files renamed ``{run}{ext}`` and ``alignment_metadata.json`` (metadata.md §6).

All alignment entities of a run form one alignment (a run has one per deposition). Without a source the
run gets the *default* alignment: identity, no format, ``files: [null]`` (as the portal writes it), written only
when the run has a tomogram.
``run.outputs["alignment_metadata_path"]`` is what the run's tomograms and annotations point at;
``run.outputs["alignment_volume_dimension"]`` the size that rescaled masks are resampled to.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from importers import layout
from importers.formats.alignment_files import AlnFile, XfTransform, parse_aln, parse_xf
from importers.formats.mrc import MrcFormatError
from importers.formats.text_table import decode_text
from importers.formats.tilt_angles import parse_tilt_angles
from importers.ingest.entities.context import Ingestion
from importers.ingest.entities.copies import put_object
from importers.ingest.entities.ids import IdAllocator
from importers.ingest.entities.metadata import compose, write_document
from importers.ingest.entities.sets import claim_set
from importers.ingest.entities.tree import Entity
from importers.ingest.volumes import source_volume_header
from importers.metadata.identity import alignment_identity

#: Config keys the portal fills when absent, in the order it appends them.
DEFAULTS: dict[str, Any] = {
    "affine_transformation_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
    "alignment_type": "GLOBAL",
    "is_portal_standard": False,
    "volume_offset": {"x": 0, "y": 0, "z": 0},
    "tilt_offset": 0,
    "x_rotation_offset": 0,
    "method_type": "undefined",
}
FORMATS = ("IMOD", "ARETOMO3")
TRANSFORM_EXTENSIONS = (".xf", ".aln")
TILT_EXTENSIONS = (".tlt",)
TILTX_EXTENSIONS = (".xtilt", ".tltx")
#: Entity name of the literal that stands for "no alignment files".
DEFAULT_NAME = "default"


def _allocator(ingestion: Ingestion, dataset: str, run: str) -> IdAllocator:
    container = layout.build("run", dataset_id=dataset, run_name=run) + "/Alignments"
    return ingestion.allocator(container, "alignment_metadata", alignment_identity)


def first_tomogram_dimension(ingestion: Ingestion, run: Entity) -> dict[str, float] | None:
    """Voxel spacing × size (Å) of the run's first source tomogram; None if the run has none.

    The portal takes ``volume_dimension`` from the *source* tomogram's header (metadata.md §6), so only
    the header is read. One that cannot be read fails the alignment (naming the file) rather than being
    passed over: another tomogram's size would make another alignment than a clean run's, and the
    tomograms, which need the alignment, are then not written, so the file is reported once.
    """
    for spacing in ingestion.find("voxel_spacing", run):
        for tomogram in ingestion.find("tomogram", spacing):
            if tomogram.path is None:
                continue
            try:
                size = source_volume_header(ingestion.source, tomogram.path).xyz_size
            except MrcFormatError as error:
                raise ValueError(f"{ingestion.source.url_of(tomogram.path)}: {error}") from None
            angstrom = layout.voxel_spacing_from_name(spacing.name)
            return {axis: angstrom * voxels for axis, voxels in zip("xyz", size, strict=True)}
    return None


def _lines(name: str, values: list[Any], expected: int, what: str) -> None:
    if len(values) != expected:
        raise ValueError(f"{name} has {len(values)} {what}, the .xf has {expected} sections")


def imod_sections(
    transforms: list[XfTransform], tilts: list[float] | None, x_tilts: list[float] | None
) -> list[dict[str, Any]]:
    """``per_section_alignment_parameters`` of an IMOD alignment: one per ``.xf`` row."""
    return [
        {
            "z_index": z_index,
            "tilt_angle": tilts[z_index] if tilts is not None else None,
            "volume_x_rotation": x_tilts[z_index] if x_tilts is not None else 0.0,
            "in_plane_rotation": transform.in_plane_rotation,
            "x_offset": transform.offsets[0],
            "y_offset": transform.offsets[1],
        }
        for z_index, transform in enumerate(transforms)
    ]


def aretomo_sections(aln: AlnFile) -> list[dict[str, Any]]:
    """``per_section_alignment_parameters`` of an AreTomo3 alignment: one per global row."""
    return [
        {
            "z_index": z_index,
            "tilt_angle": section.tilt,
            "volume_x_rotation": 0.0,
            "in_plane_rotation": section.in_plane_rotation,
            "x_offset": section.tx,
            "y_offset": section.ty,
        }
        for z_index, section in zip(aln.z_indices, aln.sections, strict=True)
    ]


class _Files:
    """An alignment's source files: read, parsed where they carry parameters, with their output keys."""

    def __init__(self, ingestion: Ingestion, sources: list[Entity], fields: dict[str, Any]) -> None:
        self.data: dict[str, bytes] = {}
        self.parsed: dict[str, Any] = {}
        self.by_extension: dict[str, str] = {}
        for source in sources:
            path = str(source.path)
            extension = PurePosixPath(path).suffix.lower()
            if not extension:
                raise ValueError(f"{path}: an alignment file needs an extension (.xf, .tlt, .aln, …)")
            key = layout.build("alignment_file", **fields, file_ext=PurePosixPath(path).suffix)
            if key in self.data:
                raise ValueError(f"{path}: another alignment file of the run is also copied to {key}")
            data = ingestion.source.read(path)
            url = ingestion.source.url_of(path)
            if extension == ".xf":
                self.parsed[key] = parse_xf(decode_text(data), url)
            elif extension == ".aln":
                self.parsed[key] = parse_aln(decode_text(data), url)
            elif extension in TILT_EXTENSIONS + TILTX_EXTENSIONS:
                self.parsed[key] = parse_tilt_angles(decode_text(data), url)
            self.data[key] = data
            self.by_extension.setdefault(extension, key)

    def key(self, extensions: tuple[str, ...]) -> str | None:
        return next((self.by_extension[e] for e in extensions if e in self.by_extension), None)

    def values(self, extensions: tuple[str, ...]) -> Any:
        key = self.key(extensions)
        return self.parsed[key] if key is not None else None


def _parameters(alignment_format: str, files: _Files) -> dict[str, Any]:
    """Per-section parameters, plus the offsets an ``.aln`` header carries."""
    if alignment_format == "ARETOMO3":
        aln = files.values((".aln",))
        if aln is None:
            raise ValueError("an ARETOMO3 alignment needs its .aln file")
        if aln.raw_size[2] != len(aln.sections) + len(aln.dark_frames):
            # Rows pair with the raw sections that are not dark: with a wrong count they would pair wrongly.
            raise ValueError(
                f".aln RawSize has {aln.raw_size[2]} sections, not {len(aln.sections)} rows + "
                f"{len(aln.dark_frames)} dark frames"
            )
        return {
            "per_section_alignment_parameters": aretomo_sections(aln),
            "tilt_offset": aln.alpha_offset,
            "x_rotation_offset": aln.beta_offset,
        }
    transforms = files.values((".xf",))
    if transforms is None:
        return {"per_section_alignment_parameters": []}
    tilts = files.values(TILT_EXTENSIONS)
    x_tilts = files.values(TILTX_EXTENSIONS)
    if tilts is not None:
        _lines(".tlt", tilts, len(transforms), "angles")
    if x_tilts is not None:
        _lines(".xtilt", x_tilts, len(transforms), "angles")
    return {"per_section_alignment_parameters": imod_sections(transforms, tilts, x_tilts)}


def write_alignment(ingestion: Ingestion, alignment: Entity) -> None:
    """Import the run's alignment: copy its files, then write ``alignment_metadata.json``."""
    members = claim_set(ingestion, alignment)
    if members is None:
        return
    run = alignment.ancestor("run")
    sources = [member for member in members if member.path is not None]
    defaults = [member for member in members if member.path is None and member.name == DEFAULT_NAME]
    if not sources:
        if defaults:
            write_default_alignment(ingestion, run, defaults[0].metadata)
            return
        raise ValueError(f"alignment sources need files (or the literal {DEFAULT_NAME!r})")
    metadata = sources[0].metadata
    alignment_format = metadata.get("format")
    if alignment_format not in FORMATS:
        raise ValueError(f"alignment format must be one of {', '.join(FORMATS)}, got {alignment_format!r}")
    dataset = run.ancestor("dataset").name
    identifier = _allocator(ingestion, dataset, run.name).allocate(compose(ingestion, metadata, {}))
    fields = {"dataset_id": dataset, "run_name": run.name, "alignment_id": identifier}
    files = _Files(ingestion, sources, fields)
    parameters = _parameters(alignment_format, files)
    computed: dict[str, Any] = {
        "per_section_alignment_parameters": parameters.pop("per_section_alignment_parameters"),
        "alignment_path": files.key(TRANSFORM_EXTENSIONS),
        "tilt_path": files.key(TILT_EXTENSIONS),
        "tiltx_path": files.key(TILTX_EXTENSIONS),
        "tiltseries_path": run.outputs.get("tiltseries_metadata_path"),
        "files": list(files.data),
    }
    if "volume_dimension" not in metadata and (dimension := first_tomogram_dimension(ingestion, run)):
        computed["volume_dimension"] = dimension
    computed |= {key: value for key, value in DEFAULTS.items() if key not in metadata} | parameters
    what = f"{run.describe()} / alignment -> Alignments/{identifier}"
    for key, data in files.data.items():
        put_object(ingestion, key, data, f"{what}/{PurePosixPath(key).name}")
    key = layout.build("alignment_metadata", **fields)
    write_document(ingestion, key, compose(ingestion, metadata, computed), what)
    run.outputs["alignment_metadata_path"] = key
    run.outputs["alignment_volume_dimension"] = metadata.get("volume_dimension") or computed.get("volume_dimension")


def write_default_alignment(ingestion: Ingestion, run: Entity, metadata: dict[str, Any] | None = None) -> None:
    """The identity alignment of a run without alignment files, if the run has a tomogram."""
    dimension = first_tomogram_dimension(ingestion, run)
    what = f"{run.describe()} / default alignment"
    if dimension is None:
        ingestion.report.skipped(what, "the run has no tomogram")
        return
    base = DEFAULTS | (metadata or {})
    dataset = run.ancestor("dataset").name
    identifier = _allocator(ingestion, dataset, run.name).allocate(compose(ingestion, base, {}))
    computed = {
        "per_section_alignment_parameters": [],
        "alignment_path": None,
        "tilt_path": None,
        "tiltx_path": None,
        "tiltseries_path": run.outputs.get("tiltseries_metadata_path"),
        # The portal's importer lists the default's one (absent) file as null.
        "files": [None],
        "volume_dimension": dimension,
    }
    key = layout.build("alignment_metadata", dataset_id=dataset, run_name=run.name, alignment_id=identifier)
    write_document(ingestion, key, compose(ingestion, base, computed), f"{what} -> Alignments/{identifier}")
    run.outputs["alignment_metadata_path"] = key
    run.outputs["alignment_volume_dimension"] = dimension
