#!/usr/bin/env python3
"""Per-chunk benchmark: cube worker vs the odc-stac peer vs the GDAL decode floor, on one
chunk of a served test world, alternating, N repetitions each; median wall time and peak RSS
of each process, the ratios, and the agreement of the two outputs.

    chunk.py --world DIR --stac URL --bbox W S E N [--res 1/3600] [--start D --end D]
             [--bands red,green,blue] [--reps 3] [--threads 2] [--work DIR] [--json OUT]

The chunk is the whole bbox (one chunk: chunk size = grid size). Every run starts a fresh
process; the COG server's page cache is warm for all of them alike.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import zarr

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], env=None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = b"", b""
    # Read pipes before wait4 so a chatty child cannot block.
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}… exit {proc.returncode}: {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss * 1024, out.decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cube", default=os.environ.get("CUBE"))
    ap.add_argument("--stac", required=True)
    ap.add_argument("--bbox", type=float, nargs=4, required=True)
    ap.add_argument("--res", default="1/3600")
    ap.add_argument("--start", default="2024-03-01")
    ap.add_argument("--end", default="2024-03-31")
    ap.add_argument("--bands", default="red,green,blue")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first (default 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cube-bench-chunk"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-exact-peer", action="store_true",
                    help="skip the untimed peer run with GDAL's exact transformer (agreement check)")
    a = ap.parse_args()
    if not a.cube:
        ap.error("--cube or CUBE is required")
    from fractions import Fraction
    res = Fraction(a.res)
    width = round((a.bbox[2] - a.bbox[0]) / float(res))
    height = round((a.bbox[3] - a.bbox[1]) / float(res))
    chunk = max(width, height)
    bands = a.bands.split(",")

    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    spec = a.work / "bench.yaml"
    spec.write_text(f"""name: bench-chunk
stac: {{api: {a.stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: {a.res}, bbox: {json.dumps(a.bbox)}, chunk: {chunk}}}
time: {{start: {a.start}, end: {a.end}}}
bands: {json.dumps(bands)}
land_mask: none
store: initialised.zarr
""")
    subprocess.run([a.cube, "init", str(spec)], check=True, capture_output=True)
    initialised = a.work / "initialised.zarr"
    label = a.start[:7]
    job = f"{label}/0/0"

    runs = {"cube": [], "peer": [], "floor": []}
    def label_of(rep):
        return f"rep {rep}" if rep >= 0 else "warm-up"
    records = {}
    # Warm-up repetitions run all three and are not counted: the first run after the servers
    # start (or after the machine idled) is up to 1.5x slower for every contender.
    for rep in range(-a.warmup, a.reps):
        # (a) cube worker on a fresh copy of the initialised store
        store = a.work / f"cube-{rep}.zarr"
        shutil.copytree(initialised, store)
        wall, rss, out = timed([a.cube, "worker", str(store), "--job", job, "--threads", str(a.threads)])
        records["cube"] = json.loads(out.splitlines()[-1])
        if rep >= 0:
            runs["cube"].append((wall, rss))
        print(f"{label_of(rep)}: cube  {wall:7.2f} s  {rss / 2**20:7.0f} MiB  "
              f"({records['cube']['scenes_used']} scenes used of {records['cube']['scenes_found']}, "
              f"{records['cube']['observations']} observations)", flush=True)
        # (b) the peer
        peer_out = a.work / f"peer-{rep}.zarr"
        wall, rss, out = timed([sys.executable, "-W", "ignore", str(HERE / "peer_odc_stac.py"), "--stac", a.stac,
                                "--bbox", *map(str, a.bbox), "--res", a.res, "--start", a.start, "--end", a.end,
                                "--bands", a.bands, "--out", str(peer_out)])
        records["peer"] = json.loads(out.splitlines()[-1])
        if rep >= 0:
            runs["peer"].append((wall, rss))
        print(f"{label_of(rep)}: peer  {wall:7.2f} s  {rss / 2**20:7.0f} MiB  ({records['peer']['items']} items, "
              f"{records['peer']['time_slices']} solar days)", flush=True)
        # (c) the decode floor
        wall, rss, out = timed([a.cube, "worker", str(store), "--job", job, "--decode-floor", "--redo"])
        records["floor"] = json.loads(out.splitlines()[-1])
        if rep >= 0:
            runs["floor"].append((records["floor"]["seconds"], rss))
        print(f"{label_of(rep)}: floor {records['floor']['seconds']:7.2f} s decoding ({wall:.2f} s process) "
              f"{records['floor']['windows']} windows, {records['floor']['pixels'] / 1e6:.0f} Mpx", flush=True)

    # Untimed: the peer once more with GDAL's exact transformer (its default approximation
    # moves ~5 % of nearest picks by a pixel), to show both compute the same thing.
    if not a.no_exact_peer:
        _, _, out = timed([sys.executable, "-W", "ignore", str(HERE / "peer_odc_stac.py"), "--stac", a.stac,
                           "--bbox", *map(str, a.bbox), "--res", a.res, "--start", a.start, "--end", a.end,
                           "--bands", a.bands, "--out", str(a.work / "peer-exact.zarr"), "--exact-transform"])
        print("untimed: peer with GDAL's exact transformer done", flush=True)

    cube_arrays = zarr.open_group(str(a.work / "cube-0.zarr"), mode="r")

    def agreement_with(peer_store):
        peer_arrays = zarr.open_group(str(peer_store), mode="r")
        figures = {}
        for name in bands + ["count"]:
            c = np.asarray(cube_arrays[name][0]).astype(np.int64)
            p = np.asarray(peer_arrays[name][:]).astype(np.int64)
            figures[name] = {"within1_pct": 100.0 * float(np.mean(np.abs(c - p) <= 1)),
                             "exact_pct": 100.0 * float(np.mean(c == p))}
        return figures

    agreement = agreement_with(a.work / "peer-0.zarr")
    agreement_exact = None if a.no_exact_peer else agreement_with(a.work / "peer-exact.zarr")

    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    rss = {k: max(r for _, r in v) for k, v in runs.items()}
    result = {
        "chunk": [height, width], "bands": bands, "reps": a.reps, "threads": a.threads,
        "median_seconds": med, "peak_rss_mib": {k: v / 2**20 for k, v in rss.items()},
        "peer_over_cube": med["peer"] / med["cube"], "cube_over_floor": med["cube"] / med["floor"],
        "agreement": agreement, "agreement_exact_transformer": agreement_exact, "records": records,
    }
    print()
    print(f"chunk {height} x {width}, bands {','.join(bands)}, {a.reps} reps (median wall, peak RSS):")
    print(f"  cube worker  {med['cube']:7.2f} s  {rss['cube'] / 2**20:6.0f} MiB")
    print(f"  odc-stac peer{med['peer']:7.2f} s  {rss['peer'] / 2**20:6.0f} MiB")
    print(f"  decode floor {med['floor']:7.2f} s")
    print(f"  peer/cube = {result['peer_over_cube']:.1f}x   cube/floor = {result['cube_over_floor']:.2f}x")
    print("  agreement (% of pixels within ±1 DN): " + ", ".join(
        f"{k} {v['within1_pct']:.2f}%" for k, v in agreement.items()))
    if agreement_exact:
        print("  agreement with the peer on GDAL's exact transformer (untimed run): " + ", ".join(
            f"{k} {v['within1_pct']:.2f}%" for k, v in agreement_exact.items()))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
