#!/usr/bin/env python3
"""Train a small model from a cube, the way an ML pipeline reads one: xbatcher cuts (time, y, x)
patches out of the lazily opened store, each batch is turned into per-pixel samples, and a model
is fitted batch by batch with stochastic gradient descent.

The model (numpy only, so it runs anywhere the cube opens): predict the near-infrared
reflectance of a pixel from its red, green and blue reflectance, a linear model with a bias.
Pixels without data (NaN after xarray's CF decoding) are left out of each batch.

    train_from_cube.py STORE [--group 0] [--patch 64] [--epochs 3] [--lr 0.5] [--seed 0]

Prints the loss per epoch and the learnt weights; exits 1 if the loss did not go down. For
PyTorch, wrap the same generator in a `torch.utils.data.IterableDataset` (docs/consumers.md).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import xarray as xr
import xbatcher


def batches(ds: xr.Dataset, patch: int):
    """(features, target) per xbatcher patch: rows are valid pixels of every time bin."""
    y, x = ("latitude", "longitude") if "latitude" in ds.dims else ("y", "x")
    size = {y: min(patch, ds.sizes[y]), x: min(patch, ds.sizes[x])}
    gen = xbatcher.BatchGenerator(ds[["red", "green", "blue", "nir"]], input_dims=size,
                                  input_overlap={}, preload_batch=False)
    for b in gen:
        arr = np.stack([b[v].values.reshape(-1) for v in ("red", "green", "blue", "nir")], axis=1)
        arr = arr[np.isfinite(arr).all(axis=1)]
        if len(arr):
            yield arr[:, :3], arr[:, 3]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--group", help="the pyramid level's group (0 for the base of a pyramid cube)")
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    # Lazy without dask: xbatcher indexes the store, which reads only the chunks (or the inner
    # chunks of a shard) each patch touches.
    ds = xr.open_zarr(a.store, group=a.group, chunks=None)
    rng = np.random.default_rng(a.seed)
    w = rng.normal(0, 0.1, 3)
    b = 0.0
    losses = []
    for epoch in range(a.epochs):
        total, n, patches = 0.0, 0, 0
        for features, target in batches(ds, a.patch):
            patches += 1
            err = features @ w + b - target
            total += float((err ** 2).sum())
            n += len(err)
            # One gradient step per patch (mean squared error).
            w -= a.lr * 2 * features.T @ err / len(err)
            b -= a.lr * 2 * float(err.mean())
        losses.append(total / max(n, 1))
        print(f"epoch {epoch + 1}: {patches} patches, {n} pixels, mse {losses[-1]:.6f}")
    print("nir ≈ " + " + ".join(f"{c:.3f}·{v}" for c, v in zip(w, ("red", "green", "blue"))) + f" + {b:.3f}")
    return 0 if len(losses) > 1 and losses[-1] < losses[0] else 1


if __name__ == "__main__":
    sys.exit(main())
