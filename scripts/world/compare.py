"""Compare a cube (e.g. the Swift tool's Zarr output) with the reference cube."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .refgrid import Grid


@dataclass
class BandReport:
    band: str
    pixels: int
    exact_pct: float
    within1_pct: float
    max_abs_diff: int
    missing: int      # reference has data, cube is empty (0)
    extra: int        # cube has data, reference is empty


@dataclass
class Report:
    bands: list[BandReport]
    count_agree_pct: float | None
    count_missing: int | None


def compare(cube: dict[str, np.ndarray], ref: dict[str, np.ndarray], bands) -> Report:
    reports = []
    for b in bands:
        c, r = np.asarray(cube[b]), np.asarray(ref[b])
        if c.shape != r.shape:
            raise ValueError(f"{b}: cube shape {c.shape} != reference shape {r.shape}")
        d = np.abs(c.astype(np.int64) - r.astype(np.int64))
        reports.append(BandReport(b, int(d.size), 100.0 * float(np.mean(d == 0)), 100.0 * float(np.mean(d <= 1)),
                                  int(d.max()) if d.size else 0, int(np.sum((r > 0) & (c == 0))),
                                  int(np.sum((r == 0) & (c > 0)))))
    agree = missing = None
    if "count" in cube and "count" in ref:
        cc, rc = np.asarray(cube["count"]), np.asarray(ref["count"])
        agree = 100.0 * float(np.mean(cc == rc))
        missing = int(np.sum((rc > 0) & (cc == 0)))
    return Report(reports, agree, missing)


def print_report(rep: Report) -> bool:
    """Print the comparison; True when it meets the acceptance bar: every value within ±1 DN,
    at least 99.9% exact, no pixel with reference data left empty, the count exact."""
    ok = True
    for r in rep.bands:
        print(f"{r.band:>6}: exact {r.exact_pct:8.4f}%  within ±1 DN {r.within1_pct:8.4f}%  max |diff| {r.max_abs_diff}  "
              f"ref-has-data-cube-empty {r.missing}  cube-has-data-ref-empty {r.extra}")
        ok &= r.within1_pct == 100.0 and r.exact_pct >= 99.9 and r.missing == 0
    if rep.count_agree_pct is not None:
        print(f" count: agree {rep.count_agree_pct:8.4f}%  ref>0 & cube==0: {rep.count_missing}")
        ok &= rep.count_agree_pct == 100.0 and rep.count_missing == 0
    print(f"values compared: {sum(r.pixels for r in rep.bands)}  verdict: {'PASS' if ok else 'FAIL'}")
    return ok


def load_zarr_cube(path: Path, bands, crs: str | None = None) -> tuple[dict[str, np.ndarray], Grid]:
    """Arrays and grid of a Zarr cube (layout of docs/architecture.md: bands, count, x/y or
    longitude/latitude centre coordinates, spatial_ref with crs_wkt)."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    names = set(g.array_keys())
    xk, yk = ("x", "y") if "x" in names else ("longitude", "latitude")
    if xk not in names or yk not in names:
        raise ValueError(f"{path}: no x/y or longitude/latitude coordinate arrays")
    if crs is None:
        attrs = dict(g["spatial_ref"].attrs) if "spatial_ref" in names else {}
        crs = attrs.get("crs_wkt") or attrs.get("spatial_ref")
        if crs is None:
            raise ValueError(f"{path}: no CRS in spatial_ref attributes; pass --crs")
    grid = Grid.from_coords(crs, np.asarray(g[xk][:]), np.asarray(g[yk][:]))
    cube = {b: np.asarray(g[b][:]) for b in list(bands) + ["count"] if b in names}
    missing = [b for b in bands if b not in cube]
    if missing:
        raise ValueError(f"{path}: bands not in cube: {missing}")
    return cube, grid
