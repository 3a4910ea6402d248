#!/usr/bin/env python3
"""What readers pay (issue 16): the same cube built unsharded (chunk C²) and sharded (C² shards
of I² inner chunks), both with a pyramid, then

- random P² patches across all time bins read with zarr-python and tensorstore
  (scripts/bench/read_patches.py): patches/s and bytes read from storage per patch;
- `cube serve` tile latency on each store: the first request of each tile (cold: chunks
  decoded from the store) and the same tiles again (warm: the server's chunk cache), per zoom.

    readers.py --stac URL --bbox W S E N --start D --end D --step '5 days' --chunk 2048 --inner 256
               --work DIR [--patches N] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cube(*args):
    out = subprocess.run([os.environ["CUBE"], *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"cube {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out


def build(work: Path, name: str, a, inner: int | None) -> tuple[Path, float]:
    spec = work / f"{name}.yaml"
    spec.write_text(f"""name: {name}
stac: {{api: {a.stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(a.bbox)}, chunk: {a.chunk}{f', inner_chunk: {inner}' if inner else ''}}}
time: {{start: {a.start}, end: {a.end}, step: {a.step}}}
bands: [red, green, blue, nir]
land_mask: none
pyramid: true
store: {name}.zarr
""")
    cube("init", spec)
    t0 = time.perf_counter()
    cube("run", work / f"{name}.zarr", "--workers", "1", "--quiet", "--no-previews")
    return work / f"{name}.zarr", time.perf_counter() - t0


def tile_xy(lon, lat, z):
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n))


def tiles(store: Path, a) -> dict:
    proc = subprocess.Popen([os.environ["CUBE"], "serve", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split(" at ")[1].split()[0].rstrip("/")
    info = json.loads(urllib.request.urlopen(url + "/api/info").read())
    w, s, e, n = a.bbox
    out = {}
    try:
        for z in a.zooms:
            x0, y0 = tile_xy(w, n, z)
            x1, y1 = tile_xy(e, s, z)
            xy = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)][: a.tiles]
            for phase in ("cold", "warm"):
                ms = []
                for x, y in xy:
                    t0 = time.perf_counter()
                    urllib.request.urlopen(f"{url}/tiles/{info['bins'][0]}/{z}/{x}/{y}.png").read()
                    ms.append((time.perf_counter() - t0) * 1000)
                out[f"z{z} {phase}"] = {"tiles": len(ms), "median_ms": statistics.median(ms),
                                        "p95_ms": sorted(ms)[max(0, int(len(ms) * 0.95) - 1)]}
    finally:
        proc.terminate()
        proc.wait()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stac", required=True)
    ap.add_argument("--bbox", nargs=4, type=float, required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--step", default="1 month")
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--inner", type=int, default=256)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--patches", type=int, default=32)
    ap.add_argument("--zooms", type=int, nargs="+", default=[9, 11, 13])
    ap.add_argument("--tiles", type=int, default=16, help="tiles per zoom")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    plain, t_plain = build(a.work, "unsharded", a, None)
    sharded, t_sharded = build(a.work, "sharded", a, a.inner)
    print(f"built: unsharded {t_plain:.1f} s, sharded {t_sharded:.1f} s (cube run, 1 worker, pyramid included)")
    objects = {n: sum(1 for p in (s / "0" / "red" / "c").rglob("*") if p.is_file()) for n, s in
               (("unsharded", plain), ("sharded", sharded))}
    print(f"objects of red, base level: {objects}")

    bench = a.work / "read_patches.json"
    subprocess.run([sys.executable, str(HERE / "read_patches.py"), str(plain / "0"), str(sharded / "0"),
                    "--array", "red", "--patch", str(a.patch), "--patches", str(a.patches),
                    "--json", str(bench)], check=True)
    rows = json.loads(bench.read_text())
    rows = rows["rows"] if isinstance(rows, dict) else rows
    tile_rows = {"unsharded": tiles(plain, a), "sharded": tiles(sharded, a)}
    print("\ncube serve tile latency (ms), first bin:")
    print(f"{'':12} " + " ".join(f"{k:>16}" for k in tile_rows["sharded"]))
    for name, t in tile_rows.items():
        print(f"{name:12} " + " ".join(f"{v['median_ms']:7.1f} /{v['p95_ms']:6.1f}" for v in t.values()))
    print("(median / p95)")
    if a.json:
        a.json.write_text(json.dumps({"build_seconds": {"unsharded": t_plain, "sharded": t_sharded},
                                      "objects": objects, "read_patches": rows, "tiles": tile_rows}, indent=1))


if __name__ == "__main__":
    main()
