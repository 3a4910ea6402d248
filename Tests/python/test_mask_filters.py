"""Mask filters (`mask: {filters: [[opening, 2], [dilation, 3]]}`) end to end: real COGs over
nginx byte ranges, a real STAC API, the chunk pipeline, against the independent numpy
reference (world/refmorph.py, written from docs/compositing.md).

- The filtered cube equals the reference with the same filters, 100 % exact (bands, count);
  control: it is not the unfiltered reference.
- The result does not depend on the chunking: chunks of 32 and 20 pixels (with the filters'
  halo reaching over several chunks) equal a one-chunk build, filters of radius up to 6, with
  one read lane and with several, under both fusion rules.
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
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
BBOX = [11.98, 45.47, 12.02, 45.49]          # the world of test_composites (zones 32 and 33)
START, END = date(2024, 2, 1), date(2024, 3, 31)
BANDS = ["red", "green", "blue", "nir"]
NAMES = BANDS + ["count"]
ODC = [("opening", 2), ("dilation", 3)]     # odc-algo's usual mask_cleanup


@pytest.fixture(scope="module")
def served():
    world = world_with("small", seed=11, name="zones", aoi=tuple(BBOX))
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    yield world, env
    subprocess.run([SERVICES, "stop", str(world)], check=True, timeout=60)


@pytest.fixture(scope="module")
def grid():
    return Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)


def yaml_filters(filters) -> str:
    return "[" + ", ".join(f"[{op}, {r}]" for op, r in filters) + "]"


def build(tmp: Path, name: str, stac: str, filters, chunk: int, fuse: str = "first-data", lanes: int | None = None):
    spec = tmp / f"{name}.yaml"
    mask = f"mask: {{filters: {yaml_filters(filters)}}}\n" if filters else ""
    spec.write_text(f"""name: {name}
stac: {{api: {stac}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {chunk}}}
time: {{start: {START}, end: {END}}}
bands: {json.dumps(BANDS)}
fuse: {fuse}
land_mask: none
store: {name}.zarr
{mask}""")
    store = spec.with_suffix(".zarr")
    for args in (["init", spec], ["worker", store, *(["--lanes", str(lanes)] if lanes else [])]):
        out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"cube {args[0]}: {out.stderr}"
    log = [json.loads(line) for line in out.stdout.splitlines()]
    assert log and all(r["status"] == "done" for r in log)
    ds = xr.open_zarr(store, mask_and_scale=False)
    return {n: ds[n].values for n in NAMES}, store


def test_filtered_cube_matches_the_reference_and_not_the_unfiltered_one(served, grid, tmp_path):
    world, env = served
    got, store = build(tmp_path, "odc", env["WORLD_STAC_URL"], ODC, chunk=48)
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    assert attrs["cube:sensors"][0]["mask_filters"] == [["opening", 2], ["dilation", 3]]

    bins = month_bins(START, END)
    ref = reference_cube(world, grid, bins, BANDS, mask_filters=ODC)
    rep = compare(got, ref, BANDS)
    assert print_report(rep)
    assert all(b.exact_pct == 100.0 for b in rep.bands), rep.bands
    assert rep.count_agree_pct == 100.0 and rep.count_missing == 0
    # The filters did something: pixels dropped, yet most of the cube still has data.
    plain = reference_cube(world, grid, bins, BANDS)
    dropped = plain["count"].astype(int) - ref["count"].astype(int)
    assert (dropped >= 0).all() and (dropped > 0).mean() > 0.02, (dropped > 0).mean()
    assert (ref["count"] > 0).mean() > 0.5
    # Control: the filtered cube is not the unfiltered reference.
    control = compare(got, plain, BANDS)
    assert not control.ok and control.count_agree_pct < 100.0

    # Other filters are another cube: `cube init` refuses the store, naming the field.
    spec = tmp_path / "odc.yaml"
    spec.write_text(spec.read_text().replace("[dilation, 3]", "[dilation, 4]"))
    out = subprocess.run([cube_bin(), "init", str(spec)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "changed: mask.filters" in out.stderr, out.stderr


@pytest.mark.parametrize("fuse", ["first-data", "first-valid"])
def test_chunked_builds_equal_one_chunk(served, grid, tmp_path, fuse):
    world, env = served
    filters = [("closing", 1), ("erosion", 2), ("dilation", 6)]   # halo 1*2 + 2 + 6 = 10 px
    whole, _ = build(tmp_path, "whole", env["WORLD_STAC_URL"], filters, chunk=144, fuse=fuse)
    assert whole["count"].shape[1:] == (72, 144)
    for chunk, lanes in ((32, None), (20, 1)):
        part, _ = build(tmp_path, f"c{chunk}", env["WORLD_STAC_URL"], filters, chunk=chunk, fuse=fuse, lanes=lanes)
        for n in NAMES:
            diff = part[n] != whole[n]
            assert not diff.any(), f"chunk {chunk}, {n}: {int(diff.sum())} pixels differ from the one-chunk build"
    ref = reference_cube(world, grid, month_bins(START, END), BANDS, fuse=fuse, mask_filters=filters)
    rep = compare(whole, ref, BANDS)
    assert print_report(rep)
    assert all(b.exact_pct == 100.0 for b in rep.bands) and rep.count_agree_pct == 100.0
    # Control for the chunking rule: without the halo a chunked build would differ (the
    # reference filtered half by half, each half alone as if it were the grid, is not the cube).
    alone = {n: np.zeros_like(v) for n, v in ref.items()}
    for c0 in (0, 72):
        sub = Grid(grid.crs, grid.rx, grid.ry, grid.ix0 + c0, grid.iy0, 72, 72)
        piece = reference_cube(world, sub, month_bins(START, END), BANDS, fuse=fuse, mask_filters=filters)
        for n in NAMES:
            alone[n][:, :, c0:c0 + 72] = piece[n]
    assert any((alone[n] != whole[n]).any() for n in NAMES)
