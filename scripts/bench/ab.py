#!/usr/bin/env python3
"""A/B of two cube binaries on one chunk job, alternating: median wall and CPU time of each.

    ab.py --a OLD_CUBE --b NEW_CUBE --stac URL [--reps 8] [--bands red,green,blue,nir]
          [--composite median] [--work DIR]

Default chunk: the 1200 x 1200 chunk of `scripts/bench/run chunk` (serve .bench/world with
`scripts/services start .bench/world` and pass its STAC URL). Build the old binary from a
worktree: `git worktree add /tmp/old REV && (cd /tmp/old && swift build -c release --product cube)`.
Each binary initialises its own store; every repetition is a fresh process on a fresh copy.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system) and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}…: {err.decode()[-2000:]}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, out.decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="first cube binary (e.g. the old one)")
    ap.add_argument("--b", required=True, help="second cube binary")
    ap.add_argument("--stac", required=True)
    ap.add_argument("--bbox", type=float, nargs=4, default=[12.55, 45.45, 12.883333333333333, 45.78333333333333])
    ap.add_argument("--bands", default="red,green,blue,nir")
    ap.add_argument("--composite", default="median")
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cube-bench-ab"))
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    binaries = {"a": a.a, "b": a.b}
    for key, binary in binaries.items():
        (a.work / f"{key}.yaml").write_text(f"""name: ab-{key}
stac: {{api: {a.stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(a.bbox)}, chunk: 1200}}
time: {{start: 2024-03-01, end: 2024-03-31}}
bands: {json.dumps(a.bands.split(','))}
composite: {a.composite}
land_mask: none
store: {key}-init.zarr
""")
        subprocess.run([binary, "init", str(a.work / f"{key}.yaml")], check=True, capture_output=True)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in binaries}
    for rep in range(-1, a.reps):
        for key, binary in binaries.items():
            store = a.work / f"{key}-{rep}.zarr"
            shutil.copytree(a.work / f"{key}-init.zarr", store)
            wall, cpu, out = timed([binary, "worker", str(store), "--job", "2024-03/0/0", "--threads", "2"])
            phases = json.loads(out.splitlines()[-1])["seconds"]
            print(f"{'warm-up' if rep < 0 else f'rep {rep}'}: {key} {wall:6.2f} s wall {cpu:6.2f} s CPU  "
                  + " ".join(f"{p} {v:.2f}" for p, v in sorted(phases.items())), flush=True)
            if rep >= 0:
                runs[key].append((wall, cpu))
            shutil.rmtree(store)
    for key in binaries:
        print(f"{key}: median wall {statistics.median(w for w, _ in runs[key]):.2f} s, "
              f"CPU {statistics.median(c for _, c in runs[key]):.2f} s  ({binaries[key]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
