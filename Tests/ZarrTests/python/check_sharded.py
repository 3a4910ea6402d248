"""Cross-check the Zarr v3 sharding_indexed codec of the Swift Zarr module both ways.

Usage:
  check_sharded.py read <store>    Reads the store written by ShardedTestCube (TestCube.swift) with
                                   zarr-python 3 and tensorstore, checks every value (absent inner
                                   chunks and shards read as the fill value) and the shard index.
  check_sharded.py write <folder>  Writes <folder>/py.zarr with zarr-python's sharding (bytes +
                                   blosc zstd bitshuffle inner codecs, bytes + crc32c index) and
                                   each array's expected values as raw C-order little-endian bytes,
                                   <folder>/<name>.raw, for the Swift test to decode and compare.
Exits non-zero with a message on any mismatch; prints "OK ..." on success.
"""
import math
import os
import sys
import warnings

import numpy as np
import zarr

warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")

MAX_U64 = 2**64 - 1


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def swift_expected():
    """The formulas of ShardedTestCube in TestCube.swift."""
    t, y, x = np.indices((3, 20, 30))
    u16 = (t * 1000 + y * 37 + x * 3 + 1).astype("uint16")
    u16[0, 0:4, 4:8] = 0
    u16[2, 0:8, :] = 0
    u16[2, 16:20, 24:30] = 0  # shard (1, 2, 2) was not written
    y2, x2 = np.indices((9, 10))
    f32 = (y2.astype("float32") * np.float32(0.5) - x2.astype("float32") * np.float32(0.25)).astype("float32")
    f32[0:3, 5:10] = np.nan
    u8 = (np.arange(7) * 3 + 1).astype("uint8")
    u8[2:4] = 255
    return {"u16": u16, "f32": f32, "u8": u8}


def shard_index(path, key, inner_count):
    """(offset, nbytes) rows of a shard's index, read straight from its file."""
    with open(os.path.join(path, key), "rb") as handle:
        data = handle.read()
    table = data[len(data) - (16 * inner_count + 4):-4]
    return np.frombuffer(table, dtype="<u8").reshape(inner_count, 2), len(data)


def read(path):
    expected = swift_expected()
    fills = {"u16": 0, "f32": math.nan, "u8": 255}
    inner = {"u16": (1, 4, 4), "f32": (3, 5), "u8": (2,)}
    group = zarr.open_group(path, mode="r", zarr_format=3, use_consolidated=False)
    for name, want in expected.items():
        array = group[name]
        got = array[...]
        assert same(got, want), f"zarr-python: {name} differs\n{got!r}\n!=\n{want!r}"
        codec = array.metadata.codecs[0]
        assert type(codec).__name__ == "ShardingCodec", (name, array.metadata.codecs)
        assert tuple(codec.chunk_shape) == inner[name], (name, codec.chunk_shape)
        fill = array.fill_value
        assert math.isnan(fill) if math.isnan(fills[name]) else fill == fills[name], (name, fill)
    # zarr-python again through the consolidated metadata.
    consolidated = zarr.open_consolidated(path, zarr_format=3)
    assert same(consolidated["u16"][...], expected["u16"]), "zarr-python consolidated: u16 differs"

    # The shard layout itself: absent inner chunks are (2^64-1, 2^64-1), an all-fill shard is
    # only its index, and a shard never written has no file.
    rows, _ = shard_index(path, "u16/c/0/0/0", 2 * 2 * 3)
    assert (rows[1] == MAX_U64).all(), rows  # inner (0, 0, 1): t 0, y 0..4, x 4..8
    assert (rows[[0, 2]] != MAX_U64).all(), rows
    rows, size = shard_index(path, "u16/c/1/0/0", 2 * 2 * 3)
    assert (rows == MAX_U64).all() and size == 16 * 12 + 4, (rows, size)
    assert not os.path.exists(os.path.join(path, "u16/c/1/2/2"))
    rows, _ = shard_index(path, "f32/c/0/0", 2 * 2)
    assert (rows[1] == MAX_U64).all() and (rows[[0, 2, 3]] != MAX_U64).all(), rows

    # tensorstore: an independent C++ implementation of sharding.
    import tensorstore as ts

    for name, want in expected.items():
        store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/{name}"}}, read=True).result()
        got = np.asarray(store.read().result())
        assert same(got, want), f"tensorstore: {name} differs\n{got!r}\n!=\n{want!r}"
    print("OK sharded read zarr-python, zarr-python consolidated, tensorstore")


def write(folder):
    from zarr.codecs import BloscCodec

    root = zarr.open_group(os.path.join(folder, "py.zarr"), mode="w", zarr_format=3)
    blosc = [BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle")]

    t, y, x = np.indices((3, 20, 30))
    u16 = (t * 1000 + y * 37 + x * 3 + 100).astype("uint16")
    u16[0, 0:4, 4:8] = 7  # one inner chunk of the fill value: not stored
    u16[0:2, 8:16, 0:12] = 7  # a whole shard of it: zarr-python writes no object
    a = root.create_array("py_u16", shape=u16.shape, dtype="uint16", chunks=(1, 4, 4), shards=(2, 8, 12),
                          fill_value=7, compressors=blosc, dimension_names=["t", "y", "x"])
    a[...] = u16

    y2, x2 = np.indices((9, 10))
    f32 = (y2.astype("float32") * np.float32(0.5) - x2.astype("float32") * np.float32(0.25)).astype("float32")
    f32[0:3, 5:10] = np.nan
    b = root.create_array("py_f32", shape=f32.shape, dtype="float32", chunks=(3, 5), shards=(6, 10),
                          fill_value=np.nan, compressors=blosc)
    b[...] = f32

    for name, array in (("py_u16", a), ("py_f32", b)):
        codecs = array.metadata.to_dict()["codecs"]
        assert codecs[0]["name"] == "sharding_indexed", codecs
        config = codecs[0]["configuration"]
        assert [c["name"] for c in config["index_codecs"]] == ["bytes", "crc32c"], config
        assert [c["name"] for c in config["codecs"]] == ["bytes", "blosc"], config
    assert not os.path.exists(os.path.join(folder, "py.zarr", "py_u16", "c", "0", "1", "0"))
    for name, values in (("py_u16", u16), ("py_f32", f32)):
        with open(os.path.join(folder, name + ".raw"), "wb") as handle:
            handle.write(values.astype(values.dtype.newbyteorder("<")).tobytes(order="C"))
    print("OK sharded write zarr-python", zarr.__version__)


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    {"read": read, "write": write}[mode](target)
