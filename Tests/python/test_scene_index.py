"""The scene and COG header index (docs/scene-index.md), end to end on real servers: nginx
serving GDAL-written COGs with byte ranges and a real STAC API (rustac serve) behind a
request-counting proxy. Counts are taken at the servers, not from cube's own reports."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from world_testkit import REPO, cube_bin, index_empty_jobs, local_path, served, world_with

from world.compare import compare
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

BBOX = [11.98, 45.47, 12.02, 45.49]          # crosses 12°E: tiles of UTM zones 32 and 33
BANDS = ["red", "green", "blue", "nir"]


def cube(*args, check=True, timeout=600):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}"
    return out


def write_spec(path: Path, stac: str, *, start: date, end: date, chunk=32) -> Path:
    path.write_text(f"""name: {path.stem}
stac:
  {stac}
  collection: sentinel-2-l2a
grid:
  crs: EPSG:4326
  resolution: 1/3600
  bbox: {json.dumps(BBOX)}
  chunk: {chunk}
time:
  start: {start}
  end: {end}
bands: {json.dumps(BANDS)}
land_mask: none
store: {path.stem}.zarr
""")
    return path


class CountingProxy:
    """scripts/faultproxy.py without faults in front of the STAC API: counts its requests."""

    def __init__(self, target: str, tmp: Path):
        self.port_file = tmp / "proxy.port"
        self.proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "faultproxy.py"), "--port", "0",
                                      "--target", target, "--port-file", str(self.port_file)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(100):
            if self.port_file.exists() and self.port_file.read_text().strip():
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port_file.read_text().strip()}"

    def stop(self) -> int:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        m = re.search(r"faultproxy: (\d+) requests", err)
        assert m, err
        return int(m.group(1))


def cog_requests(access_log: Path) -> list[tuple[str, str, str]]:
    """(method, path, range) of every .tif request nginx logged."""
    out = []
    for line in access_log.read_text().splitlines():
        m = re.search(r'"(\w+) (\S+) HTTP/[\d.]+" (\d+) \d+ "([^"]*)"', line)
        if m and m.group(2).endswith(".tif"):
            out.append((m.group(1), m.group(2), m.group(4)))
    return out


def agreement(store: Path, world: Path, start: date, end: date, exclude=()) -> dict:
    ds = xr.open_zarr(store, mask_and_scale=False)
    arrays = {name: ds[name].values for name in BANDS + ["count"]}
    ref = reference_cube(world, Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX), month_bins(start, end), BANDS,
                         exclude=set(exclude))
    rep = compare(arrays, ref, BANDS)
    return {"exact_pct": min(b.exact_pct for b in rep.bands), "count_agree_pct": rep.count_agree_pct,
            "missing": sum(b.missing for b in rep.bands), "pixels": sum(b.pixels for b in rep.bands)}


@pytest.fixture(scope="module")
def world():
    return world_with("small", seed=11, name="zones", aoi=tuple(BBOX))


def test_a_build_searches_once_per_bin_and_reads_each_header_once(world, tmp_path):
    """30 jobs with 2 workers: the catalog is searched once per time bin, every COG header is
    read once in the whole build (by the coordinator), workers make no search and read no
    header, and the cube equals the independent reference."""
    start, end = date(2024, 2, 1), date(2024, 3, 31)
    with served(world) as env:
        proxy = CountingProxy(env["WORLD_STAC_URL"], tmp_path)
        try:
            spec = write_spec(tmp_path / "many.yaml", f"api: {proxy.url}", start=start, end=end)
            log = Path(env["WORLD_ACCESS_LOG"])
            log.write_text("")
            out = cube("run", spec, "--workers", "2", "--no-previews", "--json")
            report = json.loads(out.stdout.splitlines()[-1])
            requests = cog_requests(log)
            # A resumed run uses the same index: no search, no request.
            log.write_text("")
            cube("run", spec, "--workers", "2", "--quiet", "--no-previews")
            assert cog_requests(log) == []
            store = tmp_path / "many.zarr"
            snapshot = json.loads((store / "_cube" / "index" / "snapshot.json").read_text())
            # A refresh searches again and, the catalog unchanged, names the same snapshot.
            cube("index", store, "--refresh")
            again = json.loads((store / "_cube" / "index" / "snapshot.json").read_text())
        finally:
            stac_requests = proxy.stop()

    jobs = report["jobs"]
    assert jobs["total"] == 30 and jobs["done_in_store"] == 30 and jobs["failed"] == 0
    assert report["index_snapshot"] == snapshot["snapshot"]
    bins = snapshot["bins"]
    assert [b["label"] for b in bins] == ["2024-02", "2024-03"]
    assert all(b["searches"] == 1 for b in bins), bins
    # One page per bin here; every request the catalog saw was made by the two index builds.
    assert stac_requests == 2 * sum(b["requests"] for b in bins) <= 4 * len(bins), (stac_requests, bins)
    assert again["snapshot"] == snapshot["snapshot"]

    # Headers: one request from offset 0 per asset, in the whole build; GDAL never opened a COG
    # (it would ask again for the first bytes, or HEAD).
    header_reads = Counter(path for method, path, rng in requests if rng.startswith("bytes=0-"))
    assert header_reads, requests[:5]
    assert max(header_reads.values()) == 1, header_reads.most_common(3)
    assert len(header_reads) == snapshot["headers"]["assets"] == snapshot["headers"]["indexed"]
    assert not [r for r in requests if r[0] != "GET"], "only GETs with ranges"
    assert all(rng.startswith("bytes=") for _, _, rng in requests)

    figures = agreement(store, world, start, end)
    print("agreement:", figures)
    assert figures["exact_pct"] == 100.0 and figures["count_agree_pct"] == 100.0 and figures["missing"] == 0


def test_jobs_without_scenes_are_recorded_before_any_worker(world, tmp_path):
    """January has no scene in this world: `cube init` records its jobs done (empty), so the
    worker builds only February's."""
    with served(world) as env:
        spec = write_spec(tmp_path / "jan.yaml", f"api: {env['WORLD_STAC_URL']}",
                          start=date(2024, 1, 1), end=date(2024, 2, 29))
        cube("init", spec)
        store = tmp_path / "jan.zarr"
        # Done without a record each: listed in the index's snapshot, counted done by the ledger.
        assert not (store / "_cube" / "done").exists()
        empty = index_empty_jobs(store)
        assert len(empty) == 15 and all(j.startswith("2024-01/") for j in empty), empty
        status = json.loads(cube("status", store, "--json").stdout)
        assert status["jobs"]["done"] == 15 and status["jobs"]["total"] == 30
        out = cube("worker", store)
        built = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(built) == 15 and all(r["job"].startswith("2024-02") for r in built)
        assert all(r["index_snapshot"] for r in built)


def test_stale_and_truncated_objects_after_indexing(world, tmp_path):
    """After `cube init` indexed the headers, one scene's red COG is replaced by the same
    pixels in another layout (other tiles, other offsets and size) and another scene's red COG
    is truncated. The worker notices the replaced object, reads its fresh header and uses it;
    the truncated scene is skipped as unreadable; the cube equals the reference without it."""
    copy = tmp_path / "world"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns(".run"))
    start, end = date(2024, 3, 1), date(2024, 3, 31)
    items = [json.loads(line) for line in (copy / "items.ndjson").read_text().splitlines()]
    meta = json.loads((copy / "world.json").read_text())
    base = meta["base_url"].rstrip("/")
    march = [it for it in items if it["properties"]["datetime"].startswith("2024-03") and "_1_" not in it["id"]
             and it["id"] not in set(meta.get("dedup_winners", []))]
    with served(copy) as env:
        spec = write_spec(tmp_path / "stale.yaml", f"api: {env['WORLD_STAC_URL']}", start=start, end=end, chunk=48)
        cube("init", spec)
        store = tmp_path / "stale.zarr"
        # The scenes that contribute pixels, from a build on the unchanged objects.
        first = tmp_path / "first.zarr"
        shutil.copytree(store, first)
        log = [json.loads(line) for line in cube("worker", first).stdout.splitlines()]
        skipped_first = {s["id"] for r in log for s in r["scenes_skipped"]}
        indexed = {}
        for block in (store / "_cube" / "index" / "2024-03").glob("*.json"):
            for f in json.loads(block.read_text())["features"]:
                indexed[f["id"]] = f
        used = [it for it in march if it["id"] in indexed and it["id"] not in skipped_first]
        assert len(used) >= 2, (len(march), len(indexed), skipped_first)
        replaced, truncated = used[0], used[1]
        before = indexed[replaced["id"]]["assets"]["red"]["cube:cog_header"]
        relaid_block = 256 if before["block_width"] == 128 else 128

        red = local_path(copy, replaced["assets"]["red"]["href"])
        other = red.with_name("relaid.tif")
        subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", f"BLOCKSIZE={relaid_block}", "-co", "COMPRESS=DEFLATE",
                        str(red), str(other)], check=True)
        other.replace(red)
        t = local_path(copy, truncated["assets"]["red"]["href"])
        t.write_bytes(t.read_bytes()[: t.stat().st_size // 3])

        out = cube("worker", store)
        log = [json.loads(line) for line in out.stdout.splitlines()]
    skipped = {s["id"]: s["reason"] for r in log for s in r["scenes_skipped"]}
    assert skipped.get(truncated["id"], "").startswith("unreadable"), skipped
    assert replaced["id"] not in skipped, skipped[replaced["id"]]
    assert sum(r.get("stale_assets", 0) for r in log) >= 2, [r.get("stale_assets") for r in log]
    figures = agreement(store, copy, start, end, exclude={truncated["id"]})
    print("agreement:", figures)
    assert figures["exact_pct"] == 100.0 and figures["count_agree_pct"] == 100.0 and figures["missing"] == 0
