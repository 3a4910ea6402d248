"""MGRS-like tiles on UTM grids.

Real Sentinel-2 tiles are 109.8 km squares whose upper-left corners sit on a 100 km lattice
shifted by 40 m (x0 = 100000*k - 40, top = 100000*(m+1) + 40), so neighbours overlap by
9.8 km. `Tiling` keeps that geometry and scales it: a tile of `size_px` 10 m pixels is placed
on a lattice of step ~ size * 100/109.8 (rounded to 20 m so the 20 m SCL grid stays aligned).
With size_px = 10980 the tiles are the real ones (e.g. 32TQR at x0 = 699960).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pyproj import Transformer

_COL_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"
_LAT_BANDS = "CDEFGHJKLMNPQRSTUVWX"


def latitude_band(lat: float) -> str:
    """MGRS latitude band letter (8 degree bands from 80S)."""
    idx = int(math.floor((lat + 80.0) / 8.0))
    return _LAT_BANDS[max(0, min(idx, len(_LAT_BANDS) - 1))]


def grid_square(zone: int, k: int, m: int) -> str:
    """Two MGRS 100 km square letters for lattice column k / row m (real for full-size tiles)."""
    col = _COL_SETS[(zone - 1) % 3][(k - 1) % 8]
    row = _ROW_LETTERS[(m + (5 if zone % 2 == 0 else 0)) % 20]
    return col + row


@dataclass(frozen=True)
class Tiling:
    """Tile size in 10 m pixels and the lattice step in metres."""

    size_px: int

    def __post_init__(self) -> None:
        if self.size_px < 32 or self.size_px % 2:
            raise ValueError(f"tile size must be an even number >= 32 pixels, got {self.size_px}")

    @property
    def step_m(self) -> int:
        return int(round(self.size_px * 10 * 100000 / 109800 / 20.0)) * 20

    @property
    def size_m(self) -> int:
        return self.size_px * 10

    def x0(self, k: int) -> int:
        return k * self.step_m - 40

    def top(self, m: int) -> int:
        return (m + 1) * self.step_m + 40


@dataclass(frozen=True)
class Tile:
    zone: int
    k: int
    m: int
    tiling: Tiling
    band: str  # latitude band letter

    @property
    def epsg(self) -> int:
        return 32600 + self.zone

    @property
    def square(self) -> str:
        return grid_square(self.zone, self.k, self.m)

    @property
    def name(self) -> str:
        """e.g. '32TQR'."""
        return f"{self.zone}{self.band}{self.square}"

    @property
    def x0(self) -> int:
        return self.tiling.x0(self.k)

    @property
    def y0(self) -> int:
        return self.tiling.top(self.m)

    @property
    def size_px(self) -> int:
        return self.tiling.size_px

    def transform(self, res: int) -> list[float]:
        """Affine [a, b, c, d, e, f] as Earth Search's proj:transform gives it."""
        return [float(res), 0.0, float(self.x0), 0.0, -float(res), float(self.y0)]

    def shape(self, res: int) -> tuple[int, int]:
        n = self.tiling.size_m // res
        return (n, n)

    def bounds(self) -> tuple[float, float, float, float]:
        s = self.tiling.size_m
        return (self.x0, self.y0 - s, self.x0 + s, self.y0)


def tiles_for_aoi(zones: list[int], aoi: tuple[float, float, float, float], tiling: Tiling) -> list[Tile]:
    """All tiles of the given UTM zones (north) whose square intersects the lon/lat AOI."""
    lon0, lat0, lon1, lat1 = aoi
    tiles: list[Tile] = []
    for zone in zones:
        to_utm = Transformer.from_crs(4326, 32600 + zone, always_xy=True)
        to_ll = Transformer.from_crs(32600 + zone, 4326, always_xy=True)
        minx, miny, maxx, maxy = to_utm.transform_bounds(lon0, lat0, lon1, lat1, densify_pts=21)
        step, size = tiling.step_m, tiling.size_m
        # x0(k) < maxx and x0(k) + size > minx
        k_lo = int(math.floor((minx + 40 - size) / step)) + 1
        k_hi = int(math.ceil((maxx + 40) / step)) - 1
        # top(m) > miny and top(m) - size < maxy
        m_lo = int(math.floor((miny - 40) / step))
        m_hi = int(math.ceil((maxy - 40 + size) / step)) - 1
        for m in range(m_lo, m_hi + 1):
            for k in range(k_lo, k_hi + 1):
                x0, top = tiling.x0(k), tiling.top(m)
                if x0 >= maxx or x0 + size <= minx or top <= miny or top - size >= maxy:
                    continue
                _, clat = to_ll.transform(x0 + size / 2, top - size / 2)
                tiles.append(Tile(zone=zone, k=k, m=m, tiling=tiling, band=latitude_band(clat)))
    names = [t.name for t in tiles]
    if len(set(names)) != len(names):
        raise ValueError("AOI too large for unique MGRS-like names at this tile size")
    return tiles
