"""A float32 sensor without a mask, end to end (the test-only `test-float32-dem` profile,
registered with CUBE_TEST_SENSORS=1): float32 COGs made with GDAL (NaN and -9999 no data),
STAC items, `cube init` + `cube worker`, and the cube compared with an independent numpy
reference. The profile's `ValueDomain` quantises samples into the uint16 observation store at
0.1 m from -1000 m (stored = round((x + 1000) / 0.1), 0 = no data), the statistics reduce the
stored integers, and its cube type is float32: each band array holds the decoded values
np.float32(stored * 0.1 + (-1000)) (the float64 product, then the float64 sum, rounded once to
float32), NaN where no observation, with units m and no scale_factor/add_offset. The arrays must
equal the reference bit for bit and lie within half a quantum of the source values.
"""
from __future__ import annotations

import json
import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from world_testkit import cube_bin

EPSG = 32633
X0, Y0, RES, SIZE = 300000.0, 5000000.0, 10.0, 96      # each scene: 96 x 96 pixels of 10 m
CHUNK = 64
DAYS = ["2024-03-03", "2024-03-11", "2024-03-19"]       # three observations in one monthly bin
SCALE, OFFSET = 0.1, -1000.0


def make_scene(path: Path, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.uniform(50.0, 950.0, (SIZE, SIZE)).astype(np.float32)
    data[rng.random((SIZE, SIZE)) < 0.15] = np.nan         # holes: no data
    data[:, : 8 * seed] = -9999.0                           # a declared-nodata strip of varying width
    with rasterio.open(path, "w", driver="COG", width=SIZE, height=SIZE, count=1, dtype="float32",
                       crs=f"EPSG:{EPSG}", transform=from_origin(X0, Y0, RES, RES), nodata=-9999.0,
                       blocksize=32, compress="DEFLATE") as dst:
        dst.write(data, 1)
    return data


def item(day: str, href: Path) -> dict:
    x1, y1 = X0 + SIZE * RES, Y0 - SIZE * RES
    from pyproj import Transformer
    t = Transformer.from_crs(EPSG, 4326, always_xy=True)
    corners = [t.transform(x, y) for x, y in [(X0, y1), (x1, y1), (x1, Y0), (X0, Y0), (X0, y1)]]
    lons, lats = [c[0] for c in corners], [c[1] for c in corners]
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": f"dem-{day}", "collection": "test-float32-dem",
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "geometry": {"type": "Polygon", "coordinates": [[list(c) for c in corners]]},
        "properties": {"datetime": f"{day}T10:00:00Z", "proj:epsg": EPSG},
        "assets": {"elevation": {"href": str(href), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                 "proj:epsg": EPSG}},
        "links": [],
    }


def quantise(x: np.ndarray) -> np.ndarray:
    """The reference's conversion, written from the docs (docs/sensors.md), not from the Swift."""
    q = np.rint((x.astype(np.float64) - OFFSET) / SCALE)
    ok = np.isfinite(x) & (x != -9999.0)
    return np.where(ok, np.clip(q, 1, 65535), 0).astype(np.uint16)


def test_float32_dem_without_mask(tmp_path):
    scenes = [make_scene(tmp_path / f"dem-{i}.tif", i + 1) for i in range(len(DAYS))]
    (tmp_path / "items.ndjson").write_text(
        "\n".join(json.dumps(item(d, tmp_path / f"dem-{i}.tif")) for i, d in enumerate(DAYS)) + "\n")
    spec = tmp_path / "dem.yaml"
    spec.write_text(f"""name: dem
stac: {{items: items.ndjson, collection: test-float32-dem}}
grid:
  crs: EPSG:{EPSG}
  resolution: {RES}
  bbox: [{X0}, {Y0 - SIZE * RES}, {X0 + SIZE * RES}, {Y0}]
  bbox_crs: grid
  chunk: {CHUNK}
time: {{start: 2024-03-01, end: 2024-03-31, step: 1 month}}
bands: [elevation]
composite: [median, min, max]
land_mask: none
store: dem.zarr
""")
    env = dict(os.environ, CUBE_TEST_SENSORS="1")
    for args in (["init", spec], ["worker", tmp_path / "dem.zarr"]):
        out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=600, env=env,
                             cwd=tmp_path)
        assert out.returncode == 0, f"cube {args[0]}: {out.stderr}"

    # Without the test registration the collection is refused, naming the field.
    out = subprocess.run([cube_bin(), "plan", str(spec)], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "CUBE_TEST_SENSORS"})
    assert out.returncode == 2 and "stac.collection" in out.stderr

    # A mixed cube pools observations: a DEM and reflectance cannot share one composite.
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(spec.read_text().replace("collection: test-float32-dem", "collections: [sentinel-2-l2a, test-float32-dem]"))
    out = subprocess.run([cube_bin(), "plan", str(mixed)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "stac.collections" in out.stderr and "cannot pool" in out.stderr, out.stderr

    # The reference: per pixel the stored values of the observations with data.
    stack = np.stack([quantise(s) for s in scenes]).astype(np.int64)     # (obs, y, x)
    valid = stack > 0
    count = valid.sum(0)
    ma = np.ma.masked_array(stack, ~valid)
    ref_min = np.where(count > 0, ma.min(0).filled(0), 0)
    ref_max = np.where(count > 0, ma.max(0).filled(0), 0)
    srt = np.sort(np.where(valid, stack, np.iinfo(np.int64).max), axis=0)
    ref_median = np.zeros_like(ref_min)
    for n in range(1, len(scenes) + 1):
        sel = count == n
        lo, hi = srt[(n - 1) // 2], srt[n // 2]
        ref_median[sel] = ((lo + hi + 1) // 2)[sel]
    assert (count == 0).any() and (count == 2).any() and (count == 3).any()

    # The cube's arrays: float32, NaN fill, units m, no CF scale (the values are decoded).
    def decode(stored: np.ndarray) -> np.ndarray:
        """The docs' decode (docs/sensors.md): float64 stored * scale + offset, rounded once to float32."""
        v = (stored.astype(np.float64) * SCALE + OFFSET).astype(np.float32)
        return np.where(stored == 0, np.float32(np.nan), v)

    for name in ["elevation_median", "elevation_min", "elevation_max"]:
        meta = json.loads((tmp_path / "dem.zarr" / name / "zarr.json").read_text())
        assert meta["data_type"] == "float32" and meta["fill_value"] == "NaN", meta
        assert "scale_factor" not in meta["attributes"] and meta["attributes"]["units"] == "m", meta["attributes"]
    raw = xr.open_zarr(tmp_path / "dem.zarr", mask_and_scale=False)
    for name, ref in [("elevation_median", ref_median), ("elevation_min", ref_min), ("elevation_max", ref_max)]:
        a = raw[name]
        assert a.dtype == np.float32, (name, a.dtype)
        assert "scale_factor" not in a.attrs and "add_offset" not in a.attrs and a.attrs["units"] == "m", a.attrs
        got = a.isel(time=0).values
        assert got.shape == ref.shape
        want = decode(ref)
        np.testing.assert_array_equal(np.isnan(got), count == 0, err_msg=name)
        # Bit for bit where there is data (NaN compares unequal, so compare the bits).
        np.testing.assert_array_equal(got.view(np.uint32)[count > 0], want.view(np.uint32)[count > 0], err_msg=name)
    np.testing.assert_array_equal(raw["count"].isel(time=0).values, count)
    assert raw["count"].dtype == np.uint16

    # xarray's default decoding changes nothing: float elevation within half a quantum of the
    # source (plus float32 rounding), NaN for no data.
    decoded = xr.open_zarr(tmp_path / "dem.zarr")["elevation_min"].isel(time=0).values
    with np.errstate(all="ignore"):
        src = np.where(valid, np.stack(scenes).astype(np.float64), np.inf).min(0)
    src_min = np.where(count > 0, src, np.nan)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(decoded), count == 0)
    assert np.nanmax(np.abs(decoded - src_min)) <= SCALE / 2 + 1e-4

    # The median too, against the true median of the source values: within half a quantum
    # where the count is odd (one quantised value). An even count reduces the two quantised
    # middle values to (a + b + 1) // 2, a second rounding, so there the bound is one quantum.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # all-NaN pixels: no observation
        true_median = np.nanmedian(np.where(valid, np.stack(scenes).astype(np.float64), np.nan), axis=0)
    err = np.abs(raw["elevation_median"].isel(time=0).values.astype(np.float64) - true_median)
    odd, even = count % 2 == 1, (count > 0) & (count % 2 == 0)
    assert odd.any() and even.any()
    assert err[odd].max() <= SCALE / 2 + 1e-4
    assert err[even].max() <= SCALE + 1e-4

    # The geomedian is defined over reflectance: a float32 elevation cube refuses it at load.
    geo = tmp_path / "geo.yaml"
    geo.write_text(spec.read_text().replace("composite: [median, min, max]", "composite: [median, geomedian]"))
    out = subprocess.run([cube_bin(), "plan", str(geo)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "composite" in out.stderr and "geomedian" in out.stderr, out.stderr

    # The quicklook follows the arrays' type: the float32 elevation in grey, no data transparent.
    png = tmp_path / "dem.png"
    out = subprocess.run([cube_bin(), "preview", str(tmp_path / "dem.zarr"), "--time", "2024-03", "--bands",
                          "elevation_median", "-o", str(png)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    with rasterio.open(png) as img:
        grey, alpha = img.read(1), img.read(4)
    np.testing.assert_array_equal(alpha == 255, count > 0)
    assert grey[count > 0].min() == 0 and grey[count > 0].max() == 255
