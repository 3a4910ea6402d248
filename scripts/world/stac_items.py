"""STAC items, item collection and collection in Earth Search v1 (sentinel-2-l2a) layout."""
from __future__ import annotations

from datetime import datetime

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from .ground import GroundFrame
from .passes import Pass, Scene
from .tiling import Tile

COLLECTION = "sentinel-2-l2a"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"

# asset key -> (file name, common name, centre wavelength um, resolution m)
ASSETS = {
    "red": ("B04.tif", "red", 0.665, 10),
    "green": ("B03.tif", "green", 0.56, 10),
    "blue": ("B02.tif", "blue", 0.49, 10),
    "nir": ("B08.tif", "nir", 0.842, 10),
    "scl": ("SCL.tif", None, None, 20),
}
BAND_KEYS = ("red", "green", "blue", "nir")


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scene_dir(scene: Scene) -> str:
    """Earth Search's object layout: sentinel-s2-l2a-cogs/32/T/QR/2024/3/<id>/"""
    t = scene.tile
    return f"sentinel-s2-l2a-cogs/{t.zone}/{t.band}/{t.square}/{scene.time.year}/{scene.time.month}/{scene.id}"


def footprint(tile: Tile, p: Pass, frame: GroundFrame, buffer_m: float = 40.0) -> shapely.Polygon:
    """Valid-data polygon in lon/lat: the tile square clipped by the swath edge, widened by
    `buffer_m` so it contains every valid pixel's whole area (never smaller than the data)."""
    x0, y0, x1, y1 = tile.bounds()
    s = np.linspace(0.0, 1.0, 41)
    xs = np.concatenate([x0 + (x1 - x0) * s, np.full(41, x1), x1 - (x1 - x0) * s, np.full(41, x0)])
    ys = np.concatenate([np.full(41, y1), y1 - (y1 - y0) * s, np.full(41, y0), y0 + (y1 - y0) * s])
    lon, lat = Transformer.from_crs(tile.epsg, 4326, always_xy=True).transform(xs, ys)
    square = shapely.Polygon(zip(lon, lat))
    big = 2.0e6
    ns = np.array([-big, big, big, -big])
    edge = p.edge_e0 - p.side * buffer_m + p.edge_slope * ns
    es = np.where(np.arange(4) < 2, edge, edge + p.side * big)
    hl_lon, hl_lat = frame.to_lonlat(es, ns)
    half = shapely.Polygon(zip(hl_lon, hl_lat))
    poly = square.intersection(half)
    poly = shapely.set_precision(poly, 1e-8)
    if poly.geom_type != "Polygon":
        poly = max(getattr(poly, "geoms", [poly]), key=lambda g: g.area)
    return orient(poly, 1.0)


def make_item(scene: Scene, percentages: dict, geom: shapely.Polygon, base_url: str) -> dict:
    tile = scene.tile
    props = {
        "datetime": rfc3339(scene.time),
        "created": rfc3339(scene.created),
        "updated": rfc3339(scene.updated),
        "platform": scene.pas.platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": percentages["eo:cloud_cover"],
        "mgrs:utm_zone": tile.zone,
        "mgrs:latitude_band": tile.band,
        "mgrs:grid_square": tile.square,
        "grid:code": f"MGRS-{tile.name}",
        "s2:processing_baseline": scene.baseline,
        "s2:product_type": "S2MSI2A",
        "sat:relative_orbit": scene.pas.orbit,
        "sat:orbit_state": "descending",
        "earthsearch:boa_offset_applied": scene.offset_applied,
    }
    if scene.use_proj_code:
        props["proj:code"] = f"EPSG:{tile.epsg}"
    else:
        props["proj:epsg"] = tile.epsg
    props.update({k: v for k, v in percentages.items() if k != "eo:cloud_cover"})
    new = scene.baseline >= "04.00"
    assets = {}
    for key, (fname, common, wl, res) in ASSETS.items():
        h, w = tile.shape(res)
        asset = {
            "href": f"{base_url.rstrip('/')}/{scene_dir(scene)}/{fname}",
            "type": COG_TYPE,
            "proj:shape": [h, w],
            "proj:transform": tile.transform(res),
            "gsd": res,
        }
        if common:
            asset["title"] = f"{common.capitalize()} - {res}m"
            asset["eo:bands"] = [{"name": fname[:3], "common_name": common, "center_wavelength": wl}]
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "bits_per_sample": 15,
                                      "spatial_resolution": res, "scale": 0.0001,
                                      "offset": -0.1 if new else 0}]
            asset["roles"] = ["data", "reflectance"]
        else:
            asset["title"] = "Scene classification map (SCL)"
            asset["raster:bands"] = [{"nodata": 0, "data_type": "uint8", "spatial_resolution": res, "unit": "1"}]
            asset["roles"] = ["data"]
        assets[key] = asset
    minx, miny, maxx, maxy = geom.bounds
    root = base_url.rstrip("/")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
            "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
            "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
        ],
        "id": scene.id,
        "collection": COLLECTION,
        "bbox": [round(minx, 8), round(miny, 8), round(maxx, 8), round(maxy, 8)],
        "geometry": mapping(geom),
        "properties": props,
        "assets": assets,
        "links": [{"rel": "collection", "href": f"{root}/collection.json", "type": "application/json"}],
    }


def make_collection(items: list[dict], base_url: str) -> dict:
    bboxes = np.array([it["bbox"] for it in items]) if items else np.zeros((1, 4))
    times = sorted(it["properties"]["datetime"] for it in items) or [None]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "title": "Sentinel-2 Level-2A (offline test world)",
        "description": "Synthetic Sentinel-2 L2A-like scenes in Earth Search v1 layout, made by scripts/world.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[float(bboxes[:, 0].min()), float(bboxes[:, 1].min()),
                                  float(bboxes[:, 2].max()), float(bboxes[:, 3].max())]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [{"rel": "self", "href": f"{base_url.rstrip('/')}/collection.json", "type": "application/json"}],
    }
