"""Target grid and time bins for the reference, written from docs/architecture.md's grid
semantics (snapped integer origin, centres from integers) without sharing code with Swift."""
from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import shapely
from pyproj import CRS, Transformer

_TOL = 1e-9  # pixels: a bbox edge already on the lattice is not widened by rounding noise


@dataclass(frozen=True)
class Grid:
    crs: str
    rx: float
    ry: float
    ix0: int
    iy0: int
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.rx > 0 and self.ry > 0):
            raise ValueError(f"resolution must be > 0, got {self.rx}, {self.ry}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"grid shape must be positive, got {self.width} x {self.height}")

    @classmethod
    def from_bbox(cls, crs: str, resolution, lonlat_bbox) -> "Grid":
        """Snap a lon/lat bbox (transformed with densified edges, 21 points like GDAL) to the lattice."""
        rx, ry = (resolution, resolution) if np.isscalar(resolution) else resolution
        lon0, lat0, lon1, lat1 = lonlat_bbox
        if lon0 >= lon1 or lat0 >= lat1:
            raise ValueError(f"bbox must be (minlon, minlat, maxlon, maxlat), got {lonlat_bbox}")
        minx, miny, maxx, maxy = Transformer.from_crs(4326, CRS.from_user_input(crs), always_xy=True) \
            .transform_bounds(lon0, lat0, lon1, lat1, densify_pts=21)
        return cls.from_bounds(crs, (rx, ry), (minx, miny, maxx, maxy))

    @classmethod
    def from_bounds(cls, crs: str, resolution, bounds) -> "Grid":
        """Snap bounds already in the grid CRS."""
        rx, ry = (resolution, resolution) if np.isscalar(resolution) else resolution
        minx, miny, maxx, maxy = bounds
        ix0 = math.floor(minx / rx + _TOL)
        ix1 = math.ceil(maxx / rx - _TOL)
        iy0 = math.ceil(maxy / ry - _TOL)
        iy1 = math.floor(miny / ry + _TOL)
        return cls(str(crs), float(rx), float(ry), ix0, iy0, ix1 - ix0, iy0 - iy1)

    @classmethod
    def from_spec(cls, spec: dict) -> "Grid":
        """From a spec-like dict: {crs, resolution (number or [rx, ry]), bbox: [minlon, minlat, maxlon, maxlat]}."""
        try:
            return cls.from_bbox(spec["crs"], spec["resolution"], spec["bbox"])
        except KeyError as e:
            raise ValueError(f"grid spec needs crs, resolution and bbox; missing {e}") from None

    @classmethod
    def from_coords(cls, crs: str, x: np.ndarray, y: np.ndarray) -> "Grid":
        """From pixel-centre coordinate arrays (e.g. a cube's x/y arrays, y descending)."""
        if len(x) < 2 or len(y) < 2:
            raise ValueError("need at least two x and two y coordinates")
        # From the end points: the rounding of one step is spread over the whole axis.
        rx, ry = float(x[-1] - x[0]) / (len(x) - 1), float(y[0] - y[-1]) / (len(y) - 1)
        return cls(str(crs), rx, ry, int(round(x[0] / rx - 0.5)), int(round(y[0] / ry + 0.5)), len(x), len(y))

    def xs(self) -> np.ndarray:
        return (self.ix0 + np.arange(self.width) + 0.5) * self.rx

    def ys(self) -> np.ndarray:
        return (self.iy0 - np.arange(self.height) - 0.5) * self.ry

    def bounds(self) -> tuple[float, float, float, float]:
        return (self.ix0 * self.rx, (self.iy0 - self.height) * self.ry,
                (self.ix0 + self.width) * self.rx, self.iy0 * self.ry)

    def lonlat_footprint(self, pts: int = 64) -> shapely.Polygon:
        x0, y0, x1, y1 = self.bounds()
        s = np.linspace(0, 1, pts)
        xs = np.concatenate([x0 + (x1 - x0) * s, np.full(pts, x1), x1 - (x1 - x0) * s, np.full(pts, x0)])
        ys = np.concatenate([np.full(pts, y1), y1 - (y1 - y0) * s, np.full(pts, y0), y0 + (y1 - y0) * s])
        lon, lat = Transformer.from_crs(CRS.from_user_input(self.crs), 4326, always_xy=True).transform(xs, ys)
        return shapely.Polygon(zip(lon, lat)).buffer(0)


@dataclass(frozen=True)
class TimeBin:
    label: str
    start: datetime  # inclusive, UTC
    end: datetime    # exclusive, UTC


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def month_bins(start: date, end: date, months: int = 1) -> list[TimeBin]:
    """Bins of `months` whole months from `start`, produced while their start <= end."""
    bins, cur = [], start
    while cur <= end:
        m = cur.month - 1 + months
        y = cur.year + m // 12
        nxt = date(y, m % 12 + 1, min(cur.day, calendar.monthrange(y, m % 12 + 1)[1]))
        bins.append(TimeBin(f"{cur:%Y-%m}", _utc(cur), _utc(nxt)))
        cur = nxt
    return bins


def day_bins(start: date, end: date, days: int) -> list[TimeBin]:
    bins, cur = [], start
    while cur <= end:
        nxt = cur + timedelta(days=days)
        bins.append(TimeBin(f"{cur:%Y-%m-%d}", _utc(cur), _utc(nxt)))
        cur = nxt
    return bins
