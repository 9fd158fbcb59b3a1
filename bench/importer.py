"""Importer throughput and peak memory for one float32 tomogram, side by side with a naive baseline.

    python -m bench.importer [--sizes 256,512,1024]

For each edge length S it writes a source MRC of S×S×S float32 (4·S³ bytes) and measures, each in its own
process under ``/usr/bin/time -v``:

* ``cryoet-ingest standardize`` of a one-tomogram config (MRC + 3-level OME-Zarr + metadata, plus key images
  and the viewer state);
* the baseline: what a short script would do with the same libraries: ``mrcfile.read`` the whole volume,
  write the MRC with ``mrcfile.new`` and the pyramid with ``ome_zarr.writer.write_image`` (dask).

It prints wall time, throughput (source MB/s) and peak RSS, and the ratios ours / baseline.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import mrcfile
import numpy as np

CONFIG = """\
version: 1.3.0
standardization_config: {{deposition_id: 10001, source_prefix: lab}}
depositions:
- metadata:
    deposition_identifier: 10001
    deposition_title: bench
    deposition_description: bench
    deposition_types: [tomogram]
    authors: [{{name: A, primary_author_status: true, corresponding_author_status: true}}]
    dates: {{deposition_date: '2025-01-01', release_date: '2025-01-02', last_modified_date: '2025-01-02'}}
  sources: [{{literal: {{value: [10001]}}}}]
datasets:
- metadata:
    dataset_identifier: 10001
    dataset_title: bench
    dataset_description: bench
    authors: [{{name: A, primary_author_status: true, corresponding_author_status: true}}]
    dates: {{deposition_date: '2025-01-01', release_date: '2025-01-02', last_modified_date: '2025-01-02'}}
    sample_type: in_silico
    organism: {{name: none}}
    assay: {{name: cryo-ET, id: 'EFO:0002909'}}
    development_stage: {{name: unknown, id: unknown}}
    disease: {{name: normal, id: 'PATO:0000461'}}
  sources: [{{literal: {{value: ['10001']}}}}]
runs:
- sources: [{{literal: {{value: [TS_001]}}}}]
voxel_spacings:
- sources: [{{literal: {{value: [10.0]}}}}]
tomograms:
- metadata:
    voxel_spacing: 10.0
    fiducial_alignment_status: NON_FIDUCIAL
    reconstruction_method: WBP
    reconstruction_software: bench
    processing: raw
    tomogram_version: 1
    offset: {{x: 0, y: 0, z: 0}}
    is_visualization_default: true
    authors: [{{name: A, primary_author_status: true, corresponding_author_status: true}}]
    dates: {{deposition_date: '2025-01-01', release_date: '2025-01-02', last_modified_date: '2025-01-02'}}
  sources: [{{source_glob: {{list_glob: 'tomogram_{size}.mrc'}}}}]
"""

BASELINE = """\
import sys, mrcfile, numpy as np, zarr
from ome_zarr.io import parse_url
from ome_zarr.scale import Scaler
from ome_zarr.writer import write_image
source, out = sys.argv[1], sys.argv[2]
data = mrcfile.read(source).astype(np.float32)
with mrcfile.new(out + "/tomogram.mrc", overwrite=True) as mrc:
    mrc.set_data(data)
    mrc.voxel_size = 10.0
store = parse_url(out + "/tomogram.zarr", mode="w").store
write_image(data, zarr.group(store=store), axes="zyx", scaler=Scaler(downscale=2, max_layer=2, method="local_mean"),
            storage_options={"chunks": (256, 256, 256)})
"""


def write_source(path: Path, size: int) -> None:
    """A float32 volume with structure (smooth waves plus noise), written by slabs."""
    volume = mrcfile.new_mmap(path, shape=(size, size, size), mrc_mode=2, overwrite=True)
    rng = np.random.default_rng(0)
    axis = np.linspace(0, 8 * np.pi, size, dtype=np.float32)
    plane = np.sin(axis)[:, None] * np.cos(axis)[None, :]
    for start in range(0, size, 32):
        stop = min(start + 32, size)
        noise = rng.normal(scale=0.2, size=(stop - start, size, size)).astype(np.float32)
        volume.data[start:stop] = plane[None] * np.sin(axis[start:stop])[:, None, None] + noise
    volume.voxel_size = 10.0
    volume.update_header_stats()
    volume.close()


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command, from /usr/bin/time -v."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command[:3])} failed:\n{result.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    hours, minutes, seconds = (float(wall.group(1) or 0), float(wall.group(2)), float(wall.group(3)))
    return hours * 3600 + minutes * 60 + seconds, int(rss.group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="256,512,1024", help="edge lengths (default 256,512,1024)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cryoet-bench-importer-") as workspace:
        root = Path(workspace)
        for size in [int(s) for s in args.sizes.split(",")]:
            source = root / "input" / "lab" / f"tomogram_{size}.mrc"
            source.parent.mkdir(parents=True, exist_ok=True)
            print(f"bench: writing a {size}³ float32 source ({4 * size**3 / 2**20:.0f} MiB)", file=sys.stderr)
            write_source(source, size)
            config = root / f"{size}.yaml"
            config.write_text(CONFIG.format(size=size))
            ours = timed([sys.executable, "-m", "importers.cli", "standardize", str(config), "--input",
                          str(root / "input"), "--output", str(root / f"out-{size}")])  # fmt: skip
            baseline_out = root / f"baseline-{size}"
            baseline_out.mkdir()
            script = root / "baseline.py"
            script.write_text(textwrap.dedent(BASELINE))
            baseline = timed([sys.executable, str(script), str(source), str(baseline_out)])
            rows.append((size, 4 * size**3 / 1e6, ours, baseline))
            source.unlink()
    print(f"\n{'size':>6} {'what':<10} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12} {'time×':>7} {'RSS×':>7}")
    for size, megabytes, ours, baseline in rows:
        for label, (seconds, rss) in (("ours", ours), ("baseline", baseline)):
            print(
                f"{size:>5}³ {label:<10} {seconds:>8.1f} {megabytes / seconds:>7.0f} {rss:>12.0f} "
                f"{seconds / baseline[0]:>7.2f} {rss / baseline[1]:>7.2f}"
            )


if __name__ == "__main__":
    main()
