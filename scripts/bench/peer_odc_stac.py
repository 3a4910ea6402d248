#!/usr/bin/env python3
"""The peer: the per-chunk function of Earthmover's serverless datacube demo, reproduced for
one chunk of a cube (pystac-client search → odc.stac.load → SCL mask → median → uint16 →
low-level zarr write), with the choices a fair comparison needs:

- `odc.stac.configure_rio(cloud_defaults=True)` and dask's threaded scheduler, as the demo;
- `chunks={"time": 1, "x": 600, "y": 600}`, `groupby="solar_day"`, nearest resampling from
  full-resolution pixels (`use_overviews=False`: by default odc-stac reads a COG overview when
  the target is coarser, which averages pixels and would compute something else than cube);
- the same invalid SCL classes as cube; a pixel counts only where every band is nonzero;
- radiometry harmonised like cube (DN + round(offset / scale) unless
  `earthsearch:boa_offset_applied`): in the test world every tile of a pass shares its
  processing baseline, so the shift is exact per solar day;
- reprocessed duplicates (same tile and time) reduced to the newest processing, as cube does
  (odc-stac would otherwise fuse both copies);
- the median of an even count rounded half up, as cube documents.

    peer_odc_stac.py --stac URL --bbox W S E N --res 1/3600 --start 2024-03-01 --end 2024-03-31 \
        --bands red,green,blue --out peer.zarr [--use-overviews] [--exact-transform]

`--use-overviews` (issue 25, the like-for-like peer of `overviews: auto`): odc-stac's default
overview reading (`use_overviews=True`: it reads the COG overview whose resolution suits the
target, then warps it with nearest), everything else the same.

`--exact-transform` (the benchmark's untimed agreement run, never timed): GDAL's warps without
their default 0.125 px transformer approximation, which moves about 5 % of the nearest picks
by one source pixel; with it the peer's output equals cube's to 99.97 %.

Prints one JSON line: seconds per phase, items, output shape.
"""
from __future__ import annotations

import argparse
import json
import time
from fractions import Fraction

import dask
import numpy as np
import odc.stac
import pystac_client
import zarr
from odc.geo.geobox import GeoBox

INVALID = (0, 1, 3, 8, 9, 10)


def shift_of(item) -> int:
    if item.properties.get("earthsearch:boa_offset_applied") is True:
        return 0
    red = item.assets.get("red")
    bands = (red.extra_fields.get("raster:bands") if red else None) or [{}]
    offset, scale = bands[0].get("offset"), bands[0].get("scale")
    if offset is None or not scale:
        return 0
    return int(round(offset / scale))


def newest_processing(items) -> list:
    """One item per (tile, datetime): the highest processing baseline, then the latest update."""
    best = {}
    for it in items:
        key = (it.properties.get("grid:code"), it.datetime.replace(microsecond=0))
        rank = (tuple(int(x) for x in str(it.properties.get("s2:processing_baseline", "0")).split(".")),
                it.properties.get("updated", ""))
        if key not in best or rank > best[key][0]:
            best[key] = (rank, it)
    return sorted((v[1] for v in best.values()), key=lambda it: (it.datetime, it.id))


def build_chunk(stac: str, bbox, res: float, start: str, end: str, bands: list[str], out: str,
                use_overviews: bool = False) -> dict:
    t0 = time.perf_counter()
    odc.stac.configure_rio(cloud_defaults=True)
    geobox = GeoBox.from_bbox(tuple(bbox), crs="EPSG:4326", resolution=res)
    client = pystac_client.Client.open(stac)
    search = client.search(collections=["sentinel-2-l2a"], bbox=bbox,
                           datetime=f"{start}T00:00:00Z/{end}T23:59:59.999Z")
    items = newest_processing(search.item_collection())
    t1 = time.perf_counter()

    ds = odc.stac.load(items, bands=[*bands, "scl"], geobox=geobox, chunks={"time": 1, "x": 600, "y": 600},
                       groupby="solar_day", resampling="nearest", dtype="uint16", nodata=0,
                       use_overviews=use_overviews)
    # The shift of each solar day (all items of a pass share their baseline in the world).
    days = {}
    for it in items:
        lon = (it.bbox[0] + it.bbox[2]) / 2
        day = np.datetime64(it.datetime.replace(tzinfo=None), "ns") + np.timedelta64(int(lon / 15 * 3600e9), "ns")
        days.setdefault(str(day.astype("datetime64[D]")), shift_of(it))
    shifts = np.array([days.get(str(t.astype("datetime64[D]")), 0) for t in ds.time.values], dtype=np.int32)
    shift = ds.time.copy(data=shifts)

    valid = ~ds.scl.isin(list(INVALID))
    for b in bands:
        valid = valid & (ds[b] != 0)
    outputs = {}
    for b in bands:
        v = (ds[b].astype("int32") + shift).clip(1, 65535).where(valid)
        outputs[b] = np.floor(v.median("time") + 0.5).fillna(0).astype("uint16")
    outputs["count"] = valid.sum("time").astype("uint16")
    with dask.config.set(scheduler="threads"):
        computed = dask.compute(*outputs.values())
    t2 = time.perf_counter()

    root = zarr.open_group(out, mode="w")
    for name, arr in zip(outputs, computed):
        z = root.create_array(name, shape=arr.shape, chunks=arr.shape, dtype="uint16", fill_value=0)
        z[...] = np.asarray(arr)
    t3 = time.perf_counter()
    return {"items": len(items), "time_slices": int(ds.sizes["time"]), "shape": list(geobox.shape),
            "seconds": {"search": t1 - t0, "load_reduce": t2 - t1, "write": t3 - t2, "total": t3 - t0}}


def use_exact_transformer() -> None:
    """Makes odc-stac's warps use GDAL's exact transformer. odc-loader warps each source with
    `rasterio.warp.reproject(band, dst, ...)`, which always wraps GDAL's transformer in its
    approximation with a 0.125 px error threshold (rasterio 1.4 has no way to change it); that
    moves the nearest pick of about 5 % of this chunk's pixels by one source pixel (`gdalwarp
    -et 0.125` vs `-et 0` on a bench tile: 94.4 % vs 100 % equal to exact PROJ picks). A
    `WarpedVRT` takes a tolerance, so dataset sources are warped through one with 1e-9 px."""
    import rasterio.warp
    from rasterio.vrt import WarpedVRT

    approximate = rasterio.warp.reproject

    def reproject(source, destination, *args, **kw):
        if not hasattr(source, "ds") or args or kw.get("resampling") is None:
            return approximate(source, destination, *args, **kw)
        height, width = destination.shape[-2:]
        with WarpedVRT(source.ds, crs=kw["dst_crs"], transform=kw["dst_transform"], width=width, height=height,
                       resampling=kw["resampling"], src_nodata=kw.get("src_nodata"), nodata=kw.get("dst_nodata"),
                       tolerance=1e-9) as vrt:  # 0 fails in rasterio 1.4 (no VRT); 1e-9 px is exact here
            vrt.read(source.bidx, out=destination)
        return destination, kw["dst_transform"]

    rasterio.warp.reproject = reproject


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stac", required=True)
    ap.add_argument("--bbox", type=float, nargs=4, required=True)
    ap.add_argument("--res", default="1/3600")
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--bands", default="red,green,blue")
    ap.add_argument("--out", required=True)
    ap.add_argument("--use-overviews", action="store_true",
                    help="odc-stac's default overview reading (use_overviews=True) instead of full resolution")
    ap.add_argument("--exact-transform", action="store_true",
                    help="GDAL's exact transformer for the warp (tolerance 0, like cube) instead of its default "
                         "approximation (0.125 px), to check that the two compute the same thing; not for timing")
    a = ap.parse_args()
    if a.exact_transform:
        use_exact_transformer()
    result = build_chunk(a.stac, a.bbox, float(Fraction(a.res)), a.start, a.end, a.bands.split(","), a.out,
                         use_overviews=a.use_overviews)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
