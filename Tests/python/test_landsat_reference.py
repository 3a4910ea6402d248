"""Landsat C2 L2 in the test world: the reference's Landsat rules on hand-made items (qa_pixel bits,
exact DN conversion, nir -> nir08, no fusion across collections, per-sensor counts) and the
generator's `--landsat` scenes (items modelled on a genuine Earth Search item, COGs, qa_pixel)."""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import Affine
from scipy import ndimage
from shapely.geometry import mapping, shape

from world_testkit import BASE_URL, items, local_path, served, small_world, tree_digest, world_with
from world import landsat
from world.compare import compare, print_report
from world.make_world import build_world
from world.presets import preset
from world.ref_items import dedup, load_items
from world.reference import (asset_key, landsat_values, main as reference_main, parse_collections, qa_bit_mask,
                             reference_cube)
from world.refgrid import Grid, day_bins, month_bins

GENUINE = json.loads((Path(__file__).parent / "data" / "landsat-c2-l2-earth-search-item.json").read_text())
LS, S2 = "landsat-c2-l2", "sentinel-2-l2a"

# ---------------------------------------------------------------- hand-made items

X0, Y0 = 500010, 5000010   # zone 32 (lon 9 E), on the 30 m lattice: a 30 m grid's centres are pixel centres
N = 4                      # 4 x 4 Landsat pixels
GRID = Grid("EPSG:32632", 30, 30, X0 // 30, Y0 // 30, N, N)

CLEAR = (1 << 6) | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)   # 21824, as USGS: clear, low confidences
assert CLEAR == 21824


def _tif(path: Path, arr: np.ndarray, res: int, nodata: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1,
                       dtype=arr.dtype.name, crs="EPSG:32632", transform=Affine(res, 0, X0, 0, -res, Y0),
                       nodata=nodata) as d:
        d.write(arr, 1)


def _geometry(far: bool = False) -> dict:
    ox = 50000 if far else 0
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(
        [X0 + ox, X0 + ox + N * 30, X0 + ox + N * 30, X0 + ox], [Y0, Y0, Y0 - N * 30, Y0 - N * 30])
    return mapping(shapely.Polygon(zip(lon, lat)).buffer(0.0005))


def _full(v, n=N, dtype=np.uint16):
    return np.full((n, n), v, dtype=dtype)


def landsat_item(root: Path, iid: str, when: str, qa, *, red=10000, nir08=20000, extra_assets=None,
                 raster_bands="default", far=False) -> dict:
    """A Landsat item in Earth Search layout (proj:transform in the properties) with red, nir08 and
    qa_pixel 30 m rasters (arrays or constants)."""
    folder = root / "ls" / iid
    arrays = {"red": red, "nir08": nir08, "qa_pixel": qa}
    assets = {}
    for key, v in arrays.items():
        arr = v if isinstance(v, np.ndarray) else _full(v)
        _tif(folder / f"{key}.TIF", arr.astype(np.uint16), 30, nodata=1 if key == "qa_pixel" else 0)
        a = {"href": f"http://w/ls/{iid}/{key}.TIF", "type": "image/tiff; application=geotiff; profile=cloud-optimized"}
        if key == "qa_pixel":
            a["raster:bands"] = [{"nodata": 1, "data_type": "uint16", "spatial_resolution": 30, "unit": "bit index"}]
        elif raster_bands == "default":
            a["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
                                  "scale": 2.75e-05, "offset": -0.2}]
        elif raster_bands is not None:
            a["raster:bands"] = [raster_bands]
        assets[key] = a
    for key, v in (extra_assets or {}).items():
        _tif(folder / f"{key}.TIF", _full(v), 30)
        assets[key] = {"href": f"http://w/ls/{iid}/{key}.TIF"}
    geom = _geometry(far)
    return {"type": "Feature", "id": iid, "collection": LS, "bbox": list(shape(geom).bounds), "geometry": geom,
            "properties": {"datetime": when, "platform": "landsat-8", "proj:epsg": 32632,
                           "proj:shape": [N, N], "proj:transform": [30, 0, X0, 0, -30, Y0]},
            "assets": assets}


def s2_item(root: Path, iid: str, when: str, red=1500, nir=3000, scl=4) -> dict:
    """A Sentinel-2 item (baseline 02.14: no offset) over the same 120 m square (10 m bands, 20 m SCL)."""
    folder = root / "s2" / iid
    _tif(folder / "B04.tif", _full(red, 12), 10)
    _tif(folder / "B08.tif", _full(nir, 12), 10)
    _tif(folder / "SCL.tif", _full(scl, 6, np.uint8), 20)
    geom = _geometry()
    rb = [{"nodata": 0, "scale": 0.0001, "offset": 0}]
    return {"type": "Feature", "id": iid, "collection": S2, "bbox": list(shape(geom).bounds), "geometry": geom,
            "properties": {"datetime": when, "updated": when, "grid:code": "MGRS-32TMR",
                           "s2:processing_baseline": "02.14", "earthsearch:boa_offset_applied": False,
                           "proj:epsg": 32632},
            "assets": {
                "red": {"href": f"http://w/s2/{iid}/B04.tif", "proj:transform": [10, 0, X0, 0, -10, Y0], "raster:bands": rb},
                "nir": {"href": f"http://w/s2/{iid}/B08.tif", "proj:transform": [10, 0, X0, 0, -10, Y0], "raster:bands": rb},
                "scl": {"href": f"http://w/s2/{iid}/SCL.tif", "proj:transform": [20, 0, X0, 0, -20, Y0],
                        "raster:bands": [{"nodata": 0}]},
            }}


def write_world(root: Path, its: list[dict]) -> Path:
    (root / "items.ndjson").write_text("".join(json.dumps(i) + "\n" for i in its))
    (root / "world.json").write_text(json.dumps({"base_url": "http://w"}))
    return root


def march(**kw):
    return reference_cube(kw.pop("world"), GRID, month_bins(date(2024, 3, 1), date(2024, 3, 1)), **kw)


def value(dn: int, scale="2.75e-05", offset="-0.2") -> int:
    """The written rule with Fractions: round half up of (DN*scale + offset)*10000, 1..65535; 0 for DN 0."""
    if dn == 0:
        return 0
    v = (Fraction(dn) * Fraction(scale) + Fraction(offset)) * 10000
    return max(1, min(65535, int((v + Fraction(1, 2)).__floor__())))


# The qa_pixel cases of one 4 x 4 scene (row-major pixel index -> qa value) and whether the
# default bits (0, 1, 2, 3, 4) leave it valid. Pixel 10 is clear but its red DN is 0.
QA_CASES = [
    ("clear", CLEAR, True),
    ("fill", 1, None),                                   # None: no data
    ("zero", 0, None),
    ("dilated", (CLEAR & ~(1 << 6)) | (1 << 1), False),
    ("cirrus", CLEAR | (1 << 2) | (3 << 14), False),
    ("cloud", (CLEAR & ~(1 << 6) & ~(3 << 8)) | (1 << 3) | (3 << 8), False),
    ("shadow", CLEAR | (1 << 4) | (3 << 10), False),
    ("snow", CLEAR | (1 << 5) | (3 << 12), True),
    ("water", CLEAR | (1 << 7), True),
    ("cloud confidence high, no cloud bit", (CLEAR & ~(3 << 8)) | (3 << 8), True),
    ("clear, red DN 0", CLEAR, False),
    ("fill bit with others", 1 | CLEAR, None),
    ("clear", CLEAR, True), ("clear", CLEAR, True), ("clear", CLEAR, True), ("clear", CLEAR, True),
]


@pytest.fixture
def qa_world(tmp_path):
    qa = np.array([q for _, q, _ in QA_CASES], np.uint16).reshape(N, N)
    red = _full(10000)
    red.flat[10] = 0
    its = [
        landsat_item(tmp_path, "LC08_L2SP_191028_20240305_02_T1", "2024-03-05T09:52:00.000000Z", qa, red=red),
        # The next row of the same acquisition: same solar day, all clear, other values.
        landsat_item(tmp_path, "LC08_L2SP_191029_20240305_02_T1", "2024-03-05T09:52:01.000000Z", CLEAR,
                     red=20000, nir08=30000),
    ]
    return write_world(tmp_path, its)


def test_qa_bits_and_first_data_fusion(qa_world):
    ref = march(world=qa_world, bands=["red"], collections=[LS])
    assert list(ref) == ["red", "count"]
    red, count = ref["red"][0].ravel(), ref["count"][0].ravel()
    first, second = value(10000), value(20000)
    assert (first, second) == (750, 3500)
    for i, (name, _, valid) in enumerate(QA_CASES):
        if valid:                       # the first scene gives the pixel
            assert (red[i], count[i]) == (first, 1), name
        elif valid is None or i == 10:  # no data in the first scene: the next row fills it
            assert (red[i], count[i]) == (second, 1), name
        else:                           # invalid in the first scene: masked for the solar day
            assert (red[i], count[i]) == (0, 0), name


def test_first_valid_fills_every_invalid_pixel_from_the_next_row(qa_world):
    ref = march(world=qa_world, bands=["red"], collections=[LS], fuse="first-valid")
    red = ref["red"][0].ravel()
    for i, (name, _, valid) in enumerate(QA_CASES):
        assert red[i] == (750 if valid else 3500), name
    assert (ref["count"][0] == 1).all()


@pytest.mark.parametrize("bits, now_invalid, now_valid", [
    ((0, 1, 2, 3, 4, 5, 7), {"snow", "water"}, set()),
    ((0,), set(), {"dilated", "cirrus", "cloud", "shadow"}),
    ((3,), set(), {"dilated", "cirrus", "shadow"}),       # fill stays no data without bit 0
    ((0, 1, 2, 3, 4, 9), {"cloud confidence high, no cloud bit"}, set()),
])
def test_invalid_bits_are_configurable(tmp_path, bits, now_invalid, now_valid):
    qa = np.array([q for _, q, _ in QA_CASES], np.uint16).reshape(N, N)
    red = _full(10000)
    red.flat[10] = 0
    world = write_world(tmp_path, [landsat_item(tmp_path, "LC09_L2SP_191028_20240306_02_T1",
                                                "2024-03-06T09:52:00.000000Z", qa, red=red)])
    ref = march(world=world, bands=["red"], collections=[LS], landsat_invalid_bits=bits)
    count = ref["count"][0].ravel()
    for i, (name, _, valid) in enumerate(QA_CASES):
        if valid is None or i == 10:
            expected = 0
        elif name in now_invalid:
            expected = 0
        elif name in now_valid:
            expected = 1
        else:
            expected = int(bool(valid))
        assert count[i] == expected, (name, bits)
    assert qa_bit_mask(bits) == sum(1 << b for b in bits)
    with pytest.raises(ValueError):
        march(world=world, bands=["red"], collections=[LS], landsat_invalid_bits=(16,))


def test_dn_conversion_is_exact_for_every_dn():
    dn = np.arange(65536, dtype=np.uint16)
    got = landsat_values(dn, Fraction("2.75e-05"), Fraction("-0.2"))
    expected = np.array([value(int(d)) for d in dn], np.uint16)
    np.testing.assert_array_equal(got, expected)
    edges = {0: 0, 1: 1, 7272: 1, 7273: 1, 7274: 1, 7275: 1, 7278: 1, 7279: 2, 7300: 8, 7340: 19,
             10000: 750, 43636: 10000, 43637: 10000, 65535: 16022}
    assert {d: int(got[d]) for d in edges} == edges
    # 18.5 exactly: float arithmetic floor(x + 0.5) lands on 18, the exact rule on 19.
    assert value(7340) == 19 and int(np.floor((7340 * 2.75e-05 - 0.2) * 10000 + 0.5)) == 18
    # The closed form of docs/test-world.md.
    closed = np.clip((275 * dn.astype(np.int64) - 2000000 + 500) // 1000, 1, 65535)
    np.testing.assert_array_equal(got[1:], closed[1:])


EDGE_DN = [0, 1, 7272, 7273, 7274, 7275, 7278, 7279, 7300, 7340, 10000, 43636, 43637, 60000, 65534, 65535]


@pytest.mark.parametrize("raster_bands, scale, offset", [
    ("default", "2.75e-05", "-0.2"),
    (None, "2.75e-05", "-0.2"),                                       # no raster:bands: the defaults
    ({"nodata": 0, "scale": 0.0001, "offset": -0.1}, "0.0001", "-0.1"),  # whatever the item says
    ({"nodata": 0, "scale": 2e-05, "offset": 0.0}, "2e-05", "0"),
])
def test_values_through_the_reference(tmp_path, raster_bands, scale, offset):
    red = np.array(EDGE_DN, np.uint16).reshape(N, N)
    world = write_world(tmp_path, [landsat_item(tmp_path, "LC08_L2SP_191028_20240305_02_T1",
                                                "2024-03-05T09:52:00.000000Z", CLEAR, red=red,
                                                raster_bands=raster_bands)])
    ref = march(world=world, bands=["red", "nir"], collections=[LS])
    exp = np.array([value(d, scale, offset) for d in EDGE_DN], np.uint16).reshape(N, N)
    np.testing.assert_array_equal(ref["red"][0], exp)
    np.testing.assert_array_equal(ref["count"][0], (red > 0).astype(np.uint16))
    assert ref["nir"][0, 0, 0] == 0 and ref["nir"][0, 0, 1] == value(20000, scale, offset)


def test_nir_is_nir08(tmp_path):
    assert asset_key(LS, "nir") == "nir08" and asset_key(LS, "red") == "red" and asset_key(LS, "swir16") == "swir16"
    assert asset_key(S2, "nir") == "nir"
    # A decoy `nir` asset must not be read.
    it = landsat_item(tmp_path, "LC08_L2SP_191028_20240305_02_T1", "2024-03-05T09:52:00.000000Z", CLEAR,
                      nir08=30000, extra_assets={"nir": 12345, "swir16": 9000})
    world = write_world(tmp_path, [it])
    ref = march(world=world, bands=["nir", "swir16"], collections=[LS])
    assert (ref["nir"][0] == value(30000)).all() and (ref["swir16"][0] == value(9000)).all()


def test_collections_are_never_fused(tmp_path):
    """A Landsat scene (cloudy at some pixels) and a Sentinel-2 scene on the same solar day are two
    observations: the Landsat cloud does not mask the Sentinel-2 pixel (first-data would, within
    one collection), and each sensor's count is its own."""
    qa = _full(CLEAR)
    qa[0, :] = (CLEAR & ~(1 << 6)) | (1 << 3)                 # cloud in row 0
    its = [
        landsat_item(tmp_path, "LC08_L2SP_191028_20240305_02_T1", "2024-03-05T09:52:00.000000Z", qa),
        s2_item(tmp_path, "S2A_32TMR_20240305_0_L2A", "2024-03-05T10:06:00.000000Z", red=1500, nir=3000),
        # A Sentinel-2 item on another day, and a Landsat item in the next bin.
        s2_item(tmp_path, "S2B_32TMR_20240310_0_L2A", "2024-03-10T10:06:00.000000Z", red=1700, nir=3100),
        landsat_item(tmp_path, "LC09_L2SP_191028_20240401_02_T1", "2024-04-01T09:52:00.000000Z", CLEAR),
    ]
    world = write_world(tmp_path, its)
    bins = month_bins(date(2024, 3, 1), date(2024, 4, 1))
    both = reference_cube(world, GRID, bins, ["red", "nir"], collections=[S2, LS])
    assert list(both) == ["red", "nir", "count", "count_sentinel2", "count_landsat"]
    assert all(a.dtype == np.uint16 for a in both.values())
    np.testing.assert_array_equal(both["count_sentinel2"][0], _full(2))
    exp_ls = _full(1)
    exp_ls[0, :] = 0
    np.testing.assert_array_equal(both["count_landsat"][0], exp_ls)
    np.testing.assert_array_equal(both["count"], both["count_sentinel2"] + both["count_landsat"])
    # Rows 1-3: {750 (Landsat), 1500, 1700} -> 1500; row 0 (Landsat cloud): {1500, 1700} -> 1600.
    exp_red = _full(1500)
    exp_red[0, :] = 1600
    np.testing.assert_array_equal(both["red"][0], exp_red)
    # nir: {3500 (Landsat nir08 20000), 3000, 3100} -> 3100; row 0: (3000 + 3100 + 1) // 2.
    assert both["nir"][0, 1, 1] == 3100 and both["nir"][0, 0, 1] == 3050
    np.testing.assert_array_equal(both["count_landsat"][1], _full(1))
    np.testing.assert_array_equal(both["count_sentinel2"][1], _full(0))

    # One collection: no per-sensor counts, and the other collection's items are ignored.
    s2 = reference_cube(world, GRID, bins, ["red", "nir"])
    assert list(s2) == ["red", "nir", "count"]
    np.testing.assert_array_equal(s2["count"], both["count_sentinel2"])
    np.testing.assert_array_equal(s2["red"][0], _full(1600))
    ls = reference_cube(world, GRID, bins, ["red", "nir"], collections=LS)
    assert list(ls) == ["red", "nir", "count"]
    np.testing.assert_array_equal(ls["count"], both["count_landsat"])
    # first-valid does not merge collections either.
    fv = reference_cube(world, GRID, bins, ["red", "nir"], collections=[S2, LS], fuse="first-valid")
    np.testing.assert_array_equal(fv["count"], both["count"])
    # Composite statistics keep the per-sensor counts last.
    several = reference_cube(world, GRID, bins, ["red"], collections=[LS, S2], composite=["median", "max"])
    assert list(several) == ["red_median", "red_max", "count", "count_landsat", "count_sentinel2"]


def test_landsat_items_are_not_deduplicated(tmp_path):
    its = [landsat_item(tmp_path, iid, "2024-03-05T09:52:00.000000Z", CLEAR, red=r)
           for iid, r in (("LC08_L2SP_191028_20240305_02_T1", 10000), ("LC09_L2SP_191028_20240305_02_T1", 20000))]
    its += [s2_item(tmp_path, f"S2A_32TMR_20240305_{k}_L2A", "2024-03-05T10:06:00.000000Z") for k in (0, 1)]
    world = write_world(tmp_path, its)
    kept = [i.id for i in dedup(load_items(world / "items.ndjson"))]
    assert kept == ["LC08_L2SP_191028_20240305_02_T1", "LC09_L2SP_191028_20240305_02_T1", "S2A_32TMR_20240305_1_L2A"]
    # Same datetime and solar day: one observation, the first id decides.
    ref = march(world=world, bands=["red"], collections=[LS])
    assert (ref["red"][0] == 750).all() and (ref["count"][0] == 1).all()


def test_collections_are_checked():
    assert parse_collections("sentinel-2-l2a, landsat-c2-l2") == [S2, LS]
    for bad in ("landsat", "", "sentinel-2-l2a,sentinel-2-l2a", ["sentinel-2-c1-l2a"]):
        with pytest.raises(ValueError):
            parse_collections(bad)


def test_compare_and_cli_with_per_sensor_counts(tmp_path, capsys):
    import zarr

    qa = _full(CLEAR)
    qa[1, 1] = (CLEAR & ~(1 << 6)) | (1 << 3)
    world = write_world(tmp_path, [
        landsat_item(tmp_path, "LC08_L2SP_191028_20240305_02_T1", "2024-03-05T09:52:00.000000Z", qa),
        s2_item(tmp_path, "S2A_32TMR_20240305_0_L2A", "2024-03-05T10:06:00.000000Z"),
    ])
    bins = month_bins(date(2024, 3, 1), date(2024, 3, 1))
    ref = reference_cube(world, GRID, bins, ["red", "nir"], collections=[S2, LS])
    names = ["red", "nir", "count_sentinel2", "count_landsat"]
    rep = compare(ref, ref, names, composite=["median"])
    assert print_report(rep) and [b.bar for b in rep.bands] == ["median", "median", "exact", "exact"]
    bad = dict(ref, count_landsat=ref["count_landsat"] ^ 1)
    assert not compare(bad, ref, names, composite=["median"]).ok

    g = zarr.open_group(str(tmp_path / "cube.zarr"), mode="w")
    for name, arr in ref.items():
        g.create_array(name, data=arr)
    g.create_array("x", data=GRID.xs())
    g.create_array("y", data=GRID.ys())
    g.create_array("spatial_ref", data=np.array(0)).attrs["crs_wkt"] = "EPSG:32632"
    args = ["--world", str(world), "--start", "2024-03-01", "--end", "2024-03-01", "--bands", "red,nir",
            "--compare", str(tmp_path / "cube.zarr")]
    assert reference_main(args + ["--collections", "sentinel-2-l2a,landsat-c2-l2"]) == 0
    out = capsys.readouterr().out
    assert "count_landsat" in out and "verdict: PASS" in out
    # Snow/water bits make no difference here, but cloud not being invalid does.
    assert reference_main(args + ["--collections", "sentinel-2-l2a,landsat-c2-l2", "--landsat-invalid-bits", "0"]) == 1
    assert reference_main(args + ["--collections", "landsat-c2-l2,nope"]) == 2
    assert reference_main(args + ["--landsat-invalid-bits", "0,17"]) == 2
    g["count_landsat"][0, 0, 0] = 0
    assert reference_main(args + ["--collections", "sentinel-2-l2a,landsat-c2-l2"]) == 1
    # The CLI also writes the per-sensor counts to --out.
    assert reference_main(["--world", str(world), "--crs", "EPSG:32632", "--res", "30", "--bbox",
                           *map(str, _lonlat_bbox()), "--start", "2024-03-01", "--end", "2024-03-01", "--bands", "red,nir",
                           "--collections", "landsat-c2-l2,sentinel-2-l2a", "--out", str(tmp_path / "r.npz")]) == 0
    assert {"count_landsat", "count_sentinel2", "count"} <= set(np.load(tmp_path / "r.npz"))


def _lonlat_bbox():
    lon, lat = Transformer.from_crs(32632, 4326, always_xy=True).transform(
        [X0 + 20, X0 + N * 30 - 20], [Y0 - N * 30 + 20, Y0 - 20])
    return lon[0], lat[0], lon[1], lat[1]


# ---------------------------------------------------------------- the generator (--landsat)

def landsat_world() -> Path:
    return world_with("small", 7, "landsat", landsat=True)


def landsat_items(world: Path) -> list[dict]:
    return [i for i in items(world) if i["collection"] == LS]


def _read(world: Path, it: dict, key: str) -> np.ndarray:
    with rasterio.open(local_path(world, it["assets"][key]["href"])) as src:
        return src.read(1)


def test_items_follow_the_genuine_layout():
    world = landsat_world()
    its = landsat_items(world)
    params = preset("small")
    assert len(its) >= 6
    assert json.loads((world / landsat.COLLECTION_FILE).read_text())["id"] == LS
    assert json.loads((world / "collection.json").read_text())["id"] == S2
    genuine_qa = GENUINE["assets"]["qa_pixel"]
    for it in its:
        p = it["properties"]
        assert re.fullmatch(r"(LC08|LC09|LE07)_L2SP_\d{6}_\d{8}_02_T1", it["id"]), it["id"]
        assert it["id"][:4] == {"landsat-8": "LC08", "landsat-9": "LC09", "landsat-7": "LE07"}[p["platform"]]
        assert it["id"][10:16] == p["landsat:wrs_path"] + p["landsat:wrs_row"]
        # Only names the genuine Earth Search item has.
        assert set(it) <= set(GENUINE), set(it) - set(GENUINE)
        assert set(p) <= set(GENUINE["properties"]), set(p) - set(GENUINE["properties"])
        assert set(it["stac_extensions"]) <= set(GENUINE["stac_extensions"])
        assert set(it["assets"]) == {"red", "green", "blue", "nir08", "swir16", "swir22", "qa_pixel"}
        assert set(it["assets"]) <= set(GENUINE["assets"])
        for key, a in it["assets"].items():
            assert set(a) <= set(GENUINE["assets"][key]), (key, set(a) - set(GENUINE["assets"][key]))
            assert a["href"].startswith(BASE_URL + "/landsat-c2-l2/") and a["type"] == genuine_qa["type"]
            if key == "qa_pixel":
                assert a["classification:bitfields"] == genuine_qa["classification:bitfields"]
                assert a["raster:bands"] == genuine_qa["raster:bands"]
            else:
                assert a["raster:bands"] == [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
                                              "scale": 2.75e-05, "offset": -0.2}]
                assert a["raster:bands"] == GENUINE["assets"][key]["raster:bands"]
                assert a["eo:bands"][0]["common_name"] == key
        assert p["landsat:collection_category"] == "T1" and p["landsat:collection_number"] == "02"
        assert p["instruments"] == (["etm"] if p["platform"] == "landsat-7" else ["oli", "tirs"])
        assert p["proj:epsg"] in (32632, 32633)
        a, b, x0, d, e, y0 = p["proj:transform"]
        assert (a, b, d, e) == (30, 0, 0, -30) and x0 % 30 == 0 and y0 % 30 == 0
        t = datetime.fromisoformat(p["datetime"].replace("Z", "+00:00"))
        assert params.start <= t.date() <= params.end and 9 <= t.hour <= 10
        assert 0 <= p["eo:cloud_cover"] <= 100
        assert shape(it["geometry"]).is_valid
        assert shapely.box(*it["bbox"]).contains(shape(it["geometry"]).buffer(-1e-9))
    platforms = {i["properties"]["platform"] for i in its}
    assert platforms == {"landsat-7", "landsat-8", "landsat-9"}
    # L8 and L9 over one path/row: 16-day repeats, 8 days apart.
    days = sorted(date.fromisoformat(i["properties"]["datetime"][:10]) for i in its
                  if i["properties"]["platform"] != "landsat-7" and i["id"][10:16] == "191028")
    assert len(days) >= 6 and {(b - a).days for a, b in zip(days, days[1:])} == {8}
    # Landsat and Sentinel-2 scenes on the same day (never fused: different collections).
    s2_days = {i["properties"]["datetime"][:10] for i in items(world) if i["collection"] == S2}
    assert len(s2_days & {i["properties"]["datetime"][:10] for i in its}) >= 2


def test_cogs_are_real_cogs():
    world = landsat_world()
    it = landsat_items(world)[0]
    for key, nodata in (("red", 0), ("swir22", 0), ("qa_pixel", 1)):
        path = local_path(world, it["assets"][key]["href"])
        info = subprocess.run(["gdalinfo", str(path)], capture_output=True, text=True, check=True).stdout
        assert "LAYOUT=COG" in info and "COMPRESSION=DEFLATE" in info and f"NoData Value={nodata}" in info
        with rasterio.open(path) as src:
            assert src.dtypes[0] == "uint16" and src.overviews(1)
            assert list(src.transform)[:6] == it["properties"]["proj:transform"]
            assert [src.height, src.width] == it["properties"]["proj:shape"]
            assert src.crs.to_epsg() == it["properties"]["proj:epsg"]


def test_qa_pixel_and_values():
    world = landsat_world()
    its = landsat_items(world)
    by_loc: dict[str, list[dict]] = {}
    for it in its:
        by_loc.setdefault(it["id"][10:16], []).append(it)
    seen = {k: False for k in ("shadow", "snow", "water", "cirrus", "dark", "conf2", "stripes")}
    for it in its:
        qa = _read(world, it, "qa_pixel")
        bands = np.stack([_read(world, it, k) for k in landsat.BAND_KEYS])
        fill = (qa & 1) != 0
        assert (qa[fill] == 1).all(), "fill pixels are exactly 1"
        assert ((bands == 0) == fill[None]).all(), "every band is 0 exactly at fill"
        assert 0.1 < fill.mean() < 0.7
        # The valid area is rotated inside the raster: its left edge moves across the rows.
        rows = np.nonzero((~fill).any(axis=1))[0]
        left = [int(np.argmax(~fill[r])) for r in (rows[0], rows[-1])]
        assert abs(left[0] - left[1]) > 20
        data = ~fill
        cloud, dilated = (qa & 8) != 0, (qa & 2) != 0
        assert not (cloud & dilated).any()
        ring = ndimage.binary_dilation(cloud, iterations=1) & ~cloud & data
        assert (dilated[ring]).all(), "the pixels next to a cloud are dilated cloud"
        near = ndimage.binary_dilation(cloud, structure=np.ones((3, 3), bool), iterations=3)
        assert not (dilated & ~near).any(), "the halo is at most 3 px wide"
        clear = (qa & 64) != 0
        np.testing.assert_array_equal(clear[data], ~(cloud | dilated)[data])
        conf = (qa >> 8) & 3
        assert (conf[data & cloud] == 3).all() and set(np.unique(conf[data]).tolist()) <= {1, 2, 3}
        l7 = it["properties"]["platform"] == "landsat-7"
        if l7:
            assert not (qa & 4).any() and not (qa >> 14).any(), "Landsat 7 has no cirrus"
        else:
            assert (((qa >> 14) & 3)[data] >= 1).all()
        seen["cirrus"] |= bool(((qa & 4) != 0).any())
        shadow = (qa & 16) != 0
        seen["shadow"] |= bool((shadow & ~dilated).sum() > 20)
        seen["snow"] |= bool((qa & 32).any())
        seen["water"] |= bool((qa & 128).any())
        seen["conf2"] |= bool((conf[data] == 2).any())
        # Very dark valid pixels: (DN * 2.75e-05 - 0.2) * 10000 < 1 somewhere.
        ok = data & ~cloud & ~dilated
        seen["dark"] |= bool((bands[:, ok] <= 7278).sum() >= 5)
        if l7:
            # SLC-off: fill stripes inside the area an L8/L9 scene of the same path/row covers.
            other = next(o for o in by_loc[it["id"][10:16]] if o["properties"]["platform"] != "landsat-7")
            interior = ndimage.binary_erosion(_read(world, other, "qa_pixel") != 1, iterations=3)
            gaps = interior & fill
            assert 0.05 < gaps.sum() / interior.sum() < 0.4
            labels, stripes = ndimage.label(gaps)
            assert stripes >= 3
            assert 3 <= max(_runs(gaps[:, c]) for c in range(gaps.shape[1])) <= 17, "gaps are a few to ~15 px wide"
            # Slanted like the real ones: the biggest stripe's rows move across the columns.
            big = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
            r, c = np.nonzero(big)
            third = (c.max() - c.min()) / 3
            assert abs(r[c < c.min() + third].mean() - r[c > c.max() - third].mean()) > 10
            seen["stripes"] = True
    assert all(seen.values()), seen


def _runs(column: np.ndarray) -> int:
    """Length of the longest run of True."""
    best = cur = 0
    for v in column:
        cur = cur + 1 if v else 0
        best = max(best, cur)
    return best


def test_footprints_cover_the_aoi_and_contain_every_valid_pixel():
    world = landsat_world()
    its = landsat_items(world)
    aoi = shapely.box(*preset("small").aoi)
    feet = [shape(i["geometry"]) for i in its]
    assert shapely.unary_union(feet).contains(aoi)
    assert all(f.intersects(aoi) for f in feet)
    assert all(not f.contains(aoi) for f in feet), "every scene's edge crosses the AOI"
    for it in its[::7]:
        fill = (_read(world, it, "qa_pixel") & 1) != 0
        rows, cols = np.nonzero(~fill)
        a, _, c, _, e, f = it["properties"]["proj:transform"]
        xs = np.concatenate([c + (cols + dx) * a for dx in (0.001, 0.999, 0.001, 0.999)])
        ys = np.concatenate([f + (rows + dy) * e for dy in (0.001, 0.001, 0.999, 0.999)])
        lon, lat = Transformer.from_crs(it["properties"]["proj:epsg"], 4326, always_xy=True).transform(xs, ys)
        assert shapely.contains_xy(shape(it["geometry"]), lon, lat).all(), it["id"]


def test_sentinel2_part_is_unchanged():
    """--landsat adds files; the Sentinel-2 COGs, collection.json and S2 items are those of the
    world without it, and so is the Sentinel-2 reference."""
    plain, world = small_world(7), landsat_world()
    a, b = tree_digest(plain), tree_digest(world)
    assert {k: v for k, v in b.items() if not k.startswith("landsat-c2-l2/")
            and k not in ("items.ndjson", "items.json", "world.json", landsat.COLLECTION_FILE)} == \
        {k: v for k, v in a.items() if k not in ("items.ndjson", "items.json", "world.json")}
    assert [i for i in items(world) if i["collection"] == S2] == items(plain)
    meta_a, meta_b = (json.loads((w / "world.json").read_text()) for w in (plain, world))
    assert "landsat" not in meta_a["params"] and meta_b["params"]["landsat"] is True
    assert {k: v for k, v in meta_b.items() if k != "landsat"} == \
        dict(meta_a, params=dict(meta_a["params"], landsat=True))
    grid = Grid.from_bbox("EPSG:32633", 20, (12.255, 45.475, 12.275, 45.485))
    bins = month_bins(date(2024, 2, 1), date(2024, 3, 1))
    r1, r2 = reference_cube(plain, grid, bins, ["red", "nir"]), reference_cube(world, grid, bins, ["red", "nir"])
    assert all(np.array_equal(r1[k], r2[k]) for k in r1) and list(r1) == list(r2)
    mixed = reference_cube(world, grid, bins, ["red", "nir"], collections=[S2, LS])
    np.testing.assert_array_equal(mixed["count_sentinel2"], r1["count"])
    assert (mixed["count_landsat"] > 0).mean() > 0.5


def test_a_scene_grid_reproduces_a_landsat_scene(tmp_path):
    """Target grid = a Landsat scene's own 30 m grid: the reference gives that scene's pixels,
    converted, where its qa_pixel is clear of the default bits."""
    world = landsat_world()
    it = next(i for i in landsat_items(world) if i["properties"]["platform"] == "landsat-7")
    solo = tmp_path / "solo"
    solo.mkdir()
    (solo / "world.json").write_text((world / "world.json").read_text())
    (solo / "landsat-c2-l2").symlink_to(world / "landsat-c2-l2")
    (solo / "items.ndjson").write_text(json.dumps(it) + "\n")
    p = it["properties"]
    h, w = p["proj:shape"]
    grid = Grid(f"EPSG:{p['proj:epsg']}", 30, 30, p["proj:transform"][2] // 30, p["proj:transform"][5] // 30, w, h)
    day = date.fromisoformat(p["datetime"][:10])
    ref = reference_cube(solo, grid, day_bins(day, day, 1), ["red", "nir"], collections=[LS])
    qa = _read(world, it, "qa_pixel")
    red, nir = _read(world, it, "red"), _read(world, it, "nir08")
    valid = (qa != 0) & ((qa & 0b11111) == 0) & (red > 0) & (nir > 0)
    assert 0.1 < valid.mean() < 0.9
    conv = np.vectorize(value)
    np.testing.assert_array_equal(ref["red"][0], np.where(valid, conv(red), 0))
    np.testing.assert_array_equal(ref["nir"][0], np.where(valid, conv(nir), 0))
    np.testing.assert_array_equal(ref["count"][0], valid.astype(np.uint16))
    assert (ref["red"][0] == 1).any() or (ref["nir"][0] == 1).any(), "some values clamp to 1"


def test_same_seed_same_bytes(tmp_path):
    params = preset("small", end=date(2024, 2, 9), landsat=True)
    digests = []
    for name in ("a", "b"):
        build_world(tmp_path / name, params, 7, BASE_URL, "small")
        digests.append(tree_digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert len([k for k in digests[0] if k.startswith("landsat-c2-l2/") and k.endswith(".TIF")]) >= 4 * 7
    # Regenerating over a Landsat world without --landsat leaves no Landsat files behind.
    build_world(tmp_path / "a", preset("small", end=date(2024, 2, 9)), 7, BASE_URL, "small")
    assert not (tmp_path / "a" / "landsat-c2-l2").exists() and not (tmp_path / "a" / landsat.COLLECTION_FILE).exists()


def test_both_collections_are_served():
    world = landsat_world()
    expected = {c: sorted(i["id"] for i in items(world) if i["collection"] == c) for c in (S2, LS)}
    with served(world) as env:
        for col, ids in expected.items():
            body = json.dumps({"collections": [col], "limit": 500}).encode()
            req = urllib.request.Request(env["WORLD_STAC_URL"] + "/search", data=body,
                                         headers={"Content-Type": "application/json"})
            got = json.loads(urllib.request.urlopen(req, timeout=10).read())
            assert sorted(f["id"] for f in got["features"]) == ids
            assert all(f["collection"] == col for f in got["features"])
        it = json.loads(next(line for line in Path(env["WORLD_ITEMS"]).read_text().splitlines() if f'"{LS}"' in line))
        href = it["assets"]["qa_pixel"]["href"]
        assert href.startswith(env["WORLD_HTTP_URL"] + "/landsat-c2-l2/")
        req = urllib.request.Request(href, headers={"Range": "bytes=0-99"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 206 and len(r.read()) == 100
        cols = json.loads(urllib.request.urlopen(env["WORLD_STAC_URL"] + "/collections", timeout=10).read())
        assert {c["id"] for c in cols["collections"]} == {S2, LS}


def test_cli_flag(tmp_path, capsys):
    from world.make_world import main
    assert main(["--out", str(tmp_path / "w"), "--preset", "small", "--seed", "3", "--end", "2024-02-05", "--landsat"]) == 0
    assert "Landsat scenes" in capsys.readouterr().out
    meta = json.loads((tmp_path / "w" / "world.json").read_text())
    assert meta["params"]["landsat"] is True and meta["landsat"]["scenes"]
    assert {i["collection"] for i in items(tmp_path / "w")} == {S2, LS}
