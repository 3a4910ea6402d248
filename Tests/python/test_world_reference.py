"""The independent reference: sampling, dedup, solar-day fusion, harmonisation, median, compare."""
from __future__ import annotations

import json
import shutil
from datetime import date

import numpy as np
import rasterio
import pytest
import shapely
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import mapping

from world_testkit import items, local_path, small_world
from world.compare import compare, print_report
from world.ref_items import dedup, load_items
from world.reference import main as reference_main, median_and_count, reference_cube
from world.refgrid import Grid, day_bins, month_bins

# ---------------------------------------------------------------- hand-built mini world

X0, Y0 = 500000, 5000000  # zone 32, lon 9 E: solar time = UTC + 36 min


def _scene(root, iid, when, red, scl, baseline="02.14", applied=False, updated=None, far=False):
    folder = root / "cogs" / iid
    folder.mkdir(parents=True)
    for name, arr, res in (("B04.tif", red, 10), ("SCL.tif", scl, 20)):
        with rasterio.open(folder / name, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1,
                           dtype=arr.dtype.name, crs="EPSG:32632", transform=Affine(res, 0, X0, 0, -res, Y0), nodata=0) as d:
            d.write(arr, 1)
    ox = 50000 if far else 0
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(
        [X0 + ox, X0 + ox + 80, X0 + ox + 80, X0 + ox], [Y0, Y0, Y0 - 80, Y0 - 80])
    geom = shapely.Polygon(zip(lon, lat)).buffer(0.0005)
    new = baseline >= "04.00"
    return {
        "type": "Feature", "id": iid, "collection": "sentinel-2-l2a", "bbox": list(geom.bounds),
        "geometry": mapping(geom),
        "properties": {"datetime": when, "updated": updated or when, "grid:code": "MGRS-32TMR",
                       "s2:processing_baseline": baseline, "earthsearch:boa_offset_applied": applied,
                       "proj:epsg": 32632},
        "assets": {
            "red": {"href": f"http://w/cogs/{iid}/B04.tif", "proj:transform": [10, 0, X0, 0, -10, Y0],
                    "raster:bands": [{"nodata": 0, "scale": 0.0001, "offset": -0.1 if new else 0}]},
            "scl": {"href": f"http://w/cogs/{iid}/SCL.tif", "proj:transform": [20, 0, X0, 0, -20, Y0],
                    "raster:bands": [{"nodata": 0}]},
        },
    }


def _full(v, n=8, dtype=np.uint16):
    return np.full((n, n), v, dtype=dtype)


@pytest.fixture
def mini_world(tmp_path):
    scl_cloud = _full(4, 4, np.uint8)
    scl_cloud[0, 0] = 9  # 20 m cloud over 10 m rows 0-1, cols 0-1
    red_d = _full(1003)
    red_d[:, 4:6], red_d[:, 6:] = 900, 0  # 900 - 1000 clamps to 1; 0 is nodata
    its = [
        _scene(tmp_path, "S2A_32TMR_20240305_0_L2A", "2024-03-05T10:00:00.000000Z", _full(1500), scl_cloud,
               "05.10", updated="2024-04-20T00:00:00Z"),
        # Reprocessed: newer baseline wins although its `updated` is older.
        _scene(tmp_path, "S2A_32TMR_20240305_1_L2A", "2024-03-05T10:00:00.000000Z", _full(1600), scl_cloud,
               "05.11", updated="2024-03-25T00:00:00Z"),
        # Same solar day, 3 s later (next tile of the pass): fills the cloud hole only.
        _scene(tmp_path, "S2A_32TMS_20240305_0_L2A", "2024-03-05T10:00:03.000000Z", _full(700), _full(4, 4, np.uint8)),
        # Just before UTC midnight but already the next solar day at 9 E: its own observation.
        _scene(tmp_path, "S2B_32TMR_20240305_0_L2A", "2024-03-05T23:30:00.000000Z", _full(640), _full(5, 4, np.uint8)),
        # Offset already applied: raster:bands still says -0.1, the flag wins.
        _scene(tmp_path, "S2A_32TMR_20240310_0_L2A", "2024-03-10T10:00:00.000000Z", _full(650), _full(4, 4, np.uint8),
               "05.10", applied=True),
        _scene(tmp_path, "S2A_32TMR_20240315_0_L2A", "2024-03-15T10:00:00.000000Z", red_d, _full(5, 4, np.uint8), "05.10"),
        # Cloud shadow everywhere: no valid pixel.
        _scene(tmp_path, "S2A_32TMR_20240320_0_L2A", "2024-03-20T10:00:00.000000Z", _full(800), _full(3, 4, np.uint8)),
        # Footprint elsewhere: skipped although its file has data here.
        _scene(tmp_path, "S2A_32TMR_20240325_0_L2A", "2024-03-25T10:00:00.000000Z", _full(2000), _full(4, 4, np.uint8),
               far=True),
        # Next bin.
        _scene(tmp_path, "S2A_32TMR_20240401_0_L2A", "2024-04-01T00:00:00.000000Z", _full(999), _full(4, 4, np.uint8)),
    ]
    (tmp_path / "items.ndjson").write_text("".join(json.dumps(i) + "\n" for i in its))
    (tmp_path / "world.json").write_text(json.dumps({"base_url": "http://w"}))
    return tmp_path


@pytest.mark.parametrize("fuse", ["first-data", "first-valid"])
def test_mini_world_rules(mini_world, fuse):
    grid = Grid("EPSG:32632", 10, 10, X0 // 10, Y0 // 10, 8, 8)
    ref = reference_cube(mini_world, grid, month_bins(date(2024, 3, 1), date(2024, 4, 1)), ["red"], fuse=fuse)
    red, count = ref["red"], ref["count"]
    # March: day 05 pass (A dup 600, under its cloud: masked with first-data, the next tile's
    # 700 with first-valid), 05 late (640), 10 (650), 15 (3 / 1 / none).
    exp = np.full((8, 8), 620, np.uint16)           # {3, 600, 640, 650} -> (600 + 640 + 1) // 2
    exp[:2, :2] = 640 if fuse == "first-data" else 645   # {3, 640, 650} or {3, 640, 650, 700}
    exp[:, 4:6] = 620                               # {1, 600, 640, 650}
    exp[:, 6:] = 640                                # {600, 640, 650}
    exp_count = np.full((8, 8), 4, np.uint16)
    exp_count[:, 6:] = 3
    if fuse == "first-data":
        exp_count[:2, :2] = 3
    np.testing.assert_array_equal(red[0], exp)
    np.testing.assert_array_equal(count[0], exp_count)
    np.testing.assert_array_equal(red[1], _full(999))
    np.testing.assert_array_equal(count[1], _full(1))


def test_mini_world_composite_statistics(mini_world):
    grid = Grid("EPSG:32632", 10, 10, X0 // 10, Y0 // 10, 8, 8)
    bins = month_bins(date(2024, 3, 1), date(2024, 4, 1))
    median = reference_cube(mini_world, grid, bins, ["red"])
    ref = reference_cube(mini_world, grid, bins, ["red"], composite=["median", "mean", "min", "max", "p25", "p50"])
    assert list(ref) == ["red_median", "red_mean", "red_min", "red_max", "red_p25", "red_p50", "count"]
    np.testing.assert_array_equal(ref["red_median"], median["red"])
    np.testing.assert_array_equal(ref["red_p50"], median["red"])
    np.testing.assert_array_equal(ref["count"], median["count"])
    # March, column 4: {1, 600, 640, 650}: mean 1891/4 = 472.75, p25 h = 0.75 -> 1 + 0.75*599 = 450.25.
    assert [int(ref[n][0, 3, 4]) for n in ("red_mean", "red_min", "red_max", "red_p25")] == [473, 1, 650, 450]
    # Column 0, rows 2+: {3, 600, 640, 650}: mean 473.25, p25 3 + 0.75*597 = 450.75.
    assert [int(ref[n][0, 3, 0]) for n in ("red_mean", "red_min", "red_max", "red_p25")] == [473, 3, 650, 451]
    single = reference_cube(mini_world, grid, bins, ["red"], composite="p25")
    assert list(single) == ["red", "count"]
    np.testing.assert_array_equal(single["red"], ref["red_p25"])


def test_invalid_classes_are_configurable(mini_world):
    grid = Grid("EPSG:32632", 10, 10, X0 // 10, Y0 // 10, 8, 8)
    bins = month_bins(date(2024, 3, 1), date(2024, 3, 1))
    ref = reference_cube(mini_world, grid, bins, ["red"], invalid=[0])  # shadows now count
    assert ref["count"][0, 4, 0] == 5 and ref["red"][0, 4, 0] == 640  # {3, 600, 640, 650, 800}


def test_median_rules_by_hand():
    obs = np.array([[5, 4, 0, 1, 7], [0, 7, 0, 2, 7], [3, 0, 0, 0, 8], [8, 0, 0, 0, 9]], dtype=np.uint16)[:, None, :]
    med, count = median_and_count(obs)
    np.testing.assert_array_equal(med[0], [5, 6, 0, 2, 8])   # odd, (4+7+1)//2, none, (1+2+1)//2, (7+8+1)//2
    np.testing.assert_array_equal(count[0], [3, 2, 0, 2, 4])


# ---------------------------------------------------------------- the generated small world

def test_tile_grid_reproduces_a_single_scene(tmp_path):
    """Target grid = a source tile's own 10 m grid: values are that scene's pixels, harmonised."""
    world = small_world(7)
    it = next(i for i in items(world) if i["properties"]["s2:processing_baseline"] == "05.10"
              and not i["properties"]["earthsearch:boa_offset_applied"] and i["id"].endswith("_0_L2A"))
    solo = tmp_path / "solo"
    solo.mkdir()
    shutil.copy(world / "world.json", solo)
    (solo / "sentinel-s2-l2a-cogs").symlink_to(world / "sentinel-s2-l2a-cogs")
    (solo / "items.ndjson").write_text(json.dumps(it) + "\n")
    a = it["assets"]["red"]
    epsg = it["properties"].get("proj:epsg") or int(it["properties"]["proj:code"][5:])
    h, w = a["proj:shape"]
    grid = Grid(f"EPSG:{epsg}", 10, 10, int(a["proj:transform"][2] // 10), int(a["proj:transform"][5] // 10), w, h)
    day = date.fromisoformat(it["properties"]["datetime"][:10])
    ref = reference_cube(solo, grid, day_bins(day, day, 1), ["red", "nir"])
    with rasterio.open(local_path(world, a["href"])) as src:
        red = src.read(1).astype(np.int32)
    with rasterio.open(local_path(world, it["assets"]["nir"]["href"])) as src:
        nir = src.read(1)
    with rasterio.open(local_path(world, it["assets"]["scl"]["href"])) as src:
        scl = src.read(1).repeat(2, 0).repeat(2, 1)   # 10 m pixel (r, c) lies in 20 m pixel (r//2, c//2)
    valid = ~np.isin(scl, [0, 1, 3, 8, 9, 10]) & (red > 0) & (nir > 0)
    assert 0.05 < valid.mean() < 0.95
    np.testing.assert_array_equal(ref["red"][0], np.where(valid, np.maximum(red - 1000, 1), 0))
    np.testing.assert_array_equal(ref["count"][0], valid.astype(np.uint16))


def test_dedup_keeps_the_reprocessed_scenes():
    world = small_world(7)
    meta = json.loads((world / "world.json").read_text())
    kept = {i.id for i in dedup(load_items(world / "items.ndjson"))}
    for s in meta["scenes"]:
        if s["duplicate_of"]:
            assert s["id"] in kept and s["duplicate_of"] not in kept
    assert len(kept) == len(meta["scenes"]) - len(meta["dedup_winners"])


def test_grid_snapping_and_bins():
    g = Grid.from_bounds("EPSG:32632", 10, (700000.0000001, 5000003, 700095, 5000100 - 1e-8))
    assert (g.ix0, g.iy0, g.width, g.height) == (70000, 500010, 10, 10)
    assert g.xs()[0] == 700005.0 and g.ys()[-1] == 5000005.0
    assert Grid.from_coords("EPSG:32632", g.xs(), g.ys()) == g
    ll = Grid.from_bbox("EPSG:4326", 0.001, (12.2501, 45.47, 12.28, 45.49))
    assert (ll.ix0, ll.iy0, ll.width, ll.height) == (12250, 45490, 30, 20)
    labels = [b.label for b in month_bins(date(2024, 1, 1), date(2024, 3, 1))]
    assert labels == ["2024-01", "2024-02", "2024-03"]
    days = day_bins(date(2024, 3, 1), date(2024, 3, 10), 5)
    assert [b.label for b in days] == ["2024-03-01", "2024-03-06"] and days[1].end.day == 11


def test_compare_reports_differences(capsys):
    ref = {"red": np.array([[[5, 0], [7, 9]]], np.uint16), "count": np.array([[[1, 0], [2, 1]]], np.uint16)}
    assert print_report(compare(ref, ref, ["red"]))
    cube = {"red": np.array([[[6, 0], [7, 0]]], np.uint16), "count": np.array([[[1, 0], [2, 0]]], np.uint16)}
    rep = compare(cube, ref, ["red"])
    assert rep.bands[0].exact_pct == 50.0 and rep.bands[0].within1_pct == 75.0 and rep.bands[0].missing == 1
    assert rep.count_agree_pct == 75.0 and rep.count_missing == 1
    assert not print_report(rep)


def test_cli_compares_a_zarr_cube(tmp_path, capsys):
    import zarr

    world = small_world(7)
    grid = Grid.from_bbox("EPSG:32633", 20, (12.255, 45.475, 12.275, 45.485))
    bins = month_bins(date(2024, 2, 1), date(2024, 3, 1))
    ref = reference_cube(world, grid, bins, ["red", "nir"])
    assert (ref["count"] > 0).mean() > 0.5
    g = zarr.open_group(str(tmp_path / "cube.zarr"), mode="w")
    for name in ("red", "nir", "count"):
        g.create_array(name, data=ref[name])
    g.create_array("x", data=grid.xs())
    g.create_array("y", data=grid.ys())
    g.create_array("spatial_ref", data=np.array(0)).attrs["crs_wkt"] = "EPSG:32633"
    args = ["--world", str(world), "--start", "2024-02-01", "--end", "2024-03-01", "--bands", "red,nir",
            "--compare", str(tmp_path / "cube.zarr")]
    assert reference_main(args) == 0
    assert "exact 100.0000%" in capsys.readouterr().out
    g["nir"][0, 0, 0] = int(ref["nir"][0, 0, 0]) + 3
    assert reference_main(args) == 1


def test_cli_compares_a_composite_zarr_cube(tmp_path, capsys):
    import zarr

    world = small_world(7)
    grid = Grid.from_bbox("EPSG:32633", 20, (12.255, 45.475, 12.275, 45.485))
    bins = month_bins(date(2024, 2, 1), date(2024, 3, 1))
    composite = ["median", "p10", "geomedian"]
    ref = reference_cube(world, grid, bins, ["red", "nir"], composite=composite)
    assert list(ref) == ["red_median", "nir_median", "red_p10", "nir_p10", "red_geomedian", "nir_geomedian",
                         "smad", "emad", "bcmad", "count"]
    assert ref["smad"].dtype == np.float32 and np.isnan(ref["emad"][ref["count"] == 0]).all()
    assert not np.isnan(ref["bcmad"][ref["count"] > 0]).any()
    g = zarr.open_group(str(tmp_path / "cube.zarr"), mode="w")
    for name, arr in ref.items():
        g.create_array(name, data=arr)
    g.create_array("x", data=grid.xs())
    g.create_array("y", data=grid.ys())
    g.create_array("spatial_ref", data=np.array(0)).attrs["crs_wkt"] = "EPSG:32633"
    args = ["--world", str(world), "--start", "2024-02-01", "--end", "2024-03-01", "--bands", "red,nir",
            "--composite", "median,p10,geomedian", "--compare", str(tmp_path / "cube.zarr")]
    assert reference_main(args) == 0
    out = capsys.readouterr().out
    assert "red_geomedian" in out and "smad" in out and "verdict: PASS" in out
    has = np.argwhere(ref["count"] > 0)[0]
    v = int(ref["nir_geomedian"][tuple(has)])
    g["nir_geomedian"][tuple(has)] = v + 1 if v < 65535 else v - 1   # within ±1 DN: still passes
    assert reference_main(args) == 0
    g["red_p10"][tuple(has)] = int(ref["red_p10"][tuple(has)]) ^ 1   # order statistics are exact
    assert reference_main(args) == 1
    assert reference_main(args[:-4] + ["--composite", "p10,p10", "--compare", str(tmp_path / "cube.zarr")]) == 2
