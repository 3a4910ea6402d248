#!/usr/bin/env python3
"""What each composite costs: one chunk job of a served test world built with `composite:`
median alone, [median, p10, p90], geomedian (with its MADs), medoid (with medoid_time), the
median with NDVI or four indices (ndvi, ndwi, evi, savi), and the median with mask filters
([[opening, 2], [dilation, 3]]), alternating, N repetitions
each; median wall time, median reduce time (the job record's `seconds.reduce`) and peak RSS of
each worker process, and the ratios to the median alone.

    composites.py --stac URL --bbox W S E N [--res 1/3600] [--start D --end D]
                  [--bands red,green,blue,nir] [--reps 3] [--warmup 1] [--threads 2] [--work DIR] [--json OUT]
                  [--only median+filters,...]

Every run is a fresh process on a fresh copy of its initialised store; the COG server's page
cache is warm for all of them alike.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chunk import timed  # noqa: E402

# key -> (composite, extra spec lines)
COMPOSITES = {
    "median": ("median", ""),
    "median+p10+p90": ("[median, p10, p90]", ""),
    "geomedian": ("geomedian", ""),
    "medoid": ("medoid", ""),
    "median+ndvi": ("median", "indices: [ndvi]\n"),
    "median+4indices": ("median", "indices: [ndvi, ndwi, evi, savi]\n"),
    # odc-algo's usual mask_cleanup: each observation read over the chunk grown by 7 px.
    "median+filters": ("median", "mask: {filters: [[opening, 2], [dilation, 3]]}\n"),
}


def main() -> int:
    import os

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cube", default=os.environ.get("CUBE"))
    ap.add_argument("--stac", required=True)
    ap.add_argument("--bbox", type=float, nargs=4, required=True)
    ap.add_argument("--res", default="1/3600")
    ap.add_argument("--start", default="2024-03-01")
    ap.add_argument("--end", default="2024-03-31")
    ap.add_argument("--bands", default="red,green,blue,nir")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cube-bench-composites"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", help="comma-separated keys to run (median always): e.g. median+filters")
    a = ap.parse_args()
    if a.only:
        keep = {"median", *a.only.split(",")}
        unknown = keep - set(COMPOSITES)
        if unknown:
            ap.error(f"unknown composites {sorted(unknown)}; expected some of {list(COMPOSITES)}")
        for key in list(COMPOSITES):
            if key not in keep:
                del COMPOSITES[key]
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
    initialised = {}
    for key, (composite, extra) in COMPOSITES.items():
        spec = a.work / f"{key}.yaml"
        spec.write_text(f"""name: bench-{key.replace('+', '-')}
stac: {{api: {a.stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: {a.res}, bbox: {json.dumps(a.bbox)}, chunk: {chunk}}}
time: {{start: {a.start}, end: {a.end}}}
bands: {json.dumps(bands)}
composite: {composite}
land_mask: none
store: {key}-initialised.zarr
{extra}""")
        timed([a.cube, "init", str(spec), "--no-index"])
        initialised[key] = a.work / f"{key}-initialised.zarr"
    job = f"{a.start[:7]}/0/0"

    runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in COMPOSITES}
    # The job's own phases (search + read + reduce + write, from its record): process start-up
    # and exit, which vary from run to run on a shared machine, left out.
    phases: dict[str, list[float]] = {k: [] for k in COMPOSITES}
    records = {}
    for rep in range(-a.warmup, a.reps):
        for key in COMPOSITES:
            store = a.work / f"{key}-{rep}.zarr"
            shutil.copytree(initialised[key], store)
            wall, rss, out = timed([a.cube, "worker", str(store), "--job", job, "--threads", str(a.threads)])
            record = json.loads(out.splitlines()[-1])
            records[key] = record
            reduce_s = record["seconds"].get("reduce", 0.0)
            if rep >= 0:
                runs[key].append((wall, reduce_s, rss))
                phases[key].append(sum(record["seconds"].values()))
            label = f"rep {rep}" if rep >= 0 else "warm-up"
            print(f"{label}: {key:<16} {wall:7.2f} s  reduce {reduce_s:6.2f} s  {rss / 2**20:6.0f} MiB  "
                  f"({record['observations']} observations)", flush=True)
            shutil.rmtree(store)

    wall = {k: statistics.median(w for w, _, _ in v) for k, v in runs.items()}
    reduce_s = {k: statistics.median(r for _, r, _ in v) for k, v in runs.items()}
    rss = {k: max(m for _, _, m in v) / 2**20 for k, v in runs.items()}
    job = {k: statistics.median(v) for k, v in phases.items()}
    base = "median"
    result = {
        "chunk": [height, width], "bands": bands, "reps": a.reps, "threads": a.threads,
        "median_seconds": wall, "median_reduce_seconds": reduce_s, "peak_rss_mib": rss,
        "over_median": {k: wall[k] / wall[base] for k in wall},
        "median_job_phase_seconds": job, "phases_over_median": {k: job[k] / job[base] for k in job},
        "reduce_over_median": {k: reduce_s[k] / max(reduce_s[base], 1e-9) for k in reduce_s},
        "records": records,
    }
    print()
    print(f"chunk {height} x {width}, bands {','.join(bands)}, {a.reps} reps (median wall, median job phases, "
          "median reduce, peak RSS):")
    for k in COMPOSITES:
        print(f"  {k:<16} {wall[k]:7.2f} s  phases {job[k]:6.2f} s  reduce {reduce_s[k]:6.3f} s  {rss[k]:6.0f} MiB  "
              f"job {result['over_median'][k]:.2f}x  phases {result['phases_over_median'][k]:.2f}x  "
              f"reduce {result['reduce_over_median'][k]:.2f}x of the median alone")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
