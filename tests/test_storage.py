"""importers/storage.py: one Bucket over local folders and S3 (a real moto server, faults from a real proxy)."""

from __future__ import annotations

import gc
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from importers.storage import PART_SIZE, Bucket, ReadOnlyBucketError, StorageError, endpoint_from_environment
from tests.s3_proxy import FAULT_KINDS, FaultPlan, S3Proxy

MB = 1 << 20
#: Deterministic, incompressible-looking payloads (no randomness between runs).
BIG = bytes(range(256)) * (5 * MB // 256)
RUN = "10001/TS_001"
TREE = {
    f"{RUN}/run_metadata.json": b'{"run_name": "TS_001"}',
    f"{RUN}/TiltSeries/100/TS_001.mrc": b"M" * 2048,
    f"{RUN}/TiltSeries/100/tiltseries_metadata.json": b"{}",
    f"{RUN}/Frames/TS_001.mdoc": b"PixelSpacing = 3.37\n",
    "10001/dataset_metadata.json": b"{}",
    "10001/Images/snapshot.png": b"\x89PNG",
}


@pytest.fixture(params=["local", "s3"])
def bucket_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests run against a local folder and a moto bucket."""
    if request.param == "local":
        return str(tmp_path / "bucket")
    return request.getfixturevalue("s3_bucket")


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[S3Proxy]:
    with S3Proxy(s3_endpoint) as running:
        yield running


def _s3(s3_endpoint: str) -> Any:  # a botocore S3 client
    return boto3.client("s3", endpoint_url=s3_endpoint)


def _fill(url: str, tree: dict[str, bytes] = TREE) -> None:
    writer = Bucket(url)
    for key, data in tree.items():
        writer.write(key, data)


def _files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


# -- reading and writing ------------------------------------------------------------------------


def test_write_then_read_round_trip(bucket_url: str) -> None:
    bucket = Bucket(bucket_url)
    payload = b"\x00\x01binary\xff" * 100
    bucket.write("10001/TS_001/a.bin", payload)
    bucket.write("10001/TS_001/a.bin", payload[::-1])  # overwrite in place
    bucket.write("10001/dataset_metadata.json", b'{"a": 1}', content_type="application/json")

    fresh = Bucket(bucket_url)
    assert fresh.read("10001/TS_001/a.bin") == payload[::-1]
    assert fresh.read("/10001/dataset_metadata.json/") == b'{"a": 1}'  # keys are stripped of slashes
    assert fresh.info("10001/TS_001/a.bin").size == len(payload)
    assert sorted(fresh.listing()) == ["10001/TS_001/a.bin", "10001/dataset_metadata.json"]
    assert bucket.stats.requests["put"] == 3
    assert bucket.stats.bytes_written == 2 * len(payload) + len(b'{"a": 1}')


def test_write_sets_the_content_type_on_s3(s3_bucket: str, s3_endpoint: str) -> None:
    Bucket(s3_bucket).write("10001/dataset_metadata.json", b"{}", content_type="application/json")
    head = _s3(s3_endpoint).head_object(Bucket=s3_bucket.removeprefix("s3://"), Key="10001/dataset_metadata.json")
    assert head["ContentType"] == "application/json"


def test_read_range_reads_exactly_the_range(bucket_url: str) -> None:
    Bucket(bucket_url).write("vol.mrc", BIG)
    bucket = Bucket(bucket_url)
    assert bucket.read_range("vol.mrc", 0, 1024) == BIG[:1024]
    assert bucket.stats.bytes_read == 1024
    assert bucket.stats.requests == Counter({"get": 1})
    assert bucket.read_range("vol.mrc", 3 * MB + 7, 3 * MB + 7 + 4099) == BIG[3 * MB + 7 : 3 * MB + 7 + 4099]
    assert bucket.stats.bytes_read == 1024 + 4099
    assert bucket.read_range("vol.mrc", len(BIG) - 10, len(BIG)) == BIG[-10:]


def test_open_read_reads_what_is_read_and_skips_what_is_sought_past(bucket_url: str) -> None:
    Bucket(bucket_url).write("gain.dm4", BIG)
    bucket = Bucket(bucket_url)
    with bucket.open_read("gain.dm4", len(BIG), buffer_size=4096) as stream:
        assert stream.read(10) == BIG[:10]
        stream.seek(3 * MB)
        assert stream.read(5000) == BIG[3 * MB : 3 * MB + 5000]
        stream.seek(-3, os.SEEK_END)
        assert stream.read(100) == BIG[-3:] and stream.read(1) == b""
    assert bucket.stats.bytes_read < 3 * 4096 + 5000 and bucket.stats.requests["get"] <= 4


def test_s3_header_read_transfers_one_kilobyte_not_a_block(s3_bucket: str, proxy: S3Proxy) -> None:
    Bucket(s3_bucket).write("vol.mrc", BIG)
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url)
    assert bucket.read_range("vol.mrc", 0, 1024) == BIG[:1024]
    name = s3_bucket.removeprefix("s3://")
    assert [(e.method, e.path, e.range) for e in proxy.log] == [("GET", f"/{name}/vol.mrc", "bytes=0-1023")]
    assert proxy.bytes_out == 1024


def test_whole_read_of_a_small_object_is_one_request_on_the_wire(s3_bucket: str, proxy: S3Proxy) -> None:
    """Reading a metadata JSON must cost one GET, and the stats must count what went on the wire."""
    Bucket(s3_bucket).write("10001/dataset_metadata.json", b'{"dataset_identifier": 10001}')
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url)
    assert bucket.read("10001/dataset_metadata.json") == b'{"dataset_identifier": 10001}'
    assert proxy.requests == [("GET", f"/{s3_bucket.removeprefix('s3://')}/10001/dataset_metadata.json")]
    assert bucket.stats.total_requests == len(proxy.requests)


def test_read_many_returns_results_in_order_with_per_item_errors(bucket_url: str) -> None:
    _fill(bucket_url)
    bucket = Bucket(bucket_url, backoff_seconds=0.001)
    ranges: list[tuple[str, int | None, int | None]] = [
        (f"{RUN}/TiltSeries/100/TS_001.mrc", 0, 1024),
        (f"{RUN}/run_metadata.json", None, None),
        (f"{RUN}/missing.json", None, None),
        ("10001/Images/snapshot.png", 1, 3),
        (f"{RUN}/Frames/TS_001.mdoc", None, None),
        (f"{RUN}/missing.bin", 0, 10),
    ]
    results = bucket.read_many(ranges)
    assert len(results) == len(ranges)
    assert results[0] == b"M" * 1024
    assert results[1] == TREE[f"{RUN}/run_metadata.json"]
    assert results[3] == b"PN"
    assert results[4] == TREE[f"{RUN}/Frames/TS_001.mdoc"]
    for index, key in ((2, f"{RUN}/missing.json"), (5, f"{RUN}/missing.bin")):
        error = results[index]
        assert isinstance(error, StorageError), error
        assert error.key == key
        assert key in str(error) and "not found" in str(error)
    assert bucket.read_many([]) == []


# -- listings ---------------------------------------------------------------------------------------


def test_a_prefix_is_listed_once(bucket_url: str) -> None:
    _fill(bucket_url)
    bucket = Bucket(bucket_url)
    listed = bucket.listing("10001")
    assert sorted(listed) == sorted(TREE)
    assert listed[f"{RUN}/TiltSeries/100/TS_001.mrc"].size == 2048
    assert bucket.stats.requests["list"] == 1
    before = bucket.stats.snapshot()

    assert bucket.listing("10001") == listed
    assert sorted(bucket.listing(f"{RUN}/TiltSeries")) == [
        f"{RUN}/TiltSeries/100/TS_001.mrc",
        f"{RUN}/TiltSeries/100/tiltseries_metadata.json",
    ]
    assert bucket.children("10001") == ["Images", "TS_001", "dataset_metadata.json"]
    assert bucket.children(RUN) == ["Frames", "TiltSeries", "run_metadata.json"]
    assert bucket.children(f"{RUN}/Alignments") == []
    assert bucket.exists(f"{RUN}/run_metadata.json")
    assert bucket.exists(f"{RUN}/TiltSeries/100")  # a "directory" exists if it has objects
    assert not bucket.exists(f"{RUN}/Alignments/100/alignment_metadata.json")
    assert not bucket.exists(f"{RUN}/TiltSeries/10")  # a string prefix of a directory is not one
    assert bucket.info(f"{RUN}/Frames/TS_001.mdoc").size == len(TREE[f"{RUN}/Frames/TS_001.mdoc"])

    assert bucket.stats.snapshot() == before, "served from the cached listing: no list/head/get request"


def test_our_writes_keep_the_cached_listing_true(bucket_url: str) -> None:
    _fill(bucket_url)
    bucket = Bucket(bucket_url)
    bucket.listing("10001")
    bucket.write(f"{RUN}/Alignments/100/alignment_metadata.json", b"{}")
    with bucket.open_write(f"{RUN}/Alignments/100/TS_001.xf") as handle:
        handle.write(b"1 0 0 1 0 0\n")
    bucket.delete_prefix(f"{RUN}/TiltSeries")
    assert bucket.stats.requests["list"] == 1
    assert bucket.children(RUN) == ["Alignments", "Frames", "run_metadata.json"]
    assert bucket.exists(f"{RUN}/Alignments/100/TS_001.xf")
    assert not bucket.exists(f"{RUN}/TiltSeries/100/TS_001.mrc")
    assert bucket.stats.requests["list"] == 1
    # and the cache agrees with the storage
    assert sorted(Bucket(bucket_url).listing("10001")) == sorted(bucket.listing("10001"))


def test_delete_prefix_removes_the_prefix_and_nothing_beside_it(bucket_url: str) -> None:
    _fill(bucket_url, {"10001/TS_1/a.json": b"1", "10001/TS_1/b/c.json": b"2", "10001/TS_10/a.json": b"3"})
    bucket = Bucket(bucket_url)
    bucket.delete_prefix("10001/TS_1")
    assert sorted(Bucket(bucket_url).listing()) == ["10001/TS_10/a.json"]
    bucket.delete_prefix("10001/nothing-here")  # deleting an absent prefix is not an error


# -- atomic writes ---------------------------------------------------------------------------------


class _Interrupted(RuntimeError):
    pass


def test_open_write_that_fails_leaves_no_file_locally(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    bucket = Bucket(str(root))
    bucket.write("10001/old.bin", b"old")
    with pytest.raises(_Interrupted), bucket.open_write("10001/new.bin") as handle:
        handle.write(b"partial data" * 1000)
        raise _Interrupted
    with pytest.raises(_Interrupted), bucket.open_write("10001/old.bin") as handle:
        handle.write(b"replacement")
        raise _Interrupted
    assert _files_under(root) == ["10001/old.bin"], "no object and no temporary file may remain"
    assert bucket.read("10001/old.bin") == b"old"

    with bucket.open_write("10001/new.bin") as handle:
        handle.write(b"complete")
    assert _files_under(root) == ["10001/new.bin", "10001/old.bin"]
    assert bucket.read("10001/new.bin") == b"complete"


def test_open_write_that_fails_leaves_no_object_on_s3(s3_bucket: str, s3_endpoint: str) -> None:
    name = s3_bucket.removeprefix("s3://")
    client = _s3(s3_endpoint)
    bucket = Bucket(s3_bucket)
    bucket.write("10001/old.bin", b"old")
    # Small: nothing is sent before the block ends.
    with pytest.raises(_Interrupted), bucket.open_write("10001/small.bin") as handle:
        handle.write(b"partial")
        raise _Interrupted
    # Large (over the 16 MiB part size): a multipart upload is under way and must be aborted.
    with pytest.raises(_Interrupted), bucket.open_write("10001/old.bin") as handle:
        for _ in range(18):
            handle.write(b"\x07" * MB)
        raise _Interrupted
    gc.collect()  # an abandoned file object must not complete the upload when it is collected
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == ["10001/old.bin"]
    assert bucket.read("10001/old.bin") == b"old"
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []

    with bucket.open_write("10001/small.bin", content_type="text/plain") as handle:
        handle.write(b"complete")
    assert Bucket(s3_bucket).read("10001/small.bin") == b"complete"


def test_read_only_bucket_refuses_every_write(bucket_url: str) -> None:
    _fill(bucket_url)
    bucket = Bucket(bucket_url, read_only=True)
    with pytest.raises(ReadOnlyBucketError) as raised:
        bucket.write("10001/new.json", b"{}")
    assert raised.value.key == "10001/new.json" and "read-only" in str(raised.value)
    assert isinstance(raised.value, StorageError)
    with pytest.raises(ReadOnlyBucketError), bucket.open_write("10001/new.bin") as handle:
        handle.write(b"x")
    with pytest.raises(ReadOnlyBucketError):
        bucket.delete_prefix(RUN)
    assert sorted(Bucket(bucket_url).listing()) == sorted(TREE)
    assert bucket.read(f"{RUN}/run_metadata.json") == TREE[f"{RUN}/run_metadata.json"]  # reading is fine


# -- retries (faults injected by a real HTTP proxy in front of moto) ------------------------------


def _gets_of(proxy: S3Proxy, path: str) -> int:
    return sum(1 for method, seen in proxy.requests if method == "GET" and seen == path)


def test_transient_503s_are_retried_by_the_bucket_and_counted(s3_bucket: str, proxy: S3Proxy) -> None:
    Bucket(s3_bucket).write("10001/vol.mrc", BIG[:4096])
    path = f"/{s3_bucket.removeprefix('s3://')}/10001/vol.mrc"
    proxy.configure(fail_first=3, status=503, match=lambda method, seen: method == "GET" and seen == path)
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    assert bucket.read_range("10001/vol.mrc", 0, 1024) == BIG[:1024]
    assert proxy.failures == 3
    assert bucket.stats.retries == 3, "the bucket's own retry loop must see (and count) each 503"
    assert _gets_of(proxy, path) == 4, "3 failures + 1 success, no hidden retries by botocore/s3fs"


def test_a_persistent_500_is_a_one_line_storage_error_naming_the_key(s3_bucket: str, proxy: S3Proxy) -> None:
    Bucket(s3_bucket).write("10001/TS_001/run_metadata.json", b"{}")
    proxy.configure(fail_first=S3Proxy.ALWAYS, status=500)
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, max_attempts=3, backoff_seconds=0.001)
    with pytest.raises(StorageError) as raised:
        bucket.read_range("10001/TS_001/run_metadata.json", 0, 2)
    message = str(raised.value)
    assert "10001/TS_001/run_metadata.json" in message
    assert "\n" not in message
    assert raised.value.key == "10001/TS_001/run_metadata.json"
    assert len(proxy.requests) == 3, f"max_attempts=3 means 3 requests on the wire, saw {proxy.requests}"
    assert bucket.stats.retries == 2


def test_a_404_is_not_retried(s3_bucket: str, proxy: S3Proxy) -> None:
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    for read in (lambda: bucket.read("10001/missing.json"), lambda: bucket.read_range("10001/missing.mrc", 0, 8)):
        proxy.clear()
        with pytest.raises(StorageError) as raised:
            read()
        assert "not found" in str(raised.value)
        repeated = [request for request, count in Counter(proxy.requests).items() if count > 1]
        assert repeated == [], f"a 404 was retried: {proxy.requests}"
    assert bucket.stats.retries == 0


# -- naming -------------------------------------------------------------------------------------------


def test_file_urls_and_plain_paths_give_the_same_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"
    _fill(str(root))
    monkeypatch.chdir(tmp_path)
    roots = [str(root), f"{root}/", f"file://{root}", "out", "./out/"]
    listings = [sorted(Bucket(url).listing()) for url in roots]
    assert all(listing == sorted(TREE) for listing in listings), listings
    assert {Bucket(url).url_of(f"{RUN}/run_metadata.json") for url in roots} == {
        f"file://{root.resolve()}/{RUN}/run_metadata.json"
    }
    assert sorted(Bucket(f"file://{root}/10001").listing()) == sorted(key.removeprefix("10001/") for key in TREE)


def test_s3_prefix_roots_and_url_of(s3_bucket: str) -> None:
    prefixed = Bucket(f"{s3_bucket}/staging/run-7/")
    prefixed.write("10001/dataset_metadata.json", b"{}")
    assert prefixed.url_of("10001/dataset_metadata.json") == f"{s3_bucket}/staging/run-7/10001/dataset_metadata.json"
    assert Bucket(s3_bucket).url_of("/10001/x.json") == f"{s3_bucket}/10001/x.json"
    assert list(prefixed.listing()) == ["10001/dataset_metadata.json"]
    assert list(Bucket(s3_bucket).listing()) == ["staging/run-7/10001/dataset_metadata.json"]
    assert prefixed.local_path("10001/dataset_metadata.json") is None


def test_local_path_of_a_local_bucket(tmp_path: Path) -> None:
    assert Bucket(str(tmp_path)).local_path("10001/a.mrc") == tmp_path.resolve() / "10001" / "a.mrc"


@pytest.mark.parametrize("url", ["s3://", "gs://bucket/x", "http://example.org/x"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        Bucket(url)


def test_endpoint_comes_from_aws_endpoint_url_s3(
    s3_bucket: str, proxy: S3Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    Bucket(s3_bucket).write("10001/a.json", b"{}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert endpoint_from_environment() == proxy.url
    bucket = Bucket(s3_bucket)
    assert bucket.endpoint_url == proxy.url
    assert bucket.read("10001/a.json") == b"{}"
    assert proxy.requests, "the read went through the endpoint named by AWS_ENDPOINT_URL_S3"

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    assert Bucket(s3_bucket).endpoint_url == proxy.url  # the generic variable is the fallback
    assert Bucket(s3_bucket, endpoint_url="http://127.0.0.1:1").endpoint_url == "http://127.0.0.1:1"


# -- the proxy itself (it is reused by the benchmarks) ----------------------------------------------


def test_proxy_streams_bodies_both_ways_and_adds_latency(s3_bucket: str, s3_endpoint: str) -> None:
    name = s3_bucket.removeprefix("s3://")
    with S3Proxy(s3_endpoint, latency=0.05) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url)
        started = time.monotonic()
        client.put_object(Bucket=name, Key="big.bin", Body=BIG)
        body = client.get_object(Bucket=name, Key="big.bin", Range="bytes=10-19")["Body"].read()
        elapsed = time.monotonic() - started
        assert client.get_object(Bucket=name, Key="big.bin")["Body"].read() == BIG
        assert body == BIG[10:20]
        assert elapsed >= 0.1
        assert [(e.method, e.status, e.range) for e in proxy.log] == [
            ("PUT", 200, None),
            ("GET", 206, "bytes=10-19"),
            ("GET", 200, None),
        ]
        assert proxy.bytes_out == 10 + len(BIG)
        address = urlsplit(proxy.url)
    with pytest.raises(RuntimeError):
        _ = proxy.url
    with pytest.raises(OSError):
        socket.create_connection((address.hostname, address.port), timeout=1).close()


def test_proxy_fails_the_first_matching_requests(s3_bucket: str, s3_endpoint: str) -> None:
    name = s3_bucket.removeprefix("s3://")
    _s3(s3_endpoint).put_object(Bucket=name, Key="a.json", Body=b"{}")
    no_retries = BotoConfig(retries={"total_max_attempts": 1})
    with S3Proxy(s3_endpoint, fail_first=2, status=503, match=lambda method, path: method == "GET") as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url, config=no_retries)
        assert client.head_object(Bucket=name, Key="a.json")["ContentLength"] == 2  # not matched
        for _ in range(2):
            with pytest.raises(ClientError) as raised:
                client.get_object(Bucket=name, Key="a.json")
            assert raised.value.response["Error"]["Code"] == "SlowDown"
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert client.get_object(Bucket=name, Key="a.json")["Body"].read() == b"{}"
        assert proxy.failures == 2
        assert [e.injected for e in proxy.log] == [False, True, True, False]

        proxy.configure(fail_first=S3Proxy.ALWAYS, status=500, match=None)
        for _ in range(3):
            with pytest.raises(ClientError) as raised:
                client.head_object(Bucket=name, Key="a.json")
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        proxy.configure(fail_first=0)
        proxy.clear()
        assert client.get_object(Bucket=name, Key="a.json")["Body"].read() == b"{}"
        assert proxy.requests == [("GET", f"/{name}/a.json")] and proxy.failures == 0


def test_proxy_answers_502_when_the_upstream_is_down() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    no_retries = BotoConfig(retries={"total_max_attempts": 1})
    with S3Proxy(f"http://127.0.0.1:{closed}") as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url, config=no_retries)
        with pytest.raises(ClientError) as raised:
            client.get_object(Bucket="any-bucket", Key="a.json")
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert [(e.method, e.status, e.injected) for e in proxy.log] == [("GET", 502, False)]


# -- faults of every kind: nothing lost, nothing retried that cannot succeed -----------------------

SMALL = b"\x01\x02metadata" * 300


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_fault_kind_is_retried_on_reads_listings_and_writes(s3_bucket: str, proxy: S3Proxy, kind: str) -> None:
    """Each request fails twice with the fault (a 503/500, a reset after the request took effect, a
    body cut in half) and then gets through: every operation must still return the right answer."""
    _fill(s3_bucket)
    Bucket(s3_bucket).write("10001/vol.mrc", BIG[:100_000])
    proxy.configure(faults=FaultPlan(rate=1.0, seed=1, kinds=(kind,), max_repeats=2))
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    assert sorted(bucket.listing("10001")) == sorted([*TREE, "10001/vol.mrc"])
    assert bucket.read(f"{RUN}/run_metadata.json") == TREE[f"{RUN}/run_metadata.json"]
    assert bucket.read_range("10001/vol.mrc", 1000, 51_000) == BIG[1000:51_000]
    ranges: list[tuple[str, int | None, int | None]] = [
        ("10001/vol.mrc", 0, 1024),
        (f"{RUN}/Frames/TS_001.mdoc", None, None),
    ]
    assert bucket.read_many(ranges) == [BIG[:1024], TREE[f"{RUN}/Frames/TS_001.mdoc"]]
    bucket.write("10001/new.json", SMALL, content_type="application/json")
    with bucket.open_write("10001/streamed.bin") as handle:
        handle.write(SMALL)
    assert bucket.stats.retries > 0
    proxy.configure(faults=None)
    fresh = Bucket(s3_bucket)
    assert fresh.read("10001/new.json") == SMALL
    assert fresh.read("10001/streamed.bin") == SMALL


def test_a_failing_final_put_of_open_write_is_retried(s3_bucket: str, proxy: S3Proxy) -> None:
    """The single PUT of a small streamed object fails once: the object must land, not be reported done."""
    proxy.configure(fail_first=1, status=503, match=lambda method, path: method == "PUT")
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    with bucket.open_write("10001/TS_001/Tomograms/100/TS_001.mrc") as handle:
        handle.write(SMALL)
    assert proxy.failures == 1
    assert Bucket(s3_bucket).read("10001/TS_001/Tomograms/100/TS_001.mrc") == SMALL


@pytest.mark.parametrize(
    ("failing", "kind"),
    [
        ("partNumber=1", "503"),  # a middle part
        ("partNumber=2", "reset"),  # the last part, stored but unacknowledged
        ("partNumber=2", "truncate"),
        ("uploadId", "reset"),  # the completion (POST), done but unacknowledged
    ],
)
def test_multipart_uploads_retry_each_part_and_the_completion(
    s3_bucket: str, s3_endpoint: str, proxy: S3Proxy, failing: str, kind: str
) -> None:
    payload = bytes(range(256)) * ((PART_SIZE + 3 * MB) // 256)
    method = "POST" if failing == "uploadId" else "PUT"
    proxy.configure(
        faults=FaultPlan(rate=1.0, seed=2, kinds=(kind,), max_repeats=1),
        match=lambda seen, path: seen == method and re.search(rf"[?&]{failing}(=|&|$)", path) is not None,
    )
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    with bucket.open_write("10001/big.mrc") as handle:
        for start in range(0, len(payload), 5 * MB):
            handle.write(payload[start : start + 5 * MB])
    assert proxy.failures == 1, [(e.method, e.path) for e in proxy.log]
    proxy.configure(faults=None, match=None)
    assert Bucket(s3_bucket).read("10001/big.mrc") == payload
    name = s3_bucket.removeprefix("s3://")
    assert _s3(s3_endpoint).list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_a_write_that_keeps_failing_raises_and_leaves_nothing(s3_bucket: str, s3_endpoint: str, proxy: S3Proxy) -> None:
    proxy.configure(fail_first=S3Proxy.ALWAYS, status=500, match=lambda method, path: "partNumber=2" in path)
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, max_attempts=3, backoff_seconds=0.001)
    with pytest.raises(StorageError) as raised, bucket.open_write("10001/big.mrc") as handle:
        handle.write(b"\x05" * (PART_SIZE + MB))
    assert "10001/big.mrc" in str(raised.value) and "\n" not in str(raised.value)
    proxy.configure(fail_first=0, match=None)
    name = s3_bucket.removeprefix("s3://")
    client = _s3(s3_endpoint)
    assert client.list_objects_v2(Bucket=name).get("Contents", []) == []
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_a_permanent_error_is_not_retried_whatever_its_message_says(s3_bucket: str, proxy: S3Proxy) -> None:
    """Issue #15: '10500/…' in a 404's message once matched the marker '500' and was retried 5 times."""
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    for key in ("10500/TS_503/run_metadata.json", "10001/timed out/Connection reset.json"):
        proxy.clear()
        with pytest.raises(StorageError, match="not found"):
            bucket.read(key)
        assert len(proxy.requests) == 1, proxy.requests
    assert bucket.stats.retries == 0


def test_seeded_random_faults_change_no_result(s3_bucket: str, proxy: S3Proxy) -> None:
    """10% of requests fail (every kind): listings, reads and writes give what they give without faults."""
    tree = {f"10001/TS_{index:03d}/file_{index}.json": bytes([index]) * (100 + index) for index in range(40)}
    _fill(s3_bucket, tree)
    for seed in range(3):
        proxy.configure(faults=FaultPlan(rate=0.1, seed=seed))
        bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
        assert sorted(bucket.listing("10001")) == sorted(tree)
        assert bucket.read_many([(key, None, None) for key in tree]) == list(tree.values())
        bucket.write(f"copy-{seed}.json", SMALL)
        assert Bucket(s3_bucket).read(f"copy-{seed}.json") == SMALL
        assert proxy.failures > 0


def test_a_short_answer_is_retried_never_returned(s3_bucket: str, proxy: S3Proxy) -> None:
    """An object listed at one size that is read back shorter (a cut body) is read again."""
    _fill(s3_bucket)
    bucket = Bucket(s3_bucket, endpoint_url=proxy.url, backoff_seconds=0.001)
    bucket.listing("10001")
    path = f"/{s3_bucket.removeprefix('s3://')}/{RUN}/Frames/TS_001.mdoc"
    proxy.configure(
        faults=FaultPlan(rate=1.0, seed=3, kinds=("truncate",), max_repeats=2), match=lambda m, p: p == path
    )
    assert bucket.read_many([(f"{RUN}/Frames/TS_001.mdoc", None, None)]) == [TREE[f"{RUN}/Frames/TS_001.mdoc"]]
    assert proxy.failures == 2 and bucket.stats.retries == 2


# -- local writes ------------------------------------------------------------------------------------


def test_local_files_are_written_with_the_umask_mode(tmp_path: Path) -> None:
    bucket = Bucket(str(tmp_path / "bucket"))
    previous = os.umask(0o022)
    try:
        bucket.write("10001/a.json", b"{}")
        with bucket.open_write("10001/b.mrc") as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    for name in ("a.json", "b.mrc"):
        assert stat.S_IMODE((tmp_path / "bucket" / "10001" / name).stat().st_mode) == 0o644


def test_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    bucket = Bucket(str(root))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a pid that no longer runs
    host = socket.gethostname().replace(".", "_")
    folder = root / "10001" / "TS_001" / "Tomograms" / "100"
    folder.mkdir(parents=True)
    dead = folder / f".TS_001.mrc.{host}-{child.pid}-0a1b2c3d.partial"
    legacy = folder / ".tomogram_metadata.json.k2j4_9xz.partial"  # mkstemp's name, before hosts and pids
    live = folder / f".TS_001.zarr.{host}-{os.getpid()}-0a1b2c3d.partial"
    elsewhere = folder / f".other.mrc.another_host-{child.pid}-0a1b2c3d.partial"
    for path in (dead, legacy, live, elsewhere):
        path.write_bytes(b"partial")
    removed = bucket.remove_stale_temporaries()
    prefix = "10001/TS_001/Tomograms/100/"
    assert removed == sorted([prefix + dead.name, prefix + legacy.name])
    assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, elsewhere.name])
    assert Bucket("s3://any-bucket").remove_stale_temporaries() == []  # an unfinished upload leaves no object


# -- confinement -------------------------------------------------------------------------------------


def test_keys_that_lead_outside_the_root_are_refused(bucket_url: str, tmp_path: Path) -> None:
    _fill(bucket_url)
    (tmp_path / "secret.txt").write_bytes(b"root:x:0:0")
    bucket = Bucket(bucket_url)
    for key in ("../secret.txt", "10001/../../secret.txt", "10001/TS_001/../../../../etc/passwd"):
        for operation in (
            lambda k=key: bucket.read(k),
            lambda k=key: bucket.read_range(k, 0, 4),
            lambda k=key: bucket.exists(k),
            lambda k=key: bucket.info(k),
            lambda k=key: bucket.write(k, b"x"),
        ):
            with pytest.raises(StorageError, match="outside the bucket root"):
                operation()
        [result] = bucket.read_many([(key, None, None)])
        assert isinstance(result, StorageError) and "outside the bucket root" in str(result)
    assert (tmp_path / "secret.txt").read_bytes() == b"root:x:0:0"
