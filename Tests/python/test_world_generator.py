"""The world generator: determinism, real COGs, Earth Search-like items, the world's rules."""
from __future__ import annotations

import json
import subprocess
from collections import Counter, defaultdict
from datetime import date

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import shape
import shapely

from world_testkit import BASE_URL, items, local_path, small_world, tree_digest
from world.make_world import build_world
from world.presets import preset


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    params = preset("small", end=date(2024, 2, 20))  # a shorter small world keeps this quick
    digests = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        build_world(tmp_path / name, params, seed, BASE_URL, "small")
        digests.append(tree_digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert len([k for k in digests[0] if k.endswith(".tif")]) >= 5 * 10
    assert digests[2]["items.ndjson"] != digests[0]["items.ndjson"]
    assert digests[2]["world.json"] != digests[0]["world.json"]


def test_cogs_are_real_cogs():
    world = small_world(7)
    it = items(world)[0]
    for key, dtype, res in (("red", "uint16", 10), ("nir", "uint16", 10), ("scl", "uint8", 20)):
        path = local_path(world, it["assets"][key]["href"])
        info = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True, check=True).stdout
        assert "LAYOUT=COG" in info and "COMPRESSION=DEFLATE" in info
        assert "Overviews:" in info and "NoData Value=0" in info
        with rasterio.open(path) as src:
            assert src.driver == "GTiff" and src.dtypes[0] == dtype
            assert src.nodata == 0 and src.overviews(1)
            bh, bw = src.block_shapes[0]
            assert bh == bw and bh < src.height  # square tiles, not strips
            assert list(src.transform)[:6] == it["assets"][key]["proj:transform"]
            assert [src.height, src.width] == it["assets"][key]["proj:shape"]
            assert src.res == (res, res)


def test_items_follow_earth_search_layout():
    world = small_world(7)
    its = items(world)
    assert its == json.loads((world / "items.json").read_text())["features"]
    assert json.loads((world / "collection.json").read_text())["id"] == "sentinel-2-l2a"
    for it in its:
        p = it["properties"]
        assert it["collection"] == "sentinel-2-l2a" and p["datetime"].endswith("Z")
        assert p["grid:code"] == f"MGRS-{p['mgrs:utm_zone']}{p['mgrs:latitude_band']}{p['mgrs:grid_square']}"
        assert it["id"].startswith(f"S2{p['platform'][-1].upper()}_{p['grid:code'][5:]}_")
        assert ("proj:epsg" in p) != ("proj:code" in p)
        assert set(it["assets"]) == {"red", "green", "blue", "nir", "scl"}
        for key, a in it["assets"].items():
            assert a["href"].startswith(BASE_URL + "/sentinel-s2-l2a-cogs/")
            assert a["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
            rb = a["raster:bands"][0]
            assert rb["nodata"] == 0
            if key != "scl":
                expected = -0.1 if p["s2:processing_baseline"] >= "04.00" else 0
                assert (rb["scale"], rb["offset"]) == (0.0001, expected)
        assert shape(it["geometry"]).is_valid
        assert shapely.box(*it["bbox"]).contains(shape(it["geometry"]).buffer(-1e-9))


def test_world_has_every_case_the_pipeline_must_handle():
    world = small_world(7)
    its = items(world)
    props = [i["properties"] for i in its]
    kinds = Counter((p["s2:processing_baseline"], p["earthsearch:boa_offset_applied"]) for p in props)
    assert kinds[("02.14", False)] and kinds[("05.10", False)] and kinds[("05.10", True)]
    assert any("proj:code" in p for p in props) and any("proj:epsg" in p for p in props)
    assert {p["mgrs:utm_zone"] for p in props} == {32, 33}
    # Reprocessed duplicates: same tile + datetime, `_1_` id.
    by_key = defaultdict(list)
    for i in its:
        by_key[(i["properties"]["grid:code"], i["properties"]["datetime"])].append(i["id"])
    dups = [v for v in by_key.values() if len(v) > 1]
    assert len(dups) >= 2 and all(sorted(v)[1].endswith("_1_L2A") for v in dups)
    # Same pass over neighbouring tiles: several items within seconds of each other.
    times = sorted(np.datetime64(p["datetime"][:-1]) for p in props)
    assert any((b - a) < np.timedelta64(5, "s") and (b - a) > np.timedelta64(0, "s") for a, b in zip(times, times[1:]))
    # Every scene covers only part of its tile; all SCL classes occur.
    assert all(0 < p["s2:nodata_pixel_percentage"] < 100 for p in props)
    classes = set()
    for it in its[::4]:
        with rasterio.open(local_path(world, it["assets"]["scl"]["href"])) as src:
            classes |= set(np.unique(src.read(1)).tolist())
    assert {0, 1, 3, 4, 5, 6, 8, 9, 10, 11} <= classes


def test_duplicates_differ_in_data():
    world = small_world(7)
    meta = json.loads((world / "world.json").read_text())
    by_id = {i["id"]: i for i in items(world)}
    for s in meta["scenes"]:
        if s["duplicate_of"]:
            new, old = by_id[s["id"]], by_id[s["duplicate_of"]]
            with rasterio.open(local_path(world, new["assets"]["red"]["href"])) as a, \
                    rasterio.open(local_path(world, old["assets"]["red"]["href"])) as b:
                assert not np.array_equal(a.read(1), b.read(1))


def _valid_red(world, it):
    with rasterio.open(local_path(world, it["assets"]["red"]["href"])) as src:
        red = src.read(1)
    with rasterio.open(local_path(world, it["assets"]["scl"]["href"])) as src:
        scl = src.read(1).repeat(2, 0).repeat(2, 1)
    return red, scl


def test_dn_follow_the_baseline_rules():
    """Vegetation red DN: old baseline ~ reflectance*10000, new +1000 unless the offset was applied."""
    world = small_world(7)
    med = defaultdict(list)
    for it in items(world):
        p = it["properties"]
        red, scl = _valid_red(world, it)
        veg = red[(scl == 4) & (red > 0)]
        if veg.size > 500:
            med[(p["s2:processing_baseline"] >= "04.00", p["earthsearch:boa_offset_applied"])].append(np.median(veg))
    old, new, applied = (np.median(med[k]) for k in ((False, False), (True, False), (True, True)))
    assert 850 < new - old < 1150
    assert abs(applied - old) < 150
    assert 300 < old < 800


def test_footprints_contain_every_valid_pixel():
    world = small_world(7)
    for it in items(world)[::5]:
        red, _ = _valid_red(world, it)
        rows, cols = np.nonzero(red)
        a, _, c, _, e, f = it["assets"]["red"]["proj:transform"]
        epsg = it["properties"].get("proj:epsg") or int(it["properties"]["proj:code"].split(":")[1])
        # The four corners of each valid pixel (1 cm inside, off the tile's own edge), in lon/lat.
        xs = np.concatenate([c + (cols + dx) * a for dx in (0.001, 0.999, 0.001, 0.999)])
        ys = np.concatenate([f + (rows + dy) * e for dy in (0.001, 0.001, 0.999, 0.999)])
        lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(xs, ys)
        assert shapely.contains_xy(shape(it["geometry"]), lon, lat).all(), it["id"]


def test_cli_reports_bad_preset(tmp_path):
    from world.make_world import main
    assert main(["--out", str(tmp_path / "w"), "--preset", "nope"]) == 2
