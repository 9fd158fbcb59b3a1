"""Real components for the project's own tests: a moto S3 server and a fresh PostgreSQL database.

Nothing may reach real AWS: before any test runs, credentials are fake and every endpoint points
at a closed local port; the ``s3_endpoint`` fixture then points them at the moto server.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The environment of every test: fake credentials, every AWS endpoint on a closed local port (the
#: ``s3_endpoint`` fixture points them at moto), and no database unless a test gives one.
TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
    # Set and empty: suite runs never pick up the quick start's .local/cryoet.sqlite.
    "CRYOET_DATABASE_URL": "",
}
REMOVED_VARIABLES = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture(scope="session", autouse=True)
def test_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Applied as a fixture, not at import: pytest also imports this conftest when the validation
    suite runs from the repository root, and that session must keep the user's environment."""
    recorder = tmp_path_factory.mktemp("moto-recorder") / "recording"
    patch = pytest.MonkeyPatch()
    # moto's request recorder otherwise writes its log into the current directory.
    for name, value in {**TEST_ENVIRONMENT, "MOTO_RECORDER_FILEPATH": str(recorder)}.items():
        patch.setenv(name, value)
    for name in REMOVED_VARIABLES:
        patch.delenv(name, raising=False)
    yield
    patch.undo()


# The moto server's request log would drown test failure output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def shared_dir() -> Path:
    """The ``shared/`` folder that lies beside the repository (in CI: beside the fresh clone)."""
    for parent in REPO_ROOT.parents:
        candidate = parent / "shared"
        if (candidate / "spec").is_dir():
            return candidate
    pytest.skip("shared/ (spec, portal configs, reference dataset) not found beside the repository")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(test_environment: None) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; AWS_ENDPOINT_URL(_S3) point at it for the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")}
    os.environ["AWS_ENDPOINT_URL"] = os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    yield endpoint
    os.environ.update({name: value for name, value in previous.items() if value is not None})
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the moto server; returns its ``s3://`` URL."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database on ``$CRYOET_TEST_DATABASE_URL``'s server, dropped afterwards."""
    import psycopg2
    from psycopg2 import sql

    server_url = os.environ.get("CRYOET_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    name = f"cryoet_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg2.connect(server_url)
    except psycopg2.OperationalError as error:
        pytest.fail(f"PostgreSQL at {server_url} is not reachable: {str(error).strip()}")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def upload_tree(local: Path, bucket_url: str) -> None:
    """Copy a local folder into a bucket (test set-up only)."""
    from importers.storage import Bucket

    bucket = Bucket(bucket_url)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            bucket.write(path.relative_to(local).as_posix(), path.read_bytes())


#: Bytes of an MRC header holding the first label, whose portal stamp carries the time of writing.
_STAMP = slice(224, 304)


def output_files(bucket_url: str) -> dict[str, bytes]:
    """Every object of a standardized output as two runs at different times (into different places) would both
    write it: metadata JSON without ``last_updated_at``, manifests without ETags (nor the sizes of provenance
    files), MRC headers without the portal stamp's time, zarr chunks decoded (Blosc's threads may order the blocks
    of a frame differently), mesh provenance without its operator, date and layer URL. Two outputs are the same
    ingestion when these are equal."""
    import json

    from numcodecs import Blosc

    from importers.storage import Bucket

    bucket = Bucket(bucket_url)
    files = {}
    for key in sorted(bucket.listing("")):
        data = bucket.read(key)
        if key.endswith(".json") and ".zarr/" not in key:
            document = json.loads(data)
            if isinstance(document, dict):
                document.pop("last_updated_at", None)
            if key.endswith("/dataset_manifest.json"):  # ETags are the storage's (none on a local bucket)
                document = {
                    name: None if name.endswith("/provenance") else entry["size"]
                    for name, entry in document["objects"].items()
                }
            data = json.dumps(document, sort_keys=True).encode()
        elif key.endswith("/provenance"):
            document = json.loads(data)
            for step in document["processing"]:
                del step["by"], step["date"]
                step["method"].pop("layer_path", None)
                step["method"].pop("cloudpath", None)
            data = json.dumps(document, sort_keys=True).encode()
        elif key.endswith(".mrc"):
            data = data[: _STAMP.start] + data[_STAMP.stop :]
        elif ".zarr/" in key and not key.rsplit("/", 1)[-1].startswith(".z"):
            data = bytes(Blosc().decode(data))
        files[key] = data
    return files


@pytest.fixture(scope="session")
def sample_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample source dataset (2 small runs), written once per session."""
    from importers.ingest.sample import write_sample

    root = tmp_path_factory.mktemp("sample-source")
    write_sample(root, runs=2, size=16, seed=7)
    return root


#: Where bucket folders are made when the machine has a file system in memory: a copy of the standardized
#: sample is ~900 files and folders, which take a fifth of the time to create and delete there than on disk.
RAM_DISK = Path("/dev/shm")
#: Free space the RAM disk must have to be used (a container's is often 64 MiB: too small for two workers).
RAM_DISK_MINIMUM = 512 << 20
_SCRATCH_PREFIX = "cryoet-tests-"


def _remove_abandoned_scratch() -> None:
    """Scratch folders of sessions that were killed (their process is gone) would hold memory until reboot."""
    import shutil

    for folder in RAM_DISK.glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(_SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A session folder for bucket folders: in memory (``/dev/shm``) where there is one, removed at the end of
    the session; else pytest's temporary folder."""
    import shutil
    import tempfile

    usable = RAM_DISK.is_dir() and os.access(RAM_DISK, os.W_OK) and Path("/proc/self").exists()
    if not (usable and shutil.disk_usage(RAM_DISK).free >= RAM_DISK_MINIMUM):
        yield tmp_path_factory.mktemp("scratch")
        return
    _remove_abandoned_scratch()
    root = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-", dir=RAM_DISK))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def clean_tree(sample_source: Path, scratch: Path) -> Path:
    """The sample standardized into a local bucket folder, once per session (treat as read-only)."""
    import io

    from importers.ingest.standardize import standardize_config

    output = scratch / "clean-bucket"
    status, ingestion = standardize_config(
        REPO_ROOT / "dataset_configs" / "10001.yaml", str(sample_source), str(output), stream=io.StringIO()
    )
    assert status == 0, ingestion.report.failures
    return output


@pytest.fixture
def bucket_copy(clean_tree: Path, scratch: Path) -> Iterator[Path]:
    """A private copy of the clean standardized sample, for a test to break; removed after the test."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(dir=scratch))
    target = folder / "bucket"
    shutil.copytree(clean_tree, target, copy_function=shutil.copyfile)
    try:
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)
