"""Compare a cube (e.g. the Swift tool's Zarr output) with the reference cube.

Acceptance, per array (the statistic comes from the array name, see world/refstats.py):
- bands of the default single-`median` cube (plain band names): every value within ±1 DN,
  ≥ 99.9% exact, no pixel with reference data left empty (unchanged from the median-only tool);
- order statistics (`median` among several, `min`, `max`, `pNN`) and `mean`: 100% exact;
- geomedian bands: ≥ 99.9% of the pixels with data (in the reference or the cube) within ±1 DN,
  no pixel with data in only one of them;
- `smad`, `emad`, `bcmad` (float32, NaN = no data): NaN exactly where the reference is NaN and
  ≥ 99.9% of the pixels with reference data within a relative difference of 1e-4:
  |cube - ref| <= 1e-4 * max(|ref|, floor), floor 1e-3 for smad and bcmad (dimensionless; a
  floor keeps near-zero deviations, e.g. of single observations, from demanding more than
  float32 precision: the bar there is 1e-7 absolute) and 1 DN for emad (which is in DN);
- medoid bands and `medoid_time` (int32 days, its fill where no data): 100% exact;
- spectral index arrays (float32, NaN = no data): NaN exactly where the reference is NaN and
  100% of the others within 1e-6 relative (|cube - ref| <= 1e-6 * |ref|);
- `count`, and the per-sensor counts `count_sentinel2` / `count_landsat` of a cube pooling
  several collections (compared as arrays named like that): 100% exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .refgrid import Grid
from .refstats import MADS, MEDOID_TIME, parse_composite, parse_statistic

MAD_RTOL = 1e-4
MAD_FLOOR = {"smad": 1e-3, "bcmad": 1e-3, "emad": 1.0}
MAD_PASS_PCT = 99.9
INDEX_RTOL = 1e-6
GEOMEDIAN_PASS_PCT = 99.9


@dataclass
class BandReport:
    """A uint16 array (a band's statistic). `bar`: "median" (the default median cube's bar),
    "exact" (order statistics, mean) or "geomedian". For "geomedian" the pixels and
    percentages are those of pixels with data; otherwise of all pixels."""
    band: str
    pixels: int
    exact_pct: float
    within1_pct: float
    max_abs_diff: int
    missing: int      # reference has data, cube is empty (0)
    extra: int        # cube has data, reference is empty
    statistic: str = "median"
    bar: str = "median"

    @property
    def ok(self) -> bool:
        if self.bar == "exact":
            return self.exact_pct == 100.0
        if self.bar == "geomedian":
            return self.within1_pct >= GEOMEDIAN_PASS_PCT and self.missing == 0 and self.extra == 0
        return self.within1_pct == 100.0 and self.exact_pct >= 99.9 and self.missing == 0


@dataclass
class MadReport:
    """A float32 MAD array, over the pixels where the reference has data."""
    name: str
    pixels: int
    close_pct: float          # within MAD_RTOL * max(|ref|, floor)
    max_rel_diff: float       # max |cube - ref| / max(|ref|, floor)
    max_abs_diff: float
    exact_pct: float
    nan_mismatch: int         # NaN in one of cube and reference only
    floor: float
    dtype: str

    @property
    def ok(self) -> bool:
        if self.floor == 0:      # a spectral index: every value
            return self.close_pct == 100.0 and self.nan_mismatch == 0
        return self.close_pct >= MAD_PASS_PCT and self.nan_mismatch == 0


@dataclass
class Report:
    bands: list[BandReport]
    count_agree_pct: float | None
    count_missing: int | None
    mads: list[MadReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        ok = all(b.ok for b in self.bands) and all(m.ok for m in self.mads)
        if self.count_agree_pct is not None:
            ok &= self.count_agree_pct == 100.0 and self.count_missing == 0
        return ok


def statistic_of(name: str, composite=None, geomedian_present: bool = False) -> str:
    """The statistic that writes array `name`. With `composite` (the cube's statistics) the
    naming rule decides; without, a `BAND_STAT` suffix names it and a plain band name is the
    single statistic: the geomedian when MADs are present, else the default median."""
    if name == "count" or name in MADS or name == MEDOID_TIME:
        return name
    if _is_sensor_count(name):
        return "count"
    if composite is not None:
        stats = parse_composite(composite)
        if len(stats) == 1:
            return stats[0]
        if _stat_suffix(name) and parse_statistic(name.rpartition("_")[2]) in stats:
            return parse_statistic(name.rpartition("_")[2])
        raise ValueError(f"{name}: not an array of composite {stats}")
    if _stat_suffix(name):
        return parse_statistic(name.rpartition("_")[2])
    return "geomedian" if geomedian_present else "median"


def _is_sensor_count(name: str) -> bool:
    """`count_sentinel2`, `count_landsat`: a mixed cube's per-sensor counts."""
    return name.startswith("count_")


def _stat_suffix(name: str) -> bool:
    """True when `name` is spelled BAND_STAT."""
    _, sep, suffix = name.rpartition("_")
    try:
        return bool(sep) and bool(parse_statistic(suffix))
    except ValueError:
        return False


def _band_report(name: str, stat: str, bar: str, c: np.ndarray, r: np.ndarray) -> BandReport:
    d = np.abs(c.astype(np.int64) - r.astype(np.int64))
    missing, extra = int(np.sum((r > 0) & (c == 0))), int(np.sum((r == 0) & (c > 0)))
    if bar == "geomedian":
        d = d[(r > 0) | (c > 0)]
    pct = (lambda m: 100.0 * float(np.mean(m))) if d.size else (lambda m: 100.0)
    return BandReport(name, int(d.size), pct(d == 0), pct(d <= 1), int(d.max()) if d.size else 0,
                      missing, extra, stat, bar)


def _mad_report(name: str, c: np.ndarray, r: np.ndarray, floor: float | None = None, rtol: float = MAD_RTOL) -> MadReport:
    floor = MAD_FLOOR[name] if floor is None else floor
    cn, rn = np.isnan(c), np.isnan(r)
    nan_mismatch = int(np.sum(cn != rn))
    data = ~rn
    cd, rd = c[data].astype(np.float64), r[data].astype(np.float64)
    diff = np.abs(cd - rd)                       # NaN where the cube is NaN: never close
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(rd), floor))
    n = int(data.sum())
    close = np.nan_to_num(rel, nan=np.inf) <= rtol
    return MadReport(name, n, 100.0 * float(close.mean()) if n else 100.0,
                     float(np.nanmax(rel)) if n and not np.isnan(rel).all() else 0.0,
                     float(np.nanmax(diff)) if n and not np.isnan(diff).all() else 0.0,
                     100.0 * float(np.mean(cd == rd)) if n else 100.0, nan_mismatch, floor, str(c.dtype))


def compare(cube: dict[str, np.ndarray], ref: dict[str, np.ndarray], names, composite=None, indices=()) -> Report:
    """Compare the arrays `names` (and `count` when both hold it). `composite`: the cube's
    statistics, to tell which acceptance bar an array gets (see `statistic_of`); without it the
    names decide and plain band names get the default median cube's bar."""
    geomedian_present = "smad" in ref
    single_median = composite is not None and parse_composite(composite) == ["median"]
    reports, mads = [], []
    for name in names:
        if name == "count":
            continue
        c, r = np.asarray(cube[name]), np.asarray(ref[name])
        if c.shape != r.shape:
            raise ValueError(f"{name}: cube shape {c.shape} != reference shape {r.shape}")
        if name in indices:
            mads.append(_mad_report(name, c, r, floor=0.0, rtol=INDEX_RTOL))
            continue
        stat = statistic_of(name, composite, geomedian_present)
        if stat in MADS:
            mads.append(_mad_report(name, c, r))
            continue
        if stat in ("count", MEDOID_TIME):
            bar = "exact"     # a per-sensor count, the medoid's dates
        elif stat == "geomedian":
            bar = "geomedian"
        elif stat == "median" and (single_median or (composite is None and not _stat_suffix(name))):
            bar = "median"    # the default median cube (plain band names): its bar is unchanged
        else:
            bar = "exact"
        reports.append(_band_report(name, stat, bar, c, r))
    agree = missing = None
    if "count" in cube and "count" in ref:
        cc, rc = np.asarray(cube["count"]), np.asarray(ref["count"])
        if cc.shape != rc.shape:
            raise ValueError(f"count: cube shape {cc.shape} != reference shape {rc.shape}")
        agree = 100.0 * float(np.mean(cc == rc))
        missing = int(np.sum((rc > 0) & (cc == 0)))
    return Report(reports, agree, missing, mads)


_BAR_TEXT = {"median": "all ±1, ≥99.9% exact", "exact": "100% exact", "geomedian": "≥99.9% of data ±1"}


def print_report(rep: Report) -> bool:
    """Print one line per array and the verdict; True when every array meets its bar (module
    docstring), the count is exact and no pixel with reference data is left empty."""
    width = max([6] + [len(r.band) for r in rep.bands] + [len(m.name) for m in rep.mads])
    for r in rep.bands:
        print(f"{r.band:>{width}}: exact {r.exact_pct:8.4f}%  within ±1 DN {r.within1_pct:8.4f}%  "
              f"max |diff| {r.max_abs_diff}  ref-has-data-cube-empty {r.missing}  cube-has-data-ref-empty {r.extra}  "
              f"[{r.statistic}: {_BAR_TEXT[r.bar]}] {'ok' if r.ok else 'FAIL'}")
    for m in rep.mads:
        print(f"{m.name:>{width}}: within rel {(INDEX_RTOL if m.floor == 0 else MAD_RTOL):g} {m.close_pct:8.4f}%  exact {m.exact_pct:8.4f}%  "
              f"max rel {m.max_rel_diff:.3g}  max |diff| {m.max_abs_diff:.3g}  NaN mismatches {m.nan_mismatch}  "
              f"pixels {m.pixels}  {m.dtype}  "
              + (f"[index: 100% within {INDEX_RTOL:g}]" if m.floor == 0 else f"[floor {m.floor:g}, ≥{MAD_PASS_PCT}%]")
              + f" {'ok' if m.ok else 'FAIL'}")
    if rep.count_agree_pct is not None:
        ok = rep.count_agree_pct == 100.0 and rep.count_missing == 0
        print(f"{'count':>{width}}: agree {rep.count_agree_pct:8.4f}%  ref>0 & cube==0: {rep.count_missing}  "
              f"{'ok' if ok else 'FAIL'}")
    ok = rep.ok
    values = sum(r.pixels for r in rep.bands) + sum(m.pixels for m in rep.mads)
    print(f"values compared: {values}  verdict: {'PASS' if ok else 'FAIL'}")
    return ok


def load_zarr_cube(path: Path, names, crs: str | None = None) -> tuple[dict[str, np.ndarray], Grid]:
    """The arrays `names` (plus `count` when present) and the grid of a Zarr cube (layout of
    docs/architecture.md: composite arrays, count, x/y or longitude/latitude centre
    coordinates, spatial_ref with crs_wkt)."""
    import zarr

    g = zarr.open_group(str(path), mode="r")
    present = set(g.array_keys())
    xk, yk = ("x", "y") if "x" in present else ("longitude", "latitude")
    if xk not in present or yk not in present:
        raise ValueError(f"{path}: no x/y or longitude/latitude coordinate arrays")
    if crs is None:
        attrs = dict(g["spatial_ref"].attrs) if "spatial_ref" in present else {}
        crs = attrs.get("crs_wkt") or attrs.get("spatial_ref")
        if crs is None:
            raise ValueError(f"{path}: no CRS in spatial_ref attributes; pass --crs")
    grid = Grid.from_coords(crs, np.asarray(g[xk][:]), np.asarray(g[yk][:]))
    names = list(names)
    missing = [n for n in names if n not in present]
    if missing:
        raise ValueError(f"{path}: arrays not in cube: {missing} (it has {sorted(present)})")
    cube = {n: np.asarray(g[n][:]) for n in dict.fromkeys(names + ["count"]) if n in present}
    return cube, grid
