#!/usr/bin/env python3
"""Checks that every consumer reads a cube written by `cube init` and the chunk writer.

    check_cube.py STORE --expect EXPECT.json [--docs docs/consumers.md]

EXPECT.json holds only the spec's inputs (CRS, resolution, bbox, chunk, time range, bands)
and the rule the test wrote values with; the grid, pixel centres, time bins and every
expected value are derived here, independently of the Swift code, from the snapping rule in
docs/architecture.md. Readers checked: zarr-python 3, xarray (no warning tolerated),
rioxarray, odc-geo, tensorstore and, for Zarr v2, GDAL's command-line tools. With --docs,
every ```python block of that Markdown file is run against the store too.

Prints one line per consumer and "OK" at the end; exits 1 with the first failure.
"""

import argparse
import datetime as dt
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_doc_examples import ExampleFailed, run_examples  # noqa: E402

# affine 3 deprecates `*` for composition, which rioxarray 0.19 still uses inside
# `.rio.transform()`; that is between those two libraries, not about the cube.
AFFINE_MUL_WARNING = dict(message="Use `@` matmul", category=PendingDeprecationWarning)


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def equal_arrays(got, want, what):
    got = np.asarray(got)
    check(got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}")
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        first = tuple(int(i) for i in bad[0])
        raise CheckFailed(f"{what}: {len(bad)} values differ, first at {first}: got {got[first]}, expected {want[first]}")


# --- what the cube must hold, derived from the spec inputs ---------------------------------

class Expected:
    def __init__(self, doc):
        self.format = doc["zarr_format"]
        self.epsg = doc["epsg"]
        self.crs = doc["crs"]
        num, den = doc["resolution"]
        self.rx = self.ry = num / den
        self.chunk = doc["chunk"]
        self.bands = doc["bands"]
        self.arrays = doc["arrays"]
        self.geographic = self.epsg == 4326
        self.ydim, self.xdim = ("latitude", "longitude") if self.geographic else ("y", "x")

        # Snap the bbox outwards to the CRS lattice, forgiving 1e-9 pixel of float noise.
        minx, miny, maxx, maxy = doc["bbox"]
        eps = 1e-9
        self.ix0 = math.floor(minx / self.rx + eps)
        ix1 = math.ceil(maxx / self.rx - eps)
        iy1 = math.floor(miny / self.ry + eps)
        self.iy0 = math.ceil(maxy / self.ry - eps)
        self.width, self.height = ix1 - self.ix0, self.iy0 - iy1
        # Pixel centres from integers, as (float(i) + 0.5) * r: the exact same float operations.
        self.x = (np.arange(self.ix0, self.ix0 + self.width, dtype=np.float64) + 0.5) * self.rx
        self.y = (np.arange(self.iy0, self.iy0 - self.height, -1, dtype=np.float64) - 0.5) * self.ry
        self.left, self.top = self.ix0 * self.rx, self.iy0 * self.ry
        # GDAL geotransform and the rasterio/affine order of the same numbers.
        self.geotransform = (self.left, self.rx, 0.0, self.top, 0.0, -self.ry)
        self.affine = (self.rx, 0.0, self.left, 0.0, -self.ry, self.top)

        self.bin_starts, self.bin_ends = time_bins(doc["time"])
        self.nbins = len(self.bin_starts)
        self.shape = (self.nbins, self.height, self.width)
        self.chunk_rows = -(-self.height // self.chunk)
        self.chunk_cols = -(-self.width // self.chunk)

        rule = doc["values"]
        self.written = {(a, b, cy, cx) for a, b, cy, cx in doc["written"]}
        check(self.written, "the test wrote no chunks")
        self.values = {}
        rows = np.arange(self.height, dtype=np.int64)[:, None]
        cols = np.arange(self.width, dtype=np.int64)[None, :]
        for index, name in enumerate(self.arrays):
            full = np.zeros(self.shape, dtype=np.uint16)
            for b in range(self.nbins):
                plane = rule["offset"] + (b * rule["bin"] + rows * rule["row"] + cols * rule["col"]
                                          + index * rule["array"]) % rule["modulus"]
                for cy in range(self.chunk_rows):
                    for cx in range(self.chunk_cols):
                        if (name, b, cy, cx) in self.written:
                            window = self.window(cy, cx)
                            full[(b,) + window] = plane[window]
            self.values[name] = full

    def window(self, cy, cx):
        c = self.chunk
        return (slice(cy * c, min((cy + 1) * c, self.height)), slice(cx * c, min((cx + 1) * c, self.width)))

    def chunk_examples(self, name):
        """One written and one never-written chunk of an array, as (bin, cy, cx)."""
        every = [(b, cy, cx) for b in range(self.nbins) for cy in range(self.chunk_rows) for cx in range(self.chunk_cols)]
        written = [k for k in every if (name,) + k in self.written]
        unwritten = [k for k in every if (name,) + k not in self.written]
        check(written and unwritten, f"{name}: the test needs written and unwritten chunks")
        # Prefer a partial edge chunk for the written one: it exercises the padding.
        edge = [k for k in written if k[1] == self.chunk_rows - 1 or k[2] == self.chunk_cols - 1]
        return (edge or written)[-1], unwritten[0]


def add_months(day, months):
    """Calendar month arithmetic clamped to the month's last day (Jan 31 + 1 month = Feb 29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = (next_first - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def time_bins(spec):
    start = dt.date.fromisoformat(spec["start"])
    end = dt.date.fromisoformat(spec["end"])  # a bare end date covers that whole day
    starts, ends = [], []
    k = 0
    while add_months(start, k * spec["step_months"]) <= end:
        starts.append(add_months(start, k * spec["step_months"]))
        ends.append(add_months(start, (k + 1) * spec["step_months"]))
        k += 1
    return (np.array(starts, dtype="datetime64[ns]"), np.array(ends, dtype="datetime64[ns]"))


def days_since_epoch(dates):
    return dates.astype("datetime64[D]").astype(np.int64)


# --- readers ---------------------------------------------------------------------------------

def check_zarr_python(store, e):
    import zarr

    plain = zarr.open_group(store, mode="r", use_consolidated=False)
    consolidated = zarr.open_consolidated(store, mode="r")
    default = zarr.open_group(store, mode="r", use_consolidated=True)
    check(plain.metadata.zarr_format == e.format, f"zarr_format {plain.metadata.zarr_format}, expected {e.format}")

    names = set(e.arrays) | {e.xdim, e.ydim, "time", "time_bnds", "spatial_ref"}
    for group, how in ((plain, "without"), (consolidated, "open_consolidated"), (default, "use_consolidated")):
        check(set(group.array_keys()) == names, f"arrays ({how} consolidated metadata): {sorted(group.array_keys())}, expected {sorted(names)}")
        check(set(group.group_keys()) == {"_cube"}, f"groups ({how}): {sorted(group.group_keys())}")
    # The consolidated copy must say exactly what each node's own metadata says.
    # (As JSON text: the coordinates' NaN fill value would make == fail on identical metadata.)
    def document(array):
        return json.dumps(array.metadata.to_dict(), sort_keys=True, default=repr)

    for name in names:
        check(document(consolidated[name]) == document(plain[name]), f"{name}: consolidated metadata differs from {name}'s own")
    check(dict(consolidated.attrs) == dict(plain.attrs), "root attributes differ between consolidated and plain metadata")

    attrs = plain.attrs
    check(attrs.get("Conventions") == "CF-1.8", f"root Conventions {attrs.get('Conventions')!r}")
    check("cube:spec" in attrs and "cube:version" in attrs, "root attributes lack cube:spec / cube:version")
    check(attrs.get("cube:jobs") == e.nbins * e.chunk_rows * e.chunk_cols,
          f"cube:jobs {attrs.get('cube:jobs')}, expected {e.nbins * e.chunk_rows * e.chunk_cols} (land_mask: none)")

    def dimension_names(array):
        if e.format == 3:
            return list(array.metadata.dimension_names or [])
        return list(array.attrs.get("_ARRAY_DIMENSIONS", []))

    for name in e.arrays:
        a = plain[name]
        check(a.shape == e.shape, f"{name}: shape {a.shape}, expected {e.shape}")
        check(a.dtype == np.uint16, f"{name}: dtype {a.dtype}")
        check(a.chunks == (1, e.chunk, e.chunk), f"{name}: chunks {a.chunks}")
        check(a.fill_value == 0, f"{name}: fill value {a.fill_value}")
        check(dimension_names(a) == ["time", e.ydim, e.xdim], f"{name}: dimensions {dimension_names(a)}")
        check(a.attrs.get("grid_mapping") == "spatial_ref", f"{name}: grid_mapping {a.attrs.get('grid_mapping')!r}")
        if e.format == 2:
            check("_CRS" in a.attrs and "wkt" in a.attrs["_CRS"], f"{name}: v2 array lacks _CRS.wkt for GDAL")
        equal_arrays(a[:], e.values[name], f"zarr {name}")
        equal_arrays(consolidated[name][:], e.values[name], f"zarr (consolidated) {name}")

    equal_arrays(plain[e.xdim][:], e.x, f"zarr {e.xdim}")
    equal_arrays(plain[e.ydim][:], e.y, f"zarr {e.ydim}")
    check(dimension_names(plain[e.xdim]) == [e.xdim] and dimension_names(plain[e.ydim]) == [e.ydim], "coordinate dimension names")
    equal_arrays(plain["time"][:], days_since_epoch(e.bin_starts), "zarr time (days since 1970-01-01)")
    equal_arrays(plain["time_bnds"][:], np.stack([days_since_epoch(e.bin_starts), days_since_epoch(e.bin_ends)], axis=1),
                 "zarr time_bnds")
    check(plain["time"].attrs.get("units") == "days since 1970-01-01", "time units")
    check(plain["time"].attrs.get("bounds") == "time_bnds", "time bounds attribute")

    ref = plain["spatial_ref"]
    check(ref.shape == (), f"spatial_ref shape {ref.shape}")
    gt = [float(v) for v in ref.attrs["GeoTransform"].split()]
    check(gt == list(e.geotransform), f"spatial_ref GeoTransform {gt}, expected {list(e.geotransform)}")
    check(pyproj_epsg(ref.attrs["crs_wkt"]) == e.epsg, f"spatial_ref crs_wkt is not EPSG:{e.epsg}")
    check(ref.attrs["spatial_ref"] == ref.attrs["crs_wkt"], "spatial_ref and crs_wkt differ")

    with open(os.path.join(store, "_cube", "plan.json")) as f:
        check(isinstance(json.load(f), dict), "_cube/plan.json is not a JSON object")
    check(os.path.isfile(os.path.join(store, "_cube", "spec.yaml")), "_cube/spec.yaml is missing")
    return "zarr-python %s: plain, open_consolidated and use_consolidated agree; values, coordinates, time, CRS" % zarr.__version__


def pyproj_epsg(wkt):
    import pyproj

    return pyproj.CRS.from_wkt(wkt).to_epsg()


def check_xarray(store, e):
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning at all (consolidated metadata, CF decoding, ...) fails
        datasets = {
            "open_zarr": xr.open_zarr(store),
            "open_zarr(consolidated=True)": xr.open_zarr(store, consolidated=True),
            "open_zarr(consolidated=False)": xr.open_zarr(store, consolidated=False),
            "open_dataset(engine=zarr)": xr.open_dataset(store, engine="zarr", chunks=None),
        }
        raw = xr.open_zarr(store, mask_and_scale=False)
        for ds in list(datasets.values()) + [raw]:
            ds.load()

    for how, ds in datasets.items():
        check(set(ds.data_vars) == set(e.arrays) | {"time_bnds"}, f"xarray {how}: data variables {sorted(ds.data_vars)}")
        check(dict(ds.sizes) == {"time": e.nbins, e.ydim: e.height, e.xdim: e.width, "nv": 2}, f"xarray {how}: sizes {dict(ds.sizes)}")
        check("spatial_ref" in ds.coords, f"xarray {how}: spatial_ref is not a coordinate")
        equal_arrays(ds[e.xdim].values, e.x, f"xarray {how} {e.xdim}")
        equal_arrays(ds[e.ydim].values, e.y, f"xarray {how} {e.ydim}")
        check(ds.time.dtype.kind == "M", f"xarray {how}: time not decoded (dtype {ds.time.dtype})")
        equal_arrays(ds.time.values.astype("datetime64[ns]"), e.bin_starts, f"xarray {how} time")
        equal_arrays(ds.time_bnds.values.astype("datetime64[ns]"), np.stack([e.bin_starts, e.bin_ends], axis=1), f"xarray {how} time_bnds")
        for name in e.arrays:
            var = ds[name]
            check(var.dims == ("time", e.ydim, e.xdim), f"xarray {how} {name}: dims {var.dims}")
            want = e.values[name]
            if name in e.bands:
                # Reflectance arrays carry CF scale_factor 0.0001 and _FillValue 0: both formats
                # decode to reflectance with NaN for no data.
                check(var.attrs.get("units") == "1" and "scale_factor" not in var.attrs,
                      f"xarray {how} {name}: scale_factor not applied")
                check(var.dtype.kind == "f", f"xarray {how} {name}: dtype {var.dtype}, expected decoded reflectance")
                equal_arrays(np.isnan(var.values), want == 0, f"xarray {how} {name} NaN mask")
                equal_arrays(np.nan_to_num(var.values, nan=0), want * 0.0001, f"xarray {how} {name} reflectance")
            elif e.format == 3:
                # v3: xarray does not turn the Zarr fill value into a mask: 0 stays 0, uint16 stays.
                check(var.dtype == np.uint16, f"xarray {how} {name}: dtype {var.dtype}, expected uint16 (v3 is not masked)")
                equal_arrays(var.values, want, f"xarray {how} {name}")
            else:
                # v2: the fill value is CF _FillValue, so nodata 0 becomes NaN in float32.
                check(var.dtype == np.float32, f"xarray {how} {name}: dtype {var.dtype}, expected float32 (v2 masks fill 0)")
                equal_arrays(np.isnan(var.values), want == 0, f"xarray {how} {name} NaN mask")
                equal_arrays(np.nan_to_num(var.values, nan=0).astype(np.uint16), want, f"xarray {how} {name}")
    for name in e.arrays:
        check(raw[name].dtype == np.uint16, f"xarray mask_and_scale=False {name}: dtype {raw[name].dtype}")
        equal_arrays(raw[name].values, e.values[name], f"xarray mask_and_scale=False {name}")
    return f"xarray {xr.__version__}: no warnings; dims, centres, time, time_bnds, reflectance decoded (NaN = no data), count ({'unmasked' if e.format == 3 else 'fill 0 masked to NaN'})"


def close(a, b, tolerance):
    return len(a) == len(b) and all(abs(x - y) <= tolerance for x, y in zip(a, b))


def check_rioxarray(store, e):
    import pyproj
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    ds = xr.open_zarr(store)
    tolerance = 1e-6 * e.rx  # rioxarray rebuilds the transform from the centre coordinates
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", **AFFINE_MUL_WARNING)
        for target in [ds] + [ds[name] for name in e.arrays]:
            crs = target.rio.crs
            check(crs is not None, "rioxarray found no CRS")
            check(crs.to_epsg() == e.epsg, f"rioxarray CRS EPSG:{crs.to_epsg()}, expected EPSG:{e.epsg}")
            check(pyproj.CRS.from_user_input(crs.to_wkt()).equals(pyproj.CRS.from_epsg(e.epsg), ignore_axis_order=True),
                  "rioxarray CRS is not equivalent to the spec CRS")
            check((target.rio.x_dim, target.rio.y_dim) == (e.xdim, e.ydim), f"rioxarray dims {target.rio.x_dim}, {target.rio.y_dim}")
            check(target.rio.shape == (e.height, e.width), f"rioxarray shape {target.rio.shape}")
            affine = tuple(target.rio.transform())[:6]
            check(close(affine, e.affine, tolerance), f"rioxarray transform {affine}, expected {e.affine}")
            right, bottom = e.left + e.width * e.rx, e.top - e.height * e.ry
            check(close(target.rio.bounds(), (e.left, bottom, right, e.top), tolerance), f"rioxarray bounds {target.rio.bounds()}")
        red = ds[e.bands[0]]
        # Reflectance arrives masked (NaN) with 0 as the encoded nodata, in both formats.
        check(np.isnan(red.rio.nodata) and red.rio.encoded_nodata == 0, f"rioxarray nodata {red.rio.nodata}/{red.rio.encoded_nodata}")
    return f"rioxarray {rioxarray.__version__}: CRS EPSG:{e.epsg}, transform, bounds, nodata"


def check_odc_geo(store, e):
    import odc.geo
    import odc.geo.xr  # noqa: F401  (registers .odc)
    import xarray as xr

    ds = xr.open_zarr(store)
    tolerance = 1e-6 * e.rx
    for target in [ds] + [ds[name] for name in e.arrays]:
        gbox = target.odc.geobox
        check(gbox is not None, "odc-geo found no geobox")
        check(tuple(gbox.shape) == (e.height, e.width), f"odc-geo shape {tuple(gbox.shape)}")
        check(gbox.crs.epsg == e.epsg, f"odc-geo CRS {gbox.crs}, expected EPSG:{e.epsg}")
        check(close(tuple(gbox.affine)[:6], e.affine, tolerance), f"odc-geo affine {tuple(gbox.affine)[:6]}, expected {e.affine}")
    return f"odc-geo {odc.geo.__version__}: geobox shape, affine, CRS"


def check_tensorstore(store, e):
    import tensorstore as ts

    driver = "zarr3" if e.format == 3 else "zarr"

    def open_array(name):
        return ts.open({"driver": driver, "kvstore": {"driver": "file", "path": os.path.join(os.path.abspath(store), name)}},
                       read=True).result()

    for name in e.arrays:
        array = open_array(name)
        check(tuple(array.shape) == e.shape, f"tensorstore {name}: shape {tuple(array.shape)}")
        check(array.dtype == ts.uint16, f"tensorstore {name}: dtype {array.dtype}")
        written, unwritten = e.chunk_examples(name)
        for b, cy, cx in (written, unwritten):
            rows, cols = e.window(cy, cx)
            got = array[b, rows, cols].read().result()
            equal_arrays(got, e.values[name][b, rows, cols], f"tensorstore {name} chunk ({b}, {cy}, {cx})")
        equal_arrays(array.read().result(), e.values[name], f"tensorstore {name}")
    equal_arrays(open_array(e.xdim).read().result(), e.x, f"tensorstore {e.xdim}")
    equal_arrays(open_array("time").read().result(), days_since_epoch(e.bin_starts), "tensorstore time")
    from importlib.metadata import version

    return f"tensorstore {version('tensorstore')} ({driver}): written and unwritten chunks, whole arrays"


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    check(result.returncode == 0, f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def check_gdal(store, e):
    """GDAL 3.6 reads Zarr v2: the classic 2-D view of a 3-D array is `ZARR:"store":/array:<time index>`."""
    for name in e.arrays:
        b = e.nbins - 1
        source = f'ZARR:"{store}":/{name}:{b}'
        info = json.loads(run(["gdalinfo", "-json", source]))
        check(info["size"] == [e.width, e.height], f"gdalinfo {name}: size {info['size']}")
        check(close(info["geoTransform"], e.geotransform, 1e-9 * e.rx), f"gdalinfo {name}: geotransform {info['geoTransform']}, expected {e.geotransform}")
        check(pyproj_epsg(info["coordinateSystem"]["wkt"]) == e.epsg, f"gdalinfo {name}: CRS is not EPSG:{e.epsg}")
        band = info["bands"][0]
        check(band["type"] == "UInt16" and band.get("noDataValue") == 0, f"gdalinfo {name}: band {band['type']} nodata {band.get('noDataValue')}")
        check(band["block"] == [e.chunk, e.chunk], f"gdalinfo {name}: block {band['block']}")

        # Every pixel with its centre: gdal_translate to XYZ on stdout.
        text = run(["gdal_translate", "-q", "-of", "XYZ", source, "/vsistdout/"])
        xyz = np.loadtxt(text.splitlines(), dtype=np.float64)
        check(xyz.shape == (e.width * e.height, 3), f"gdal_translate {name}: {xyz.shape[0]} pixels")
        centres_x = np.tile(e.x, e.height)
        centres_y = np.repeat(e.y, e.width)
        check(np.allclose(xyz[:, 0], centres_x, rtol=0, atol=1e-6 * e.rx) and np.allclose(xyz[:, 1], centres_y, rtol=0, atol=1e-6 * e.ry),
              f"gdal_translate {name}: pixel centres differ from the grid's")
        equal_arrays(xyz[:, 2].astype(np.uint16).reshape(e.height, e.width), e.values[name][b], f"gdal_translate {name} bin {b}")

    # A point lookup in georeferenced coordinates, as a user would do it.
    name = e.bands[0]
    row, col = e.height - 1, e.width - 1  # bottom-right pixel: inside the partial edge chunk
    value = run(["gdallocationinfo", "-valonly", "-geoloc", f'ZARR:"{store}":/{name}:0', repr(float(e.x[col])), repr(float(e.y[row]))])
    check(int(value.strip()) == int(e.values[name][0, row, col]), f"gdallocationinfo {name}: {value.strip()}, expected {e.values[name][0, row, col]}")
    version = run(["gdalinfo", "--version"]).split(",")[0]
    return f"{version}: CRS, geotransform, nodata, every pixel centre and value (gdal_translate XYZ), gdallocationinfo"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("--expect", required=True)
    parser.add_argument("--docs", help="Markdown file whose ```python blocks are run against the store")
    args = parser.parse_args()
    with open(args.expect) as f:
        e = Expected(json.load(f))

    checks = [check_zarr_python, check_xarray, check_rioxarray, check_odc_geo, check_tensorstore]
    if e.format == 2:
        checks.append(check_gdal)
    try:
        for step in checks:
            print(f"{step.__name__}: {step(args.store, e)}", flush=True)
        if args.docs:
            count = run_examples(args.docs, args.store)
            print(f"docs: {count} examples of {os.path.basename(args.docs)} ran", flush=True)
    except (CheckFailed, ExampleFailed) as failure:
        print(f"FAILED {e.crs} v{e.format} {args.store}: {failure}", flush=True)
        return 1
    print(f"OK {e.crs} v{e.format}: {e.width}x{e.height} px, {e.nbins} bins, {len(e.written)} chunks written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
