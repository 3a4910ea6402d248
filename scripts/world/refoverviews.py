"""Overview levels for the reference, written from the rule's words (docs/warp.md, "Overview
levels") without sharing code with Swift:

- `none`: every asset at full resolution (level 0).
- `N`: level N (1 = the first overview GDAL lists), or the coarsest the file has.
- `auto`: per asset and chunk, the coarsest level whose pixel size (the larger side of its
  pixels) is at most the target pixel's smaller side, both measured in the scene's CRS at the
  chunk's centre. The chunk's centre is the middle of its box; the target pixel's sides are the
  distances between the images (in the scene's CRS) of the midpoints of opposite edges of a
  rx x ry pixel centred there.

A level is read like full resolution, on its own lattice: GDAL's overview georeferencing, the
base geotransform scaled by (base width / level width, base height / level height), which
rasterio gives when it opens the level (`overview_level`, 0 for the first overview).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import rasterio
from pyproj import CRS, Transformer


def parse_overviews(value) -> str | int:
    """'none', 'auto' or a level number >= 1 (0 is 'none')."""
    if value is None:
        return "none"
    text = str(value).strip().lower()
    if text in ("none", "auto"):
        return text
    n = int(text)
    if n < 0:
        raise ValueError(f"overviews must be none, auto or a level number, got {value!r}")
    return "none" if n == 0 else n


@functools.lru_cache(maxsize=4096)
def level_pixel_sizes(path: str) -> tuple[float, ...]:
    """Pixel size (larger side, CRS units) of level 0, 1, ... of the file."""
    with rasterio.open(path) as src:
        count = len(src.overviews(1))
        sizes = [max(abs(src.transform.a), abs(src.transform.e))]
    for k in range(count):
        with rasterio.open(path, overview_level=k) as lv:
            t = lv.transform
            sizes.append(max(math.hypot(t.a, t.d), math.hypot(t.b, t.e)))
    return tuple(sizes)


@functools.lru_cache(maxsize=256)
def _transformer(grid_crs: str, epsg: int) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(grid_crs), CRS.from_epsg(epsg), always_xy=True)


def target_pixel_side(grid_crs: str, rx: float, ry: float, cx: float, cy: float, epsg: int) -> float:
    """The smaller side, in EPSG:`epsg` units, of the rx x ry target pixel centred at (cx, cy)."""
    xs = [cx - rx / 2, cx + rx / 2, cx, cx]
    ys = [cy, cy, cy - ry / 2, cy + ry / 2]
    if CRS.from_user_input(grid_crs) == CRS.from_epsg(epsg):
        px, py = xs, ys
    else:
        px, py = _transformer(grid_crs, epsg).transform(xs, ys)
    return min(math.hypot(px[1] - px[0], py[1] - py[0]), math.hypot(px[3] - px[2], py[3] - py[2]))


def choose_level(rule, path: str, epsg: int, grid_crs: str, rx: float, ry: float, cx: float, cy: float) -> int:
    sizes = level_pixel_sizes(path)
    levels = len(sizes) - 1
    if rule == "none" or levels == 0:
        return 0
    if rule != "auto":
        return min(int(rule), levels)
    side = target_pixel_side(grid_crs, rx, ry, cx, cy, epsg)
    if not math.isfinite(side):
        return 0
    chosen = 0
    for n in range(1, levels + 1):
        if sizes[n] <= side * (1 + 1e-9):
            chosen = n
    return chosen


def level_map(rule, path: str, epsg: int, grid, chunk: int | None) -> np.ndarray:
    """(H, W) int array: the level each target pixel's chunk reads `path` at."""
    out = np.zeros((grid.height, grid.width), np.int64)
    if rule == "none":
        return out
    cw = chunk or max(grid.width, grid.height)
    for r0 in range(0, grid.height, cw):
        for c0 in range(0, grid.width, cw):
            h, w = min(cw, grid.height - r0), min(cw, grid.width - c0)
            cx = (grid.ix0 + c0 + w / 2) * grid.rx
            cy = (grid.iy0 - r0 - h / 2) * grid.ry
            out[r0:r0 + h, c0:c0 + w] = choose_level(rule, path, epsg, grid.crs, grid.rx, grid.ry, cx, cy)
    return out
