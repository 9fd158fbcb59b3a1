"""Full audit versus incremental audit with 1 % of the runs changed, on one bucket.

    python -m bench.audit [--runs 1000] [--latency 0.02] [--changed 0.01]

Builds dataset 90001 of N runs from the portal-produced reference output (bench/buckets.py), serves it from
a moto S3 server behind a latency-injecting proxy, runs ``cryoet-ingest audit`` in full, changes one zarr
chunk in ``changed × N`` tomograms, and audits again with ``--previous``. Prints wall time, requests, CPU
and peak memory of both runs and the ratios incremental / full.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import boto3

from bench.buckets import DATASET, build, run_name, upload
from bench.validation import measured
from tests.s3_proxy import S3Proxy


def audit(bucket: str, proxy: S3Proxy, report: Path, previous: Path | None) -> tuple[float, int, float, float]:
    """One audit: (wall s, requests, CPU s, peak RSS MB)."""
    proxy.clear()
    command = [sys.executable, "-m", "importers.cli", "audit", "--bucket", bucket, "--endpoint-url", proxy.url,
               "--datasets", DATASET, "--report", str(report), "--no-allure", "--quiet"]  # fmt: skip
    if previous is not None:
        command += ["--previous", str(previous)]
    seconds, cpu, rss, last, status = measured(command)
    if status > 1:
        raise SystemExit(f"bench: audit failed: {last}")
    return seconds, len(proxy.requests), cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of tomograms changed (default 0.01)")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["CRYOET_DATABASE_URL"] = ""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with tempfile.TemporaryDirectory(prefix="cryoet-bench-audit-") as workspace:
        root = Path(workspace)
        print(f"bench: building and uploading {args.runs} runs", file=sys.stderr)
        local = build(args.runs, root / "bucket")
        name = "bench-audit"
        upload(local, endpoint, name)
        with S3Proxy(endpoint, latency=args.latency) as proxy:
            full = audit(f"s3://{name}", proxy, root / "full", None)
            client = boto3.client("s3", endpoint_url=endpoint)
            changed = max(1, round(args.runs * args.changed))
            for index in range(changed):
                run = run_name(index)
                key = f"{DATASET}/{run}/Reconstructions/VoxelSpacing13.480/Tomograms/100/{run}.zarr/0/0/0/0"
                body = client.get_object(Bucket=name, Key=key)["Body"].read()
                # One flipped bit in the last byte of a level-0 chunk: a new ETag, a real defect.
                client.put_object(Bucket=name, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
            incremental = audit(f"s3://{name}", proxy, root / "incremental", root / "full")
    server.stop()
    print(f"\n{args.runs} runs, {changed} tomograms changed, {args.latency * 1000:.0f} ms per request\n")
    print("| audit | seconds | requests | CPU s | peak RSS MB |\n|---|---:|---:|---:|---:|")
    for label, (seconds, requests, cpu, rss) in (("full", full), ("incremental", incremental)):
        print(f"| {label} | {seconds:.1f} | {requests} | {cpu:.1f} | {rss:.0f} |")
    print(
        f"| incremental / full | {incremental[0] / full[0]:.2f} | {incremental[1] / max(1, full[1]):.2f} | "
        f"{incremental[2] / full[2]:.2f} | |"
    )


if __name__ == "__main__":
    main()
