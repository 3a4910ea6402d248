#!/usr/bin/env python3
"""A synthetic Sentinel-2 L2A catalog (items only, no COGs) for `rustac serve`, in Earth Search v1
(sentinel-2-l2a) layout, for the continental index benchmark (`scripts/bench/run index`).

  synthetic_catalog.py --out DIR --items N --seed S [--bbox W S E N] [--year 2024] [--base-url URL]

writes DIR/collection.json (Collection `sentinel-2-l2a`) and DIR/items.json (FeatureCollection of
exactly N items), and prints one line of figures (tiles, revisit interval, bytes, seconds).

Tiles: MGRS-like 109,800 m squares of every UTM zone meeting the bbox, their upper-left corners on
the 100 km lattice of the zone (x0 = 99,960 + 100 km i, y0 = 100 km k + 40, as Sentinel-2's tiles),
footprints projected to lon/lat with pyproj, names from the MGRS letter scheme (e.g. 20MNB), kept
when they meet land (Natural Earth 1:110m, shipped with cube, widened by 0.1 degree) inside the bbox
and the zone's own 6-degree strip. Neighbouring zones' tiles overlap, as the real ones do.
Visits: the N items are dealt out over the tiles (N // tiles each, the rest one more), evenly spaced
over the year from a random phase (every ~5 days for a continent and N = 100,000), at 10:30 local
solar time; eo:cloud_cover is uniform in 0-100. Asset hrefs point at --base-url (default
http://127.0.0.1:9, where nothing listens). Deterministic for a seed.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[2]
LAND = ROOT / "Sources" / "CubePlan" / "Resources" / "ne_110m_land.geojson"
COLLECTION = "sentinel-2-l2a"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
TILE_M = 109_800
LAND_MARGIN = 0.1  # degrees around Natural Earth 1:110m land (it is coarse; islands are missing)
# asset key -> (file name, band name, common name, description, centre wavelength um, fwhm, resolution m)
ASSETS = {
    "red": ("B04.tif", "red", "red", "Red (band 4)", 0.665, 0.038, 10),
    "green": ("B03.tif", "green", "green", "Green (band 3)", 0.56, 0.045, 10),
    "blue": ("B02.tif", "blue", "blue", "Blue (band 2)", 0.49, 0.098, 10),
    "nir": ("B08.tif", "nir", "nir", "NIR 1 (band 8)", 0.842, 0.145, 10),
    "scl": ("SCL.tif", None, None, None, None, None, 20),
}
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
]
BANDS = "CDEFGHJKLMNPQRSTUVWX"            # MGRS latitude bands, 8 degrees from -80
COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")  # 100 km column letters by (zone - 1) % 3
ROWS = "ABCDEFGHJKLMNPQRSTUV"             # 100 km row letters (offset by 5 in even zones)


def land_polygon(bbox):
    geo = json.loads(LAND.read_text())
    geoms = [shapely.geometry.shape(f["geometry"]) for f in geo["features"]] if "features" in geo \
        else [shapely.geometry.shape(geo.get("geometry", geo))]
    land = shapely.union_all(geoms)
    box = shapely.box(*bbox)
    area = land.intersection(box.buffer(1.0)).buffer(LAND_MARGIN).intersection(box)
    if area.is_empty:  # no land in the box at all: cover the box
        area = box
    shapely.prepare(area)
    return area


def zone_tiles(zone: int, south: bool, bbox, land):
    """(name, epsg, x0, y0, lon/lat corner ring, centre lon) of the zone's tiles meeting land."""
    w, s, e, n = bbox
    zw, ze = -180 + 6 * (zone - 1), -180 + 6 * zone
    lat0, lat1 = (max(s, -80.0), min(n, 0.0)) if south else (max(s, 0.0), min(n, 84.0))
    if lat0 >= lat1 or ze <= w or zw >= e:
        return []
    epsg = (32700 if south else 32600) + zone
    fwd = Transformer.from_crs(4326, epsg, always_xy=True)
    inv = Transformer.from_crs(epsg, 4326, always_xy=True)
    lons, lats = np.meshgrid(np.linspace(zw - 1, ze + 1, 9), np.linspace(lat0, lat1, 41))
    _, ys = fwd.transform(lons.ravel(), lats.ravel())
    k0, k1 = int(np.floor(np.min(ys) / 1e5)) - 1, int(np.ceil(np.max(ys) / 1e5)) + 1
    # squares of this hemisphere only (northings 0 to 10,000 km)
    k0, k1 = max(k0, 0), min(k1, 99)
    ii, kk = np.meshgrid(np.arange(8), np.arange(k0, k1 + 1))
    ii, kk = ii.ravel(), kk.ravel()
    x0 = 99_960.0 + 100_000.0 * ii
    y0 = 100_000.0 * (kk + 1) + 40.0
    cx = np.stack([x0, x0 + TILE_M, x0 + TILE_M, x0, x0], axis=1)
    cy = np.stack([y0, y0, y0 - TILE_M, y0 - TILE_M, y0], axis=1)
    lon, lat = inv.transform(cx.ravel(), cy.ravel())
    lon, lat = lon.reshape(cx.shape), lat.reshape(cy.shape)
    strip = shapely.box(zw, lat0, ze, lat1)
    shapely.prepare(strip)
    ccx, ccy = inv.transform(x0 + TILE_M / 2, y0 - TILE_M / 2)
    out = []
    for t in range(len(x0)):
        if not np.all(np.isfinite(lon[t])):
            continue
        poly = shapely.Polygon(zip(lon[t], lat[t]))
        if not (strip.intersects(poly) and land.intersects(poly)):
            continue
        band = BANDS[int(np.clip((ccy[t] + 80) // 8, 0, len(BANDS) - 1))]
        col = COLUMNS[(zone - 1) % 3][ii[t]]
        row = ROWS[(int(kk[t]) + (5 if zone % 2 == 0 else 0)) % 20]
        ring = [[round(float(a), 9), round(float(b), 9)] for a, b in zip(lon[t], lat[t])]
        out.append((f"{zone}{band}{col}{row}", epsg, x0[t], y0[t], ring, float(ccx[t])))
    return out


def tile_parts(tile, base_url: str, year: int):
    """The JSON text of a tile's fixed parts (asset hrefs left as @HREF@ for each item)."""
    name, epsg, x0, y0, ring, _ = tile
    zone, band, square = name[:-3], name[-3], name[-2:]
    assets = {}
    for key, (fname, bname, common, desc, wl, fwhm, res) in ASSETS.items():
        side = TILE_M // res
        a = {"href": f"@HREF@/{fname}", "type": COG_TYPE}
        if common:
            a["title"] = f"{desc} - {res}m"
            a["eo:bands"] = [{"name": bname, "common_name": common, "description": desc,
                              "center_wavelength": wl, "full_width_half_max": fwhm}]
        else:
            a["title"] = "Scene classification map (SCL)"
        if common:
            a["gsd"] = res
        a["proj:shape"] = [side, side]
        a["proj:transform"] = [res, 0, int(x0), 0, -res, int(y0)]
        if common:
            a["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                  "spatial_resolution": res, "scale": 0.0001, "offset": -0.1}]
            a["roles"] = ["data", "reflectance"]
        else:
            a["raster:bands"] = [{"nodata": 0, "data_type": "uint8", "spatial_resolution": res}]
            a["roles"] = ["data", "reflectance"]
        assets[key] = a
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "name": name, "dir": f"sentinel-s2-l2a-cogs/{zone}/{band}/{square}/{year}",
        "tile_props": (f'"proj:epsg":{epsg},"mgrs:utm_zone":{zone},"mgrs:latitude_band":"{band}",'
                       f'"mgrs:grid_square":"{square}","grid:code":"MGRS-{name}"'),
        "geometry": json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":")),
        "bbox": json.dumps([min(lons), min(lats), max(lons), max(lats)]),
        "assets": json.dumps(assets, separators=(",", ":")),
        "base": base_url.rstrip("/"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--items", required=True, type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"), default=[-82.0, -56.0, -34.0, 13.0])
    ap.add_argument("--year", type=int, default=2024)
    ap.add_argument("--base-url", default="http://127.0.0.1:9")
    args = ap.parse_args()
    started = time.monotonic()
    w, s, e, n = args.bbox
    land = land_polygon(args.bbox)
    tiles = []
    for zone in range(int((w + 180) // 6) + 1, min(int((e + 180) // 6) + 1, 60) + 1):
        for south in (True, False):
            tiles += zone_tiles(zone, south, args.bbox, land)
    names = [t[0] for t in tiles]
    assert len(set(names)) == len(names), "tile names collide"
    if not tiles or args.items < 1:
        raise SystemExit("no tiles (or no items asked)")

    rng = np.random.default_rng(args.seed)
    n_tiles = len(tiles)
    counts = np.full(n_tiles, args.items // n_tiles)
    counts[rng.permutation(n_tiles)[: args.items % n_tiles]] += 1
    year0 = datetime(args.year, 1, 1, tzinfo=timezone.utc)
    days = (datetime(args.year + 1, 1, 1, tzinfo=timezone.utc) - year0).days
    phases = rng.uniform(0, 1, n_tiles)
    clouds = np.round(rng.uniform(0, 100, args.items), 6)
    extra = rng.uniform(0, 1, (args.items, 4))
    parts = [tile_parts(t, args.base_url, args.year) for t in tiles]

    # Time of day per tile (10:30 local solar time, as seconds of the UTC day), dates per day of year.
    tod = [int(round((10.5 - tile[5] / 15.0) * 3600 * 1000)) for tile in tiles]  # milliseconds
    hms = [f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}" for ms in tod]
    hms_upd = [f"{ms // 3600000 + 3:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}" for ms in tod]
    hms_compact = [h[:8].replace(":", "") for h in hms]
    dates = [year0 + timedelta(days=d) for d in range(days)]
    ymds = [f"{d.year:04d}{d.month:02d}{d.day:02d}" for d in dates]
    isodates = [f"{d.year:04d}-{d.month:02d}-{d.day:02d}" for d in dates]

    visits = []  # (day of year, time of day ms, tile index, visit number)
    for t, c in enumerate(counts):
        step = days / c if c else 0
        for k in range(int(c)):
            visits.append((int((phases[t] + k) * step), tod[t], t, k))
    visits.sort()
    clouds = clouds.tolist()
    azimuth = np.round(30 + 100 * extra[:, 0], 6).tolist()
    elevation = np.round(30 + 50 * extra[:, 1], 6).tolist()
    nodata = np.round(100 * extra[:, 2] ** 2, 6).tolist()
    vegetation = np.round((100 - np.array(clouds)) * extra[:, 3], 6).tolist()
    ext_json = json.dumps(EXTENSIONS)

    seq: dict[tuple[int, int], int] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(args.out / "items.json", "w", buffering=1 << 22) as out:
        out.write('{"type":"FeatureCollection","features":[\n')
        for i, (day, _, t, k) in enumerate(visits):
            p = parts[t]
            ymd = ymds[day]
            s_no = seq.get((t, day), 0)
            seq[(t, day)] = s_no + 1
            sat = "A" if k % 2 == 0 else "B"
            name = p["name"]
            item_id = f"S2{sat}_{name}_{ymd}_{s_no}_L2A"
            path = f"{p['dir']}/{dates[day].month}/{item_id}"
            dt = f"{isodates[day]}T{hms[t]}Z"
            upd = f"{isodates[day]}T{hms_upd[t]}Z"
            cc = clouds[i]
            feature = (
                f'{{"type":"Feature","stac_version":"1.0.0","stac_extensions":{ext_json},'
                f'"id":"{item_id}","collection":"{COLLECTION}","bbox":{p["bbox"]},"geometry":{p["geometry"]},'
                f'"properties":{{"created":"{upd}","platform":"sentinel-2{sat.lower()}","constellation":"sentinel-2",'
                f'"instruments":["msi"],"eo:cloud_cover":{cc},{p["tile_props"]},'
                f'"view:sun_azimuth":{azimuth[i]},"view:sun_elevation":{elevation[i]},'
                f'"s2:nodata_pixel_percentage":{nodata[i]},"s2:vegetation_percentage":{vegetation[i]},'
                f'"s2:product_type":"S2MSI2A","s2:processing_baseline":"05.10",'
                f'"s2:product_uri":"S2{sat}_MSIL2A_{ymd}T{hms_compact[t]}_N0510_R000_T{name}_{ymd}T000000.SAFE",'
                f'"datetime":"{dt}","s2:sequence":"{s_no}",'
                f'"earthsearch:s3_path":"s3://sentinel-cogs/{path}","earthsearch:boa_offset_applied":true,'
                f'"processing:software":{{"sentinel2-to-stac":"0.1.1"}},"updated":"{upd}"}},'
                f'"links":[],"assets":{p["assets"].replace("@HREF@", p["base"] + "/" + path)}}}'
            )
            if i:
                out.write(",\n")
            out.write(feature)
            size += len(feature) + 2
        out.write("\n]}\n")
    bboxes = np.array([json.loads(p["bbox"]) for p in parts])
    first = year0 + timedelta(days=visits[0][0], milliseconds=visits[0][1])
    last = year0 + timedelta(days=visits[-1][0], milliseconds=visits[-1][1])
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": COLLECTION,
        "title": "Sentinel-2 Level-2A (synthetic catalog)",
        "description": "Synthetic Sentinel-2 L2A items in Earth Search v1 layout (scripts/bench/synthetic_catalog.py); "
                       "their COGs do not exist.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[float(bboxes[:, 0].min()), float(bboxes[:, 1].min()),
                                  float(bboxes[:, 2].max()), float(bboxes[:, 3].max())]]},
            "temporal": {"interval": [[first.strftime("%Y-%m-%dT%H:%M:%SZ"), last.strftime("%Y-%m-%dT%H:%M:%SZ")]]},
        },
        "links": [],
    }
    (args.out / "collection.json").write_text(json.dumps(collection, indent=1) + "\n")
    interval = days * n_tiles / args.items
    print(f"synthetic catalog: {len(visits)} items, {n_tiles} tiles, a visit every {interval:.1f} days, "
          f"{size / 1e6:.0f} MB items.json, {time.monotonic() - started:.1f} s -> {args.out}")


if __name__ == "__main__":
    main()
