#!/usr/bin/env python3
"""ML-style read benchmark: random P x P patches across all time bins of Zarr arrays, read with
zarr-python 3 and with tensorstore; patches per second, MB/s decoded, and the bytes each reader
reads from storage per patch.

    read_patches.py STORE [STORE ...] [--array NAME ...] [--patches N] [--patch P] [--seed S]
                    [--readers zarr,tensorstore] [--warmup K] [--cold] [--json OUT] [--quick]

STORE is a local Zarr folder (v3; v2 works too). Without --array every array of the store's
root with time as its first of three dimensions (dimension_names, or _ARRAY_DIMENSIONS in v2)
and a float or uint16 data type is read, except `count` and `count_*` (the cube's valid
observation counts are not bands). Each patch is `arr[:, y0:y0+P, x0:x0+P]` over all time bins,
with y0/x0 uniform over the valid range (not aligned to chunks), drawn from a generator seeded
with --seed, so every reader and every store of the same shape reads the same patches. P is
clipped to the array's spatial size. Patches are read one after the other (one loader worker);
each reader uses its own internal concurrency for the chunks of a patch. K warm-up patches (at
other random places) are read first and not counted.

How "bytes read from storage" is counted:

- zarr-python: the array is opened on a counting wrapper (a zarr.storage.WrapperStore) around a
  read-only LocalStore; every `get` (whole object or byte range) and `get_partial_values` adds the
  length of what the store returned. For a sharded array (codec `sharding_indexed`) that is the
  shard index (a suffix range of the shard) plus the byte ranges of the inner chunks the patch
  touches; for an unsharded array it is the whole chunk objects.
- tensorstore: the array is opened through its `file` kvstore with a zero-byte cache pool (no
  chunk or shard-index cache, so every patch re-reads what it needs, as zarr-python does), and
  the counter is tensorstore's own metric `/tensorstore/kvstore/file/bytes_read` (bytes its
  file kvstore read; reads are counted with `/tensorstore/kvstore/file/read`).
- Both: as an OS-level cross-check, the delta of `rchar` in /proc/self/io (bytes this process
  read through read/pread syscalls, whether served from the page cache or the disk) over the
  patch reads is reported too. It includes any other reads of the process in that time, so it is
  at least the counted figure.

Opening an array (reading its metadata) happens before the clock and the counters start.
The page cache is shared: by default the second reader may find pages the first left in memory.
--cold evicts the array's files from the page cache (posix_fadvise DONTNEED, no root needed)
before each reader's run, so both start cold; bytes-read figures are the same either way.

Output: a table on stdout and, with --json OUT, the same rows as JSON. The readers' results
are compared patch by patch (CRC-32 of the bytes); any disagreement is reported and the exit
status is 1. --quick is a smoke run: 4 patches, 1 warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


# ------------------------------------------------------------------------------------------
# Store inspection


@dataclass
class ArrayInfo:
    store: str
    name: str
    zarr_format: int
    shape: tuple[int, ...]
    dtype: str
    dims: list[str]
    chunks: tuple[int, ...]  # read unit (inner chunk when sharded)
    shards: tuple[int, ...] | None  # shard shape, None when unsharded


def _array_meta(path: Path) -> dict | None:
    """The array metadata of a v3 (zarr.json) or v2 (.zarray + .zattrs) array folder."""
    z3 = path / "zarr.json"
    if z3.is_file():
        meta = json.loads(z3.read_text())
        return meta if meta.get("node_type") == "array" else None
    z2 = path / ".zarray"
    if z2.is_file():
        meta = json.loads(z2.read_text())
        attrs = path / ".zattrs"
        meta["attributes"] = json.loads(attrs.read_text()) if attrs.is_file() else {}
        return meta
    return None


def array_info(store: Path, name: str) -> ArrayInfo:
    meta = _array_meta(store / name)
    if meta is None:
        raise SystemExit(f"{store}: no Zarr array named {name!r}")
    if meta.get("zarr_format") == 3:
        shape = tuple(meta["shape"])
        dtype = str(np.dtype(meta["data_type"])) if isinstance(meta["data_type"], str) else str(meta["data_type"])
        dims = list(meta.get("dimension_names") or [])
        outer = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        shard_codec = next((c for c in meta.get("codecs", []) if c.get("name") == "sharding_indexed"), None)
        if shard_codec:
            chunks, shards = tuple(shard_codec["configuration"]["chunk_shape"]), outer
        else:
            chunks, shards = outer, None
        return ArrayInfo(str(store), name, 3, shape, dtype, dims, chunks, shards)
    return ArrayInfo(str(store), name, 2, tuple(meta["shape"]), str(np.dtype(meta["dtype"])),
                     list(meta["attributes"].get("_ARRAY_DIMENSIONS") or []), tuple(meta["chunks"]), None)


def default_arrays(store: Path) -> list[str]:
    """Band-like (time, y, x) arrays at the store's root: float or uint16, not count."""
    names = []
    for child in sorted(p for p in store.iterdir() if p.is_dir()):
        if child.name == "count" or child.name.startswith("count_"):
            continue
        if _array_meta(child) is None:
            continue
        info = array_info(store, child.name)
        dt = np.dtype(info.dtype)
        if (len(info.shape) == 3 and info.dims[:1] == ["time"]
                and (dt.kind == "f" or dt == np.uint16)):
            names.append(child.name)
    return names


def make_patches(shape: tuple[int, ...], patch: int, n: int, seed: int) -> list[tuple[int, int]]:
    _, h, w = shape
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, h - patch + 1, size=n)
    xs = rng.integers(0, w - patch + 1, size=n)
    return [(int(y), int(x)) for y, x in zip(ys, xs)]


# ------------------------------------------------------------------------------------------
# Counters


def rchar() -> int:
    """Bytes this process has read through read-like syscalls (page cache hits included)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def evict_from_page_cache(folder: Path) -> None:
    if not hasattr(os, "posix_fadvise"):
        return
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                fd = os.open(os.path.join(root, f), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


@dataclass
class Tally:
    bytes: int = 0
    requests: int = 0


def counting_local_store(root: Path, tally: Tally):
    """A read-only LocalStore wrapped so every byte it hands zarr-python is counted in tally."""
    from zarr.storage import LocalStore, WrapperStore

    class CountingStore(WrapperStore):
        def __init__(self, store, tally: Tally = tally) -> None:
            super().__init__(store)
            self.tally = tally

        def _with_store(self, store):  # keep one tally across zarr's re-wrapping
            return type(self)(store, self.tally)

        async def get(self, key, prototype=None, byte_range=None):
            buf = await self._store.get(key, prototype, byte_range)
            self.tally.requests += 1
            if buf is not None:
                self.tally.bytes += len(buf)
            return buf

        async def get_partial_values(self, prototype, key_ranges):
            key_ranges = list(key_ranges)
            bufs = await self._store.get_partial_values(prototype, key_ranges)
            self.tally.requests += len(key_ranges)
            self.tally.bytes += sum(len(b) for b in bufs if b is not None)
            return bufs

    return CountingStore(LocalStore(str(root), read_only=True))


# ------------------------------------------------------------------------------------------
# Readers: each returns (read(y0, x0) -> ndarray, counter() -> (bytes, requests))


def open_zarr(info: ArrayInfo, patch: int):
    import zarr

    tally = Tally()
    arr = zarr.open_array(store=counting_local_store(Path(info.store), tally), path=info.name, mode="r")

    def read(y0: int, x0: int) -> np.ndarray:
        return np.asarray(arr[:, y0:y0 + patch, x0:x0 + patch])

    return read, lambda: (tally.bytes, tally.requests)


def _ts_metric(name: str) -> int:
    import tensorstore as ts

    for m in ts.experimental_collect_matching_metrics(name):
        if m["name"] == name:
            return int(sum(v.get("value", 0) for v in m["values"]))
    return 0


def open_tensorstore(info: ArrayInfo, patch: int):
    import tensorstore as ts

    spec = {
        "driver": "zarr3" if info.zarr_format == 3 else "zarr",
        "kvstore": {"driver": "file", "path": str(Path(info.store) / info.name) + "/"},
        "recheck_cached_data": False,
        "recheck_cached_metadata": False,
    }
    ctx = ts.Context({"cache_pool": {"total_bytes_limit": 0}})
    arr = ts.open(spec, read=True, context=ctx).result()

    def read(y0: int, x0: int) -> np.ndarray:
        return arr[:, y0:y0 + patch, x0:x0 + patch].read().result()

    def counter() -> tuple[int, int]:
        return (_ts_metric("/tensorstore/kvstore/file/bytes_read"),
                _ts_metric("/tensorstore/kvstore/file/read"))

    return read, counter


READERS: dict[str, Callable] = {"zarr": open_zarr, "tensorstore": open_tensorstore}


# ------------------------------------------------------------------------------------------
# Benchmark


@dataclass
class Row:
    store: str
    array: str
    reader: str
    shape: list[int]
    dtype: str
    chunks: list[int]
    shards: list[int] | None
    patch: int
    patches: int
    seconds: float
    patches_per_s: float
    decoded_mb_per_s: float
    bytes_read_per_patch: float
    reads_per_patch: float
    rchar_per_patch: float
    latency_ms_p50: float
    latency_ms_p95: float
    agree: bool | None = None
    crcs: list[int] = field(default_factory=list, repr=False)


def run_one(info: ArrayInfo, reader: str, patch: int, patches: list[tuple[int, int]],
            warmup: list[tuple[int, int]], cold: bool,
            keep: list[np.ndarray] | None = None) -> Row:
    read, counter = READERS[reader](info, patch)
    for y0, x0 in warmup:
        read(y0, x0)
    if cold:
        evict_from_page_cache(Path(info.store) / info.name)
    lat, crcs = [], []
    b0, r0, c0 = *counter(), rchar()
    t0 = time.perf_counter()
    for y0, x0 in patches:
        s = time.perf_counter()
        a = read(y0, x0)
        lat.append(time.perf_counter() - s)
        crcs.append(zlib.crc32(np.ascontiguousarray(a).tobytes()))
        if keep is not None:
            keep.append(a)
    elapsed = time.perf_counter() - t0
    b1, r1, c1 = *counter(), rchar()
    n = len(patches)
    decoded = n * info.shape[0] * patch * patch * np.dtype(info.dtype).itemsize
    lat_ms = sorted(x * 1000 for x in lat)
    return Row(
        store=info.store, array=info.name, reader=reader, shape=list(info.shape), dtype=info.dtype,
        chunks=list(info.chunks), shards=list(info.shards) if info.shards else None,
        patch=patch, patches=n, seconds=elapsed,
        patches_per_s=n / elapsed if elapsed > 0 else float("inf"),
        decoded_mb_per_s=decoded / elapsed / 1e6 if elapsed > 0 else float("inf"),
        bytes_read_per_patch=(b1 - b0) / n, reads_per_patch=(r1 - r0) / n,
        rchar_per_patch=(c1 - c0) / n if c0 >= 0 else float("nan"),
        latency_ms_p50=statistics.median(lat_ms),
        latency_ms_p95=lat_ms[min(len(lat_ms) - 1, int(round(0.95 * (len(lat_ms) - 1))))],
        crcs=crcs,
    )


def benchmark(stores: list[Path], arrays: list[str] | None, readers: list[str], n: int,
              patch: int, seed: int, warmup: int, cold: bool, log=print) -> list[Row]:
    rows: list[Row] = []
    for store in stores:
        names = arrays or default_arrays(store)
        if not names:
            log(f"{store}: no (time, y, x) float/uint16 arrays found")
        for name in names:
            info = array_info(store, name)
            if len(info.shape) != 3:
                raise SystemExit(f"{store}/{name}: shape {info.shape} is not (time, y, x)")
            p = min(patch, info.shape[1], info.shape[2])
            patches = make_patches(info.shape, p, n, seed)
            warm = make_patches(info.shape, p, warmup, seed + 1) if warmup else []
            group = [run_one(info, r, p, patches, warm, cold) for r in readers]
            agree = all(g.crcs == group[0].crcs for g in group)
            for g in group:
                g.agree = agree
            rows.extend(group)
    return rows


def fmt_bytes(x: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(x) < 1024 or unit == "GiB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1024
    return str(x)


def table(rows: list[Row]) -> str:
    head = ["store", "array", "layout", "reader", "patch", "n", "patch/s", "MB/s dec",
            "read/patch", "reads/patch", "rchar/patch", "p50 ms", "p95 ms", "agree"]
    out = []
    for r in rows:
        layout = (f"shard {'x'.join(map(str, r.shards))} / chunk {'x'.join(map(str, r.chunks))}"
                  if r.shards else f"chunk {'x'.join(map(str, r.chunks))}")
        out.append([Path(r.store).name, r.array, layout, r.reader, f"{r.shape[0]}x{r.patch}x{r.patch}",
                    str(r.patches), f"{r.patches_per_s:.1f}", f"{r.decoded_mb_per_s:.1f}",
                    fmt_bytes(r.bytes_read_per_patch), f"{r.reads_per_patch:.1f}",
                    fmt_bytes(r.rchar_per_patch), f"{r.latency_ms_p50:.1f}", f"{r.latency_ms_p95:.1f}",
                    "yes" if r.agree else "NO"])
    widths = [max(len(h), *(len(o[i]) for o in out)) if out else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(o, widths)) for o in out]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", nargs="+", type=Path, help="local Zarr store folders")
    ap.add_argument("--array", action="append", help="array name (repeatable); default: every band-like (time, y, x) array")
    ap.add_argument("--patches", "-n", type=int, default=64, help="patches per array and reader (default 64)")
    ap.add_argument("--patch", "-p", type=int, default=256, help="patch edge in pixels (default 256)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readers", default="zarr,tensorstore", help="comma list of: zarr, tensorstore")
    ap.add_argument("--warmup", type=int, default=2, help="untimed patches first (default 2)")
    ap.add_argument("--cold", action="store_true", help="evict the array's files from the page cache before each reader's run")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 patches, 1 warm-up")
    args = ap.parse_args(argv)

    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    for r in readers:
        if r not in READERS:
            ap.error(f"unknown reader {r!r}; known: {', '.join(READERS)}")
    if args.quick:
        args.patches, args.warmup = 4, 1
    for s in args.stores:
        if not s.is_dir():
            ap.error(f"{s}: not a folder")

    rows = benchmark(args.stores, args.array, readers, args.patches, args.patch, args.seed,
                     args.warmup, args.cold, log=lambda m: print(m, file=sys.stderr))
    print(table(rows))
    if args.json:
        doc = {
            "params": {"patches": args.patches, "patch": args.patch, "seed": args.seed,
                       "readers": readers, "warmup": args.warmup, "cold": args.cold},
            "rows": [{k: v for k, v in asdict(r).items() if k != "crcs"} for r in rows],
        }
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    if not all(r.agree for r in rows):
        print("readers DISAGREE on some patches", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
