"""Stand-in sources for a published portal config: small generated files where each of its source entries looks.

The portal's configs come without their labs' files (shared/portal-configs/README.md). :func:`plant` walks a config's
entity tree with the importer's own finders (``Ingestion.find``) and, before each kind is found, writes one file per
source entry where that entry looks: its glob filled with the entity's variables, each wildcard segment replaced by
a name that the glob, ``match_regex`` and ``name_regex`` all accept (an example of one of those patterns). Each file
is shaped as its kind and format expect (an MRC volume, an mdoc, a CTFFIND table, a STAR file …), so that a dry run
of ``standardize`` goes through every step that reads sources. A run-data map gets a row per found run, with every
column the config's templates name.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import re._constants as sre
import re._parser as sre_parse
import shutil
import string
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import mrcfile
import numpy as np
import zarr
from PIL import Image

from importers.ingest.entities.context import CONFIG_KEYS, Ingestion, IngestOptions, parents_pass
from importers.ingest.entities.tree import CHILDREN, Entity
from importers.ingest.finders import finder_of, format_template, glob_to_regex
from importers.storage import Bucket

#: Sections of every stand-in tilt series (mdoc sections, rawtlt lines, CTF rows, alignment rows).
TILTS = (-3.0, 0.0, 3.0)
ANNOTATION_SHAPES = (
    "Point",
    "OrientedPoint",
    "InstanceSegmentation",
    "SegmentationMask",
    "SemanticSegmentationMask",
    "InstanceSegmentationMask",
    "TriangularMesh",
    "TriangularMeshGroup",
    "GlobalCaption",
    "AnnotationCaption",
)
_VOLUME_SUFFIXES = (".mrc", ".rec", ".st", ".ali", ".map", ".mrcs")
_WILDCARD = re.compile(r"[*?\[]")
#: The file that makes a planted folder entity (a run's folder) exist until its own files are planted.
_MARKER = ".standin"


# -- examples of patterns ------------------------------------------------------------------------


def _category_char(category: Any) -> str:
    return {
        sre.CATEGORY_DIGIT: "1",
        sre.CATEGORY_NOT_DIGIT: "a",
        sre.CATEGORY_SPACE: " ",
        sre.CATEGORY_NOT_SPACE: "a",
        sre.CATEGORY_WORD: "a",
        sre.CATEGORY_NOT_WORD: "-",
    }.get(category, "a")


def _in_set(char: str, items: list[tuple[Any, Any]]) -> bool:
    for op, value in items:
        if op is sre.LITERAL and char == chr(value):
            return True
        if op is sre.RANGE and value[0] <= ord(char) <= value[1]:
            return True
        if op is sre.CATEGORY and re.fullmatch(_category_regex(value), char):
            return True
    return False


def _category_regex(category: Any) -> str:
    return {
        sre.CATEGORY_DIGIT: r"\d",
        sre.CATEGORY_NOT_DIGIT: r"\D",
        sre.CATEGORY_SPACE: r"\s",
        sre.CATEGORY_NOT_SPACE: r"\S",
        sre.CATEGORY_WORD: r"\w",
        sre.CATEGORY_NOT_WORD: r"\W",
    }[category]


def _set_char(items: list[tuple[Any, Any]]) -> str:
    if items and items[0][0] is sre.NEGATE:
        return next(c for c in "a1_bZ-" if not _in_set(c, items[1:]))
    op, value = items[0]
    if op is sre.LITERAL:
        return chr(value)
    if op is sre.RANGE:
        return chr(value[0])
    return _category_char(value)


def _example(parsed: Any) -> str:
    out = []
    for op, value in parsed:
        if op is sre.LITERAL:
            out.append(chr(value))
        elif op is sre.NOT_LITERAL:
            out.append("b" if chr(value) == "a" else "a")
        elif op is sre.ANY:
            out.append(".")  # most often a file name's dot written unescaped ('(.*).rec')
        elif op is sre.IN:
            out.append(_set_char(value))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, _, sub = value
            repeated = "a" if list(sub) == [(sre.ANY, None)] else _example(sub)
            out.append(repeated * max(low, 1))
        elif op is sre.SUBPATTERN:
            out.append(_example(value[-1]))
        elif op is sre.BRANCH:
            out.append(_example(value[1][0]))
        elif op is sre.CATEGORY:
            out.append(_category_char(value))
    return "".join(out)


def example(pattern: str) -> str:
    """A short text the regex ``pattern`` matches (``.*`` filled with ``a``, a lone ``.`` with a dot, digits with
    ``1``)."""
    return _example(sre_parse.parse(pattern))


# -- where a glob looks ----------------------------------------------------------------------------


def _segment_candidates(segment: str, hints: list[str]) -> list[str]:
    if not _WILDCARD.search(segment):
        return [segment]
    filled = []
    for token in ("01", "TS_01", "a"):
        text = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", segment).replace("**", "").replace("*", token)
        filled.append(text.replace("?", "a"))
    return [*hints, *filled]


def concrete_key(pattern: str, match_regex: str = ".*", name_regex: str = "(.*)", *, numeric: bool = False) -> str:
    """A key that the glob ``pattern`` (templated, rooted), ``match_regex`` (searched) and ``name_regex`` (matched
    on the basename) all accept; ``numeric``: a key whose name is a number (a dataset's)."""
    segments = [s for s in pattern.strip("/").split("/") if s != "**"]
    hints = ["10001", "VoxelSpacing10.000", "10.000"] if numeric else []
    hints += [example(name_regex).split("/")[-1], example(match_regex).split("/")[-1]]
    choices = [_segment_candidates(s, hints if i == len(segments) - 1 else []) for i, s in enumerate(segments)]
    glob = glob_to_regex(pattern.strip("/"))
    for combination in itertools.islice(itertools.product(*choices), 500):
        key = "/".join(combination)
        if glob.match(key) and re.search(match_regex, key) and re.match(name_regex, PurePosixPath(key).name):
            return key
    raise ValueError(f"no stand-in key for glob {pattern!r} with match_regex {match_regex!r}, name {name_regex!r}")


# -- file contents ---------------------------------------------------------------------------------


def _volume(path: Path, dtype: str = "float32", values: tuple[float, ...] = (1,)) -> None:
    """A small volume whose first voxels hold ``values`` (the rest 0)."""
    data = np.zeros((len(TILTS), 4, 4), dtype=dtype)
    data.flat[: len(values)] = values
    with mrcfile.new(path, data=data, overwrite=True) as mrc:
        mrc.voxel_size = 10.0


def _ome_zarr(path: Path, dtype: str = "int8", values: tuple[float, ...] = (1,)) -> None:
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    array = group.create_array("0", shape=(len(TILTS), 4, 4), dtype=dtype, chunks=(len(TILTS), 4, 4))
    data = np.zeros((len(TILTS), 4, 4), dtype=dtype)
    data.flat[: len(values)] = values
    array[:] = data
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": a, "type": "space", "unit": "angstrom"} for a in "zyx"],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [10.0] * 3}]}],
        }
    ]


def _mdoc(run: str) -> str:
    sections = "".join(
        f"[ZValue = {z}]\nTiltAngle = {angle:.2f}\nExposureDose = 3.0\nPixelSpacing = 10.0\nExposureTime = 1.0\n"
        f"SubFramePath = X:\\frames\\{run}_{z:03d}.tif\nNumSubFrames = 2\nDateTime = 01-Jan-24  00:00:00\n\n"
        for z, angle in enumerate(TILTS)
    )
    return f"PixelSpacing = 10.0\nVoltage = 300\nImageFile = {run}.mrc\nImageSize = 4 4\nDataMode = 1\n\n{sections}"


def _ctf(ctf_format: str) -> str:
    if ctf_format.upper() == "IMOD":
        return "".join(f"{i} {i} {angle:.2f} {angle:.2f} 3000.0\n" for i, angle in enumerate(TILTS, 1))
    header = "# Columns: #1 micrograph number; #2 defocus 1 [A]; #3 defocus 2; #4 azimuth; #5 phase shift; "
    header += "#6 cross correlation; #7 max resolution\n"
    return header + "".join(f"{i} 30000.0 29500.0 -40.0 0.0 0.1 8.0\n" for i in range(1, len(TILTS) + 1))


def _aln() -> str:
    head = f"# AreTomo Alignment / Priims bprmMn\n# RawSize = 4 4 {len(TILTS)}\n# NumPatches = 0\n"
    head += "# AlphaOffset =     0.00\n# BetaOffset =     0.00\n"
    head += "# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT\n"
    row = "{:5d}   84.7000    1.00000      0.000      0.000     1.00     1.00     1.00     0.00  {:8.2f}\n"
    return head + "".join(row.format(sec, angle) for sec, angle in enumerate(TILTS))


def _imod_model(slicer_angles: bool) -> bytes:
    """A binary IMOD model: one object, one contour of two points; with ``slicer_angles``, two SLAN chunks."""
    out = io.BytesIO()
    out.write(b"IMODV1.2" + bytes(232) + b"OBJT" + bytes(176))
    out.write(b"CONT" + struct.pack(">iIii", 2, 0, 0, 0) + struct.pack(">6f", 1, 2, 3, 4, 5, 6))
    if slicer_angles:
        for angles, center in (((10.0, 0.0, -30.0), (1.0, 2.0, 3.0)), ((0.0, 20.0, 0.0), (4.0, 5.0, 6.0))):
            out.write(b"SLAN" + struct.pack(">i", 60) + struct.pack(">i6f", 1, *angles, *center) + bytes(32))
    out.write(b"IEOF")
    return out.getvalue()


def _star(filter_value: str) -> str:
    value = filter_value or "a"
    return (
        "data_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 10.0\n\n"
        "data_particles\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n_rlnOriginXAngst\n"
        "_rlnOriginYAngst\n_rlnOriginZAngst\n_rlnAngleRot\n_rlnAngleTilt\n_rlnAnglePsi\n_rlnMicrographName\n"
        f"_rlnTomoName\n_rlnOpticsGroup\n1 2 3 0 0 0 10 20 30 {value} {value} 1\n"
    )


def _stopgap(filter_value: str) -> str:
    number = filter_value if filter_value.strip().lstrip("-").isdigit() else "1"
    return (
        "data_stopgap_motivelist\n\nloop_\n_motl_idx\n_tomo_num\n_orig_x\n_orig_y\n_orig_z\n_x_shift\n_y_shift\n"
        f"_z_shift\n_phi\n_psi\n_the\n1 {number} 1 2 3 0 0 0 10 20 30\n"
    )


def _png(path: Path) -> None:
    Image.new("L", (64, 64), 128).save(path, format="PNG")


def _mask(path: Path, shape: str, file_format: str, values: tuple[float, ...]) -> None:
    """A mask with a voxel of each of ``values``: the labels (or thresholds) of every annotation that reads it (a mask
    without a voxel of its label is passed over)."""
    if path.is_dir():
        shutil.rmtree(path)
    dtype = "uint16" if shape == "InstanceSegmentationMask" else "float32"
    # As the portal decides (and the importer): by the path, whatever the declared file_format.
    (_ome_zarr if ".zarr" in path.name or file_format == "zarr" else _volume)(path, dtype, values)


def _annotation_file(path: Path, shape: str, arguments: Mapping[str, Any], filter_value: str) -> None:
    file_format = str(arguments.get("file_format"))
    delimiter = str(arguments.get("delimiter") or ",")
    contents: dict[str, str | bytes] = {
        "csv": delimiter.join("123") + "\n",
        "csv_with_header": delimiter.join("xyz") + "\n" + delimiter.join("123") + "\n",
        "tardis": "IDs,X,Y,Z\n0,1,2,3\n1,4,5,6\n",
        "relion3_star": _star(filter_value),
        "relion4_star": _star(filter_value),
        "tomoman_relion_star": _star(filter_value),
        "stopgap_star": _stopgap(filter_value),
        "mod": _imod_model(shape == "OrientedPoint"),
        "copick": json.dumps({"points": [{"location": {"x": 10.0, "y": 20.0, "z": 30.0}, "instance_id": 1}]}),
        "json": json.dumps({"captions": [{"text": "a"}], "objects": [{"text": "a"}]}),
    }
    if shape in ("GlobalCaption", "AnnotationCaption"):
        file_format = "json"  # every caption format is JSON (the portal's saber captions too)
    content = contents.get(file_format, b"glTF" + struct.pack("<II", 2, 12))
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _source_file(path: Path, kind: str, metadata: Mapping[str, Any], run: str) -> None:
    suffix = path.suffix.lower()
    if kind in ("run", "voxel_spacing", "dataset") and suffix not in (*_VOLUME_SUFFIXES, ".aln", ".mod"):
        path.mkdir(parents=True, exist_ok=True)
        (path / _MARKER).write_text("")
        return
    if suffix == ".zarr":
        _ome_zarr(path, "float32")
    elif suffix in _VOLUME_SUFFIXES or kind in ("tiltseries", "tomogram"):
        _volume(path)
    elif kind == "collection_metadata" or suffix == ".mdoc":
        path.write_text(_mdoc(run))
    elif kind == "ctf":
        path.write_text(_ctf(str(metadata.get("format") or "CTFFIND")))
    elif suffix in (".rawtlt", ".tlt", ".xtilt", ".tltx") or kind == "rawtilt":
        path.write_text("".join(f"{angle:.2f}\n" for angle in TILTS))
    elif suffix == ".xf":
        path.write_text("1.0 0.0 0.0 1.0 0.0 0.0\n" * len(TILTS))
    elif suffix == ".aln":
        path.write_text(_aln())
    elif suffix == ".mod":
        path.write_bytes(_imod_model(slicer_angles=True))
    elif suffix in (".png", ".jpg", ".jpeg") or kind in ("key_image", "dataset_keyphoto", "deposition_keyphoto"):
        _png(path)
    elif kind == "identified_object":
        path.write_text(f"run_name,object_id\n{run},1\n")
    else:
        path.write_bytes(b"stand-in " + path.name.encode())


def _stored_entity(path: Path, kind: str) -> None:
    """What an earlier ingestion left in the output where a ``destination_glob`` looks: a key photo, a metadata
    document (an alignment's states the aligned volume's size, that of the stand-in volumes), or an entity folder."""
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        _png(path)
    elif path.suffix == ".json":
        dimension = {axis: 10.0 * n for axis, n in zip("zyx", (len(TILTS), 4, 4), strict=True)}
        path.write_text(json.dumps({"volume_dimension": dimension} if kind == "alignment" else {}))
    else:
        path.mkdir(parents=True, exist_ok=True)
        (path / _MARKER).write_text("")


# -- the walk --------------------------------------------------------------------------------------


def _placeholders(value: Any) -> Iterator[tuple[str, bool]]:
    """Every ``{name}`` in the config's strings, and whether it is cast (``float {x}``, ``int {x}``)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _placeholders(item)
    elif isinstance(value, list):
        for item in value:
            yield from _placeholders(item)
    elif isinstance(value, str):
        cast = bool(re.match(r"^\s*(float|int)\s", value))
        for _, name, _, _ in string.Formatter().parse(value):
            if name and name.isidentifier():
                yield name, cast


class _Planter:
    def __init__(self, config: dict[str, Any], config_path: Path, root: Path, output: Path) -> None:
        self.config = config
        self.root, self.output = root, output
        self.bucket, self.output_bucket = Bucket(str(root)), Bucket(str(output))
        options = IngestOptions(dry_run=True)
        self.ingestion = Ingestion(config, config_path, self.bucket, self.output_bucket, options)
        self.prefix = self.ingestion.source_root
        self.rows: dict[str, dict[str, str]] = {}
        #: The labels (or thresholds) planted in each mask, one voxel each.
        self.mask_values: dict[str, list[float]] = {}
        self.columns = self._map_columns()

    def _map_columns(self) -> dict[str, bool]:
        tree_variables = {f"{kind}_{what}" for kind in CONFIG_KEYS for what in ("name", "path", "id", "output_path")}
        tree_variables |= {f"int_{kind}_name" for kind in CONFIG_KEYS} | {"output_path"}
        tree_variables |= {"mapped_tomo_name", "mapped_frame_name", "mapped_ts_name"}
        columns: dict[str, bool] = {}
        for kind, key in CONFIG_KEYS.items():
            # An entity's own name cannot fill its own glob: there it is the run's map column of that name.
            own = {f"{kind}_{what}" for what in ("name", "path", "id", "output_path")}
            for name, cast in _placeholders(self.config.get(key) or []):
                if name not in tree_variables or name in own:
                    columns[name] = columns.get(name, False) or cast
        spacing_literals = [
            source["literal"].get("value")
            for entry in self.config.get("voxel_spacings") or []
            for source in entry.get("sources") or []
            if "literal" in source
        ]
        for name, _ in _placeholders(spacing_literals):
            columns[name] = True
        return columns

    def _write(self, key: str, writer: Any, *, root: Path | None = None) -> None:
        path = (root or self.root) / key
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        writer(path)
        self.bucket.forget_listings()
        self.output_bucket.forget_listings()

    def _rooted(self, pattern: str) -> str:
        return f"{self.prefix}/{pattern.lstrip('/')}" if self.prefix else pattern

    def _plant_source(self, kind: str, entry: Mapping[str, Any], source: Mapping[str, Any], parent: Entity | None):
        finder, arguments = finder_of(source)
        variables = self.ingestion.glob_variables(parent)
        run = variables.get("run_name", "")
        metadata = entry.get("metadata") or {}
        if finder in ("source_glob", "tomogram_header"):
            pattern = self._rooted(format_template(str(arguments["list_glob"]), variables))
            match_regex, name_regex = (
                str(arguments.get("match_regex") or ".*"),
                str(arguments.get("name_regex") or "(.*)"),
            )
            key = concrete_key(pattern, match_regex, name_regex, numeric=kind == "dataset")
            self._write(key, lambda path: _source_file(path, kind, metadata, run))
        elif finder == "destination_glob":
            pattern = format_template(str(arguments["list_glob"]), variables)
            match_regex, name_regex = (
                str(arguments.get("match_regex") or ".*"),
                str(arguments.get("name_regex") or "(.*)"),
            )
            key = concrete_key(pattern, match_regex, name_regex, numeric=kind in ("dataset", "voxel_spacing"))
            self._write(key, lambda path: _stored_entity(path, kind), root=self.output)
        elif finder == "source_multi_glob":
            for key in self._alternatives(arguments.get("list_globs") or [], variables):
                self._write(key, lambda path: _source_file(path, kind, metadata, run))
        elif finder == "literal" and isinstance(arguments.get("value"), Mapping):
            for path in arguments["value"].values():
                if path and "://" not in str(path):
                    key = str(path).split("/", 1)[1] if "/" in str(path) else str(path)
                    self._write(key, _png)

    def _alternatives(self, globs: list[str], variables: Mapping[str, Any]) -> list[str]:
        """One key per extension for the globs of one entry: they are often alternatives (a run's folder in one of
        several upload folders), and an alignment or a mask takes one file of each extension."""
        keys: dict[str, str] = {}
        for pattern in globs:
            key = concrete_key(self._rooted(format_template(str(pattern), variables)))
            keys.setdefault(PurePosixPath(key).suffix, key)
        return list(keys.values())

    def _plant_annotation(self, entry: Mapping[str, Any], parent: Entity) -> None:
        variables = self.ingestion.glob_variables(parent)
        for source in entry.get("sources") or []:
            if not parents_pass(source.get("parent_filters"), parent):
                continue
            shape = next(name for name in ANNOTATION_SHAPES if name in source)
            arguments = source[shape]
            filter_value = format_template(str(arguments.get("filter_value") or variables["run_name"]), variables)
            globs = arguments.get("glob_strings") or [arguments.get("glob_string")]
            for key in self._alternatives(globs, variables):
                if shape.endswith("SegmentationMask"):
                    values = self.mask_values.setdefault(key, [])
                    values.append(arguments.get("threshold") or arguments.get("mask_label") or 1)
                    path = self.root / key
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _mask(path, shape, str(arguments.get("file_format")), tuple(values))
                    self.bucket.forget_listings()
                    continue
                self._write(key, lambda path, a=arguments, s=shape, f=filter_value: _annotation_file(path, s, a, f))

    def _write_maps(self, runs: list[Entity]) -> None:
        standardization = self.config.get("standardization_config") or {}
        for run in runs:
            self.rows[run.name] = {
                "run_name": run.name,
                **{name: "2" if cast else f"{name}_{run.name}" for name, cast in self.columns.items()},
            }
        name = standardization.get("run_data_map_file")
        if name:
            delimiter = "\t" if str(name).endswith("tsv") else ","
            header = ["run_name", *self.columns]
            lines = [delimiter.join(header)] + [delimiter.join(row[c] for c in header) for row in self.rows.values()]
            (self.root / self._rooted(str(name))).parent.mkdir(parents=True, exist_ok=True)
            (self.root / self._rooted(str(name))).write_text("\n".join(lines) + "\n")
        for key, column in (("run_to_tomo_map_csv", "tomo"), ("run_to_frame_map_csv", "frame")):
            if standardization.get(key):
                path = self.root / self._rooted(str(standardization[key]))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(f"{run},{run}_{column}\n" for run in self.rows))
        if standardization.get("run_to_ts_map_csv"):
            path = self.root / self._rooted(str(standardization["run_to_ts_map_csv"]))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(f"{run},{run}_ts\n" for run in self.rows))
        self.bucket.forget_listings()

    def walk(self, kind: str, parent: Entity | None) -> None:
        for entry in self.config.get(CONFIG_KEYS[kind]) or []:
            if kind == "annotation":
                self._plant_annotation(entry, parent)
                continue
            for source in entry.get("sources") or []:
                if parents_pass(source.get("parent_filters"), parent):
                    self._plant_source(kind, entry, source, parent)
        found = self.ingestion.find(kind, parent)
        for marker in self.root.rglob(_MARKER):
            marker.unlink()  # a folder entity is found; its own files, planted below, keep the folder
        self.bucket.forget_listings()
        if kind == "run":
            self._write_maps(found)
        for entity in found:
            if entity.kind in ("tiltseries", "tomogram", "alignment"):
                entity.identifier = 100
            for child in CHILDREN.get(kind, ()):
                self.walk(child, entity)


def plant(config: dict[str, Any], config_path: Path, root: Path, output: Path) -> None:
    """Write stand-in sources for ``config`` under ``root`` (the input bucket), and under ``output`` what its
    destination finders look for there."""
    _Planter(config, config_path, root, output).walk("deposition", None)
