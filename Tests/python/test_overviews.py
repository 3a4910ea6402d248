"""`overviews: auto | none | N` end to end (issue 25): the small world's COGs carry nearest
overviews (10 m bands: 20 m and 40 m levels; the 20 m SCL: a 40 m level), served by nginx and
`rustac serve`; the cube equals the independent reference sampling the level the rule chooses
for each asset (scripts/world/refoverviews.py, written from docs/warp.md), and a 10 m grid reads
exactly what it reads without overviews."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from test_worker_e2e import BANDS, BBOX, END, START, agreement, build, cube, read_cube, write_spec
from world_testkit import REPO, cube_bin, world_with

from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")


@pytest.fixture(scope="module")
def served():
    world = world_with("small", seed=11, name="zones", aoi=tuple(BBOX))
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    yield world, env
    subprocess.run([SERVICES, "stop", str(world)], check=True, timeout=60)


def done_records(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((store / "_cube" / "done").rglob("*.json"))]


def chunk_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and "/c/" in f"/{p.relative_to(store)}" and not p.name.endswith(".json")}


def test_world_cogs_have_nearest_overviews(served):
    world, _ = served
    item = json.loads((world / "items.ndjson").read_text().splitlines()[0])
    base = json.loads((world / "world.json").read_text())["base_url"].rstrip("/")
    red = world / item["assets"]["red"]["href"][len(base) + 1:]
    with rasterio.open(red) as src:
        assert src.overviews(1) == [2, 4]
        full = src.read(1)
    with rasterio.open(red, overview_level=0) as lv:
        level = lv.read(1)
    # Nearest: every 20 m pixel is one of the 10 m pixels it covers (GDAL takes the one at the
    # top-left of the centre for an even factor: rows/cols 2i or 2i+1).
    h, w = level.shape
    cands = np.stack([full[r::2, c::2][:h, :w] for r in (0, 1) for c in (0, 1)])
    assert (cands == level[None]).any(axis=0).all()


@pytest.mark.parametrize("overviews", ["auto", "1"])
def test_cube_reads_the_chosen_level_exactly(served, tmp_path, overviews):
    world, env = served
    spec = write_spec(tmp_path / f"ovr{overviews}.yaml", f"api: {env['WORLD_STAC_URL']}",
                      extra=f"overviews: {overviews}\n")
    store, log = build(spec)
    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    ref = reference_cube(world, grid, month_bins(START, END), BANDS, overviews=overviews, chunk=32)
    figures = agreement(read_cube(store), ref)
    assert figures["exact_pct"] == 100.0 and figures["count_agree_pct"] == 100.0
    assert figures["missing"] == 0 and figures["extra"] == 0 and figures["count_missing"] == 0
    assert (ref["count"] > 0).mean() > 0.5 and ref["count"].max() >= 2
    # It is not the full-resolution cube.
    full = reference_cube(world, grid, month_bins(START, END), BANDS, chunk=32)
    assert not np.array_equal(full["red"], ref["red"])

    # The done records name each asset's level: at 1/3600° (21.9 m x 30.9 m here) the 10 m
    # bands read their 20 m level; the 20 m SCL stays at 20 m with auto, 40 m with level 1.
    levels = [lv for r in done_records(store) for lv in (r.get("overview_levels") or {}).values()]
    assert levels
    want_scl = 0 if overviews == "auto" else 1
    assert all(lv.get(b) in (None, 1) for lv in levels for b in BANDS)
    assert all(lv.get("scl") in (None, want_scl) for lv in levels)
    assert any(lv.get("red") == 1 for lv in levels) and any("scl" in lv for lv in levels)


def test_auto_reads_fewer_bytes_and_a_10m_grid_reads_what_it_read(served, tmp_path):
    _, env = served
    stac = f"api: {env['WORLD_STAC_URL']}"
    # 1/3600°: fewer bytes with auto than with none.
    _, none_log = build(write_spec(tmp_path / "ll-none.yaml", stac))
    _, auto_log = build(write_spec(tmp_path / "ll-auto.yaml", stac, extra="overviews: auto\n"))
    none_bytes = sum(r["bytes_read"] for r in none_log)
    auto_bytes = sum(r["bytes_read"] for r in auto_log)
    print(f"1/3600: none {none_bytes} B, auto {auto_bytes} B")
    assert auto_bytes < 0.7 * none_bytes

    # 10 m UTM: the rule picks full resolution for every asset, so the same requests, the
    # same bytes and the same chunks, byte for byte.
    a, a_log = build(write_spec(tmp_path / "utm-none.yaml", stac, crs="EPSG:32633", res="10", chunk=100))
    b, b_log = build(write_spec(tmp_path / "utm-auto.yaml", stac, crs="EPSG:32633", res="10", chunk=100,
                                extra="overviews: auto\n"))
    key = lambda r: r["job"]  # noqa: E731
    for x, y in zip(sorted(a_log, key=key), sorted(b_log, key=key)):
        assert x["job"] == y["job"]
        assert (x["bytes_read"], x.get("requests")) == (y["bytes_read"], y.get("requests"))
    assert chunk_files(a) == chunk_files(b) and chunk_files(a)
    levels = [lv for r in done_records(b) for s in (r.get("overview_levels") or {}).values() for lv in s.values()]
    assert levels and set(levels) == {0}
    assert all(r.get("overview_levels") is None for r in done_records(a))


def test_an_index_without_levels_is_read_for_none_and_refused_for_auto(served, tmp_path):
    _, env = served
    stac = f"api: {env['WORLD_STAC_URL']}"
    for name, extra in [("old-none", ""), ("old-auto", "overviews: auto\n")]:
        spec = write_spec(tmp_path / f"{name}.yaml", stac, extra=extra)
        store = spec.with_suffix(".zarr")
        cube("init", spec)
        snap = store / "_cube" / "index" / "snapshot.json"
        meta = json.loads(snap.read_text())
        assert meta["format"] == "cube-scene-index/2"
        meta["format"] = "cube-scene-index/1"
        snap.write_text(json.dumps(meta))
        out = cube("worker", store, "--job", "2024-03/0/0", check=False)
        if extra:
            assert out.returncode != 0
            assert "does not record COG overview levels" in out.stderr and "cube index STORE --refresh" in out.stderr
        else:
            assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("overviews", ["none", "auto"])
def test_band_wave_at_start_reads_the_same_pixels_for_a_few_bytes_more(served, tmp_path, overviews):
    """The band tiles of each observation's first scene go out with the mask wave (speculative:
    before its mask is decoded). The chunks are the same byte for byte as with each scene's bands
    requested by its lane after its mask (CUBE_BAND_WAVE=lanes); the speculation costs the tiles
    under which the mask turns out to have no usable pixel, a bounded share."""
    _, env = served
    extra = f"overviews: {overviews}\n"
    logs, stores = {}, {}
    for mode in ("lanes", "start"):
        spec = write_spec(tmp_path / f"wave-{mode}.yaml", f"api: {env['WORLD_STAC_URL']}", extra=extra)
        store = spec.with_suffix(".zarr")
        cube("init", spec)
        run_env = dict(os.environ)
        run_env.pop("CUBE_BAND_WAVE", None)
        if mode == "lanes":
            run_env["CUBE_BAND_WAVE"] = "lanes"
        out = subprocess.run([cube_bin(), "worker", str(store), "--threads", "2"], capture_output=True, text=True,
                             timeout=600, env=run_env)
        assert out.returncode == 0, out.stderr
        logs[mode] = {r["job"]: r for r in map(json.loads, out.stdout.splitlines())}
        stores[mode] = store
    assert chunk_files(stores["lanes"]) == chunk_files(stores["start"]) and chunk_files(stores["start"])
    assert logs["lanes"].keys() == logs["start"].keys()
    lanes = sum(r["bytes_read"] for r in logs["lanes"].values())
    start = sum(r["bytes_read"] for r in logs["start"].values())
    print(f"{overviews}: bands by lane {lanes} B, with the mask wave {start} B")
    # Never less (the same tiles are read), and the speculation is bounded: a tile of a first
    # scene is wasted only where its mask has no usable pixel under it.
    assert lanes <= start <= 1.5 * lanes
