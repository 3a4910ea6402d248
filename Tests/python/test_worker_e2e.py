"""`cube worker` end to end: real COGs over nginx byte ranges, a real STAC API (rustac serve),
the chunk pipeline, and the independent numpy/pyproj reference (scripts/world/reference.py).

The world straddles the UTM zone boundary at 12°E (tiles of zones 32 and 33 overlap there), has
two months of passes, both processing baselines, proj:code items and reprocessed duplicates.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape
import xarray as xr

from world_testkit import REPO, cube_bin, index_empty_jobs, world_with

from world.compare import compare
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
BBOX = [11.98, 45.47, 12.02, 45.49]          # crosses 12°E, the zone 32/33 boundary
START, END = date(2024, 2, 1), date(2024, 3, 31)
BANDS = ["red", "green", "blue", "nir"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    world = world_with("small", seed=11, name="zones", aoi=tuple(BBOX))
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    yield world, env
    subprocess.run([SERVICES, "stop", str(world)], check=True, timeout=60)


def write_spec(path: Path, stac: str, *, crs="EPSG:4326", res="1/3600", chunk=32, fmt=3,
               start=START, end=END, bbox=BBOX, extra="") -> Path:
    path.write_text(f"""name: {path.stem}
stac:
  {stac}
  collection: sentinel-2-l2a
grid:
  crs: {crs}
  resolution: {res}
  bbox: {json.dumps(bbox)}
  chunk: {chunk}
time:
  start: {start}
  end: {end}
bands: {json.dumps(BANDS)}
land_mask: none
zarr_format: {fmt}
store: {path.stem}.zarr
{extra}""")
    return path


def cube(*args, check=True, timeout=600):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}"
    return out


def build(spec: Path, *worker_args) -> tuple[Path, list[dict]]:
    store = spec.with_suffix(".zarr")
    cube("init", spec)
    out = cube("worker", store, *worker_args)
    return store, [json.loads(line) for line in out.stdout.splitlines()]


def read_cube(store: Path) -> dict[str, np.ndarray]:
    ds = xr.open_zarr(store, mask_and_scale=False)
    return {name: ds[name].values for name in BANDS + ["count"]}


def agreement(cube_arrays, ref) -> dict:
    rep = compare(cube_arrays, ref, BANDS)
    figures = {
        "pixels": sum(b.pixels for b in rep.bands),
        "exact_pct": min(b.exact_pct for b in rep.bands),
        "within1_pct": min(b.within1_pct for b in rep.bands),
        "missing": sum(b.missing for b in rep.bands),
        "extra": sum(b.extra for b in rep.bands),
        "count_agree_pct": rep.count_agree_pct,
        "count_missing": rep.count_missing,
    }
    print("agreement:", json.dumps(figures))
    return figures


def assert_agrees(figures):
    assert figures["within1_pct"] == 100.0
    assert figures["exact_pct"] >= 99.9
    assert figures["count_agree_pct"] == 100.0
    assert figures["missing"] == 0 and figures["count_missing"] == 0


@pytest.mark.parametrize("crs,res,chunk,fuse", [("EPSG:4326", "1/3600", 32, "first-data"),
                                                ("EPSG:32633", "10", 100, "first-data"),
                                                ("EPSG:4326", "1/3600", 32, "first-valid")],
                         ids=["lonlat", "utm33", "lonlat-first-valid"])
def test_cube_matches_independent_reference(served, tmp_path, crs, res, chunk, fuse):
    world, env = served
    spec = write_spec(tmp_path / "zones.yaml", f"api: {env['WORLD_STAC_URL']}", crs=crs, res=res, chunk=chunk,
                      extra="" if fuse == "first-data" else f"fuse: {fuse}\n")
    store, log = build(spec)

    grid = Grid.from_bbox(crs, 1 / 3600 if res == "1/3600" else float(res), BBOX)
    ref = reference_cube(world, grid, month_bins(START, END), BANDS, fuse=fuse)
    assert ref["count"].max() >= 2, "the world should give pixels several observations"
    if fuse == "first-valid":
        # The world has tile overlaps where the rules differ: first-valid fills some pixels
        # masked in the first tile of a day from the other tile.
        data = reference_cube(world, grid, month_bins(START, END), BANDS, fuse="first-data")
        assert (ref["count"] >= data["count"]).all() and (ref["count"] > data["count"]).any()
    assert (ref["count"] > 0).mean() > 0.5
    figures = agreement(read_cube(store), ref)
    assert_agrees(figures)

    # Every job ran once, logged its phases and found scenes of both UTM zones.
    ds = xr.open_zarr(store)
    n_jobs = 2 * -(-ds.sizes[ds["red"].dims[1]] // chunk) * -(-ds.sizes[ds["red"].dims[2]] // chunk)
    assert len(log) == n_jobs and all(r["status"] == "done" for r in log)
    assert all(set(r["seconds"]) == {"search", "read", "reduce", "write"} for r in log)
    assert sum(r["bytes_read"] for r in log) > 0
    used_zones = set()
    for r in log:
        assert r["scenes_used"] <= r["scenes_found"]
        assert all(s["reason"] for s in r["scenes_skipped"])
    for item in (world / "items.ndjson").read_text().splitlines():
        used_zones.add(json.loads(item)["id"].split("_")[1][:2])
    assert used_zones == {"32", "33"}
    assert any("reprocessed duplicate" in s["reason"] for r in log for s in r["scenes_skipped"])


def test_zarr_v2_and_v3_hold_the_same_values(served, tmp_path):
    _, env = served
    v3, _ = build(write_spec(tmp_path / "v3.yaml", f"api: {env['WORLD_STAC_URL']}", fmt=3))
    v2, _ = build(write_spec(tmp_path / "v2.yaml", f"api: {env['WORLD_STAC_URL']}", fmt=2))
    a, b = read_cube(v3), read_cube(v2)
    assert (a["count"] > 0).any()
    for name in BANDS + ["count"]:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_done_records_resume_and_single_jobs(served, tmp_path):
    _, env = served
    spec = write_spec(tmp_path / "jobs.yaml", f"api: {env['WORLD_STAC_URL']}")
    store = spec.with_suffix(".zarr")
    cube("init", spec)

    one = cube("worker", store, "--job", "2024-03/1/2")
    [record] = [json.loads(line) for line in one.stdout.splitlines()]
    assert record["job"] == "2024-03/1/2" and record["status"] == "done"
    done = json.loads((store / "_cube/done/2024-03/1.2.json").read_text())
    assert done["valid_pixels"] == record["valid_pixels"] > 0
    assert (store / "red/c/1/1/2").is_file() and (store / "count/c/1/1/2").is_file()
    # Done is written after the chunks it vouches for.
    assert (store / "_cube/done/2024-03/1.2.json").stat().st_mtime_ns >= (store / "count/c/1/1/2").stat().st_mtime_ns

    # The rest of the plan, then nothing left: a second worker pass builds nothing.
    rest = [json.loads(line) for line in cube("worker", store).stdout.splitlines()]
    assert "2024-03/1/2" not in {r["job"] for r in rest}
    chunks = {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()}
    again = cube("worker", store)
    assert again.stdout == ""
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()} == chunks

    # No half-written chunk or temporary file is left anywhere in the store.
    assert not [p for p in store.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]

    # Bad job names are usage errors (exit 2) that name the problem.
    for bad, words in [("2030-01/0/0", "no time bin"), ("2024-03/99/0", "outside the grid"), ("nonsense", "TIME/ROW/COL")]:
        out = cube("worker", store, "--job", bad, check=False)
        assert out.returncode == 2 and words in out.stderr, out.stderr


def test_sharded_workers_split_the_plan(served, tmp_path):
    _, env = served
    spec = write_spec(tmp_path / "shards.yaml", f"api: {env['WORLD_STAC_URL']}")
    store = spec.with_suffix(".zarr")
    cube("init", spec)
    seen = []
    for i in range(3):
        out = cube("worker", store, "--shard", f"{i}/3")
        seen.append({json.loads(line)["job"] for line in out.stdout.splitlines()})
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    all_jobs = set().union(*seen)
    assert len(all_jobs) == len(list((store / "_cube/done").rglob("*.json")))
    env_out = subprocess.run([cube_bin(), "worker", str(store), "--shard", "3", "--shard-env", "TASK"],
                             capture_output=True, text=True, env={**os.environ, "TASK": "7"})
    assert env_out.returncode == 2 and "0..<3" in env_out.stderr


def test_empty_time_bin_writes_only_done_records(served, tmp_path):
    _, env = served
    spec = write_spec(tmp_path / "empty.yaml", f"api: {env['WORLD_STAC_URL']}",
                      start=date(2023, 6, 1), end=date(2023, 6, 30))
    store, log = build(spec)
    # The scene index knew every job of the bin is empty: they are done without a worker (and
    # without a record each), so the worker had nothing to build.
    assert log == []
    assert not (store / "_cube" / "done").exists()
    status = json.loads(cube("status", store, "--json").stdout)
    assert status["jobs"]["done"] == status["jobs"]["total"] == len(index_empty_jobs(store)) > 0
    # Without the index, the worker finds the same by searching itself.
    spec2 = write_spec(tmp_path / "empty2.yaml", f"api: {env['WORLD_STAC_URL']}",
                       start=date(2023, 6, 1), end=date(2023, 6, 30))
    cube("init", "--no-index", spec2)
    out = cube("worker", spec2.with_suffix(".zarr"))
    log = [json.loads(line) for line in out.stdout.splitlines()]
    assert log and all(r["status"] == "done" and not r["wrote_chunks"] and r["scenes_found"] == 0 for r in log)
    assert not (store / "red" / "c").exists() and not (store / "count" / "c").exists()
    ds = xr.open_zarr(store, mask_and_scale=False)
    assert int(ds["count"].max()) == 0 and int(ds["red"].max()) == 0


def test_local_catalog_and_broken_scenes(served, tmp_path):
    """A local ndjson catalog with local paths; one scene's COG truncated, another's asset
    missing (404 for nginx, a missing file here): both are skipped and listed, and the cube
    equals the reference computed without them."""
    world, _ = served
    copy = tmp_path / "world"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns(".run"))
    items = [json.loads(line) for line in (copy / "items.ndjson").read_text().splitlines()]
    meta = json.loads((copy / "world.json").read_text())
    base = meta["base_url"].rstrip("/")
    dup_related = set(meta.get("dedup_winners", []))
    for it in items:
        if "_1_" in it["id"]:
            dup_related.add(it["id"].replace("_1_", "_0_"))
    for it in items:
        for a in it["assets"].values():
            a["href"] = a["href"].replace(base + "/", "")   # relative to the catalog
    area = shapely.box(*BBOX)
    candidates = [it for it in items if it["id"] not in dup_related and "_1_" not in it["id"]
                  and it["properties"]["datetime"].startswith("2024-03")
                  and shape(it["geometry"]).intersection(area).area > 0.5 * area.area]
    truncated, missing = candidates[0], candidates[1]
    red = copy / truncated["assets"]["red"]["href"]
    data = red.read_bytes()
    red.write_bytes(data[: len(data) // 3])
    (copy / missing["assets"]["nir"]["href"]).unlink()
    # The cube reads a local catalog with relative paths; the reference keeps items.ndjson.
    (copy / "local.ndjson").write_text("".join(json.dumps(it) + "\n" for it in items))

    spec = write_spec(tmp_path / "local.yaml", "items: world/local.ndjson")
    store, log = build(spec)
    reasons: dict[str, set] = {}
    for r in log:
        for s in r["scenes_skipped"]:
            reasons.setdefault(s["id"], set()).add(s["reason"].split(":")[0])
    assert "unreadable" in reasons.get(truncated["id"], set()), reasons.get(truncated["id"])
    assert "unreadable" in reasons.get(missing["id"], set()), reasons.get(missing["id"])
    # A local catalog lists only what concerns the chunk: no line for items of other months.
    assert not any(s["reason"].startswith("datetime") for r in log for s in r["scenes_skipped"])

    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    ref = reference_cube(copy, grid, month_bins(START, END), BANDS,
                         exclude={truncated["id"], missing["id"]})
    assert_agrees(agreement(read_cube(store), ref))
