"""scripts/bench/read_patches.py on two small Zarr v3 arrays written by zarr-python itself:
one sharded (64 x 64 inner chunks in 512 x 512 shards), one unsharded (512 x 512 chunks)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "bench" / "read_patches.py"
SHAPE = (4, 1024, 1024)
PATCH = 64


def load_script():
    spec = importlib.util.spec_from_file_location("read_patches", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["read_patches"] = mod
    spec.loader.exec_module(mod)
    return mod


def truth() -> np.ndarray:
    """Reflectance-like uint16: smooth field plus noise, so it compresses like real bands."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:SHAPE[1], 0:SHAPE[2]]
    base = 2000 + 800 * np.sin(y / 90.0) * np.cos(x / 70.0)
    t = np.arange(SHAPE[0])[:, None, None]
    data = base[None] + 150 * t + rng.normal(0, 60, size=SHAPE)
    return np.clip(data, 1, 10000).astype(np.uint16)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("read_patches")
    data = truth()
    out = {}
    for name, kwargs in {
        "sharded": {"shards": (4, 512, 512), "chunks": (4, 64, 64)},
        "unsharded": {"chunks": (4, 512, 512)},
    }.items():
        path = root / f"{name}.zarr"
        group = zarr.open_group(str(path), mode="w", zarr_format=3)
        arr = group.create_array("red", shape=SHAPE, dtype="uint16", fill_value=0,
                                 dimension_names=("time", "y", "x"), **kwargs)
        arr[...] = data
        # A count array of the same layout must be skipped by the default array choice.
        group.create_array("count", shape=SHAPE, dtype="uint16", fill_value=0,
                           dimension_names=("time", "y", "x"), chunks=(4, 512, 512))
        out[name] = path
    return out, data


def test_quick_run_sharded_reads_fewer_bytes(stores, tmp_path):
    paths, _ = stores
    report = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(paths["sharded"]), str(paths["unsharded"]),
         "--quick", "--patch", str(PATCH), "--json", str(report)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "patch/s" in run.stdout and "read/patch" in run.stdout, run.stdout
    rows = json.loads(report.read_text())["rows"]
    assert {(Path(r["store"]).name, r["array"], r["reader"]) for r in rows} == {
        (f"{s}.zarr", "red", reader) for s in ("sharded", "unsharded") for reader in ("zarr", "tensorstore")
    }
    by = {(Path(r["store"]).stem, r["reader"]): r for r in rows}
    for reader in ("zarr", "tensorstore"):
        sharded, unsharded = by["sharded", reader], by["unsharded", reader]
        assert sharded["shards"] == [4, 512, 512] and sharded["chunks"] == [4, 64, 64]
        assert unsharded["shards"] is None and unsharded["chunks"] == [4, 512, 512]
        assert sharded["patches"] == 4 and sharded["patch"] == PATCH
        assert 0 < sharded["bytes_read_per_patch"] < unsharded["bytes_read_per_patch"], (reader, sharded, unsharded)
        # A 64 x 64 patch touches at most 2 x 2 inner chunks, plus the shard indexes.
        assert sharded["bytes_read_per_patch"] < 4 * unsharded["bytes_read_per_patch"] / 16
        # The OS saw at least what the readers counted.
        assert sharded["rchar_per_patch"] >= sharded["bytes_read_per_patch"]
        assert all(r["agree"] for r in rows)


@pytest.mark.parametrize("layout", ["sharded", "unsharded"])
@pytest.mark.parametrize("reader", ["zarr", "tensorstore"])
def test_readers_return_numpy_truth(stores, layout, reader):
    paths, data = stores
    rp = load_script()
    info = rp.array_info(paths[layout], "red")
    patches = rp.make_patches(info.shape, PATCH, 6, seed=3) + [(0, 0), (1024 - PATCH, 1024 - PATCH)]
    got: list[np.ndarray] = []
    row = rp.run_one(info, reader, PATCH, patches, warmup=[], cold=False, keep=got)
    assert row.patches == len(patches)
    for (y0, x0), a in zip(patches, got):
        np.testing.assert_array_equal(a, data[:, y0:y0 + PATCH, x0:x0 + PATCH])


def test_default_arrays_skip_count(stores):
    paths, _ = stores
    rp = load_script()
    assert rp.default_arrays(paths["sharded"]) == ["red"]
