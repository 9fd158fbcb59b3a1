"""Key images, dataset and deposition key photos: rendering, sizes, and the reference dataset 90001."""

from __future__ import annotations

import http.server
import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import yaml
from PIL import Image

from importers.formats import key_images
from importers.formats.images import image_size
from importers.ingest import downloads
from importers.ingest.entities.context import IngestOptions
from importers.ingest.standardize import standardize_config
from importers.storage import Bucket
from tests.conftest import REPO_ROOT, output_files, shared_dir, upload_tree

SAMPLE_CONFIG = REPO_ROOT / "dataset_configs" / "10001.yaml"
SAMPLE_IMAGES = "10001/TS_001/Reconstructions/VoxelSpacing13.480/Images/100"
REFERENCE_SPACING = "Reconstructions/VoxelSpacing13.480"
#: The HTTPS prefix the portal's importer was given when it made the reference output.
REFERENCE_PREFIX = "http://127.0.0.1:5566"
EXPECTED_SIZES = {"snapshot": (512, 384), "thumbnail": (134, 100), "expanded": (1024, 768)}


class Web:
    """A web server on 127.0.0.1 for the test: ``pages`` by path (query strings ignored), each answered after its
    ``delays`` seconds; other paths are 404. ``requests`` lists the paths asked for."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[str] = []
        web = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                web.requests.append(path)
                time.sleep(web.delays.get(path, 0.0))
                body = web.pages.get(path)
                try:
                    self.send_response(200 if body is not None else 404)
                    self.send_header("Content-Length", str(len(body or b"")))
                    self.end_headers()
                    self.wfile.write(body or b"")
                except OSError:  # the client gave up (a timeout test)
                    pass

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def web() -> Iterator[Web]:
    server = Web()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _size(data: bytes) -> tuple[int, int]:
    _, width, height = image_size(data)
    return width, height


def _reference_input(root: Path) -> Path:
    """The reference upload where its config expects it: under ``anchor_synthetic/`` of the input."""
    shutil.copytree(shared_dir() / "reference-90001" / "input", root / "anchor_synthetic")
    return root


def _reference_config(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The reference config, edited, written to ``tmp_path``."""
    config = yaml.safe_load((shared_dir() / "reference-90001" / "config.yaml").read_text())
    edit(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _standardize_reference(input_url: str, output_url: str, config: Path | None = None) -> tuple[int, str]:
    stream = io.StringIO()
    config = config or shared_dir() / "reference-90001" / "config.yaml"
    options = IngestOptions(https_prefix=REFERENCE_PREFIX)
    status, _ = standardize_config(config, input_url, output_url, options=options, stream=stream)
    return status, stream.getvalue()


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference config standardized from its input into a local folder (treat as read-only)."""
    source = _reference_input(tmp_path_factory.mktemp("reference-input"))
    output = tmp_path_factory.mktemp("reference-output")
    status, log = _standardize_reference(str(source), str(output))
    assert status == 0, log
    return output


# -- rendering ---------------------------------------------------------------------------------


def test_central_slab_is_40_slices_around_the_middle() -> None:
    assert key_images.central_slab(64) == (12, 52)
    assert key_images.central_slab(41) == (0, 40)
    assert key_images.central_slab(8) == (0, 8)


def test_project_slab_reads_only_the_slab(tmp_path: Path) -> None:
    volume = np.arange(100 * 6 * 5, dtype=np.float32).reshape(100, 6, 5)
    mrcfile.new(tmp_path / "v.mrc", volume).close()
    bucket = Bucket(str(tmp_path))
    projection = key_images.project_slab(bucket, "v.mrc")
    assert projection.z_range == (30, 70)
    np.testing.assert_allclose(projection.data, volume[30:70].sum(axis=0))
    assert bucket.stats.bytes_read == 1024 + 40 * 6 * 5 * 4


def test_crop_turns_portrait_landscape_and_keeps_the_centre() -> None:
    portrait = Image.new("RGB", (100, 300))
    assert key_images.crop_to_aspect(portrait).size == (133, 100)
    wide = Image.new("RGB", (1000, 300))
    assert key_images.crop_to_aspect(wide).size == (400, 300)


def test_key_images_have_the_portal_sizes_whatever_the_preview() -> None:
    preview = Image.new("RGB", (90, 200), (10, 20, 30))
    images = key_images.key_images(preview, 45, ["original", "snapshot", "thumbnail", "expanded"])
    assert _size(images["original"]) == (45, 100)
    assert {name: _size(images[name]) for name in EXPECTED_SIZES} == EXPECTED_SIZES


def test_overlays_are_drawn_in_their_colours() -> None:
    projection = np.zeros((40, 60))
    mask = np.zeros((40, 60), dtype=bool)
    mask[:, :10] = True
    overlays = [
        key_images.Overlay("#ff00ff", mask=mask),
        key_images.Overlay("#00ff00", points=np.array([[40.0, 20.0]])),
    ]
    pixels = np.asarray(key_images.render(projection, overlays))
    assert pixels[20, 5, 0] > pixels[20, 5, 1] and pixels[20, 5, 2] > pixels[20, 5, 1]  # magenta tint
    assert pixels[20, 40, 1] > 150 and pixels[20, 40, 0] < 100  # green point
    assert tuple(pixels[20, 30]) == (0, 0, 0)  # untouched background


def test_slab_points_keeps_points_inside_the_slab() -> None:
    locations = [{"x": 1.0, "y": 2.0, "z": 5.0}, {"x": 3.0, "y": 4.0, "z": 50.0}, {"x": 5.0, "y": 6.0, "z": 12.0}]
    assert key_images.slab_points(locations, (12, 52)).tolist() == [[3.0, 4.0], [5.0, 6.0]]


# -- the sample dataset ------------------------------------------------------------------------


def test_sample_key_images_have_exact_sizes_and_show_the_tomogram(clean_tree: Path) -> None:
    tomogram = json.loads(
        (clean_tree / SAMPLE_IMAGES.replace("Images", "Tomograms") / "tomogram_metadata.json").read_text()
    )
    images = {name: (clean_tree / SAMPLE_IMAGES / f"key-photo-{name}.png").read_bytes() for name in EXPECTED_SIZES}
    assert {name: _size(data) for name, data in images.items()} == EXPECTED_SIZES
    original = (clean_tree / SAMPLE_IMAGES / "key-photo-original.png").read_bytes()
    width, height = _size(original)
    assert width == tomogram["size"]["x"] and height == tomogram["size"]["y"]
    pixels = np.asarray(Image.open(io.BytesIO(images["expanded"])).convert("L"), dtype=float)
    assert pixels.std() > 20  # structure, not a blank image
    assert tomogram["key_photo"] == {
        name: f"{SAMPLE_IMAGES}/key-photo-{name}.png" for name in ("snapshot", "thumbnail")
    }


def test_sample_key_images_are_deterministic(clean_tree: Path, sample_source: Path, tmp_path: Path) -> None:
    status, _ = standardize_config(SAMPLE_CONFIG, str(sample_source), str(tmp_path), stream=io.StringIO())
    assert status == 0
    for path in sorted((clean_tree / SAMPLE_IMAGES).iterdir()):
        assert (tmp_path / SAMPLE_IMAGES / path.name).read_bytes() == path.read_bytes(), path.name


def test_configured_key_images_and_a_depositor_picture(sample_source: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(sample_source, source)
    Image.new("RGB", (300, 200), (200, 10, 10)).save(source / "sample_10001" / "TS_001_picture.png")
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    config["key_images"] = [
        {"sources": [{"literal": {"value": ["snapshot", "thumbnail"]}}]},
        {"sources": [{"source_glob": {"list_glob": "{run_name}_picture.png"}}]},
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    status, _ = standardize_config(path, str(source), str(tmp_path / "out"), stream=io.StringIO())
    assert status == 0
    images = tmp_path / "out" / SAMPLE_IMAGES
    assert sorted(p.name for p in images.iterdir()) == ["key-photo-snapshot.png", "key-photo-thumbnail.png"]
    snapshot = Image.open(images / "key-photo-snapshot.png")
    assert snapshot.size == (512, 384) and snapshot.getpixel((256, 192)) == (200, 10, 10)
    other_run = tmp_path / "out" / SAMPLE_IMAGES.replace("TS_001", "TS_002") / "key-photo-snapshot.png"
    assert Image.open(other_run).getpixel((256, 192)) != (200, 10, 10)  # no picture for TS_002: rendered


# -- the reference dataset 90001 ---------------------------------------------------------------


def test_reference_key_images_have_the_reference_paths_and_sizes(reference_run: Path) -> None:
    reference = shared_dir() / "reference-90001" / "output"
    expected = sorted(p.relative_to(reference) for p in reference.rglob("*.png"))
    assert sorted(p.relative_to(reference_run) for p in reference_run.rglob("*.png")) == expected
    for relative in expected:
        assert _size((reference_run / relative).read_bytes()) == _size((reference / relative).read_bytes())


def test_reference_key_photos_are_copies_of_the_input(reference_run: Path) -> None:
    photos = shared_dir() / "reference-90001" / "input" / "key_photos"
    for folder in ("90001/Images", "depositions_metadata/90001/Images"):
        for name in ("snapshot.png", "thumbnail.png"):
            assert (reference_run / folder / name).read_bytes() == (photos / name).read_bytes()


def test_reference_key_photo_metadata_matches(reference_run: Path) -> None:
    reference = shared_dir() / "reference-90001" / "output"
    documents = ["90001/dataset_metadata.json", "depositions_metadata/90001/deposition_metadata.json"]
    documents += [
        f"90001/{run}/{REFERENCE_SPACING}/Tomograms/100/tomogram_metadata.json" for run in ("SYN_run1", "SYN_run2")
    ]
    for document in documents:
        ours, theirs = (json.loads((root / document).read_text()) for root in (reference_run, reference))
        for key in ("key_photos", "key_photo", "neuroglancer_config_path"):
            assert ours.get(key) == theirs.get(key), (document, key)


def test_reference_rerun_changes_nothing(reference_run: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    shutil.copytree(reference_run, output)
    before = {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file()}
    status, log = _standardize_reference(str(_reference_input(tmp_path / "input")), str(output))
    assert status == 0 and "written" not in log, log
    assert before == {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "snapshot",
    ["anchor_synthetic/missing.png", "../../../../../../../../etc/passwd", "anchor_synthetic/../../secret.png"],
)
def test_a_key_photo_that_fails_leaves_its_dataset_for_a_later_run(
    tmp_path: Path, reference_run: Path, snapshot: str, web: Web
) -> None:
    """A photo that is missing, outside the input or not at its URL fails alone; the dataset and the
    deposition that would show it are not written (not with null or a stand-in photo), the rest is, and
    once the config is fixed a rerun gives exactly the clean output."""

    def bad_snapshots(config: dict[str, Any]) -> None:
        _photos(config, "dataset")["snapshot"] = snapshot
        _photos(config, "deposition")["snapshot"] = web.url("/a.png")

    path = _reference_config(tmp_path, bad_snapshots)
    output = tmp_path / "output"
    source = _reference_input(tmp_path / "input")
    (tmp_path / "secret.png").write_bytes(
        (shared_dir() / "reference-90001/output/90001/Images/snapshot.png").read_bytes()
    )
    status, log = _standardize_reference(str(source), str(output), path)
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert status == 1 and len(errors) == 2, log
    assert "dataset_keyphoto snapshot" in errors[0]
    assert "not found in the input" in errors[0] or "outside the bucket root" in errors[0]
    assert (
        "deposition_keyphoto snapshot" in errors[1] and f"{web.url('/a.png')}: download failed: HTTP 404" in errors[1]
    )
    assert not (output / "90001/dataset_metadata.json").exists()
    assert not (output / "depositions_metadata/90001/deposition_metadata.json").exists()
    assert not (output / "90001/Images/snapshot.png").exists()
    assert (output / f"90001/SYN_run1/{REFERENCE_SPACING}/Tomograms/100/tomogram_metadata.json").exists()

    status, log = _standardize_reference(str(source), str(output))
    assert status == 0, log
    assert output_files(str(output)) == output_files(str(reference_run))


def _photos(config: dict[str, Any], owner: str) -> dict[str, Any]:
    return config[f"{owner}_keyphotos"][0]["sources"][0]["literal"]["value"]


def _picture(image_format: str, size: tuple[int, int] = (80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, format=image_format)
    return buffer.getvalue()


def test_key_photos_given_by_url_are_fetched_where_the_portal_writes_them(tmp_path: Path, web: Web) -> None:
    """As the portal's importer: one GET per URL; the photo keeps the extension of the URL's path; a rerun that
    fetches the same bytes changes nothing."""
    gif, png, jpeg = _picture("GIF"), _picture("PNG"), _picture("JPEG")
    web.pages.update({"/icons/10988-l.gif": gif, "/thumb.png": png, "/dep/snap.jpg": jpeg})

    def by_url(config: dict[str, Any]) -> None:
        _photos(config, "dataset").update(snapshot=web.url("/icons/10988-l.gif"), thumbnail=web.url("/thumb.png?v=2"))
        _photos(config, "deposition")["snapshot"] = web.url("/dep/snap.jpg")

    path = _reference_config(tmp_path, by_url)
    source, output = _reference_input(tmp_path / "input"), tmp_path / "output"
    status, log = _standardize_reference(str(source), str(output), path)
    assert status == 0, log
    assert (output / "90001/Images/snapshot.gif").read_bytes() == gif
    assert (output / "90001/Images/thumbnail.png").read_bytes() == png
    assert (output / "depositions_metadata/90001/Images/snapshot.jpg").read_bytes() == jpeg
    dataset = json.loads((output / "90001/dataset_metadata.json").read_text())
    assert dataset["key_photos"] == {"snapshot": "90001/Images/snapshot.gif", "thumbnail": "90001/Images/thumbnail.png"}
    assert web.requests.count("/icons/10988-l.gif") == 1
    status, log = _standardize_reference(str(source), str(output), path)
    assert status == 0 and "written" not in log, log


@pytest.mark.parametrize(
    ("page", "problem"),
    [
        ("/missing.png", "download failed: HTTP 404 Not Found"),
        ("/slow.png", "download failed: no answer within 0.5 s"),
        ("/error.html", "not a PNG, GIF or JPEG"),
        ("/tiny.png", "20×20 px is smaller than 50×50"),
        ("/big.png", "larger than the 100000 byte limit of a picture"),
        ("closed", "download failed: [Errno 111] Connection refused"),
    ],
)
def test_a_key_photo_url_that_fails_is_one_line_naming_it(
    tmp_path: Path, web: Web, monkeypatch: pytest.MonkeyPatch, page: str, problem: str
) -> None:
    monkeypatch.setattr(downloads, "TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(downloads, "MAX_BYTES", 100_000)
    web.pages["/big.png"] = _picture("PNG", (50, 50)) + bytes(100_000)
    web.pages.update(
        {"/slow.png": _picture("PNG"), "/error.html": b"<html>gone</html>", "/tiny.png": _picture("PNG", (20, 20))}
    )
    web.delays["/slow.png"] = 3.0
    url = f"http://127.0.0.1:{_closed_port()}/a.png" if page == "closed" else web.url(page)
    path = _reference_config(tmp_path, lambda config: _photos(config, "deposition").update(snapshot=url))
    status, log = _standardize_reference(str(_reference_input(tmp_path / "input")), str(tmp_path / "output"), path)
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert status == 1 and len(errors) == 1, log
    assert f"deposition_keyphoto snapshot: {url}: {problem}" in errors[0], errors[0]
    assert "Traceback" not in log


def test_dataset_key_photos_default_to_the_first_tomogram(tmp_path: Path) -> None:
    path = _reference_config(tmp_path, lambda config: config.pop("dataset_keyphotos"))
    output = tmp_path / "output"
    status, log = _standardize_reference(str(_reference_input(tmp_path / "input")), str(output), path)
    assert status == 0, log
    images = output / f"90001/SYN_run1/{REFERENCE_SPACING}/Images/100"
    for name in ("snapshot", "thumbnail"):
        assert (output / f"90001/Images/{name}.png").read_bytes() == (images / f"key-photo-{name}.png").read_bytes()


def test_reference_key_images_on_s3(s3_bucket: str, tmp_path: Path) -> None:
    def without_acquisition(config: dict[str, Any]) -> None:
        for key in ("frames", "gains", "collection_metadata", "rawtilts", "ctfs", "tiltseries"):
            del config[key]

    path = _reference_config(tmp_path, without_acquisition)
    for folder in ("tomograms", "annotations", "alignments", "key_photos"):
        shutil.copytree(
            shared_dir() / "reference-90001" / "input" / folder, tmp_path / "input/anchor_synthetic" / folder
        )
    upload_tree(tmp_path / "input", f"{s3_bucket}/input")
    status, log = _standardize_reference(f"{s3_bucket}/input", f"{s3_bucket}/output", path)
    assert status == 0, log
    output = Bucket(f"{s3_bucket}/output")
    images = f"90001/SYN_run2/{REFERENCE_SPACING}/Images/100"
    assert _size(output.read(f"{images}/key-photo-original.png")) == (64, 64)
    assert _size(output.read(f"{images}/key-photo-thumbnail.png")) == (134, 100)
    photo = shared_dir() / "reference-90001" / "input" / "key_photos" / "snapshot.png"
    assert output.read("depositions_metadata/90001/Images/snapshot.png") == photo.read_bytes()
