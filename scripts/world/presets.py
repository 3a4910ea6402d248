"""World presets. Every field can be overridden from the command line or by tests."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date


@dataclass(frozen=True)
class WorldParams:
    tile_px: int                                  # tile side in 10 m pixels (10980 = real MGRS)
    aoi: tuple[float, float, float, float]        # lon/lat box the tiles and passes are chosen for
    start: date                                   # first acquisition day (inclusive)
    end: date                                     # last acquisition day (inclusive)
    revisit_days: int = 5                         # per orbit; two orbits interleave
    cloud_range: tuple[float, float] = (0.1, 0.5) # per-pass cloud fraction over the AOI
    zones: tuple[int, ...] = (32, 33)
    duplicates: int = 2                           # reprocessed duplicates (_1_ items)
    block_max: int = 1024                         # COG block size cap (power of two)
    noise_dn: float = 40.0                        # per-scene sensor noise (DN sigma)
    workers: int = 1                              # parallel tile renderers
    landsat: bool = False                         # also Landsat C2 L2 scenes (world/landsat.py)


PRESETS: dict[str, WorldParams] = {
    # Unit / integration tests: 320 px tiles (smallest with a 20 m overview) in two zones,
    # 12 passes over two months.
    "small": WorldParams(tile_px=320, aoi=(12.250, 45.470, 12.280, 45.490),
                         start=date(2024, 2, 1), end=date(2024, 3, 31), revisit_days=10),
    # Demo cube in about a minute: 600 px tiles inland north of Venice, one month.
    "demo": WorldParams(tile_px=600, aoi=(12.200, 45.500, 12.280, 45.550),
                        start=date(2024, 3, 1), end=date(2024, 3, 31), revisit_days=5),
    # Coast around Lido with open Adriatic sea to the south-east (ocean in the GLOBE mask).
    "coastal": WorldParams(tile_px=1098, aoi=(12.350, 45.280, 12.600, 45.450),
                           start=date(2024, 3, 1), end=date(2024, 3, 31), revisit_days=5),
    # Full-size tiles (32TQR, 33TUL) over one month, realistic clouds, ~24 scenes on the target.
    "bench": WorldParams(tile_px=10980, aoi=(12.600, 45.550, 12.700, 45.620),
                         start=date(2024, 3, 1), end=date(2024, 3, 31), revisit_days=5,
                         cloud_range=(0.3, 0.6), workers=2),
}


def preset(name: str, **overrides) -> WorldParams:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
