"""Cross-check a store written by the Swift Zarr module (Tests/ZarrTests/TestCube.swift)
with independent readers: zarr-python 3, xarray, tensorstore and, for v2, GDAL's
gdalmdiminfo when available.

Usage: check_store.py <store path> <2|3>. Exits non-zero with a message on any mismatch.
The expected values repeat the formulas of TestCube.swift.
"""
import json
import math
import shutil
import subprocess
import sys
import warnings

import numpy as np
import zarr

warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")

path, fmt = sys.argv[1], int(sys.argv[2])


def expected():
    t, y, x = np.indices((2, 5, 7))
    red = (t * 1000 + y * 37 + x * 3 + 1).astype("uint16")
    green = (60000 - (t * 100 + y * 7 + x)).astype("uint16")
    green[1, 3:5, 4:7] = 0  # chunk (1, 1, 1) was not written: fill value 0
    y2, x2 = np.indices((5, 7))
    temp = (y2.astype("float32") * np.float32(0.5) - x2.astype("float32") * np.float32(0.25)).astype("float32")
    temp[3:5, 0:4] = np.nan  # chunk (1, 0) was not written: fill value NaN
    count = ((y2 * 7 + x2) % 256).astype("uint8")
    scalar = np.array(42, dtype="int64")
    meta_x = np.arange(7, dtype="float64") * 10.5
    return {"red": red, "green": green, "temp": temp, "count": count, "scalar": scalar, "meta/x": meta_x}


EXPECTED = expected()
DIMS = {"red": ["time", "y", "x"], "green": ["time", "y", "x"], "temp": ["y", "x"], "count": ["y", "x"], "meta/x": ["x"]}
FILL = {"red": 0, "green": 0, "temp": math.nan, "count": 0, "scalar": -1, "meta/x": 0.0}


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def check_group(group, how):
    assert dict(group.attrs) == {"title": "cube test", "version": 1, "scale": 0.5}, (how, dict(group.attrs))
    assert dict(group["meta"].attrs) == {"a": 1}, how
    for name, want in EXPECTED.items():
        array = group[name]
        got = array[...]
        assert same(got, want), f"{how}: {name} differs\n{got!r}\n!=\n{want!r}"
        fill, want_fill = array.fill_value, FILL[name]
        assert (math.isnan(fill) if math.isnan(want_fill) else fill == want_fill), (how, name, fill)
        if name in DIMS:
            dims = list(array.metadata.dimension_names) if fmt == 3 else list(array.attrs["_ARRAY_DIMENSIONS"])
            assert dims == DIMS[name], (how, name, dims)
    assert group["red"].attrs["long_name"] == "red", how


# zarr-python, plain (no consolidated metadata) and consolidated.
check_group(zarr.open_group(path, mode="r", zarr_format=fmt, use_consolidated=False), "zarr-python")
consolidated = zarr.open_consolidated(path, zarr_format=fmt)
members = sorted(k for k, _ in consolidated.members(max_depth=None))
assert members == ["count", "green", "meta", "meta/x", "red", "scalar", "temp"], members
check_group(consolidated, "zarr-python consolidated")

# xarray (the main consumer): dimension names and values through consolidated metadata.
import xarray as xr

ds = xr.open_zarr(path, consolidated=True, zarr_format=fmt, mask_and_scale=False)
assert ds["red"].dims == ("time", "y", "x"), ds["red"].dims
assert np.array_equal(ds["red"].values, EXPECTED["red"])
assert np.array_equal(ds["temp"].values, EXPECTED["temp"], equal_nan=True)

# tensorstore: an independent C++ implementation of both formats.
import tensorstore as ts

driver = "zarr3" if fmt == 3 else "zarr"
for name in ("red", "green", "temp", "count", "scalar"):
    store = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": f"{path}/{name}"}}, read=True).result()
    got = store.read().result()
    assert same(np.asarray(got), EXPECTED[name]), f"tensorstore: {name} differs\n{got!r}"

# GDAL 3.6 (v2 only): what QGIS and gdal users would see.
checked = ["zarr-python", "zarr-python consolidated", "xarray", "tensorstore"]
if fmt == 2 and shutil.which("gdalmdiminfo"):
    out = subprocess.run(["gdalmdiminfo", "-detailed", "-array", "red", path], capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    values = np.array(info["values"], dtype="uint16").reshape(2, 5, 7)
    assert np.array_equal(values, EXPECTED["red"]), values
    assert [d["name"] for d in info["dimensions"]] == ["time", "y", "x"], info["dimensions"]
    checked.append("gdal")

print("OK", "v%d" % fmt, ", ".join(checked))
