"""Annotation checks (checks.md §15): the metadata of an ``Annotations/{id}`` folder, its files, and
the header-level checks of masks, meshes and captions. Point files are :mod:`points`' to read.

Each check that is about one kind of file (a mask, a mesh, a caption) does not apply to an annotation
without such a file, and says so in its skip reason (``not applicable``).
"""

from __future__ import annotations

import fnmatch
import re
import struct
from collections.abc import Iterator
from typing import Any

from data_validation.checks.context import CheckContext
from data_validation.checks.volumes import FAMILIES, VolumeFamily
from data_validation.entities import Entity
from data_validation.reader import Unreadable
from data_validation.registry import (
    EntityKind,
    Severity,
    Tier,
    check,
    fail,
    fail_summary,
    not_applicable,
    register,
    skip,
)
from importers import layout
from importers.enums import AnnotationFileFormat, AnnotationMethodType, AnnotationShape, MethodLinkType, values
from importers.formats.omezarr import ZarrFormatError, read_multiscales
from importers.metadata.computed import CAPTION_LISTS
from importers.metadata.identity import annotation_identity, object_slug
from importers.metadata.patterns import PATTERNS
from importers.metadata.rules import author_roles

#: The portal finds annotation metadata with this glob (layout.md §3); data files never match it.
METADATA_GLOB = "*[0-9].json"
INGEST_ID = re.compile(PATTERNS["ingest_id"][0])
#: Shapes whose files count objects (metadata.md §8: semantic masks contribute 0).
COUNTED_SHAPES = frozenset(values(AnnotationShape)) - {"SegmentationMask"}
#: Formats a shape's files may have (layout.md §3): the file extension is the format.
SHAPE_FORMATS = {
    "Point": {"ndjson"},
    "OrientedPoint": {"ndjson"},
    "InstanceSegmentation": {"ndjson"},
    "SegmentationMask": {"zarr", "mrc"},
    "InstanceSegmentationMask": {"zarr", "mrc"},
    "TriangularMesh": {"glb"},
    "GlobalCaption": {"json"},
    "AnnotationCaption": {"json"},
}
GLB_HEADER = struct.Struct("<4sII")
SEGMENTATION = next(family for family in FAMILIES if family.prefix == "SEG")
INSTANCE_MASK = next(family for family in FAMILIES if family.prefix == "ISEG")


# -- shared helpers (also used by the point and viewer checks) -------------------------------------------


def metadata_keys(context: CheckContext, annotation: Entity) -> list[str]:
    """Keys of the folder's ``{slug}-{ver}.json`` metadata documents (layout.md §3)."""
    keys = [annotation.key(name) for name in context.reader.children(annotation.path)]
    return [key for key in keys if getattr(layout.parse(key), "template", None) == "annotation_metadata"]


def annotation_document(context: CheckContext, annotation: Entity) -> tuple[str, dict[str, Any]]:
    """``(key, document)`` of the annotation's one metadata JSON; unreadable → :class:`Unreadable`
    (ANNO-METADATA-GLOB's to report); none or several → skip (ANNO-PARTIAL-DIR's, -GLOB's)."""
    keys = metadata_keys(context, annotation)
    if not keys:
        skip("no metadata JSON (reported by ANNO-PARTIAL-DIR)")
    if len(keys) > 1:
        skip(f"{len(keys)} metadata JSONs (reported by ANNO-METADATA-GLOB)")
    return keys[0], context.metadata(keys[0])


def file_entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The well-formed ``files[]`` entries (objects with string path, shape and format)."""
    files = document.get("files")
    return [
        entry
        for entry in (files if isinstance(files, list) else [])
        if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in ("path", "shape", "format"))
    ]


def entry_key(entry: dict[str, Any]) -> str:
    return layout.strip_bucket_name(entry["path"]).rstrip("/")


def files_of(document: dict[str, Any], *shapes: str, formats: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """``(key, shape)`` of the files of the given shapes (and formats, if given)."""
    return [
        (entry_key(entry), entry["shape"])
        for entry in file_entries(document)
        if entry["shape"] in shapes and (not formats or entry["format"] in formats)
    ]


def run_tomograms(context: CheckContext, entity: Entity) -> list[tuple[str, dict[str, Any]]]:
    """``(key, document)`` of every readable tomogram metadata of the entity's run (any spacing)."""
    run = layout.build("run", dataset_id=entity["dataset_id"], run_name=entity["run_name"])
    return [(key, doc) for key, kind, doc in context.metadata_documents(f"{run}/Reconstructions") if kind == "tomogram"]


def tomogram_size(document: dict[str, Any]) -> tuple[int, int, int] | None:
    """A tomogram's ``size`` as (x, y, z), or None when malformed (TOMO-* report it)."""
    size = document.get("size")
    if not isinstance(size, dict) or not all(isinstance(size.get(axis), int) for axis in "xyz"):
        return None
    return size["x"], size["y"], size["z"]


def object_count(document: dict[str, Any]) -> int:
    count = document.get("object_count")
    if not isinstance(count, int) or isinstance(count, bool):
        skip(f"object_count is {count!r} (reported by ANNO-FIELDS)")
    return count


def _stem(key: str) -> str:
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def check_count(what: str, count: int, document: dict[str, Any], key: str) -> None:
    """``object_count`` is the maximum over the annotation's files (metadata.md §8): a file counts at
    most that many objects, and exactly that many when no other file of the annotation counts any."""
    expected = object_count(document)
    others = [
        entry_key(entry)
        for entry in file_entries(document)
        if entry["shape"] in COUNTED_SHAPES and _stem(entry_key(entry)) != _stem(key)
    ]
    if count > expected:
        fail(f"{key}: {what} {count} exceeds object_count {expected}", observed=count, expected=expected)
    if not others and count != expected:
        fail(
            f"{key}: {what} {count} differs from object_count {expected} (the annotation's only counted file)",
            observed=count,
            expected=expected,
        )


# -- metadata --------------------------------------------------------------------------------------


@check(
    "ANNO-METADATA-GLOB",
    entity=EntityKind.ANNOTATION,
    tier=Tier.LIST,
    owns_inputs=True,
    title="the portal's *[0-9].json glob finds exactly the folder's one metadata JSON, which parses",
)
def annotation_metadata_glob(context: CheckContext, annotation: Entity) -> None:
    names = context.reader.children(annotation.path)
    globbed = [name for name in names if fnmatch.fnmatchcase(name, METADATA_GLOB)]
    documents = [key.rsplit("/", 1)[-1] for key in metadata_keys(context, annotation)]
    if not globbed and not documents:
        skip("no metadata JSON (reported by ANNO-PARTIAL-DIR)")
    if len(documents) != 1 or globbed != documents:
        fail(
            f"{METADATA_GLOB} finds {globbed}, the metadata documents are {documents}: expected exactly one, "
            "found by that glob",
            observed=globbed,
            expected=documents[:1],
        )
    context.metadata(annotation.key(documents[0]))


@check(
    "ANNO-PARTIAL-DIR",
    entity=EntityKind.ANNOTATION,
    tier=Tier.LIST,
    title="an annotation folder with data has its metadata JSON (else an interrupted write)",
)
def annotation_partial_dir(context: CheckContext, annotation: Entity) -> None:
    if not metadata_keys(context, annotation):
        names = context.reader.children(annotation.path)
        fail(f"{len(names)} entries ({', '.join(names[:3])}) but no {{slug}}-{{ver}}.json: an interrupted write?")


def _field_problems(document: dict[str, Any]) -> Iterator[str]:
    annotation_object = document.get("annotation_object")
    if not isinstance(annotation_object, dict):
        yield f"annotation_object is {annotation_object!r}"
    else:
        for name in ("id", "name"):
            if not isinstance(annotation_object.get(name), str) or not annotation_object[name]:
                yield f"annotation_object.{name} is {annotation_object.get(name)!r}"
    count = document.get("object_count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        yield f"object_count is {count!r}, expected an integer >= 0"
    files = document.get("files")
    if not isinstance(files, list):
        yield f"files is {type(files).__name__}, expected a list"
    elif len(file_entries(document)) != len(files):
        yield "files[] entries need string path, shape and format"
    authors = document.get("authors")
    if not isinstance(authors, list) or not authors:
        yield "authors missing or empty"
    elif not all(isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"] for a in authors):
        yield "an author has no name"
    else:
        yield from (finding.message for finding in author_roles(document) if finding.severity == "error")


@check(
    "ANNO-FIELDS",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title="annotation_object id/name, object_count int >= 0, files a list, authors rule",
)
def annotation_fields(context: CheckContext, annotation: Entity) -> None:
    key, document = annotation_document(context, annotation)
    problems = list(_field_problems(document))
    if problems:
        fail(f"{key}: " + "; ".join(problems), observed=problems)


def _spacing_annotations(context: CheckContext, annotation: Entity) -> list[tuple[str, dict[str, Any]]]:
    spacing = layout.build("voxel_spacing", **{k: annotation[k] for k in ("dataset_id", "run_name", "voxel_spacing")})
    return [(k, d) for k, kind, d in context.metadata_documents(f"{spacing}/Annotations") if kind == "annotation"]


@check(
    "ANNO-INGEST-ID",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title="annotation_ingest_id is words-and-number, and no other annotation of the spacing has its identity",
)
def annotation_ingest_id(context: CheckContext, annotation: Entity) -> None:
    key, document = annotation_document(context, annotation)
    ingest_id = document.get("annotation_ingest_id")
    if not isinstance(ingest_id, str) or not ingest_id:
        fail(f"annotation_ingest_id {ingest_id!r} is not a name", observed=ingest_id)
    twins = [
        k
        for k, d in _spacing_annotations(context, annotation)
        if k != key and annotation_identity(d) == annotation_identity(document)
    ]
    if twins:
        fail(
            f"{twins} share annotation_ingest_id {ingest_id!r}, deposition {document.get('deposition_id')} and "
            "alignment with this annotation (one annotation per identity, layout.md §4)",
            observed=twins,
        )
    if not INGEST_ID.match(ingest_id):
        # The portal ingests any name (published configs use 'byu_kaggle_flagellar_motor_10485'): a convention.
        fail(
            f"annotation_ingest_id {ingest_id!r} does not match {INGEST_ID.pattern}",
            observed=ingest_id,
            severity=Severity.WARNING,
        )


def _enum_problems(document: dict[str, Any]) -> Iterator[str]:
    if document.get("method_type") not in values(AnnotationMethodType):
        yield f"method_type {document.get('method_type')!r} not in {sorted(values(AnnotationMethodType))}"
    for index, entry in enumerate(file_entries(document)):
        if entry["shape"] not in values(AnnotationShape):
            yield f"files[{index}].shape {entry['shape']!r} not in {sorted(values(AnnotationShape))}"
        if entry["format"] not in values(AnnotationFileFormat):
            yield f"files[{index}].format {entry['format']!r} not in {sorted(values(AnnotationFileFormat))}"
    links = document.get("method_links")
    for index, link in enumerate(links if isinstance(links, list) else []):
        link_type = link.get("link_type") if isinstance(link, dict) else None
        if link_type not in values(MethodLinkType):
            yield f"method_links[{index}].link_type {link_type!r} not in {sorted(values(MethodLinkType))}"
    confidence = document.get("confidence")
    for name in ("precision", "recall"):
        value = confidence.get(name) if isinstance(confidence, dict) else None
        if value is not None and not (
            isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
        ):
            yield f"confidence.{name} {value!r} not in [0, 100]"


@check(
    "ANNO-ENUMS",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title="method_type, files[].shape/format, method_links[].link_type in their enums; confidence in [0, 100]",
)
def annotation_enums(context: CheckContext, annotation: Entity) -> None:
    key, document = annotation_document(context, annotation)
    problems = list(_enum_problems(document))
    if problems:
        fail(f"{key}: " + "; ".join(problems), observed=problems)


@check(
    "ANNO-FILES-EXIST",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEAD,
    title="every files[] path exists (a zarr store: its .zattrs)",
)
def annotation_files_exist(context: CheckContext, annotation: Entity) -> None:
    _, document = annotation_document(context, annotation)
    missing = []
    for entry in file_entries(document):
        key = entry_key(entry)
        if not context.reader.exists(f"{key}/.zattrs" if key.endswith(".zarr") else key):
            missing.append(entry["path"])
    fail_summary(missing, "files[] paths do not exist")


@check(
    "ANNO-FILES-CLAIMED",
    entity=EntityKind.ANNOTATION,
    tier=Tier.LIST,
    title="every data file in the folder is listed in the metadata's files[]",
)
def annotation_files_claimed(context: CheckContext, annotation: Entity) -> None:
    key, document = annotation_document(context, annotation)
    claimed = {entry_key(entry) for entry in file_entries(document)} | {key}
    unclaimed = [name for name in context.reader.children(annotation.path) if annotation.key(name) not in claimed]
    fail_summary(unclaimed, "files of the folder are not in files[]")


def _expected_path(annotation: Entity, document: dict[str, Any], entry: dict[str, Any]) -> str:
    """The layout.md §3 key of a files[] entry, from the metadata's object and version."""
    shape, file_format = entry["shape"], entry["format"]
    if file_format not in SHAPE_FORMATS.get(shape, ()):
        fail(
            f"{entry['path']}: a {shape} file cannot have format {file_format!r} (expected {SHAPE_FORMATS.get(shape)})"
        )
    if shape == "AnnotationCaption":
        found = layout.parse(entry_key(entry))
        suffix = found.fields["shape_suffix"] if found and found.template == "annotation_file" else ""
        if suffix.removesuffix("_caption") not in layout.SHAPE_SUFFIXES:
            fail(f"{entry['path']}: an AnnotationCaption is named {{slug}}-{{ver}}_{{companion shape}}_caption.json")
    else:
        suffix = shape.lower()
    try:
        return layout.build(
            "annotation_file",
            **dict(annotation.fields),
            slug=object_slug(document),
            version=layout.version_slug(document.get("version")),
            shape_suffix=suffix,
            ext=file_format,
        )
    except ValueError as error:  # no object name, or a field the layout refuses
        fail(f"{entry['path']}: cannot derive its name: {error}")


@check(
    "ANNO-FILE-NAMING",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    # files[] names every file and ANNO-METADATA-GLOB proves the portal finds the metadata: names are convention.
    severity=Severity.WARNING,
    title="metadata and files[] are named {slug}-{ver}[_{shape}.{format}] from annotation_object and version",
)
def annotation_file_naming(context: CheckContext, annotation: Entity) -> None:
    key, document = annotation_document(context, annotation)
    try:
        stem = f"{object_slug(document)}-{layout.version_slug(document.get('version'))}"
    except ValueError as error:
        fail(f"{key}: cannot derive the annotation's file names: {error}")
    if key != annotation.key(f"{stem}.json"):
        fail(f"metadata is {key.rsplit('/', 1)[-1]}, expected {stem}.json", observed=key, expected=f"{stem}.json")
    for entry in file_entries(document):
        expected = _expected_path(annotation, document, entry)
        if entry_key(entry) != expected:
            fail(f"files[] path {entry['path']!r}, expected {expected!r}", observed=entry["path"], expected=expected)


@check(
    "ANNO-ALIGNMENT-TOMO",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title="a tomogram of the run (any spacing) has the annotation's alignment_metadata_path",
)
def annotation_alignment_tomogram(context: CheckContext, annotation: Entity) -> None:
    _, document = annotation_document(context, annotation)
    path = document.get("alignment_metadata_path")
    alignments = sorted({str(d.get("alignment_metadata_path")) for _, d in run_tomograms(context, annotation)})
    normalised = layout.strip_bucket_name(path) if isinstance(path, str) else path
    if normalised not in {layout.strip_bucket_name(a) for a in alignments}:
        fail(
            f"alignment_metadata_path {path!r} is shared by no tomogram of the run (they have {alignments})",
            observed=path,
            expected=alignments,
        )


# -- masks: the SEG / ISEG volume families' annotation-level checks ----------------------------------


def _mask_dims(family: VolumeFamily, context: CheckContext, annotation: Entity) -> None:
    header = context.reader.mrc_header(family.mrc_key(context, annotation))
    _, document = annotation_document(context, annotation)
    spacing = layout.build("voxel_spacing", **{k: annotation[k] for k in ("dataset_id", "run_name", "voxel_spacing")})
    here = [(k, d) for k, d in run_tomograms(context, annotation) if k.startswith(spacing + "/")]
    aligned = [(k, d) for k, d in here if d.get("alignment_metadata_path") == document.get("alignment_metadata_path")]
    sizes = {size for _, d in aligned or here if (size := tomogram_size(d)) is not None}
    if not sizes:
        not_applicable("no tomogram of a known size at this voxel spacing")
    observed = (header.nx, header.ny, header.nz)
    if observed not in sizes:
        fail(
            f"mask MRC (nx, ny, nz) = {observed}, tomogram size (x, y, z) = {sorted(sizes)}",
            observed=observed,
            expected=sorted(sizes),
        )


def _colors(context: CheckContext, annotation: Entity) -> tuple[str, Any]:
    """(store key, ``image-label.colors``) of the annotation's instance mask."""
    store = INSTANCE_MASK.zarr_key(context, annotation)
    try:
        multiscales = read_multiscales(context.reader.json(f"{store}/.zattrs"))
    except ZarrFormatError as error:
        raise Unreadable(f"{store}/.zattrs", str(error)) from None
    image_label = multiscales.metadata.get("image-label")
    return store, image_label.get("colors") if isinstance(image_label, dict) else None


def _label_meta(context: CheckContext, annotation: Entity) -> None:
    store, colors = _colors(context, annotation)
    if not isinstance(colors, list) or not colors:
        fail(f"{store}/.zattrs: multiscales metadata image-label colors is {colors!r}, expected a non-empty list")
    labels = [color.get("label-value") if isinstance(color, dict) else None for color in colors]
    bad = [value for value in labels if not isinstance(value, int) or isinstance(value, bool) or value <= 0]
    if bad:
        fail(f"{store}/.zattrs: label-values {bad[:5]} are not integers > 0", observed=bad)
    if len(set(labels)) != len(labels):
        duplicates = sorted({value for value in labels if labels.count(value) > 1})
        fail(f"{store}/.zattrs: label-values {duplicates[:5]} repeat", observed=duplicates)


def _label_count(context: CheckContext, annotation: Entity) -> None:
    store, colors = _colors(context, annotation)
    if not isinstance(colors, list):
        skip("no image-label colors (reported by ISEG-LABEL-META)")
    _, document = annotation_document(context, annotation)
    check_count("image-label colors", len(colors), document, store)


for _family in (SEGMENTATION, INSTANCE_MASK):
    register(
        f"{_family.prefix}-DIMS",
        entity=EntityKind.ANNOTATION,
        tier=Tier.HEADER,
        title="mask MRC (nx, ny, nz) equals the size of a tomogram of its voxel spacing",
        function=lambda context, annotation, family=_family: _mask_dims(family, context, annotation),
    )
register(
    "ISEG-LABEL-META",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title=".zattrs image-label colors: non-empty, integer label-value > 0, unique",
    function=_label_meta,
)
register(
    "ISEG-LABEL-COUNT",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    title="number of image-label colors equals object_count",
    function=_label_count,
)


# -- meshes and captions ---------------------------------------------------------------------------


@check(
    "MESH-GLB",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    owns_inputs=True,
    title=".glb files are binary glTF 2.0 whose header length equals the object size",
)
def mesh_glb(context: CheckContext, annotation: Entity) -> None:
    _, document = annotation_document(context, annotation)
    meshes = [key for key, _ in files_of(document, "TriangularMesh")]
    if not meshes:
        not_applicable("no TriangularMesh file")
    for key in meshes:
        header = context.reader.glb_header(key)
        size = context.reader.info(key).size
        if len(header) < GLB_HEADER.size:
            fail(f"{key}: {size} bytes, shorter than the 12-byte glTF header", observed=size)
        magic, version, length = GLB_HEADER.unpack(header[: GLB_HEADER.size])
        if magic != b"glTF" or version != 2 or length != size:
            fail(
                f"{key}: magic {magic!r}, version {version}, header length {length}; expected b'glTF', 2, "
                f"the object size {size}",
                observed=[magic.decode("latin-1"), version, length],
                expected=["glTF", 2, size],
            )


@check(
    "CAP-JSON",
    entity=EntityKind.ANNOTATION,
    tier=Tier.HEADER,
    owns_inputs=True,
    title="caption JSON parses; its captions[] / objects[] count is at most object_count",
)
def caption_json(context: CheckContext, annotation: Entity) -> None:
    _, document = annotation_document(context, annotation)
    captions = files_of(document, *CAPTION_LISTS)
    if not captions:
        not_applicable("no caption file")
    for key, shape in captions:
        items = context.reader.json(key).get(CAPTION_LISTS[shape])
        if not isinstance(items, list):
            fail(f"{key}: a {shape} needs a {CAPTION_LISTS[shape]!r} list, found {type(items).__name__}")
        count = object_count(document)
        if len(items) > count:
            fail(
                f"{key}: {len(items)} {CAPTION_LISTS[shape]} exceed object_count {count}",
                observed=len(items),
                expected=count,
            )
