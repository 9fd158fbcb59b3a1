"""Validation speed and I/O against S3 with per-request latency, side by side with a naive baseline.

    python -m bench.validation [--runs 10,100] [--latency 0.02] [--workers auto]

For each N it builds a standardized dataset of N runs (one standardized sample run, copied under N
names), uploads it to a moto S3 server on 127.0.0.1, puts a latency-injecting proxy in front, and
measures:

* ``pytest --dataset`` with ``-n 0`` and ``-n <workers>``: wall time, requests and bytes on the wire;
* the naive baseline: the same metadata and MRC headers read one by one through plain s3fs defaults
  (directory walk with ``ls``, ``open().read(1024)`` with the default 50 MiB block cache).

Figures are printed as a table with ratios measured in the same run (absolute times drift on shared
machines). Run from the repository root.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

from importers.ingest.sample import write_sample
from importers.ingest.standardize import standardize_config
from tests.s3_proxy import S3Proxy

REPO = Path(__file__).resolve().parents[1]
DATASET = "10001"
#: The checks that read what the naive baseline reads: listings, HEADs, headers and metadata.
HEADER_TIERS = "not sample and not full and not db"


@dataclass
class Measure:
    label: str
    seconds: float
    requests: int
    bytes: int


def build_local_dataset(runs: int, workspace: Path) -> Path:
    """One standardized sample run, copied under ``runs`` run names (metadata rewritten to match)."""
    source = workspace / "source"
    write_sample(source, runs=1, size=16, seed=1)
    template = workspace / "template"
    status, _ = standardize_config(
        REPO / "dataset_configs" / f"{DATASET}.yaml", str(source), str(template), stream=io.StringIO()
    )
    if status:
        raise SystemExit("bench: standardizing the sample failed")
    bucket = workspace / f"bucket-{runs}"
    shutil.copytree(template / "depositions_metadata", bucket / "depositions_metadata")
    (bucket / DATASET).mkdir(parents=True)
    for item in (template / DATASET).iterdir():
        if item.name != "TS_001":
            shutil.copy2(item, bucket / DATASET / item.name) if item.is_file() else shutil.copytree(
                item, bucket / DATASET / item.name
            )
    for index in range(1, runs + 1):
        name = f"TS_{index:04d}"
        target = bucket / DATASET / name
        shutil.copytree(template / DATASET / "TS_001", target)
        for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if "TS_001" in path.name:
                path.rename(path.with_name(path.name.replace("TS_001", name)))
        for path in target.rglob("*.json"):
            path.write_text(path.read_text().replace("TS_001", name))
    return bucket


def upload(local: Path, endpoint: str, name: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=name, Key=path.relative_to(local).as_posix(), Body=path.read_bytes())


def run_suite(bucket: str, proxy: S3Proxy, workers: str, marks: str | None = None) -> Measure:
    """One pytest session; ``marks`` selects tiers (the baseline reads only what HEADER-tier checks need)."""
    proxy.clear()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", DATASET,
               "--bucket", bucket, "--endpoint-url", proxy.url, "-n", workers]  # fmt: skip
    if marks:
        command += ["-m", marks]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-200:]
    print(f"    pytest -n {workers}: {summary}", file=sys.stderr)
    label = f"pytest -n {workers}" + (" ≤HEADER" if marks else "")
    return Measure(label, seconds, len(proxy.requests), proxy.bytes_out)


def naive_baseline(bucket: str, proxy: S3Proxy) -> Measure:
    """What a straightforward s3fs script does: walk with ls, read every JSON and MRC header."""
    import s3fs

    proxy.clear()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": proxy.url}, skip_instance_cache=True)
    start = time.perf_counter()
    pending = [f"{bucket.removeprefix('s3://')}/{DATASET}"]
    while pending:
        for entry in fs.ls(pending.pop(), detail=True):
            name = entry["name"]
            if entry["type"] == "directory":
                # Walk everything but the chunk grids inside zarr levels.
                if not (".zarr/" in name and name.rsplit("/", 1)[-1].isdigit()):
                    pending.append(name)
            elif name.endswith((".json", ".zattrs", ".zarray", ".zgroup")):
                fs.cat(name)
            elif name.endswith(".mrc"):
                with fs.open(name) as handle:
                    handle.read(1024)
    return Measure("naive s3fs", time.perf_counter() - start, len(proxy.requests), proxy.bytes_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="10,100", help="comma-separated run counts (default 10,100)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added per request (default 0.02)")
    parser.add_argument("--workers", default="auto", help="xdist workers for the parallel run (default auto)")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    rows = []
    with tempfile.TemporaryDirectory(prefix="cryoet-bench-") as workspace:
        for runs in [int(n) for n in args.runs.split(",")]:
            print(f"bench: building and uploading {runs} runs", file=sys.stderr)
            local = build_local_dataset(runs, Path(workspace) / str(runs))
            name = f"bench-{runs}"
            upload(local, endpoint, name)
            with S3Proxy(endpoint, latency=args.latency) as proxy:
                baseline = naive_baseline(f"s3://{name}", proxy)
                header_tiers = run_suite(f"s3://{name}", proxy, "0", HEADER_TIERS)
                serial = run_suite(f"s3://{name}", proxy, "0")
                parallel = run_suite(f"s3://{name}", proxy, args.workers)
            for measure in (baseline, header_tiers, serial, parallel):
                rows.append((runs, measure, baseline))
    server.stop()
    print(f"\nlatency {args.latency * 1000:.0f} ms per request; ratios against the naive baseline of the same N\n")
    print(f"{'runs':>6} {'what':<24} {'seconds':>8} {'requests':>9} {'req/run':>8} {'MB':>8} {'time×':>7} {'req×':>7}")
    for runs, measure, baseline in rows:
        print(
            f"{runs:>6} {measure.label:<24} {measure.seconds:>8.2f} {measure.requests:>9} "
            f"{measure.requests / runs:>8.1f} {measure.bytes / 1e6:>8.2f} "
            f"{measure.seconds / baseline.seconds:>7.2f} {measure.requests / max(1, baseline.requests):>7.2f}"
        )


if __name__ == "__main__":
    main()
