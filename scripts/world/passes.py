"""Acquisition plan: satellite passes (orbit, time, swath edge, weather, baseline) and the
scenes they produce on each tile, including reprocessed duplicates."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import numpy as np

from .ground import GroundFrame, PixelToGround
from .presets import WorldParams
from .tiling import Tile

OLD_BASELINE, NEW_BASELINE = "02.14", "05.10"
PLATFORMS = ("sentinel-2a", "sentinel-2b", "sentinel-2c")


@dataclass(frozen=True)
class Pass:
    index: int
    time: datetime           # UTC, nominal time at the AOI centre
    platform: str
    orbit: int               # relative orbit number
    edge_e0: float           # swath edge: E = edge_e0 + edge_slope * N (ground metres)
    edge_slope: float
    side: int                # +1: data east of the edge, -1: west
    cloud_fraction: float
    snow_fraction: float
    baseline: str
    offset_applied: bool     # earthsearch:boa_offset_applied (data already harmonised)

    def valid(self, e, n):
        return self.side * (e - self.edge_e0 - self.edge_slope * n) > 0


@dataclass(frozen=True)
class Scene:
    id: str
    tile: Tile
    pas: Pass
    time: datetime
    baseline: str
    offset_applied: bool
    created: datetime
    updated: datetime
    noise_key: int           # seeds the per-scene noise; duplicates get a different one
    use_proj_code: bool      # proj:code "EPSG:326xx" instead of proj:epsg

    @property
    def adds_offset(self) -> bool:
        """DN = reflectance * 10000 + 1000 (new baseline, offset not yet removed)."""
        return self.baseline >= "04.00" and not self.offset_applied


def _baseline_kind(i: int) -> tuple[str, bool]:
    # Cycle so every world with >= 4 passes has each kind: new, old, new, new+applied.
    return [(NEW_BASELINE, False), (OLD_BASELINE, False), (NEW_BASELINE, False), (NEW_BASELINE, True)][i % 4]


def plan_passes(params: WorldParams, seed: int, frame: GroundFrame) -> list[Pass]:
    rng = np.random.default_rng([seed, 3001])
    e0, _, e1, _ = aoi_en(params, frame)
    width = e1 - e0
    passes: list[Pass] = []
    days = (params.end - params.start).days + 1
    # Two descending orbits (like relative orbits 22 and 122 over Venice), interleaved.
    if params.revisit_days < 2:
        raise ValueError("revisit_days must be >= 2 (two orbits interleave, one pass per day)")
    # The second orbit comes half a revisit later, so no tile is imaged twice on one date.
    for orbit, first_day, hhmm in ((22, 0, (10, 16)), (122, params.revisit_days // 2, (10, 6))):
        for d in range(first_day, days, params.revisit_days):
            day = params.start + timedelta(days=d)
            t = datetime(day.year, day.month, day.day, hhmm[0], hhmm[1], tzinfo=timezone.utc)
            passes.append(Pass(0, t + timedelta(seconds=float(rng.uniform(0, 50))), "", orbit, 0, 0, 1, 0, 0, "", False))
    if not passes:
        raise ValueError(f"no passes between {params.start} and {params.end}")
    passes.sort(key=lambda p: p.time)
    out = []
    for i, p in enumerate(passes):
        baseline, applied = _baseline_kind(i)
        out.append(replace(
            p, index=i, platform=PLATFORMS[i % 2 if p.time.year < 2025 else i % 3],
            edge_e0=float(rng.uniform(-0.35, 0.35) * width), edge_slope=0.21,
            side=int(rng.choice([-1, 1])),
            cloud_fraction=float(rng.uniform(*params.cloud_range)),
            snow_fraction=0.04 if p.time.month in (12, 1, 2) else 0.0,
            baseline=baseline, offset_applied=applied))
    return out


def aoi_en(params: WorldParams, frame: GroundFrame) -> tuple[float, float, float, float]:
    e0, n0 = frame.to_en(params.aoi[0], params.aoi[1])
    e1, n1 = frame.to_en(params.aoi[2], params.aoi[3])
    return float(e0), float(n0), float(e1), float(n1)


def valid_fraction(tile: Tile, p: Pass, frame: GroundFrame) -> float:
    p2g = PixelToGround(tile, 10, frame)
    step = max(1, tile.size_px // 48)
    e, n = p2g.rows(0, tile.size_px, step)
    e, n = e[::step], n[::step]
    return float(np.mean(p.valid(e, n)))


def _scene_id(platform: str, tile: Tile, t: datetime, seq: int) -> str:
    return f"S2{platform[-1].upper()}_{tile.name}_{t:%Y%m%d}_{seq}_L2A"


def plan_scenes(passes: list[Pass], tiles: list[Tile], params: WorldParams, seed: int,
                frame: GroundFrame) -> list[Scene]:
    """Scenes where a pass's swath edge crosses a tile (so each covers only part of it)."""
    rng = np.random.default_rng([seed, 4001])
    scenes: list[Scene] = []
    for p in passes:
        for tile in tiles:
            frac = valid_fraction(tile, p, frame)
            if not 0.03 <= frac <= 0.97:
                continue
            # Descending orbit: northern tiles are imaged first, ~7 km of ground per second.
            _, n = PixelToGround(tile, 10, frame).rows(tile.size_px // 2, tile.size_px // 2 + 1)
            t = p.time + timedelta(seconds=round(float(-n[0, tile.size_px // 2]) / 7000.0, 3))
            t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
            created = t + timedelta(hours=5, minutes=float(rng.uniform(0, 50)))
            scenes.append(Scene(
                id=_scene_id(p.platform, tile, t, 0), tile=tile, pas=p, time=t,
                baseline=p.baseline, offset_applied=p.offset_applied, created=created,
                updated=created + timedelta(minutes=float(rng.uniform(1, 30))),
                noise_key=len(scenes), use_proj_code=(len(scenes) % 3 == 2)))
    return scenes + _duplicates(scenes, params.duplicates)


def _duplicates(scenes: list[Scene], count: int) -> list[Scene]:
    """Reprocessed copies (`_1_`): the first gets a newer baseline but an OLDER `updated` than its
    original (baseline outranks updated); the others keep the baseline and are updated later."""
    out: list[Scene] = []
    if not scenes:
        return out
    picks = sorted({(i * len(scenes)) // max(count, 1) for i in range(count)})
    for j, i in enumerate(picks):
        s = scenes[i]
        if j == 0:
            baseline = "05.11" if s.baseline >= "04.00" else "05.00"
            applied = s.offset_applied if s.baseline >= "04.00" else False
            dup = replace(s, id=s.id.replace("_0_L2A", "_1_L2A"), baseline=baseline, offset_applied=applied,
                          created=s.created + timedelta(days=20), updated=s.created + timedelta(days=20),
                          noise_key=100000 + i)
            # The original's metadata was touched after the reprocessing.
            scenes[i] = replace(s, updated=s.created + timedelta(days=40))
        else:
            dup = replace(s, id=s.id.replace("_0_L2A", "_1_L2A"), created=s.created + timedelta(days=30),
                          updated=s.created + timedelta(days=30), noise_key=100000 + i)
        out.append(dup)
    return out
