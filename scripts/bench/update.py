#!/usr/bin/env python3
"""`cube update --dry-run` at continental scale, with the index build it is measured against in
the same run (scripts/bench/run update; figures in docs/performance.md "Keeping a continent current").

  update.py --cube CUBE --work DIR [--smoke]

1. A synthetic catalog (synthetic_catalog.py: 100,000 Earth Search-like items over South America,
   no COGs) in `rustac serve`; `cube init --no-index` of the South America plan (12 monthly bins),
   then `cube index --no-headers` under /usr/bin/time (wall seconds, peak RSS).
2. `cube update --seed-records` (benchmark only): a done record for every job with scenes, as if
   it had been built from that catalog.
3. About 1 % of the items change: one in 300 withdrawn, one in 300 reprocessed (a `_1_` copy with
   a newer baseline that wins the dedup), one in 300 with a newer `updated`; rustac serves the new
   catalog on the same port.
4. `cube update --dry-run --json` under /usr/bin/time: wall seconds, peak RSS, jobs to rebuild.
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rustac:
    def __init__(self, work: Path, port: int):
        self.work, self.port, self.proc = work, port, None

    def start(self, catalog: Path) -> float:
        self.stop()
        t0 = time.monotonic()
        log = (self.work / "rustac.log").open("a")
        self.proc = subprocess.Popen([str(VENV / "rustac"), "serve", "--addr", f"127.0.0.1:{self.port}",
                                      str(catalog / "collection.json"), str(catalog / "items.json")],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        import urllib.request
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2)
                return time.monotonic() - t0
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit("rustac serve died; see " + str(self.work / "rustac.log"))
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def timed(cmd: list[str], work: Path, name: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and standard output of `cmd` under /usr/bin/time -v."""
    t = work / f"{name}.time"
    t0 = time.monotonic()
    out = subprocess.run(["/usr/bin/time", "-v", "-o", str(t), *cmd], capture_output=True, text=True)
    wall = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t.read_text()).group(1)) / 1024
    return wall, rss, out.stdout


def change_catalog(src: Path, dst: Path) -> dict[str, int]:
    """One in 300 items withdrawn, one in 300 reprocessed, one in 300 with a newer `updated`."""
    features = json.loads((src / "items.json").read_text())["features"]
    out, counts = [], {"withdrawn": 0, "reprocessed": 0, "touched": 0}
    for i, f in enumerate(features):
        if i % 300 == 0:
            counts["withdrawn"] += 1
            continue
        if i % 300 == 100:
            f["properties"]["updated"] = f["properties"]["updated"].replace("Z", "1Z")
            counts["touched"] += 1
        out.append(f)
        if i % 300 == 200:
            copy = json.loads(json.dumps(f))
            copy["id"] = f["id"].replace("_0_L2A", "_1_L2A")
            copy["properties"]["s2:processing_baseline"] = "05.11"
            out.append(copy)
            counts["reprocessed"] += 1
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "collection.json").write_text((src / "collection.json").read_text())
    with open(dst / "items.json", "w") as f:
        f.write('{"type":"FeatureCollection","features":[\n')
        f.write(",\n".join(json.dumps(x, separators=(",", ":")) for x in out))
        f.write("\n]}\n")
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cube", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("/tmp/cube-bench-update.json"))
    a = ap.parse_args()
    work = a.work
    if a.smoke:
        items, bbox, grid, when = 2000, [-62, -16, -56, -10], {"bbox": [-62.0, -16.0, -56.0, -10.0]}, \
            {"start": "2024-01-01", "end": "2024-02-29"}
    else:
        items, bbox, grid, when = 100000, [-82, -56, -34, 13], {}, {}
    before, after = work / "catalog", work / "catalog-after"
    subprocess.run([sys.executable, str(ROOT / "scripts/bench/synthetic_catalog.py"), "--out", str(before),
                    "--items", str(items), "--seed", "1", "--bbox", *map(str, bbox), "--year", "2024"], check=True)
    rustac = Rustac(work, free_port())
    try:
        load_s = rustac.start(before)
        spec = yaml.safe_load((ROOT / "scripts/bench/south-america.yaml").read_text())
        spec["name"] = "bench-update"
        spec["stac"] = {"api": f"http://127.0.0.1:{rustac.port}", "collection": "sentinel-2-l2a"}
        spec["grid"].update(grid)
        spec["time"].update(when)
        store = work / "cube.zarr"
        spec["store"] = str(store)
        (work / "update.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        subprocess.run([a.cube, "init", "--no-index", str(work / "update.yaml")], check=True, capture_output=True)
        index_s, index_rss, _ = timed([a.cube, "index", str(store), "--no-headers"], work, "index")
        seed = subprocess.run([a.cube, "update", str(store), "--seed-records"], capture_output=True, text=True)
        assert seed.returncode == 0, seed.stderr
        records = sum(1 for _ in (store / "_cube" / "done").rglob("*.json"))
        counts = change_catalog(before, after)
        rustac.start(after)
        dry_s, dry_rss, out = timed([a.cube, "update", str(store), "--dry-run", "--json"], work, "dry-run")
        report = json.loads(out)
    finally:
        rustac.stop()
    result = {
        "catalog_items": items, "changes": counts, "bins": len(report["bins"]), "jobs_checked": report["jobs_checked"],
        "jobs_recorded": records, "jobs_rebuild": report["jobs_rebuild"], "jobs_emptied": report["jobs_emptied"],
        "index_s": index_s, "index_peak_rss_mib": index_rss, "dry_run_s": dry_s, "dry_run_peak_rss_mib": dry_rss,
        "rustac_load_s": load_s,
    }
    a.out.write_text(json.dumps(result, indent=1) + "\n")
    changed = sum(counts.values())
    print(f"catalog: {items:,} items, then {changed} changed ({counts['withdrawn']} withdrawn, "
          f"{counts['reprocessed']} reprocessed, {counts['touched']} newer `updated`)")
    print(f"| | seconds | peak RSS |\n|---|---|---|\n| cube index --no-headers | {index_s:.1f} | {index_rss:.0f} MiB |\n"
          f"| cube update --dry-run | {dry_s:.1f} | {dry_rss:.0f} MiB |")
    print(f"update: {report['jobs_rebuild']} of {report['jobs_checked']} jobs to rebuild, {report['jobs_emptied']} emptied "
          f"({records} jobs recorded built); dry run / index = {dry_s / index_s:.2f}x time, "
          f"{dry_rss / index_rss:.2f}x memory")
    if report["jobs_rebuild"] == 0:
        print("FAILED: the changed catalog should change some jobs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
