"""Ground frame and the deterministic 'true surface' of the world.

Everything that should look the same from overlapping tiles (surface, clouds, swath edges) is a
function of ground position, expressed in a local metric frame: E, N metres from the world's
reference lon/lat (an affine function of lon/lat, so straight lines in E/N are straight in lon/lat).
Pixel positions of a UTM tile are mapped to E/N with a cubic fit of the exact projection
(sub-metre over a full 110 km tile), which keeps per-pixel work to a few multiply-adds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from .tiling import Tile

BANDS = ("red", "green", "blue", "nir")

# Surface classes use their SCL codes.
VEGETATION, BARE, WATER = 4, 5, 6

# Reflectance * 10000 per class and band (red, green, blue, nir).
_CLASS_REFLECTANCE = {
    VEGETATION: (450.0, 750.0, 480.0, 3200.0),
    BARE: (1900.0, 1550.0, 1250.0, 2500.0),
    WATER: (320.0, 520.0, 640.0, 170.0),
}

# Northern Adriatic around Venice/Lido, lon/lat: the sea lies east/south of this coast.
_SEA = shapely.Polygon([
    (12.40, 44.00), (12.55, 44.95), (12.30, 45.20), (12.33, 45.33), (12.42, 45.44),
    (12.65, 45.51), (12.95, 45.62), (13.15, 45.68), (13.50, 45.72), (14.50, 45.72), (14.50, 44.00),
])
shapely.prepare(_SEA)


@dataclass(frozen=True)
class GroundFrame:
    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return 111320.0 * math.cos(math.radians(self.lat0))

    @property
    def ky(self) -> float:
        return 110574.0

    def to_en(self, lon, lat):
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def to_lonlat(self, e, n):
        return np.asarray(e) / self.kx + self.lon0, np.asarray(n) / self.ky + self.lat0


class PixelToGround:
    """Cubic fit (col, row) of pixel centres at resolution `res` -> ground E/N for one tile."""

    def __init__(self, tile: Tile, res: int, frame: GroundFrame) -> None:
        self.size = tile.shape(res)[0]
        to_ll = Transformer.from_crs(tile.epsg, 4326, always_xy=True)
        u = np.linspace(0.0, 1.0, 13)
        uu, vv = np.meshgrid(u, u)
        cols, rows = uu.ravel() * self.size, vv.ravel() * self.size
        lon, lat = to_ll.transform(tile.x0 + cols * res, tile.y0 - rows * res)
        e, n = frame.to_en(lon, lat)
        basis = self._basis(uu.ravel(), vv.ravel())
        self.ce = np.linalg.lstsq(basis, e, rcond=None)[0]
        self.cn = np.linalg.lstsq(basis, n, rcond=None)[0]

    @staticmethod
    def _basis(u, v):
        return np.stack([np.ones_like(u * v), u, v, u * u, u * v, v * v, u**3, u * u * v, u * v * v, v**3], axis=-1)

    def rows(self, r0: int, r1: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """E, N (float64) of the centres of rows r0..<r1, all columns, as (r1-r0, size) arrays."""
        u = (np.arange(0, self.size, step) + 0.5) / self.size
        v = (np.arange(r0, r1) + 0.5) / self.size
        uu, vv = np.meshgrid(u, v)
        terms = (1.0, uu, vv, uu * uu, uu * vv, vv * vv, uu**3, uu * uu * vv, uu * vv * vv, vv**3)
        e = sum(c * t for c, t in zip(self.ce, terms))
        n = sum(c * t for c, t in zip(self.cn, terms))
        return np.broadcast_to(e, uu.shape), np.broadcast_to(n, uu.shape)


def hash01(*ints: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic uniform [0, 1) per integer tuple (splitmix-style mixing, vectorised)."""
    h = np.full(np.broadcast(*ints).shape, (salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in ints:
            h ^= np.asarray(a).astype(np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class Surface:
    """Land cover and reflectance as functions of ground position, fixed by the seed."""

    def __init__(self, seed: int, frame: GroundFrame) -> None:
        self.seed = seed
        self.frame = frame
        rng = np.random.default_rng([seed, 7001])
        self.theta = rng.uniform(0.1, 0.6)  # field orientation
        self.waves = [(rng.uniform(0, 2 * math.pi), 1.0 / rng.uniform(2000, 8000), rng.uniform(0, 2 * math.pi)) for _ in range(3)]

    def _parcels(self, e, n):
        c, s = math.cos(self.theta), math.sin(self.theta)
        u, v = e * c + n * s, -e * s + n * c
        iu, iv = np.floor(u / 340.0), np.floor(v / 210.0)
        return hash01(iu, iv, salt=self.seed * 3 + 1), hash01(iu, iv, salt=self.seed * 3 + 2)

    def _is_sea(self, e, n):
        lon, lat = self.frame.to_lonlat(e, n)
        lo, la = float(np.min(lon)), float(np.min(lat))
        hi_lo, hi_la = float(np.max(lon)), float(np.max(lat))
        if not _SEA.intersects(shapely.box(lo, la, hi_lo, hi_la)):
            return np.zeros(np.shape(e), dtype=bool)
        return shapely.contains_xy(_SEA, lon, lat)

    def classes(self, e, n) -> np.ndarray:
        """SCL surface class (4 vegetation, 5 bare, 6 water) at ground points."""
        h, _ = self._parcels(e, n)
        cls = np.where(h < 0.62, VEGETATION, np.where(h < 0.975, BARE, WATER)).astype(np.uint8)
        cls[self._is_sea(e, n)] = WATER
        return cls

    def reflectance(self, e, n, cls: np.ndarray | None = None) -> np.ndarray:
        """(4, ...) float32 reflectance * 10000 for red, green, blue, nir."""
        if cls is None:
            cls = self.classes(e, n)
        _, bright = self._parcels(e, n)
        smooth = sum(np.cos((e * math.cos(a) + n * math.sin(a)) * 2 * math.pi * f + p) for a, f, p in self.waves) / 3.0
        factor = (0.8 + 0.4 * bright) * (1.0 + 0.15 * smooth)
        out = np.empty((4,) + np.shape(e), dtype=np.float32)
        for b in range(4):
            base = np.select([cls == VEGETATION, cls == BARE], [_CLASS_REFLECTANCE[VEGETATION][b], _CLASS_REFLECTANCE[BARE][b]], _CLASS_REFLECTANCE[WATER][b])
            out[b] = base * np.where(cls == WATER, 1.0 + 0.05 * smooth, factor)
        return out

    def swir(self, e, n, cls: np.ndarray | None = None) -> np.ndarray:
        """(2, ...) float32 reflectance * 10000 for swir16 and swir22 (Landsat scenes only; the
        Sentinel-2 scenes have no SWIR assets). Same parcels and modulation as `reflectance`."""
        if cls is None:
            cls = self.classes(e, n)
        _, bright = self._parcels(e, n)
        smooth = sum(np.cos((e * math.cos(a) + n * math.sin(a)) * 2 * math.pi * f + p) for a, f, p in self.waves) / 3.0
        factor = (0.8 + 0.4 * bright) * (1.0 + 0.15 * smooth)
        out = np.empty((2,) + np.shape(e), dtype=np.float32)
        for b in range(2):
            base = np.select([cls == VEGETATION, cls == BARE], [_SWIR_REFLECTANCE[VEGETATION][b], _SWIR_REFLECTANCE[BARE][b]],
                             _SWIR_REFLECTANCE[WATER][b])
            out[b] = base * np.where(cls == WATER, 1.0 + 0.05 * smooth, factor)
        return out


# Reflectance * 10000 per class for swir16, swir22 (Landsat only).
_SWIR_REFLECTANCE = {
    VEGETATION: (1750.0, 850.0),
    BARE: (2900.0, 2300.0),
    WATER: (60.0, 40.0),
}
