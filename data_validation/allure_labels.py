"""Allure for curators: every result carries its check code, entity, severity and a human title; a
failure attaches its evidence (the values compared); tomograms and annotations attach a picture.

One producer, :class:`AllureWriter`, writes the result files from the suite's records, for
``pytest --dataset … --alluredir DIR`` (allure-pytest's own listener is switched off for such a session:
it would describe each check as a pytest function) and for the audit, whose report the npm ``allure`` CLI
renders (:func:`generate_report`).

**Pictures.** The central slab of the tomogram (its MRC, by byte ranges, at most
:data:`PICTURE_MAX_BYTES` of planes), projected with ``importers.formats.key_images``; an annotation's
points (from its NDJSON, the first :data:`POINTS_MAX_BYTES`) or mask (the same slab of its MRC) are drawn
over the tomogram of its voxel spacing. A picture is attached to the entity's first check (by code) and to
each of its failures; it is rendered once per process and its reads count to no check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Attachment, Label, Parameter, StatusDetails, TestResult
from allure_commons.types import AttachmentType
from allure_commons.utils import md5, now
from PIL import Image, ImageDraw

from data_validation.entities import Entity
from data_validation.reader import ObjectReader, Unreadable
from data_validation.registry import REGISTRY, EntityKind
from data_validation.results import Record, RecordStatus
from importers import layout
from importers.formats import ndjson
from importers.formats.key_images import Overlay, project_slab, render, slab_points
from importers.formats.key_images import png as png_bytes
from importers.formats.mrc import MrcFormatError
from importers.storage import StorageError

#: The check severity as Allure's severity level.
ALLURE_SEVERITY = {"error": "critical", "warning": "minor", "info": "trivial"}
#: The record status as an Allure status (a waived failure is Allure's "skipped", as allure-pytest reports xfail).
ALLURE_STATUS = {"passed": "passed", "failed": "failed", "waived": "skipped", "skipped": "skipped"}
PICTURE_KINDS = (EntityKind.TOMOGRAM, EntityKind.ANNOTATION)
#: Bytes of MRC planes one picture may read (fewer planes than the key images' 40 for wide volumes).
PICTURE_MAX_BYTES = 16 << 20
POINTS_MAX_BYTES = 4 << 20
PICTURE_MAX_PIXELS = 768
PICTURE_MIN_PIXELS = 256
OVERLAY_COLORS = ("#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#bf5af2", "#ff9f0a")
POINT_SUFFIXES = ("_point.ndjson", "_orientedpoint.ndjson", "_instancesegmentation.ndjson")
MASK_SUFFIXES = ("_segmentationmask.mrc", "_instancesegmentationmask.mrc")


# -- labels, shared by the pytest plugin and the audit ------------------------------------------


def title(record: Record) -> str:
    """The human title: what the check asserts, its code and the entity."""
    return f"{record.title or record.code} [{record.code}] — {record.entity or '(bucket)'}"


def labels(record: Record) -> list[tuple[str, str]]:
    """Allure labels of a record: the check, the entity, the severity; suites group dataset > kind > check."""
    return [
        ("check", record.code),
        ("entity", record.entity),
        ("check_severity", record.severity),
        ("severity", ALLURE_SEVERITY.get(record.severity, "normal")),
        ("entity_kind", record.kind),
        ("tier", record.tier),
        ("dataset", record.dataset or "depositions"),
        ("parentSuite", f"dataset {record.dataset}" if record.dataset else "depositions"),
        ("suite", record.kind or "bucket"),
        ("subSuite", record.code),
    ]


def evidence_document(record: Record) -> dict:
    """What a failure attaches: the values compared, with the finding."""
    return {
        "code": record.code,
        "entity": record.entity,
        "severity": record.severity,
        "message": record.message,
        "observed": record.observed,
        "expected": record.expected,
    }


def description(record: Record) -> str:
    text = record.message or record.status
    if record.waiver:
        expiry = f" (expired {record.waiver_expires})" if record.status == RecordStatus.FAILED else ""
        text += f"\n\nwaiver{expiry}: {record.waiver}"
    return text


@cache
def anchor_check(kind: EntityKind) -> str | None:
    """The check whose test carries the entity's picture: the kind's first check by code."""
    codes = sorted(code for code, registered in REGISTRY.items() if registered.entity is kind)
    return codes[0] if codes else None


# -- pictures ----------------------------------------------------------------------------------


def _mrc_keys(reader: ObjectReader, prefix: str, template: str) -> list[str]:
    keys = []
    for key in reader.keys_under(prefix):
        match = layout.parse(key)
        if match is not None and match.template == template:
            keys.append(key)
    return sorted(keys)


def _depth(reader: ObjectReader, key: str) -> int:
    """Central planes to project: the key images' slab, fewer when planes are wide."""
    header = reader.mrc_header(key)
    if header.dtype is None:
        raise MrcFormatError(f"{key}: unsupported MRC mode {header.mode}")
    _, ny, nx = header.shape
    plane = max(1, ny * nx * header.dtype.itemsize)
    if plane > PICTURE_MAX_BYTES:
        raise MrcFormatError(f"{key}: a plane is {plane} bytes, over the picture's {PICTURE_MAX_BYTES}")
    return max(1, min(40, PICTURE_MAX_BYTES // plane))


def _points(reader: ObjectReader, key: str) -> list[dict]:
    size = reader.info(key).size
    data = reader.bucket.read_range(key, 0, min(size, POINTS_MAX_BYTES)) if size else b""
    if size > POINTS_MAX_BYTES:
        data = data[: data.rfind(b"\n") + 1]
    return [record["location"] for record in ndjson.loads(data)]


def _overlays(reader: ObjectReader, annotation: Entity, z_range: tuple[int, int], depth: int) -> list[Overlay]:
    overlays = []
    names = sorted(reader.children(annotation.path))
    for index, name in enumerate(names):
        color = OVERLAY_COLORS[index % len(OVERLAY_COLORS)]
        key = annotation.key(name)
        if name.endswith(POINT_SUFFIXES):
            overlays.append(Overlay(color, points=slab_points(_points(reader, key), z_range)))
        elif name.endswith(MASK_SUFFIXES):
            overlays.append(Overlay(color, mask=project_slab(reader.bucket, key, depth).data != 0))
    return overlays


#: Checks whose failure names a point outside the volume (observed: its x, y, z in voxels).
OUTSIDE_POINT_SUFFIX = "-IN-VOLUME"
OUTSIDE_COLOR = "#ff3b30"


def focus_of(record: Record) -> tuple[float, float, float] | None:
    """The point a failure is about, for its picture: a location outside the volume."""
    observed = record.observed
    if not (record.failed and record.code.endswith(OUTSIDE_POINT_SUFFIX) and isinstance(observed, list)):
        return None
    if len(observed) != 3 or not all(isinstance(v, int | float) for v in observed):
        return None
    return (float(observed[0]), float(observed[1]), float(observed[2]))


def _show_outside(image: Image.Image, scale: int, focus: tuple[float, float, float]) -> Image.Image:
    """The picture on a canvas wide enough for ``focus`` (x, y), with the volume's edge and a ring at it."""
    x, y = ((v + 0.5) * scale - 0.5 for v in focus[:2])
    margin = max(12, image.width // 10)
    left, top = max(0.0, -x) + margin, max(0.0, -y) + margin
    width = round(left + max(image.width, x + 1) + margin)
    height = round(top + max(image.height, y + 1) + margin)
    canvas = Image.new("RGB", (width, height), (48, 48, 56))
    canvas.paste(image, (round(left), round(top)))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((left - 1, top - 1, left + image.width, top + image.height), outline=(255, 255, 255))
    radius = max(4.0, margin / 2)
    cx, cy = left + x, top + y
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=OUTSIDE_COLOR, width=3)
    draw.line((cx - radius, cy, cx + radius, cy), fill=OUTSIDE_COLOR, width=1)
    draw.line((cx, cy - radius, cx, cy + radius), fill=OUTSIDE_COLOR, width=1)
    return canvas


def entity_picture(
    reader: ObjectReader, entity: Entity, focus: tuple[float, float, float] | None = None
) -> bytes | None:
    """The PNG of a tomogram's central slab, or of an annotation drawn over its spacing's tomogram;
    with ``focus`` (a point outside the volume, ``focus_of``), the slab nearest that point, on a canvas that
    shows the volume's edge and the point ringed where it lies. None when the entity has none or its data
    cannot be read (its checks say why). Its reads count to no check: ``reader`` is the session's, not a
    check's view."""
    if entity.kind is EntityKind.TOMOGRAM:
        candidates = _mrc_keys(reader, entity.path, "tomogram_mrc")
    elif entity.kind is EntityKind.ANNOTATION:
        spacing = layout.build("voxel_spacing", **{k: entity[k] for k in ("dataset_id", "run_name", "voxel_spacing")})
        candidates = _mrc_keys(reader, f"{spacing}/Tomograms", "tomogram_mrc")
    else:
        return None
    if not candidates:
        return None
    try:
        depth = _depth(reader, candidates[0])
        center = None if focus is None else round(focus[2])
        projection = project_slab(reader.bucket, candidates[0], depth, center)
        overlays = []
        if entity.kind is EntityKind.ANNOTATION:
            overlays = _overlays(reader, entity, projection.z_range, depth)
        # Small volumes are enlarged (whole pixels per voxel) so that there is something to look at.
        scale = max(1, PICTURE_MIN_PIXELS // max(projection.data.shape))
        data = projection.data.repeat(scale, axis=0).repeat(scale, axis=1)
        overlays = [
            Overlay(o.color, o.mask, None if o.points is None else (o.points + 0.5) * scale - 0.5) for o in overlays
        ]
        image = render(data, overlays)
        if focus is not None:
            image = _show_outside(image, scale, focus)
    except (Unreadable, StorageError, MrcFormatError, ValueError, KeyError) as error:
        warnings.warn(f"no picture of {entity.path}: {error}", stacklevel=1)
        return None
    image.thumbnail((PICTURE_MAX_PIXELS, PICTURE_MAX_PIXELS))
    return png_bytes(image)


# -- result files from records (the audit), and the npm allure CLI ------------------------------


class AllureWriter:
    """Allure result files (evidence and pictures attached) of records, written as they come."""

    CACHED_PICTURES = 16

    def __init__(self, directory: Path, *, clean: bool, reader: ObjectReader | None = None) -> None:
        self.logger = AllureFileLogger(str(directory), clean)
        #: Pictures are drawn from this reader's bucket; None: no pictures.
        self.reader = reader
        self.pictures: OrderedDict[tuple[str, tuple[float, float, float] | None], bytes | None] = OrderedDict()
        self.count = 0
        self._clock = now()  # records keep durations, not times: laid end to end from now

    @classmethod
    def for_pytest(cls, config: pytest.Config, reader: ObjectReader) -> AllureWriter | None:
        """The writer of ``--alluredir`` (None without it), in place of allure-pytest's listener."""
        directory = config.getoption("allure_report_dir", None)
        if not directory:
            return None
        listener = config.pluginmanager.get_plugin("allure_listener")
        if listener is not None:
            config.pluginmanager.unregister(listener)
        # allure-pytest has cleaned the directory already when asked to (--clean-alluredir).
        return cls(Path(directory), clean=False, reader=reader)

    def write(self, record: Record, entity: Entity | None = None) -> None:
        start, self._clock = self._clock, self._clock + max(1, round(record.duration * 1000))
        test = TestResult(
            uuid=str(uuid.uuid4()),
            name=title(record),
            fullName=f"{record.code}:{record.entity}",
            # One test case per check and entity (Allure would count the entities of a check as retries).
            historyId=md5(record.code, record.entity),
            testCaseId=md5(record.code, record.entity),
            parameters=[Parameter(name="entity", value=record.entity)],
            start=start,
            stop=self._clock,
            status=ALLURE_STATUS.get(record.status, "unknown"),
            description=description(record),
            labels=[Label(name=name, value=value) for name, value in labels(record)],
        )
        if record.status in (RecordStatus.FAILED, RecordStatus.WAIVED):
            test.statusDetails = StatusDetails(message=record.line())
            evidence = json.dumps(evidence_document(record), indent=2, ensure_ascii=False).encode()
            self._attach(test, "evidence", evidence, AttachmentType.JSON)
        elif record.status == RecordStatus.SKIPPED:
            test.statusDetails = StatusDetails(message=record.message)
        pictured = entity is not None and entity.kind in PICTURE_KINDS and self.reader is not None
        if pictured and (record.code == anchor_check(entity.kind) or record.status == RecordStatus.FAILED):
            picture = self.picture(entity, focus_of(record))
            if picture is not None:
                self._attach(test, f"{entity.kind.value} picture", picture, AttachmentType.PNG)
        self.logger.report_result(test)
        self.count += 1

    def _attach(self, test: TestResult, name: str, body: bytes, kind: AttachmentType) -> None:
        file_name = f"{uuid.uuid4()}-attachment.{kind.extension}"
        self.logger.report_attached_data(body=body, file_name=file_name)
        test.attachments.append(Attachment(name=name, source=file_name, type=kind.mime_type))

    def picture(self, entity: Entity, focus: tuple[float, float, float] | None = None) -> bytes | None:
        assert self.reader is not None
        key = (entity.path, focus)
        if key not in self.pictures:
            self.pictures[key] = entity_picture(self.reader, entity, focus)
            while len(self.pictures) > self.CACHED_PICTURES:
                self.pictures.popitem(last=False)
        return self.pictures[key]


def write_allure_results(records: Iterable[Record], directory: Path) -> int:
    """Allure result files (and evidence attachments) of records, into a fresh ``directory``."""
    writer = AllureWriter(directory, clean=True)
    for record in records:
        writer.write(record)
    return writer.count


def node_available() -> bool:
    return shutil.which("npx") is not None and shutil.which("node") is not None


#: The npm package of the Allure 3 report generator.
ALLURE_PACKAGE = "allure@3"
REPORT_NAME = "CryoET bucket audit"


def generate_report(results: Path, output: Path, timeout: float = 600) -> tuple[bool, str]:
    """``npx allure generate``: an Allure HTML report of ``results`` in ``output``; (done, why not)."""
    if not node_available():
        return False, "Node.js (npx) is not installed"
    # One self-contained index.html: the default report fetches its data, which browsers refuse from file://.
    config = results.parent / f"{results.name}-allurerc.json"
    config.write_text(json.dumps({"name": REPORT_NAME, "plugins": {"awesome": {"options": {"singleFile": True}}}}))
    command = [
        "npx",
        "--yes",
        ALLURE_PACKAGE,
        "generate",
        str(results),
        "--output",
        str(output),
        "--config",
        str(config),
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"{' '.join(command)}: {error}"
    if completed.returncode != 0 or not (output / "index.html").is_file():
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no index.html written"]
        return False, f"{' '.join(command)} exited {completed.returncode}: {tail[0]}"
    return True, ""
