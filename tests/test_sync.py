"""``cryoet-ingest sync`` between two buckets of the moto S3 server: plan, copy, verify, re-run, delete."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import boto3
import pytest

from importers.cli import main
from importers.ingest.sync import WRITER_PART_SIZE, Digest, Item, format_bytes, part_sizes_for, verify
from importers.storage import Bucket, StorageError
from tests.conftest import upload_tree

MIB = 1 << 20


def _new_bucket(endpoint: str) -> str:
    name = f"sync-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


def _objects(url: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    """Every object's size and MD5: the ETag where moto made it from the whole content, else read."""
    bucket = Bucket(url)
    listed = bucket.listing(prefix)
    multipart = sorted(key for key, info in listed.items() if "-" in info.etag)
    contents = dict(zip(multipart, bucket.read_many([(key, None, None) for key in multipart]), strict=True))
    return {
        key: (info.size, hashlib.md5(contents[key]).hexdigest() if key in contents else info.etag)
        for key, info in listed.items()
    }


def _sync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["sync", *args])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _plan_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("plan:"))


@pytest.fixture
def source(clean_tree: Path, s3_endpoint: str) -> str:
    """The standardized sample (334 objects) in a moto bucket, below a root prefix."""
    url = _new_bucket(s3_endpoint) + "/staging"
    upload_tree(clean_tree, url)
    return url


def test_sync_between_two_moto_buckets(source: str, s3_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    destination = _new_bucket(s3_endpoint)
    files = Bucket(source).listing("")
    total = sum(info.size for info in files.values())

    # Dry run: the plan, and nothing at the destination.
    status, output = _sync(capsys, source, destination, "--dataset", "10001", "--dry-run")
    assert status == 0, output
    assert output.splitlines()[0].endswith(": 10001/, depositions_metadata/10001/")  # the referenced deposition
    assert (
        _plan_line(output) == f"plan: copy {len(files)} objects ({format_bytes(total)}), skip 0 objects (0 B), delete 0"
    )
    assert "dry run: nothing written" in output
    assert Bucket(destination).listing("") == {}

    # Real run: everything copied, verified, identical.
    status, output = _sync(capsys, source, destination, "--dataset", "10001")
    assert status == 0, output
    assert f"sync: {len(files)} copied and verified ({format_bytes(total)} written)" in output and "0 failed" in output
    assert _objects(destination) == _objects(source)

    # Second run: the listings' ETags settle everything; nothing is read or written.
    status, output = _sync(capsys, source, destination, "--dataset", "10001")
    assert status == 0, output
    assert (
        _plan_line(output) == f"plan: copy 0 objects (0 B), skip {len(files)} objects ({format_bytes(total)}), delete 0"
    )
    assert "sync: 0 copied and verified (0 B written)" in output

    # A changed object (same size, other bytes) and a resized one are copied again; nothing else is.
    staging = Bucket(source)
    mdoc = "10001/TS_001/Frames/TS_001.mdoc"
    original = staging.read(mdoc)
    staging.write(mdoc, original[:-1] + bytes([original[-1] ^ 1]))
    run_metadata = "10001/TS_002/run_metadata.json"
    staging.write(run_metadata, staging.read(run_metadata) + b"\n")
    status, output = _sync(capsys, source, destination, "--dataset", "10001", "--verbose")
    assert status == 0, output
    assert _plan_line(output).startswith("plan: copy 2 objects"), output
    assert f"copy   {mdoc}  (9.6 KiB, checksum)" in output and f"copy   {run_metadata}  (" in output
    assert _objects(destination) == _objects(source)

    # Objects the source lacks stay without --delete; with it, only those under the synced prefixes go.
    target = Bucket(destination)
    extras = ["10001/TS_001/stale.txt", "10001/TS_009/run_metadata.json", "10001/TS_009/Frames/a.mdoc"]
    for key in extras:
        target.write(key, b"stale")
    target.write("10002/dataset_metadata.json", b"{}")  # another dataset: never in scope
    staging.write("10001/TS_0099/keep.txt", b"keep")  # a sibling sharing the deleted folder's name as prefix
    status, output = _sync(capsys, source, destination, "--dataset", "10001")
    assert status == 0, output
    assert "copy 1 object (4 B)" in output and "delete 0 (3 objects (15 B) absent from the source kept" in output
    assert set(extras) <= set(Bucket(destination).listing(""))

    status, output = _sync(capsys, source, destination, "--dataset", "10001", "--delete", "--dry-run")
    assert status == 0 and "delete 3 objects (15 B)" in _plan_line(output), output
    assert set(extras) <= set(Bucket(destination).listing(""))

    status, output = _sync(capsys, source, destination, "--dataset", "10001", "--delete", "--verbose")
    assert status == 0, output
    assert "deleted  10001/TS_009/ (2 objects)" in output and "deleted  10001/TS_001/stale.txt" in output
    remaining = Bucket(destination).listing("")
    assert not set(extras) & set(remaining)
    assert "10002/dataset_metadata.json" in remaining and "10001/TS_0099/keep.txt" in remaining
    unrelated = {"10002/dataset_metadata.json": (2, hashlib.md5(b"{}").hexdigest())}
    assert _objects(destination) == {**_objects(source), **unrelated}


def test_multipart_objects_are_verified_and_skipped_by_content(
    s3_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, destination = _new_bucket(s3_endpoint), _new_bucket(s3_endpoint)
    staging = Bucket(source)
    # Uploaded by another tool in irregular parts (20 MiB + 3 MiB): the copy's 16 MiB parts give another ETag.
    client, name, key = (
        boto3.client("s3", endpoint_url=s3_endpoint),
        source.removeprefix("s3://"),
        "10001/TS_001/big.mrc",
    )
    upload = client.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    parts = [
        {
            "PartNumber": number,
            "ETag": client.upload_part(Bucket=name, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"],
        }
        for number, body in ((1, b"a" * (10 * MIB) + b"b" * (10 * MIB)), (2, b"c" * (3 * MIB)))
    ]
    client.complete_multipart_upload(Bucket=name, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    staging.write("10001/dataset_metadata.json", b'{"deposition_id": 10001}')
    status, output = _sync(capsys, source, destination, "--dataset", "10001")
    assert status == 0, output
    assert "note: deposition 10001 is referenced but the source has no depositions_metadata/10001/" in output
    source_tag = staging.listing("10001")["10001/TS_001/big.mrc"].etag
    target_tag = Bucket(destination).listing("10001")["10001/TS_001/big.mrc"].etag
    assert source_tag.endswith("-2") and target_tag.endswith("-2") and source_tag != target_tag
    assert _objects(destination) == _objects(source)

    # Different multipart ETags: the source is hashed with the destination's part size, then skipped.
    status, output = _sync(capsys, source, destination, "--dataset", "10001")
    assert status == 0, output
    assert _plan_line(output) == "plan: copy 0 objects (0 B), skip 2 objects (23.0 MiB), delete 0; " + (
        "23.0 MiB read to compare checksums"
    )


def test_digest_predicts_s3_etags_and_verify_refuses_a_wrong_copy(s3_endpoint: str) -> None:
    bucket = Bucket(_new_bucket(s3_endpoint))
    data = bytes(range(256)) * (70 * 1024 + 3)  # ~17.5 MiB: two 16 MiB parts
    with bucket.open_write("big") as handle:
        for start in range(0, len(data), 8 * MIB):
            handle.write(data[start : start + 8 * MIB])
    digest = Digest([WRITER_PART_SIZE])
    digest.update(data)
    etag = Bucket(bucket.url).info("big").etag
    assert etag == digest.multipart_etag(WRITER_PART_SIZE) and etag.endswith("-2")
    assert WRITER_PART_SIZE in part_sizes_for(etag, len(data))
    verify(Bucket(bucket.url), Item("big", len(data), "new"), digest)

    other = Digest([WRITER_PART_SIZE])
    other.update(data[:-1] + b"\x00")
    with pytest.raises(StorageError, match="big: verification failed"):
        verify(Bucket(bucket.url), Item("big", len(data), "new"), other)
    bucket.write("small", b"x" * 10)
    with pytest.raises(StorageError, match="small: verification failed: 10 bytes at the destination, copied 11"):
        short = Digest()
        short.update(b"x" * 11)
        verify(Bucket(bucket.url), Item("small", 11, "new"), short)


def test_refuses_to_start_without_a_safe_scope(s3_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = _new_bucket(s3_endpoint) + "/staging"
    Bucket(source).write("10001/dataset_metadata.json", b"{}")
    status, output = _sync(capsys, source, source.rsplit("/", 1)[0], "--dataset", "10001")
    assert status == 2 and "overlap" in output
    status, output = _sync(capsys, source, source + "-copy", "--dataset", "10002", "--delete")
    assert status == 2 and "the source has no object under this dataset" in output
    status, output = _sync(capsys, source, source + "-copy", "--dataset", "latest")
    assert status == 2 and "not a numeric id" in output


def test_local_to_local_skips_partial_files_and_syncs_the_whole_root(
    clean_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    source = tmp_path / "source"
    shutil.copytree(clean_tree, source)
    (source / "10001" / ".dataset_metadata.json.abc.partial").write_bytes(b"half")
    destination = tmp_path / "destination"
    status, output = _sync(capsys, f"file://{source}", f"file://{destination}")
    assert status == 0, output
    assert ": the whole bucket" in output.splitlines()[0]
    assert not list(destination.rglob("*.partial"))
    copied = {p.relative_to(destination) for p in destination.rglob("*") if p.is_file()}
    assert copied == {p.relative_to(clean_tree) for p in clean_tree.rglob("*") if p.is_file()}
    status, output = _sync(capsys, f"file://{source}", f"file://{destination}")
    assert status == 0 and _plan_line(output).startswith("plan: copy 0 objects"), output
