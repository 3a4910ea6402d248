"""Raster content of one scene: four 10 m uint16 bands and the 20 m SCL, rendered in row strips
so full 10980 x 10980 tiles stay within a few GB."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ground import GroundFrame, PixelToGround, Surface
from .passes import Scene
from .tiling import Tile
from .weather import CIRRUS, CLOUD_HIGH, CLOUD_MEDIUM, SATURATED, SHADOW, SNOW, Weather

STRIP20 = 256  # rows of the 20 m grid per strip (512 rows at 10 m)


@dataclass
class TileSurface:
    """Per-tile cache shared by all scenes of the tile."""

    tile: Tile
    p2g10: PixelToGround
    p2g20: PixelToGround
    refl10: np.ndarray   # (4, H, W) uint16 reflectance * 10000
    cls20: np.ndarray    # (H/2, W/2) uint8 surface class


def tile_surface(tile: Tile, surface: Surface, frame: GroundFrame) -> TileSurface:
    p2g10, p2g20 = PixelToGround(tile, 10, frame), PixelToGround(tile, 20, frame)
    n10, n20 = tile.shape(10)[0], tile.shape(20)[0]
    refl = np.empty((4, n10, n10), dtype=np.uint16)
    for r0 in range(0, n10, 2 * STRIP20):
        r1 = min(n10, r0 + 2 * STRIP20)
        e, n = p2g10.rows(r0, r1)
        refl[:, r0:r1] = np.clip(np.rint(surface.reflectance(e, n)), 1, 20000).astype(np.uint16)
    cls = np.empty((n20, n20), dtype=np.uint8)
    for r0 in range(0, n20, STRIP20):
        r1 = min(n20, r0 + STRIP20)
        e, n = p2g20.rows(r0, r1)
        cls[r0:r1] = surface.classes(e, n)
    return TileSurface(tile, p2g10, p2g20, refl, cls)


@dataclass
class SceneRaster:
    bands: np.ndarray    # (4, H, W) uint16 DN, 0 = nodata
    scl: np.ndarray      # (H/2, W/2) uint8, 0 = nodata
    percentages: dict[str, float]


def _seasonal_gain(scene: Scene) -> np.ndarray:
    doy = scene.time.timetuple().tm_yday
    greening = 1.0 + 0.25 * (doy - 32) / 90.0  # nir rises through spring
    return np.array([1.0 - 0.05 * (doy - 32) / 90.0, 1.0, 1.0, greening], dtype=np.float32)


def render_scene(scene: Scene, ts: TileSurface, weather: Weather, seed: int, noise_dn: float) -> SceneRaster:
    n10, n20 = ts.refl10.shape[1], ts.cls20.shape[0]
    bands = np.zeros((4, n10, n10), dtype=np.uint16)
    scl = np.zeros((n20, n20), dtype=np.uint8)
    rng = np.random.default_rng([seed, 9001, scene.noise_key])
    gain = _seasonal_gain(scene)
    add = 1000.0 if scene.adds_offset else 0.0
    for s0 in range(0, n20, STRIP20):
        s1 = min(n20, s0 + STRIP20)
        e20, n20g = ts.p2g20.rows(s0, s1)
        cls = ts.cls20[s0:s1]
        w20, bright20 = weather.classify(e20, n20g, cls)
        strip_scl = np.where(w20 != 0, w20, cls)
        strip_scl[~scene.pas.valid(e20, n20g)] = 0
        scl[s0:s1] = strip_scl

        r0, r1 = 2 * s0, 2 * s1
        e10, n10g = ts.p2g10.rows(r0, r1)
        valid10 = scene.pas.valid(e10, n10g)
        w10 = w20.repeat(2, axis=0).repeat(2, axis=1)
        bright10 = bright20.repeat(2, axis=0).repeat(2, axis=1)
        for b in range(4):
            v = ts.refl10[b, r0:r1].astype(np.float32) * gain[b]
            v = np.where(w10 == SHADOW, v * 0.35, v)
            v = np.where(w10 == CIRRUS, v + 1200.0, v)
            v = np.where(w10 == SNOW, 8600.0 - 350.0 * b, v)
            v = np.where(w10 == CLOUD_MEDIUM, 3600.0 + 2500.0 * bright10 - 80.0 * b, v)
            v = np.where(w10 == CLOUD_HIGH, 6200.0 + 2800.0 * bright10 - 80.0 * b, v)
            v = np.where(w10 == SATURATED, 26000.0, v)
            v += rng.standard_normal(v.shape, dtype=np.float32) * np.float32(noise_dn)
            dn = np.clip(np.rint(v + add), 1, 65535).astype(np.uint16)
            dn[~valid10] = 0
            bands[b, r0:r1] = dn
    return SceneRaster(bands, scl, _percentages(scl))


def _percentages(scl: np.ndarray) -> dict[str, float]:
    counts = np.bincount(scl.ravel(), minlength=12).astype(np.float64)
    total, data = counts.sum(), counts.sum() - counts[0]
    pct = lambda c: round(100.0 * c / data, 6) if data else 0.0  # noqa: E731
    return {
        "eo:cloud_cover": pct(counts[8] + counts[9] + counts[10]),
        "s2:nodata_pixel_percentage": round(100.0 * counts[0] / total, 6),
        "s2:saturated_defective_pixel_percentage": pct(counts[1]),
        "s2:cloud_shadow_percentage": pct(counts[3]),
        "s2:vegetation_percentage": pct(counts[4]),
        "s2:not_vegetated_percentage": pct(counts[5]),
        "s2:water_percentage": pct(counts[6]),
        "s2:medium_proba_clouds_percentage": pct(counts[8]),
        "s2:high_proba_clouds_percentage": pct(counts[9]),
        "s2:thin_cirrus_percentage": pct(counts[10]),
        "s2:snow_ice_percentage": pct(counts[11]),
    }
