#!/usr/bin/env python3
"""Independent reference cube for the test world (numpy + pyproj point sampling).

  .venv/bin/python scripts/world/reference.py --world DIR --crs EPSG:32632 --res 10 \
      --bbox 12.25 45.47 12.28 45.49 --start 2024-02-01 --end 2024-03-31 [--step month|Nd] \
      [--bands red,green,blue,nir] [--invalid 0,1,3,8,9,10] [--fuse first-data|first-valid] \
      [--composite median,p10,p90,geomedian] [--collections sentinel-2-l2a,landsat-c2-l2] \
      [--landsat-invalid-bits 0,1,2,3,4] [--mask-filters opening:2,dilation:3] [--overviews none|auto|N --chunk C] \
      [--out ref.npz] [--compare cube.zarr]

Rules (docs/test-world.md): target pixel centres from integers; nearest = the source pixel that
contains the centre (floor); time bin [start, next start); footprint filter; dedup; solar-day
fusion in (datetime, id) order: the first scene with data decides (first-data: SCL not 0 and,
for a clear class, every band nonzero) or the first valid scene gives the pixel (first-valid);
validity by SCL class and nonzero bands;
harmonisation by round(offset/scale) unless earthsearch:boa_offset_applied, clamped to >= 1;
median with even counts rounded half up; count of valid observations. Other statistics
(`--composite`: mean, min, max, pNN, geomedian with smad/emad/bcmad) and the array names: see
world/refstats.py.

Landsat C2 L2 (`landsat-c2-l2`, with --collections): band `nir` is the asset `nir08`; qa_pixel
(nearest) decides: no data = qa 0 or fill bit 0, invalid = no data or any of the
--landsat-invalid-bits set; value = round_half_up((DN * scale + offset) * 10000) computed exactly
(scale/offset from raster:bands, default 2.75e-05/-0.2), clamped to 1..65535; solar days are
grouped per collection; with several collections also count_sentinel2 / count_landsat.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.windows import Window

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from world.ref_items import LANDSAT, SENTINEL2, RefItem, dedup, load_items, select, solar_day_groups  # noqa: E402
from world.refgrid import Grid, TimeBin, day_bins, month_bins  # noqa: E402
from world.refmorph import apply_filters, parse_filters  # noqa: E402
from world.refoverviews import level_map, parse_overviews  # noqa: E402
from world.refstats import (composite_stack, index_array_names, output_dtype, output_fill, output_names,  # noqa: E402
                            parse_composite, parse_indices)

DEFAULT_INVALID = (0, 1, 3, 8, 9, 10)
DEFAULT_BANDS = ("red", "green", "blue", "nir")
DEFAULT_COLLECTIONS = (SENTINEL2,)
DEFAULT_LANDSAT_INVALID_BITS = (0, 1, 2, 3, 4)   # fill, dilated cloud, cirrus, cloud, cloud shadow
COLLECTIONS = (SENTINEL2, LANDSAT)
# Per-sensor count arrays (only when more than one collection is listed).
SENSOR_COUNT = {SENTINEL2: "count_sentinel2", LANDSAT: "count_landsat"}
LANDSAT_SCALE, LANDSAT_OFFSET = 2.75e-05, -0.2      # when raster:bands does not say
LANDSAT_QA = "qa_pixel"


def asset_key(collection: str, band: str) -> str:
    """The asset of a (common-name) band: Landsat's `nir` is `nir08`; everything else as is."""
    if collection == LANDSAT and band == "nir":
        return "nir08"
    return band


def parse_collections(collections) -> list[str]:
    """Collection ids from a list or a comma-separated string; known ones only, no repeats."""
    raw = [c.strip() for c in collections.split(",")] if isinstance(collections, str) else [str(c) for c in collections]
    out: list[str] = []
    for c in (c for c in raw if c):
        if c not in COLLECTIONS:
            raise ValueError(f"unknown collection {c!r}; expected one of {list(COLLECTIONS)}")
        if c in out:
            raise ValueError(f"collection {c!r} is listed twice")
        out.append(c)
    if not out:
        raise ValueError("collections needs at least one collection")
    return out


def qa_bit_mask(bits) -> int:
    """OR of 1 << b for the listed qa_pixel bits (0-15)."""
    m = 0
    for b in bits:
        b = int(b)
        if not 0 <= b <= 15:
            raise ValueError(f"qa_pixel bit must be 0..15, got {b}")
        m |= 1 << b
    return m


def sensor_count_names(collections) -> list[str]:
    cols = parse_collections(collections)
    return [SENSOR_COUNT[c] for c in cols] if len(cols) > 1 else []


class World:
    """Where a world's items and files are: hrefs under its base URL map to local files."""

    def __init__(self, world_dir: Path) -> None:
        self.dir = Path(world_dir)
        meta = json.loads((self.dir / "world.json").read_text())
        self.base_url = meta["base_url"].rstrip("/")
        self.items = load_items(self.dir / "items.ndjson")

    def local(self, href: str) -> str:
        if href.startswith(self.base_url + "/"):
            return str(self.dir / href[len(self.base_url) + 1:])
        return href if "://" not in href else "/vsicurl/" + href


def _sample(path: str, item: RefItem, key: str, ex: np.ndarray, ny: np.ndarray, levels=None) -> np.ndarray:
    """Values of the source pixels containing each point (ex, ny in the item CRS); 0 outside.
    `levels`: per point, the overview level to sample (world/refoverviews.py); None: level 0."""
    if levels is not None and (levels != 0).any():
        out = None
        for level in np.unique(levels):
            at = levels == level
            v = _sample_level(path, item, key, ex, ny, int(level))
            out = np.zeros_like(v) if out is None else out
            out[at] = v[at]
        return out
    return _sample_level(path, item, key, ex, ny, 0)


def _sample_level(path: str, item: RefItem, key: str, ex: np.ndarray, ny: np.ndarray, level: int) -> np.ndarray:
    asset = item.raw["assets"][key]
    if level > 0:
        with rasterio.open(path) as base:   # the STAC transform is the base image's
            stac_t = asset.get("proj:transform") or item.raw["properties"].get("proj:transform")
            if stac_t is not None and not np.allclose(stac_t[:6], tuple(base.transform)[:6]):
                raise ValueError(f"{item.id}/{key}: file transform {base.transform} != proj:transform {stac_t}")
    with rasterio.open(path, **({"overview_level": level - 1} if level > 0 else {})) as src:
        a, b, c, d, e, f = tuple(src.transform)[:6]
        # Earth Search's Landsat items give proj:transform once, in the properties.
        stac_t = asset.get("proj:transform") or item.raw["properties"].get("proj:transform")
        if level == 0 and stac_t is not None and not np.allclose(stac_t[:6], [a, b, c, d, e, f]):
            raise ValueError(f"{item.id}/{key}: file transform {src.transform} != proj:transform {stac_t}")
        if b != 0 or d != 0:
            raise ValueError(f"{item.id}/{key}: rotated geotransforms are not supported")
        crs = src.crs
        if level > 0:
            with rasterio.open(path) as base:
                crs = base.crs
        if crs is None or crs.to_epsg() != item.epsg():
            raise ValueError(f"{item.id}/{key}: file CRS {src.crs} != item EPSG {item.epsg()}")
        col = np.floor((ex - c) / a)
        row = np.floor((ny - f) / e)
        inside = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < src.width) & (row >= 0) & (row < src.height)
        out = np.zeros(ex.shape, dtype=np.uint16 if src.dtypes[0] == "uint16" else np.uint8)
        if not inside.any():
            return out
        ci, ri = col[inside].astype(np.int64), row[inside].astype(np.int64)
        c0, c1, r0, r1 = ci.min(), ci.max() + 1, ri.min(), ri.max() + 1
        block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
        out[inside] = block[ri - r0, ci - c0]
        return out


def _shift(item: RefItem, key: str) -> int:
    """DN shift that harmonises a band to the old baseline: round(offset/scale), 0 if already applied."""
    if item.offset_applied:
        return 0
    rb = (item.raw["assets"][key].get("raster:bands") or [{}])[0]
    scale, offset = rb.get("scale", 1.0) or 1.0, rb.get("offset", 0.0) or 0.0
    return int(round(offset / scale))


def landsat_scale_offset(item: RefItem, key: str) -> tuple[Fraction, Fraction]:
    """Exact scale and offset of a Landsat band from its raster:bands (decimal text, so 2.75e-05
    is 11/400000), defaults 2.75e-05 and -0.2."""
    rb = (item.raw["assets"][key].get("raster:bands") or [{}])[0]
    scale, offset = rb.get("scale"), rb.get("offset")
    return (Fraction(str(LANDSAT_SCALE if scale is None else scale)),
            Fraction(str(LANDSAT_OFFSET if offset is None else offset)))


def landsat_values(dn: np.ndarray, scale: Fraction, offset: Fraction) -> np.ndarray:
    """round_half_up((DN * scale + offset) * 10000) exactly, clamped to 1..65535; DN 0 stays 0.
    With scale = p/q and offset = r/s (times 10000): floor((2(p·s·DN + r·q) + q·s) / (2·q·s));
    for 2.75e-05 / -0.2 that is floor((275·DN − 2000000 + 500) / 1000)."""
    sc, off = scale * 10000, offset * 10000
    p, q, r, s = sc.numerator, sc.denominator, off.numerator, off.denominator
    if max(abs(p * s) * 65535, abs(r * q), q * s) >= 2**60:
        raise ValueError(f"scale {scale} / offset {offset}: too many digits for exact int64 arithmetic")
    d = dn.astype(np.int64)
    v = np.floor_divide(2 * (p * s * d + r * q) + q * s, 2 * q * s)
    return np.where(d == 0, 0, np.clip(v, 1, 65535)).astype(np.uint16)


def _grid_coords(item: RefItem, grid: Grid, coords) -> tuple[np.ndarray, np.ndarray]:
    epsg = item.epsg()
    if epsg not in coords:
        xs, ys = np.meshgrid(grid.xs(), grid.ys())
        tr = Transformer.from_crs(CRS.from_user_input(grid.crs), CRS.from_epsg(epsg), always_xy=True)
        coords[epsg] = tr.transform(xs, ys)
    return coords[epsg]


def landsat_scene_values(world: World, item: RefItem, grid: Grid, bands, invalid_bits, coords) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landsat C2 L2: (bands, H, W) uint16 values, validity and has-data masks of one scene.
    q = qa_pixel (nearest); no data = q == 0 or fill bit 0; invalid = no data or q & M != 0
    (M from `invalid_bits`); valid = not invalid and every band DN != 0; has data = not no data
    and (invalid or every band != 0)."""
    ex, ny = _grid_coords(item, grid, coords)
    q = _sample(world.local(item.raw["assets"][LANDSAT_QA]["href"]), item, LANDSAT_QA, ex, ny).astype(np.uint32)
    nodata = (q == 0) | ((q & 1) != 0)
    invalid = nodata | ((q & qa_bit_mask(invalid_bits)) != 0)
    bands_ok = np.ones(q.shape, bool)
    vals = np.zeros((len(bands), grid.height, grid.width), dtype=np.uint16)
    for k, band in enumerate(bands):
        key = asset_key(LANDSAT, band)
        v = _sample(world.local(item.raw["assets"][key]["href"]), item, key, ex, ny)
        bands_ok &= v != 0
        vals[k] = landsat_values(v, *landsat_scale_offset(item, key))
    valid = ~invalid & bands_ok
    vals[:, ~valid] = 0
    return vals, valid, ~nodata & (invalid | bands_ok)


def scene_values(world: World, item: RefItem, grid: Grid, bands, invalid, coords,
                 overviews="none", chunk=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bands, H, W) harmonised uint16 values, the validity mask and the has-data mask of one
    Sentinel-2 scene on the grid; each asset sampled at its overview level (`overviews`, per
    chunk of `chunk` pixels: world/refoverviews.py)."""
    ex, ny = _grid_coords(item, grid, coords)

    def levels(key):
        path = world.local(item.raw["assets"][key]["href"])
        return level_map(overviews, path, item.epsg(), grid, chunk) if overviews != "none" else None

    scl_path = world.local(item.raw["assets"]["scl"]["href"])
    scl = _sample(scl_path, item, "scl", ex, ny, levels("scl"))
    clear = ~np.isin(scl, np.asarray(sorted(invalid), dtype=np.uint8))
    bands_ok = np.ones(scl.shape, bool)
    vals = np.zeros((len(bands), grid.height, grid.width), dtype=np.uint16)
    for k, band in enumerate(bands):
        v = _sample(world.local(item.raw["assets"][band]["href"]), item, band, ex, ny, levels(band))
        bands_ok &= v != 0
        vals[k] = np.clip(v.astype(np.int32) + _shift(item, band), 1, 65535)
    valid = clear & bands_ok
    vals[:, ~valid] = 0
    return vals, valid, (scl != 0) & (~clear | bands_ok)


def median_and_count(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """obs: (n, H, W) with 0 = no observation. Median of nonzero values per pixel (even count:
    (a + b + 1) // 2 of the two middle values), 0 where none, and the count."""
    count = (obs > 0).sum(axis=0)
    if obs.shape[0] == 0:
        return np.zeros(obs.shape[1:], np.uint16), count.astype(np.uint16)
    s = np.where(obs > 0, obs.astype(np.int64), np.iinfo(np.int64).max)
    s.sort(axis=0)
    lo_i = np.maximum(count - 1, 0) // 2
    hi_i = np.maximum(count, 1) // 2
    hi_i = np.where(count == 0, 0, hi_i)
    lo = np.take_along_axis(s, lo_i[None], axis=0)[0]
    hi = np.take_along_axis(s, hi_i[None], axis=0)[0]
    med = np.where(count > 0, (lo + hi + 1) // 2, 0)
    return med.astype(np.uint16), count.astype(np.uint16)


def reference_cube(world_dir, grid: Grid | dict | tuple, bins: list[TimeBin], bands=DEFAULT_BANDS,
                   invalid=DEFAULT_INVALID, exclude=(), fuse: str = "first-data",
                   composite=("median",), collections=DEFAULT_COLLECTIONS,
                   landsat_invalid_bits=DEFAULT_LANDSAT_INVALID_BITS, indices=(),
                   mask_filters=(), overviews="none", chunk=None) -> dict[str, np.ndarray]:
    """Expected cube: {array: (time, y, x)} for every array `output_names(bands, composite)`
    gives (uint16; float32 with NaN = no data for smad/emad/bcmad), 'count' always.
    With the default composite ["median"] that is {band: uint16, 'count': uint16}.
    `grid` is a Grid, a spec-like dict {crs, resolution, bbox} or (crs, rx, ry, ix0, iy0, width, height).
    `exclude`: item ids to leave out (as if the catalog did not hold them), e.g. broken scenes.
    `fuse`: the spec's `fuse` rule for scenes of one solar day.
    `composite`: statistic names (list or comma-separated string), see world/refstats.py.
    `collections`: the items used (others are ignored), each with its collection's rules:
    `sentinel-2-l2a` (SCL classes `invalid`) and `landsat-c2-l2` (qa_pixel bits
    `landsat_invalid_bits`). With more than one, the output also has `count_sentinel2` and
    `count_landsat` (uint16, after `count`; `count` is their sum).
    `indices`: spectral indices (names of the catalogue or name -> expression, see
    world/refstats.py), float32 arrays after the composite's.
    `mask_filters`: [(operation, radius)] applied to every observation's masked pixels (see
    world/refmorph.py), or {collection: [(operation, radius)]} per collection.
    `overviews`: 'none', 'auto' or a level number; each Sentinel-2 asset is then sampled at the
    level world/refoverviews.py chooses per chunk of `chunk` pixels (None: the grid is one chunk)."""
    overviews = parse_overviews(overviews)
    if overviews != "none" and LANDSAT in parse_collections(collections):
        raise ValueError("overview levels are modelled for Sentinel-2 items only")
    if fuse not in ("first-data", "first-valid"):
        raise ValueError(f"fuse must be first-data or first-valid, got {fuse!r}")
    stats = parse_composite(composite)
    cols = parse_collections(collections)
    qa_bit_mask(landsat_invalid_bits)   # validates the bits
    if isinstance(grid, dict):
        grid = Grid.from_spec(grid)
    elif isinstance(grid, tuple):
        grid = Grid(*grid)
    world = World(Path(world_dir))
    items = dedup([i for i in world.items if i.id not in set(exclude) and i.collection in cols])
    foot = grid.lonlat_footprint()
    bands = list(bands)
    shape = (len(bins), grid.height, grid.width)
    indices = parse_indices(indices)
    floats = set(index_array_names(stats, indices))
    out = {n: np.full(shape, np.nan, np.float32) if n in floats else np.full(shape, output_fill(n), output_dtype(n))
           for n in output_names(bands, stats, indices)}
    per_sensor = sensor_count_names(cols)
    for n in per_sensor:
        out[n] = np.zeros(shape, np.uint16)
    coords: dict = {}
    for t, tbin in enumerate(bins):
        observations, sources, days = [], [], []
        for group in solar_day_groups(select(items, tbin, foot)):
            fused = np.zeros((len(bands), grid.height, grid.width), np.uint16)
            settled = np.zeros((grid.height, grid.width), bool)
            any_data = np.zeros((grid.height, grid.width), bool)
            for item in group:
                if item.collection == LANDSAT:
                    vals, valid, has_data = landsat_scene_values(world, item, grid, bands, landsat_invalid_bits, coords)
                else:
                    vals, valid, has_data = scene_values(world, item, grid, bands, invalid, coords, overviews, chunk)
                take = valid & ~settled
                fused[:, take] = vals[:, take]
                settled |= valid | (has_data if fuse == "first-data" else False)
                any_data |= has_data
            filters = mask_filters.get(group[0].collection, ()) if isinstance(mask_filters, dict) else mask_filters
            if filters:
                # Pixels with data and an invalid class: data in some scene, no valid value.
                masked = any_data & (fused[0] == 0)
                fused[:, apply_filters(masked, filters)] = 0
            observations.append(fused)
            sources.append(group[0].collection)
            days.append((group[0].solar_date - date(1970, 1, 1)).days)
        stack = np.stack(observations, axis=1) if observations else np.zeros((len(bands), 0, grid.height, grid.width), np.uint16)
        for name, arr in composite_stack(stack, bands, stats, days, indices).items():
            out[name][t] = arr
        if per_sensor:
            for col in cols:
                mine = [k for k, src in enumerate(sources) if src == col]
                out[SENSOR_COUNT[col]][t] = (stack[0, mine] > 0).sum(axis=0) if mine else 0
            total = sum(out[n][t].astype(np.int64) for n in per_sensor)
            if not np.array_equal(total, out["count"][t]):
                raise AssertionError("per-sensor counts do not add up to count")
    return out


def _number(text: str) -> float:
    """A float or an exact fraction "1/3600"."""
    from fractions import Fraction
    return float(Fraction(text))


def bins_from_args(start: date, end: date, step: str) -> list[TimeBin]:
    if step == "month":
        return month_bins(start, end)
    if step.endswith("d") and step[:-1].isdigit():
        return day_bins(start, end, int(step[:-1]))
    raise ValueError(f"--step must be 'month' or '<N>d', got {step!r}")


def main(argv: list[str] | None = None) -> int:
    from world.compare import compare, load_zarr_cube, print_report

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--crs", help="grid CRS (default: from --compare cube's spatial_ref)")
    ap.add_argument("--res", type=_number, nargs="+", help="resolution (rx [ry]); fractions like 1/3600 are exact")
    ap.add_argument("--bbox", type=float, nargs=4, metavar=("LON0", "LAT0", "LON1", "LAT1"))
    ap.add_argument("--start", type=date.fromisoformat, required=True)
    ap.add_argument("--end", type=date.fromisoformat, required=True)
    ap.add_argument("--step", default="month")
    ap.add_argument("--bands", default=",".join(DEFAULT_BANDS))
    ap.add_argument("--invalid", default=",".join(map(str, DEFAULT_INVALID)))
    ap.add_argument("--fuse", default="first-data", choices=["first-data", "first-valid"])
    ap.add_argument("--composite", default="median",
                    help="statistics, comma-separated: median, mean, min, max, pNN (0-100), geomedian, medoid")
    ap.add_argument("--indices", default="",
                    help="spectral indices, comma-separated: catalogue names or name=expression")
    ap.add_argument("--collections", default=",".join(DEFAULT_COLLECTIONS),
                    help="collections to use, comma-separated: sentinel-2-l2a, landsat-c2-l2")
    ap.add_argument("--landsat-invalid-bits", default=",".join(map(str, DEFAULT_LANDSAT_INVALID_BITS)),
                    help="Landsat qa_pixel bits that make a pixel invalid (0-15)")
    ap.add_argument("--mask-filters", default="",
                    help="mask filters, in order: operation:radius,... (erosion, dilation, opening, closing)")
    ap.add_argument("--overviews", default="none", help="none, auto or a level number (docs/warp.md)")
    ap.add_argument("--chunk", type=int, help="the grid's chunk edge (overview levels are chosen per chunk)")
    ap.add_argument("--out", type=Path, help="write the reference as .npz")
    ap.add_argument("--compare", type=Path, help="a Zarr cube to compare (its x/y define the grid)")
    a = ap.parse_args(argv)
    try:
        bands = [b for b in a.bands.split(",") if b]
        invalid = [int(v) for v in a.invalid.split(",") if v]
        bins = bins_from_args(a.start, a.end, a.step)
        stats = parse_composite(a.composite)
        collections = parse_collections(a.collections)
        landsat_bits = [int(v) for v in a.landsat_invalid_bits.split(",") if v.strip()]
        qa_bit_mask(landsat_bits)
        indices = parse_indices(a.indices)
        names = [n for n in output_names(bands, stats, indices) if n != "count"] + sensor_count_names(collections)
        cube = None
        if a.compare:
            cube, grid = load_zarr_cube(a.compare, names, crs=a.crs)
        if a.crs and a.res and a.bbox:
            # The spec's grid, exactly (a grid recovered from a cube's float coordinates carries
            # rounding of ~1e-15 relative that can move a pixel centre lying within
            # micrometres of a source pixel edge).
            spec_grid = Grid.from_bbox(a.crs, a.res[0] if len(a.res) == 1 else tuple(a.res[:2]), a.bbox)
            if cube is not None and (spec_grid.width, spec_grid.height) != (grid.width, grid.height):
                raise ValueError(f"the cube is {grid.width} x {grid.height}, the spec grid {spec_grid.width} x {spec_grid.height}")
            grid = spec_grid
        elif cube is None:
            raise ValueError("give --crs, --res and --bbox, or --compare CUBE")
        ref = reference_cube(a.world, grid, bins, bands, invalid, fuse=a.fuse, composite=stats,
                             collections=collections, landsat_invalid_bits=landsat_bits, indices=indices,
                             mask_filters=parse_filters(a.mask_filters), overviews=a.overviews, chunk=a.chunk)
    except (ValueError, OSError, KeyError, ImportError) as e:   # ImportError: hdstats for the geomedian
        print(f"reference: error: {e}", file=sys.stderr)
        return 2
    print(f"grid {grid}  composite {','.join(stats)}  collections {','.join(collections)}")
    first = names[:len(bands)]   # the first statistic's band arrays
    for t, tb in enumerate(bins):
        c = ref["count"][t]
        print(f"{tb.label}: pixels with data {100.0 * np.mean(c > 0):.1f}%  count mean {c.mean():.2f} max {c.max()}  "
              + "".join(f"{n} mean {ref[n][t].mean():.2f}  " for n in sensor_count_names(collections))
              + "  ".join(f"{n} median {int(np.median(ref[n][t][c > 0])) if (c > 0).any() else 0}" for n in first))
    if a.out:
        np.savez_compressed(a.out, **ref, labels=np.array([b.label for b in bins]))
        print(f"wrote {a.out}")
    if cube is not None:
        ok = print_report(compare(cube, ref, names, composite=stats, indices=index_array_names(stats, indices)))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
