#!/usr/bin/env python3
"""Per-chunk benchmark: cube worker vs the odc-stac peer vs the GDAL decode floor, on one
chunk of a served test world, alternating, N repetitions each; median wall time and peak RSS
of each process, the ratios, and the agreement of the two outputs.

    chunk.py --stac URL --bbox W S E N [--world DIR] [--res 1/3600] [--start D --end D]
             [--bands red,green,blue] [--reps 3] [--threads 2] [--overviews none,auto]
             [--no-peer-overviews] [--work DIR] [--json OUT]

Cube runs once per `overviews` mode (issue 25: `none` is today's full-resolution read, `auto`
reads the overview levels the grid needs), the peer from full resolution and with odc-stac's
default overview reading; `--world` adds the independent reference of each mode.

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
    ap.add_argument("--overviews", default="none,auto",
                    help="cube's `overviews` modes to run, comma-separated (default none,auto; none is `cube`)")
    ap.add_argument("--no-peer-overviews", dest="peer_overviews", action="store_false",
                    help="skip the peer with odc-stac's default overview reading")
    ap.add_argument("--world", type=Path, help="the world's folder: also compare with the independent reference")
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
    modes = [m for m in a.overviews.split(",") if m]
    label = a.start[:7]
    job = f"{label}/0/0"
    initialised = {}
    for mode in modes:
        spec = a.work / f"bench-{mode}.yaml"
        spec.write_text(f"""name: bench-chunk
stac: {{api: {a.stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: {a.res}, bbox: {json.dumps(a.bbox)}, chunk: {chunk}}}
time: {{start: {a.start}, end: {a.end}}}
bands: {json.dumps(bands)}
land_mask: none
overviews: {mode}
store: initialised-{mode}.zarr
""")
        subprocess.run([a.cube, "init", str(spec)], check=True, capture_output=True)
        initialised[mode] = a.work / f"initialised-{mode}.zarr"

    # Contenders: cube with each `overviews` mode ("cube" is `none`, today's reads), the peer
    # from full-resolution pixels and the peer with odc-stac's default overview reading, the
    # decode floor of the full-resolution windows.
    cubes = {("cube" if m == "none" else f"cube-{m}"): m for m in modes}
    peers = {"peer": [], "peer-ovr": ["--use-overviews"]} if a.peer_overviews else {"peer": []}
    runs = {k: [] for k in [*cubes, *peers, "floor"]}
    traffic = {k: [] for k in cubes}
    def label_of(rep):
        return f"rep {rep}" if rep >= 0 else "warm-up"
    records = {}
    peer_cmd = [sys.executable, "-W", "ignore", str(HERE / "peer_odc_stac.py"), "--stac", a.stac,
                "--bbox", *map(str, a.bbox), "--res", a.res, "--start", a.start, "--end", a.end, "--bands", a.bands]
    # Warm-up repetitions run all of them and are not counted: the first run after the servers
    # start (or after the machine idled) is up to 1.5x slower for every contender.
    for rep in range(-a.warmup, a.reps):
        # (a) cube worker on a fresh copy of the initialised store, each overview mode
        for name, mode in cubes.items():
            store = a.work / f"{name}-{rep}.zarr"
            shutil.copytree(initialised[mode], store)
            wall, rss, out = timed([a.cube, "worker", str(store), "--job", job, "--threads", str(a.threads)])
            rec = records[name] = json.loads(out.splitlines()[-1])
            if rep >= 0:
                runs[name].append((wall, rss))
                traffic[name].append((rec["bytes_read"], rec.get("requests") or 0, sum(rec["seconds"].values())))
            print(f"{label_of(rep)}: {name:<10} {wall:7.2f} s  {rss / 2**20:7.0f} MiB  "
                  f"({rec['scenes_used']} scenes used of {rec['scenes_found']}, {rec['observations']} observations, "
                  f"{rec['bytes_read'] / 2**20:.0f} MiB in {rec.get('requests')} requests)", flush=True)
        # (b) the peers
        for name, extra in peers.items():
            peer_out = a.work / f"{name}-{rep}.zarr"
            wall, rss, out = timed([*peer_cmd, "--out", str(peer_out), *extra])
            records[name] = json.loads(out.splitlines()[-1])
            if rep >= 0:
                runs[name].append((wall, rss))
            print(f"{label_of(rep)}: {name:<10} {wall:7.2f} s  {rss / 2**20:7.0f} MiB  ({records[name]['items']} items, "
                  f"{records[name]['time_slices']} solar days)", flush=True)
        # (c) the decode floor (full-resolution windows)
        store = a.work / f"cube-{rep}.zarr" if "none" in modes else a.work / f"{next(iter(cubes))}-{rep}.zarr"
        wall, rss, out = timed([a.cube, "worker", str(store), "--job", job, "--decode-floor", "--redo"])
        records["floor"] = json.loads(out.splitlines()[-1])
        if rep >= 0:
            runs["floor"].append((records["floor"]["seconds"], rss))
        print(f"{label_of(rep)}: floor      {records['floor']['seconds']:7.2f} s decoding ({wall:.2f} s process) "
              f"{records['floor']['windows']} windows, {records['floor']['pixels'] / 1e6:.0f} Mpx", flush=True)

    # Untimed: the peers once more with GDAL's exact transformer (its default approximation
    # moves ~5 % of nearest picks by a pixel), to show both compute the same thing.
    if not a.no_exact_peer:
        for name, extra in peers.items():
            timed([*peer_cmd, "--out", str(a.work / f"{name}-exact.zarr"), "--exact-transform", *extra])
        print("untimed: peer(s) with GDAL's exact transformer done", flush=True)

    def arrays(store, cube_layout):
        g = zarr.open_group(str(store), mode="r")
        return {n: np.asarray(g[n][0] if cube_layout else g[n][:]).astype(np.int64) for n in bands + ["count"]}

    def agreement(x, y):
        return {n: {"within1_pct": 100.0 * float(np.mean(np.abs(x[n] - y[n]) <= 1)),
                    "exact_pct": 100.0 * float(np.mean(x[n] == y[n]))} for n in bands + ["count"]}

    outputs = {name: arrays(a.work / f"{name}-0.zarr", True) for name in cubes}
    outputs.update({name: arrays(a.work / f"{name}-0.zarr", False) for name in peers})
    if not a.no_exact_peer:
        outputs.update({f"{name}-exact": arrays(a.work / f"{name}-exact.zarr", False) for name in peers})
    pairs = {}
    for cname, mode in cubes.items():
        pname = "peer" if mode == "none" else "peer-ovr"
        if pname in outputs:
            pairs[f"{cname} vs {pname}"] = agreement(outputs[cname], outputs[pname])
        if f"{pname}-exact" in outputs:
            pairs[f"{cname} vs {pname}-exact"] = agreement(outputs[cname], outputs[f"{pname}-exact"])
    # The independent reference (scripts/world/reference.py) of each mode, when the world is given.
    if a.world:
        sys.path.insert(0, str(HERE.parent))
        from datetime import date
        from world.reference import reference_cube
        from world.refgrid import Grid, month_bins
        grid = Grid.from_bbox("EPSG:4326", float(res), a.bbox)
        bins = month_bins(date.fromisoformat(a.start), date.fromisoformat(a.end))
        for cname, mode in cubes.items():
            t0 = time.perf_counter()
            ref = reference_cube(a.world, grid, bins, bands, overviews=mode, chunk=chunk)
            ref = {n: ref[n][0].astype(np.int64) for n in bands + ["count"]}
            print(f"untimed: reference for overviews {mode} in {time.perf_counter() - t0:.0f} s", flush=True)
            pairs[f"{cname} vs reference-{mode}"] = agreement(outputs[cname], ref)
            pname = "peer" if mode == "none" else "peer-ovr"
            if pname in outputs:
                pairs[f"{pname} vs reference-{mode}"] = agreement(outputs[pname], ref)

    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    rss = {k: max(r for _, r in v) for k, v in runs.items()}
    reads = {k: {"bytes": statistics.median(b for b, _, _ in v), "requests": statistics.median(r for _, r, _ in v),
                 "job_seconds": statistics.median(s for _, _, s in v)} for k, v in traffic.items()}
    result = {
        "chunk": [height, width], "bands": bands, "reps": a.reps, "threads": a.threads, "overviews": modes,
        "median_seconds": med, "peak_rss_mib": {k: v / 2**20 for k, v in rss.items()}, "reads": reads,
        "peer_over_cube": med["peer"] / med["cube"] if "cube" in med else None,
        "cube_over_floor": med["cube"] / med["floor"] if "cube" in med else None,
        "agreement": pairs.get("cube vs peer"), "agreement_exact_transformer": pairs.get("cube vs peer-exact"),
        "agreements": pairs, "records": records,
    }
    if "cube-auto" in med:
        result["peer_ovr_over_cube_auto"] = med["peer-ovr"] / med["cube-auto"] if "peer-ovr" in med else None
    if "cube" in reads and "cube-auto" in reads:
        n, o = reads["cube"], reads["cube-auto"]
        result["none_over_auto"] = {"bytes": n["bytes"] / max(1, o["bytes"]), "requests": n["requests"] / max(1, o["requests"]),
                                    "job_seconds": n["job_seconds"] / o["job_seconds"], "wall": med["cube"] / med["cube-auto"]}
    print()
    print(f"chunk {height} x {width}, bands {','.join(bands)}, {a.reps} reps (median wall, peak RSS; cube: bytes, requests, job phases):")
    for name in cubes:
        r = reads[name]
        print(f"  {name:<12} {med[name]:7.2f} s  {rss[name] / 2**20:6.0f} MiB  {r['bytes'] / 2**20:8.1f} MiB read  "
              f"{r['requests']:6.0f} requests  job {r['job_seconds']:.2f} s")
    for name in peers:
        print(f"  {'odc-stac ' + name:<18} {med[name]:7.2f} s  {rss[name] / 2**20:6.0f} MiB")
    print(f"  decode floor {med['floor']:7.2f} s")
    if result["peer_over_cube"] is not None:
        print(f"  peer/cube = {result['peer_over_cube']:.1f}x   cube/floor = {result['cube_over_floor']:.2f}x")
    if result.get("peer_ovr_over_cube_auto"):
        print(f"  peer-ovr/cube-auto = {result['peer_ovr_over_cube_auto']:.1f}x")
    if "none_over_auto" in result:
        r = result["none_over_auto"]
        print(f"  none/auto: bytes {r['bytes']:.2f}x, requests {r['requests']:.2f}x, job {r['job_seconds']:.2f}x, "
              f"wall {r['wall']:.2f}x")
    for pair, figures in pairs.items():
        print(f"  agreement {pair} (% within ±1 DN / exact): " + ", ".join(
            f"{k} {v['within1_pct']:.2f}/{v['exact_pct']:.2f}" for k, v in figures.items()))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
