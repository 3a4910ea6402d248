"""Landsat C2 L2 end to end: `cube init` + `cube worker` over the test world with `--landsat`
scenes (real COGs over nginx byte ranges, both collections in a real STAC API), compared with the
independent reference (scripts/world/reference.py, rules in docs/test-world.md):

- a Landsat-only cube (`collection: landsat-c2-l2`, qa_pixel mask by bit names or numbers);
- a mixed cube pooling Sentinel-2 and Landsat (`collections: [...]`, optional per-collection
  masks and mask filters), with the per-sensor counts `count_sentinel2` and `count_landsat`;
- the Sentinel-2-only cube of the same world, unchanged by the Landsat items in the catalog.

Every array must be 100% exact (values, count and per-sensor counts).
"""
from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from world_testkit import REPO, cube_bin, world_with

from world.compare import compare, print_report
from world.presets import preset
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
AOI = list(preset("small").aoi)                     # lon 12.25-12.28, lat 45.47-45.49
START, END = date(2024, 2, 1), date(2024, 3, 31)    # two monthly bins
BANDS = ["red", "green", "blue", "nir"]
S2, LS = "sentinel-2-l2a", "landsat-c2-l2"
GRIDS = {
    "1/3600deg": ("EPSG:4326", "1/3600", 1 / 3600),
    "10m-utm33": ("EPSG:32633", "10", 10),
}


@pytest.fixture(scope="module")
def served():
    # The world of test_landsat_reference (built once per session).
    world = world_with("small", 7, "landsat", landsat=True)
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    yield world, env
    subprocess.run([SERVICES, "stop", str(world)], check=True, timeout=60)


def write_spec(path: Path, stac: str, *, grid: str = "1/3600deg", mask: str = "") -> Path:
    crs, res, _ = GRIDS[grid]
    path.write_text(f"""name: {path.stem}
stac:
{stac}
grid:
  crs: {crs}
  resolution: {res}
  bbox: {json.dumps(AOI)}
  chunk: 64
time:
  start: {START}
  end: {END}
bands: {json.dumps(BANDS)}
{mask}
land_mask: none
store: {path.stem}.zarr
""")
    return path


def cube(*args, timeout=600):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}"
    return out


def build(spec: Path) -> Path:
    store = spec.with_suffix(".zarr")
    cube("init", spec)
    out = cube("worker", store)
    log = [json.loads(line) for line in out.stdout.splitlines()]
    assert log and all(r["status"] == "done" for r in log), log
    return store


def spatial_arrays(store: Path) -> dict[str, np.ndarray]:
    ds = xr.open_zarr(store, mask_and_scale=False)
    return {str(v): ds[v].values for v in ds.data_vars if len(ds[v].dims) == 3}


def grid_of(name: str) -> Grid:
    crs, _, res = GRIDS[name]
    return Grid.from_bbox(crs, res, AOI)


def assert_exact(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    """Same arrays, every one 100.0000% exact (bands, count, per-sensor counts)."""
    assert set(got) == set(ref), f"cube arrays {sorted(got)} != reference {sorted(ref)}"
    names = [n for n in ref if n != "count"]
    rep = compare(got, ref, names, composite=["median"])
    print_report(rep)
    for b in rep.bands:
        assert b.exact_pct == 100.0, f"{b.band}: {b.exact_pct:.4f}% exact, max |diff| {b.max_abs_diff}"
    assert rep.count_agree_pct == 100.0 and rep.count_missing == 0
    for name in ref:
        assert got[name].dtype == np.uint16, f"{name}: {got[name].dtype}"
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)


LANDSAT_MASKS = {
    "default": ("", (0, 1, 2, 3, 4)),
    "names": ("mask:\n  invalid: [fill, dilated_cloud, cirrus, cloud, cloud_shadow]", (0, 1, 2, 3, 4)),
    "numbers-with-snow": ("mask:\n  invalid: [0, 1, 2, 3, 4, 5]", (0, 1, 2, 3, 4, 5)),
}


# Each mask once, and both grids (lon/lat and 10 m UTM), without the full cross product.
@pytest.mark.parametrize("grid,mask", [("1/3600deg", "default"), ("10m-utm33", "names"),
                                       ("1/3600deg", "numbers-with-snow")])
def test_landsat_only_cube_matches_the_reference(served, tmp_path, grid, mask):
    world, env = served
    text, bits = LANDSAT_MASKS[mask]
    spec = write_spec(tmp_path / f"landsat-{mask}.yaml",
                      f"  api: {env['WORLD_STAC_URL']}\n  collection: {LS}", grid=grid, mask=text)
    got = spatial_arrays(build(spec))
    ref = reference_cube(world, grid_of(grid), month_bins(START, END), BANDS, collections=[LS],
                         landsat_invalid_bits=bits)
    assert list(ref) == BANDS + ["count"]
    has = ref["count"] > 0
    assert has.mean() > 0.8 and ref["count"].max() >= 3
    assert any((ref[b][has] == 1).any() for b in BANDS), "values below 1 clamp to 1"
    assert_exact(got, ref)


@pytest.mark.parametrize("mask", ["default", "per-collection", "per-collection-filters"])
def test_mixed_cube_matches_the_reference(served, tmp_path, mask):
    world, env = served
    text, s2_invalid, ls_bits, filters = {
        "default": ("", (0, 1, 3, 8, 9, 10), (0, 1, 2, 3, 4), {}),
        "per-collection": ("mask:\n  sentinel-2-l2a: {invalid: [0, 1, 3, 8, 9, 10]}\n"
                           "  landsat-c2-l2: {invalid: [fill, cloud]}", (0, 1, 3, 8, 9, 10), (0, 3), {}),
        # Mask filters per collection (docs/compositing.md), across the 2 x 2 chunks' edges.
        "per-collection-filters": ("mask:\n  sentinel-2-l2a: {filters: [[opening, 1], [dilation, 2]]}\n"
                                   "  landsat-c2-l2: {invalid: [fill, cloud], filters: [[dilation, 1]]}",
                                   (0, 1, 3, 8, 9, 10), (0, 3),
                                   {S2: [("opening", 1), ("dilation", 2)], LS: [("dilation", 1)]}),
    }[mask]
    spec = write_spec(tmp_path / f"mixed-{mask}.yaml",
                      f"  api: {env['WORLD_STAC_URL']}\n  collections: [{S2}, {LS}]", mask=text)
    got = spatial_arrays(build(spec))
    ref = reference_cube(world, grid_of("1/3600deg"), month_bins(START, END), BANDS, invalid=s2_invalid,
                         collections=[S2, LS], landsat_invalid_bits=ls_bits, mask_filters=filters)
    if filters:
        # Control: each collection's filters dropped pixels.
        plain = reference_cube(world, grid_of("1/3600deg"), month_bins(START, END), BANDS, invalid=s2_invalid,
                               collections=[S2, LS], landsat_invalid_bits=ls_bits)
        for n in ("count_sentinel2", "count_landsat"):
            assert (ref[n] <= plain[n]).all() and (ref[n] < plain[n]).any(), n
    assert list(ref) == BANDS + ["count", "count_sentinel2", "count_landsat"]
    assert (ref["count_sentinel2"] > 0).mean() > 0.5 and (ref["count_landsat"] > 0).mean() > 0.5
    np.testing.assert_array_equal(ref["count"], ref["count_sentinel2"] + ref["count_landsat"])
    assert_exact(got, ref)


def test_sentinel2_cube_is_unchanged_by_landsat_items(served, tmp_path):
    """`collection: sentinel-2-l2a` over a catalog that also holds Landsat items builds what it
    built before: the reference of the Sentinel-2 items alone (which the Landsat items do not
    change), with no per-sensor counts."""
    world, env = served
    spec = write_spec(tmp_path / "s2.yaml", f"  api: {env['WORLD_STAC_URL']}\n  collection: {S2}")
    got = spatial_arrays(build(spec))
    grid, bins = grid_of("1/3600deg"), month_bins(START, END)
    ref = reference_cube(world, grid, bins, BANDS, collections=[S2])
    assert list(ref) == BANDS + ["count"]
    assert_exact(got, ref)
    mixed = reference_cube(world, grid, bins, BANDS, collections=[S2, LS])
    np.testing.assert_array_equal(ref["count"], mixed["count_sentinel2"])
