"""Per-pass atmosphere: clouds, cirrus, cloud shadows, snow and saturated speckles.

Fields are functions of ground position (E/N metres) and the pass, so neighbouring tiles of one
pass agree where they overlap. Clouds are thresholded low-frequency noise; shadows are the cloud
mask displaced away from the sun.
"""
from __future__ import annotations

import math

import numpy as np

from .ground import VEGETATION, BARE, hash01

SATURATED, SHADOW, CLOUD_MEDIUM, CLOUD_HIGH, CIRRUS, SNOW = 1, 3, 8, 9, 10, 11


class WaveField:
    """Sum of random plane waves with wavelengths in [lo, hi] metres, roughly N(0, 1)."""

    def __init__(self, rng: np.random.Generator, lo: float, hi: float, count: int = 8) -> None:
        self.waves = [
            (rng.uniform(0, math.pi), 2 * math.pi / rng.uniform(lo, hi), rng.uniform(0, 2 * math.pi))
            for _ in range(count)
        ]
        self.norm = 1.0 / math.sqrt(count / 2.0)

    def __call__(self, e, n) -> np.ndarray:
        acc = np.zeros(np.shape(e), dtype=np.float32)
        for a, k, p in self.waves:
            acc += np.cos((e * math.cos(a) + n * math.sin(a)) * k + p).astype(np.float32)
        return acc * np.float32(self.norm)


class Weather:
    """Atmosphere of one pass. `scale_m` sets feature sizes (clouds a few % to 40 % of it)."""

    def __init__(self, seed: int, pass_index: int, cloud_fraction: float, snow_fraction: float,
                 scale_m: float, aoi_en: tuple[float, float, float, float]) -> None:
        rng = np.random.default_rng([seed, 5003, pass_index])
        self.salt = seed * 1000 + pass_index
        self.cloud = WaveField(rng, scale_m / 10, scale_m / 2.5)
        self.cirrus = WaveField(rng, scale_m / 6, scale_m / 2)
        self.snow = WaveField(rng, scale_m / 20, scale_m / 6)
        az = rng.uniform(-0.4, 0.4) + math.radians(320)  # shadows fall to the north-west
        dist = scale_m / 40
        self.shadow_de, self.shadow_dn = dist * math.sin(az), dist * math.cos(az)
        # Thresholds so the fractions hold over the AOI (empirical quantiles on a lattice).
        e0, n0, e1, n1 = aoi_en
        ee, nn = np.meshgrid(np.linspace(e0, e1, 160), np.linspace(n0, n1, 160))
        self.t_cloud = float(np.quantile(self.cloud(ee, nn), 1 - cloud_fraction)) if cloud_fraction > 0 else np.inf
        self.t_high = self.t_cloud + 0.45
        self.t_cirrus = float(np.quantile(self.cirrus(ee, nn), 0.96))
        self.t_snow = float(np.quantile(self.snow(ee, nn), 1 - snow_fraction)) if snow_fraction > 0 else np.inf

    def classify(self, e, n, surface_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weather class (0 = clear) and cloud brightness in [0, 1] at ground points."""
        f = self.cloud(e, n)
        out = np.zeros(np.shape(e), dtype=np.uint8)
        land = (surface_cls == VEGETATION) | (surface_cls == BARE)
        if np.isfinite(self.t_snow):
            out[(self.snow(e, n) > self.t_snow) & land] = SNOW
        out[self.cloud(e - self.shadow_de, n - self.shadow_dn) > self.t_cloud] = SHADOW
        out[self.cirrus(e, n) > self.t_cirrus] = CIRRUS
        out[f > self.t_cloud] = CLOUD_MEDIUM
        out[f > self.t_high] = CLOUD_HIGH
        speck = hash01(np.floor(e / 20.0), np.floor(n / 20.0), salt=self.salt) < 3e-4
        out[speck] = SATURATED
        bright = np.clip((f - self.t_cloud) / 1.2, 0.0, 1.0).astype(np.float32)
        return out, bright
