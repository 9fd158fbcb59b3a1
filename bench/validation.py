"""``pytest --dataset`` at portal scale: wall time, requests per run, CPU and peak memory.

    python -m bench.validation [--runs 20,100] [--local-runs 1000] [--latency 0.02] [--no-baseline]

For each N of ``--runs`` it builds dataset 90001 of N runs from the portal-produced reference output
(bench/buckets.py), uploads it to a moto S3 server on 127.0.0.1 behind a proxy adding ``--latency`` seconds
to every request (tests/s3_proxy.py), and measures, each in its own process:

* the naive baseline: a short script with plain s3fs defaults that walks the dataset with ``ls`` and reads
  every metadata document and MRC header (what a straightforward validator reads, checking nothing);
* ``pytest --dataset 90001`` with every default tier, with ``-n 0`` and ``-n 2``;

and for each N of ``--local-runs`` the same suite on a local folder (no latency: CPU and memory at scale).
Next to them it quotes the portal's own validation suite, measured on the same buckets on this machine kind
(a fixed reference: that suite is not part of this repository). Then the plugin's start-up: an empty pytest
run with and without it, and the time to the first check result. Run from the repository root.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.buckets import DATASET, REPO, build, upload
from tests.s3_proxy import S3Proxy

#: The portal's own suite (cryoet-data-portal-backend ingestion_tools/scripts/data_validation) on the same
#: buckets, 20 ms per request, 2 cores, -n 0: (runs, seconds, requests per run, CPU seconds, peak RSS MB).
PORTAL_SUITE = [(20, 61.0, 104, 14.0, None), (100, 283.0, 103, 60.0, 317)]


@dataclass
class Measure:
    runs: int
    label: str
    seconds: float
    requests: int | None
    cpu: float | None
    rss_mb: float | None
    outcome: str = ""


#: Peak RSS is read by GNU time: a child forked from this process (which holds the moto server and its
#: buckets) would report this process's high-water mark as its own.
TIME = shutil.which("time") or "/usr/bin/time"


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str, int]:
    """Run ``command``; (wall s, CPU s, peak RSS MB, last line of its output, exit status)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        timed = [TIME, "-f", "%M %U %S", "-o", rss_file.name, *command] if os.path.exists(TIME) else command
        start = time.perf_counter()
        process = subprocess.run(
            timed, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or os.environ.copy()
        )
        seconds = time.perf_counter() - start
        figures = rss_file.read().split()
    rss_kb, user, system = (float(value) for value in figures[-3:]) if len(figures) >= 3 else (math.nan,) * 3
    lines = process.stdout.strip().splitlines()
    return seconds, user + system, rss_kb / 1024, lines[-1] if lines else "", process.returncode


def suite(runs: int, bucket: str, workers: str, endpoint: str | None, proxy: S3Proxy | None) -> Measure:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--dataset", DATASET,
               "--bucket", bucket, "-n", workers]  # fmt: skip
    if endpoint:
        command += ["--endpoint-url", endpoint]
    if proxy is not None:
        proxy.clear()
    env = {**os.environ, "CRYOET_DATABASE_URL": ""}
    seconds, cpu, rss, last, _ = measured(command, env)
    print(f"    N={runs} pytest -n {workers}: {last}", file=sys.stderr)
    requests = len(proxy.requests) if proxy is not None else None
    return Measure(runs, f"ours -n {workers}", seconds, requests, cpu, rss, last)


def naive_baseline(runs: int, bucket: str, proxy: S3Proxy) -> Measure:
    """Plain s3fs: walk with ls, read every JSON and zarr metadata document and every MRC header."""
    script = f"""
import s3fs
fs = s3fs.S3FileSystem(client_kwargs={{"endpoint_url": {proxy.url!r}}}, skip_instance_cache=True)
pending = [{(bucket.removeprefix("s3://") + "/" + DATASET)!r}]
while pending:
    for entry in fs.ls(pending.pop(), detail=True):
        name = entry["name"]
        if entry["type"] == "directory":
            if not (".zarr/" in name and name.rsplit("/", 1)[-1].isdigit()):
                pending.append(name)
        elif name.endswith((".json", ".zattrs", ".zarray", ".zgroup")):
            fs.cat(name)
        elif name.endswith(".mrc"):
            with fs.open(name) as handle:
                handle.read(1024)
"""
    proxy.clear()
    seconds, cpu, rss, _, _ = measured([sys.executable, "-c", script])
    return Measure(runs, "naive s3fs (reads, checks nothing)", seconds, len(proxy.requests), cpu, rss)


def start_up() -> list[tuple[str, float]]:
    """An empty pytest run with and without the plugins, and the time to the suite's first result."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="cryoet-bench-empty-") as empty:
        (Path(empty) / "test_empty.py").write_text("def test_nothing():\n    pass\n")
        without = ["-p", "no:cryoet_data_validation", "-p", "no:cryoet_ingest_sources"]
        for label, extra in (("empty pytest run, without the plugins", without), ("… with the plugins", [])):
            best = min(
                measured([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, empty])[0]
                for _ in range(3)
            )
            rows.append((label, best))
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--dataset", DATASET,
               "--bucket", f"file://{build_once()}"]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    for line in process.stdout or []:
        if first is None and (" PASSED" in line or " FAILED" in line or " SKIPPED" in line):
            first = time.perf_counter() - start
    process.wait()
    rows.append(("first check result of pytest --dataset 90001 (2 runs, local)", first or float("nan")))
    return rows


_BUILT: dict[str, Path] = {}


def build_once() -> Path:
    if "reference" not in _BUILT:
        _BUILT["reference"] = build(2, Path(tempfile.mkdtemp(prefix="cryoet-bench-reference-")) / "bucket")
    return _BUILT["reference"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="20,100", help="run counts served from S3 with latency (default 20,100)")
    parser.add_argument("--local-runs", default="1000", help="run counts read from a local folder (default 1000)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added per request (default 0.02)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="leave out the naive s3fs row (at 100 runs it takes ~6 min)"
    )
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for variable, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(variable, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    rows: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="cryoet-bench-") as workspace:
        for runs in [int(n) for n in args.runs.split(",") if n]:
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            print(f"bench: building and uploading {runs} runs", file=sys.stderr)
            local = build(runs, Path(workspace) / f"s3-{runs}")
            upload(local, endpoint, f"bench-{runs}")
            with S3Proxy(endpoint, latency=args.latency) as proxy:
                if not args.no_baseline:
                    rows.append(naive_baseline(runs, f"s3://bench-{runs}", proxy))
                for workers in ("0", "2"):
                    rows.append(suite(runs, f"s3://bench-{runs}", workers, proxy.url, proxy))
            server.stop()
        for runs in [int(n) for n in args.local_runs.split(",") if n]:
            print(f"bench: building {runs} runs in a local folder", file=sys.stderr)
            local = build(runs, Path(workspace) / f"local-{runs}")
            for workers in ("0", "2"):
                rows.append(suite(runs, f"file://{local}", workers, None, None))
    print(f"\n`pytest --dataset {DATASET}`, every default tier; S3 rows at {args.latency * 1000:.0f} ms per request\n")
    print("| runs | what | seconds | requests/run | CPU s | CPU s/run | peak RSS MB | time × portal |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    portal = {runs: seconds for runs, seconds, *_ in PORTAL_SUITE}
    for runs, seconds, per_run, cpu, rss in PORTAL_SUITE:
        print(f"| {runs} | portal suite -n 0 (reference) | {seconds:.0f} | {per_run} | {cpu:.0f} | "
              f"{cpu / runs:.2f} | {rss or '–'} | 1.00 |")  # fmt: skip
    for m in rows:
        requests = f"{m.requests / m.runs:.1f}" if m.requests is not None else "– (local)"
        ratio = f"{m.seconds / portal[m.runs]:.2f}" if m.runs in portal else "–"
        cpu = f"{m.cpu:.1f} | {m.cpu / m.runs:.3f}" if m.cpu is not None else "– | –"
        print(f"| {m.runs} | {m.label} | {m.seconds:.1f} | {requests} | {cpu} | {m.rss_mb:.0f} | {ratio} |")
    print("\n| start-up | seconds |\n|---|---:|")
    for label, seconds in start_up():
        print(f"| {label} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
