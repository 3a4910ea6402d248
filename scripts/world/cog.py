"""Cloud-optimised GeoTIFFs written by GDAL's COG driver (through rasterio)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine


def block_size(width: int, cap: int) -> int:
    """Largest power of two <= min(cap, width / 2), at least 128 (the COG driver's minimum), so a
    COG wider than 128 pixels always gets an overview."""
    b = 128
    while b * 2 <= min(cap, width // 2):
        b *= 2
    return b


def write_cog(path: Path, data: np.ndarray, epsg: int, transform: list[float], *, block: int,
              resampling: str, nodata: int = 0) -> None:
    """Single-band COG: DEFLATE + horizontal predictor, tiled, overviews, nodata 0 (or `nodata`:
    1 for Landsat QA_PIXEL, like USGS's files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = data.shape
    profile = dict(
        driver="COG", width=w, height=h, count=1, dtype=data.dtype.name, crs=f"EPSG:{epsg}",
        transform=Affine(*transform), nodata=nodata, compress="DEFLATE", predictor=2,
        blocksize=block, overviews="AUTO", overview_resampling=resampling, num_threads="ALL_CPUS",
    )
    tmp = path.with_name(path.name + ".part")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
    tmp.replace(path)
