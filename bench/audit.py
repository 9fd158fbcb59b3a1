"""Full audit versus incremental audit with 1 % of the entities changed, on one bucket.

    python -m bench.audit [--runs 100] [--latency 0.02] [--changed 0.01]

Builds a standardized dataset of N runs (the sample run copied under N names, as bench.validation does),
serves it from a moto S3 server behind a latency-injecting proxy, runs ``cryoet-ingest audit`` in full,
changes one zarr chunk in ``changed × N`` tomograms, and audits again with ``--previous``. Prints wall time
and requests of both runs and the ratio incremental / full.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from bench.validation import DATASET, build_local_dataset, upload
from tests.s3_proxy import S3Proxy

REPO = Path(__file__).resolve().parents[1]


def audit(bucket: str, proxy: S3Proxy, report: Path, previous: Path | None) -> tuple[float, int, str]:
    proxy.clear()
    command = [sys.executable, "-m", "importers.cli", "audit", "--bucket", bucket, "--endpoint-url", proxy.url,
               "--datasets", DATASET, "--report", str(report), "--no-allure", "--quiet"]  # fmt: skip
    if previous is not None:
        command += ["--previous", str(previous)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode > 1:
        raise SystemExit(f"bench: audit failed:\n{result.stderr[-2000:]}")
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return seconds, len(proxy.requests), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
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
        local = build_local_dataset(args.runs, root)
        name = "bench-audit"
        upload(local, endpoint, name)
        with S3Proxy(endpoint, latency=args.latency) as proxy:
            full = audit(f"s3://{name}", proxy, root / "full", None)
            client = boto3.client("s3", endpoint_url=endpoint)
            changed = max(1, round(args.runs * args.changed))
            for index in range(1, changed + 1):
                run = f"TS_{index:04d}"
                key = f"{DATASET}/{run}/Reconstructions/VoxelSpacing13.480/Tomograms/100/{run}.zarr/0/0/0/0"
                body = client.get_object(Bucket=name, Key=key)["Body"].read()
                # One flipped bit in the last byte of a level-0 chunk: a new ETag, a real defect.
                client.put_object(Bucket=name, Key=key, Body=body[:-1] + bytes([body[-1] ^ 1]))
            incremental = audit(f"s3://{name}", proxy, root / "incremental", root / "full")
    server.stop()
    print(f"\n{args.runs} runs, {changed} tomograms changed, {args.latency * 1000:.0f} ms per request\n")
    print(f"{'audit':<12} {'seconds':>8} {'requests':>9}")
    for label, (seconds, requests, _) in (("full", full), ("incremental", incremental)):
        print(f"{label:<12} {seconds:>8.2f} {requests:>9}")
    print(f"{'ratio':<12} {incremental[0] / full[0]:>8.2f} {incremental[1] / max(1, full[1]):>9.2f}")


if __name__ == "__main__":
    main()
