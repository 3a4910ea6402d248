"""Landsat Collection 2 Level-2 scenes over the same ground as the Sentinel-2 scenes, in Earth
Search v1's `landsat-c2-l2` layout (modelled on a genuine item:
Tests/python/data/landsat-c2-l2-earth-search-item.json). Only with `WorldParams.landsat`.

Geometry (WRS-2-like, scaled with the preset like the S2 tiles: s = tile_px * 10 m / 109.8 km):
- a scene's valid area is a parallelogram (W = 185 km * s across track, L = 180 km * s along track)
  on a descending track heading 192.5 deg (SSW); its across-track edges point 13.5 deg below east,
  so the corners are not right angles (like a real scene's). It is ROTATED inside a north-up 30 m
  raster in the UTM zone of its centre (of the world's zones), on the lattice x0, y0 = multiples of
  30 m; outside it every band is 0 and qa_pixel is 1 (fill).
- paths (numbered westwards from 191) are 121 km * s apart across track, rows (southwards from 028)
  161 km * s along track, so neighbouring paths and consecutive rows overlap. The lattice is placed
  so the edges of paths 191/192 and rows 028/029 cross the preset's AOI.
- time: each path is imaged every 16 days by Landsat 8, by Landsat 9 8 days later and by Landsat 7
  4 days after Landsat 8; path p + 1 (west) 7 days after path p (the anchor: Landsat 8 over path 191
  on 2024-01-03). Consecutive rows of one acquisition are seconds apart (one solar day).

Values: the ground's reflectance (world/ground.py, plus swir16/swir22), the acquisition's weather
(world/weather.py: clouds, shadows, cirrus, snow), a few dark targets and deep-water pixels with
near-zero or negative reflectance, Gaussian noise; DN = round((reflectance + 0.2) / 2.75e-05)
clipped to 1..65535. Landsat 7 scenes have SLC-off gaps (fill in every band and qa_pixel).

qa_pixel (uint16, USGS C2 bits): 0 fill (exactly 1), 1 dilated cloud (3 px halo around clouds),
2 cirrus (L8/L9 only), 3 cloud, 4 cloud shadow, 5 snow, 6 clear (neither bit 1 nor 3), 7 water,
8-9 cloud confidence (3 cloud, 2 near a cloud, 1 elsewhere), 10-11 shadow, 12-13 snow and 14-15
cirrus confidence (3 where the bit is set, 1 elsewhere; cirrus 0 on Landsat 7).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from scipy import ndimage
from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from .cog import block_size, write_cog
from .ground import BARE, VEGETATION, WATER, GroundFrame, PixelToGround, Surface, hash01
from .passes import aoi_en
from .presets import WorldParams
from .weather import Weather

COLLECTION = "landsat-c2-l2"
COLLECTION_FILE = "collection-landsat-c2-l2.json"   # beside collection.json (sentinel-2-l2a)
ROOT_DIR = "landsat-c2-l2"                          # DIR/landsat-c2-l2/collection02/level-2/...
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
RES = 30
SCALE, OFFSET = 2.75e-05, -0.2
NODATA_QA = 1
BAND_KEYS = ("red", "green", "blue", "nir08", "swir16", "swir22")

# asset key -> (title, OLI band, OLI centre/fwhm, ETM+ band, ETM+ centre/fwhm, eo:bands description)
_BANDS = {
    "red": ("Red Band", 4, (0.65, 0.04), 3, (0.66, 0.06), "Visible red"),
    "green": ("Green Band", 3, (0.56, 0.06), 2, (0.56, 0.08), "Visible green"),
    "blue": ("Blue Band", 2, (0.48, 0.06), 1, (0.49, 0.07), "Visible blue"),
    "nir08": ("Near Infrared Band 0.8", 5, (0.87, 0.03), 4, (0.84, 0.13), "Near infrared"),
    "swir16": ("Short-wave Infrared Band 1.6", 6, (1.61, 0.09), 5, (1.65, 0.2), "Short-wave infrared"),
    "swir22": ("Short-wave Infrared Band 2.2", 7, (2.2, 0.19), 7, (2.22, 0.26), "Short-wave infrared"),
}

# The genuine item's qa_pixel `classification:bitfields` (name, description, offset, length, classes).
_BITFIELDS = [
    ("fill", "Image or fill data", 0, 1, [(0, "not_fill", "Image data"), (1, "fill", "Fill data")]),
    ("dilated_cloud", "Dilated cloud", 1, 1,
     [(0, "not_dilated", "Cloud is not dilated or no cloud"), (1, "dilated", "Cloud dilation")]),
    ("cirrus", "Cirrus mask", 2, 1,
     [(0, "not_cirrus", "Cirrus confidence is not high"), (1, "cirrus", "High confidence cirrus")]),
    ("cloud", "Cloud mask", 3, 1,
     [(0, "not_cloud", "Cloud confidence is not high"), (1, "cloud", "High confidence cloud")]),
    ("cloud_shadow", "Cloud shadow mask", 4, 1,
     [(0, "not_shadow", "Cloud shadow confidence is not high"), (1, "shadow", "High confidence cloud shadow")]),
    ("snow", "Snow/Ice mask", 5, 1,
     [(0, "not_snow", "Snow/Ice confidence is not high"), (1, "snow", "High confidence snow cover")]),
    ("clear", "Clear mask", 6, 1,
     [(0, "not_clear", "Cloud or dilated cloud bits are set"), (1, "clear", "Cloud and dilated cloud bits are not set")]),
    ("water", "Water mask", 7, 1, [(0, "not_water", "Land or cloud"), (1, "water", "Water")]),
    ("cloud_confidence", "Cloud confidence levels", 8, 2,
     [(0, "not_set", "No confidence level set"), (1, "low", "Low confidence cloud"),
      (2, "medium", "Medium confidence cloud"), (3, "high", "High confidence cloud")]),
    ("cloud_shadow_confidence", "Cloud shadow confidence levels", 10, 2,
     [(0, "not_set", "No confidence level set"), (1, "low", "Low confidence cloud shadow"),
      (2, "reserved", "Reserved - value not used"), (3, "high", "High confidence cloud shadow")]),
    ("snow_confidence", "Snow/Ice confidence levels", 12, 2,
     [(0, "not_set", "No confidence level set"), (1, "low", "Low confidence snow/ice"),
      (2, "reserved", "Reserved - value not used"), (3, "high", "High confidence snow/ice")]),
    ("cirrus_confidence", "Cirrus confidence levels", 14, 2,
     [(0, "not_set", "No confidence level set"), (1, "low", "Low confidence cirrus"),
      (2, "reserved", "Reserved - value not used"), (3, "high", "High confidence cirrus")]),
]
QA_BITS = {name: offset for name, _, offset, length, _ in _BITFIELDS if length == 1}


def classification_bitfields() -> list[dict]:
    return [{"name": n, "description": d, "offset": o, "length": ln,
             "classes": [{"value": v, "name": cn, "description": cd} for v, cn, cd in classes]}
            for n, d, o, ln, classes in _BITFIELDS]


# Track geometry in the ground frame (E, N metres).
HEADING_DEG = 192.5          # descending, SSW
ACROSS_DEG = -13.5           # across-track edge direction, from east (counter-clockwise positive)
_T = np.array([math.sin(math.radians(HEADING_DEG)), math.cos(math.radians(HEADING_DEG))])   # along track
_C = np.array([math.cos(math.radians(ACROSS_DEG)), math.sin(math.radians(ACROSS_DEG))])     # across, eastwards
FIRST_PATH, FIRST_ROW = 191, 28
ANCHOR = date(2024, 1, 3)    # Landsat 8 over path 191
# platform -> (id prefix, day offset in the 16-day cycle after Landsat 8, UTC time over path 191)
PLATFORMS = {
    "landsat-8": ("LC08", 0, (9, 52)),
    "landsat-9": ("LC09", 8, (9, 52)),
    "landsat-7": ("LE07", 4, (9, 24)),
}
SHADOW_REACH = 4.0
SLC_PERIOD_PX = 42           # SLC-off gaps every 42 rows (along track) ...
SLC_WIDTH_PX = (1.0, 14.0)   # ... 1 px wide at the scene centre line, 14 px at the edges
SLC_SLANT = 0.04             # gap lines drift 0.04 px along track per px across


@dataclass(frozen=True)
class Layout:
    """Scaled WRS-2 lattice of a world."""
    width_m: float           # across track
    length_m: float          # along track
    path_step_m: float
    row_step_m: float

    @classmethod
    def for_params(cls, params: WorldParams) -> "Layout":
        s = params.tile_px * 10 / 109800.0
        return cls(185000.0 * s, 180000.0 * s, 121000.0 * s, 161000.0 * s)

    def centre_en(self, path: int, row: int) -> np.ndarray:
        u = 0.33 * self.width_m + (FIRST_PATH - path) * self.path_step_m
        v = -0.44 * self.length_m + (row - FIRST_ROW) * self.row_step_m
        return u * _C + v * _T

    def corners_en(self, path: int, row: int) -> np.ndarray:
        """NW, NE, SE, SW corners (4, 2) of the valid parallelogram in E/N."""
        c = self.centre_en(path, row)
        hw, hl = 0.5 * self.width_m * _C, 0.5 * self.length_m * _T
        return np.array([c - hw - hl, c + hw - hl, c + hw + hl, c - hw + hl])


@dataclass(frozen=True)
class Location:
    """One WRS path/row: its valid parallelogram in UTM and its 30 m raster."""
    path: int
    row: int
    zone: int
    x0: int
    y0: int
    width: int
    height: int
    centre: tuple[float, float]            # parallelogram centre, UTM
    across: tuple[float, float]            # full across-track edge vector, UTM
    along: tuple[float, float]             # full along-track edge vector, UTM
    v_en: float                            # along-track position (m) of the centre from the AOI centre

    @property
    def epsg(self) -> int:
        return 32600 + self.zone

    @property
    def transform(self) -> list[int]:
        return [RES, 0, self.x0, 0, -RES, self.y0]

    def corners(self) -> np.ndarray:
        c, a, b = np.array(self.centre), np.array(self.across), np.array(self.along)
        return np.array([c - a / 2 - b / 2, c + a / 2 - b / 2, c + a / 2 + b / 2, c - a / 2 + b / 2])

    def ab(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Parallelogram coordinates (-0.5..0.5 inside) of UTM points."""
        m = np.linalg.inv(np.array([self.across, self.along]).T)
        dx, dy = np.asarray(x) - self.centre[0], np.asarray(y) - self.centre[1]
        return m[0, 0] * dx + m[0, 1] * dy, m[1, 0] * dx + m[1, 1] * dy

    def footprint(self, buffer_m: float = 45.0) -> shapely.Polygon:
        """The parallelogram widened by `buffer_m` (mitred, so still a parallelogram; more than a
        30 m pixel's half diagonal, so every valid pixel's whole area is inside), in lon/lat."""
        poly = shapely.Polygon(self.corners()).buffer(buffer_m, join_style="mitre")
        ring = np.asarray(shapely.segmentize(poly, max(poly.length / 160, 1.0)).exterior.coords)
        lon, lat = Transformer.from_crs(self.epsg, 4326, always_xy=True).transform(ring[:, 0], ring[:, 1])
        out = shapely.set_precision(shapely.Polygon(zip(lon, lat)), 1e-8)
        return orient(out, 1.0)


@dataclass(frozen=True)
class Acquisition:
    index: int
    platform: str
    path: int
    time: datetime            # at the AOI centre's along-track position
    cloud_fraction: float
    snow_fraction: float


@dataclass(frozen=True)
class LandsatScene:
    id: str
    product_id: str
    acq: Acquisition
    loc: Location
    time: datetime
    created: datetime
    updated: datetime
    noise_key: int

    @property
    def sensor(self) -> str:
        return PLATFORMS[self.acq.platform][0]

    @property
    def folder(self) -> str:
        """USGS's object layout under ROOT_DIR."""
        kind = "etm" if self.acq.platform == "landsat-7" else "oli-tirs"
        return (f"{ROOT_DIR}/collection02/level-2/standard/{kind}/{self.time.year}/"
                f"{self.loc.path:03d}/{self.loc.row:03d}/{self.product_id}")

    def file(self, key: str) -> str:
        if key == "qa_pixel":
            return f"{self.folder}/{self.product_id}_QA_PIXEL.TIF"
        oli, etm = _BANDS[key][1], _BANDS[key][3]
        return f"{self.folder}/{self.product_id}_SR_B{etm if self.acq.platform == 'landsat-7' else oli}.TIF"


def _aoi_box_en(params: WorldParams, frame: GroundFrame) -> shapely.Polygon:
    e0, n0 = frame.to_en(params.aoi[0], params.aoi[1])
    e1, n1 = frame.to_en(params.aoi[2], params.aoi[3])
    return shapely.box(float(e0), float(n0), float(e1), float(n1))


def _zone_of(lon: float, zones) -> int:
    z = int(math.floor((lon + 180.0) / 6.0)) + 1
    if z in zones:
        return z
    return min(zones, key=lambda k: abs(-183 + 6 * k - lon))


def plan_locations(params: WorldParams, frame: GroundFrame) -> list[Location]:
    """Every path/row of the lattice whose parallelogram meets the AOI."""
    lay = Layout.for_params(params)
    aoi = _aoi_box_en(params, frame)
    reach = int(math.ceil(max(aoi.bounds[2] - aoi.bounds[0], aoi.bounds[3] - aoi.bounds[1]) / lay.path_step_m)) + 3
    locs = []
    for path in range(FIRST_PATH - reach, FIRST_PATH + reach + 1):
        for row in range(FIRST_ROW - reach, FIRST_ROW + reach + 1):
            en = lay.corners_en(path, row)
            if not shapely.Polygon(en).intersects(aoi):
                continue
            c_lon, c_lat = frame.to_lonlat(*lay.centre_en(path, row))
            zone = _zone_of(float(c_lon), params.zones)
            lon, lat = frame.to_lonlat(en[:, 0], en[:, 1])
            x, y = Transformer.from_crs(4326, 32600 + zone, always_xy=True).transform(lon, lat)
            p = np.stack([x, y], axis=1)
            centre = p.mean(axis=0)
            across = (p[1] + p[2] - p[0] - p[3]) / 2
            along = (p[3] + p[2] - p[0] - p[1]) / 2
            corners = np.array([centre - across / 2 - along / 2, centre + across / 2 - along / 2,
                                centre + across / 2 + along / 2, centre - across / 2 + along / 2])
            # A margin of fill around the parallelogram, like USGS's rasters.
            x0 = int(math.floor(corners[:, 0].min() / RES)) * RES - 2 * RES
            y0 = int(math.ceil(corners[:, 1].max() / RES)) * RES + 2 * RES
            width = int(math.ceil((corners[:, 0].max() - x0) / RES)) + 2
            height = int(math.ceil((y0 - corners[:, 1].min()) / RES)) + 2
            v = float(np.dot(lay.centre_en(path, row), _T))
            locs.append(Location(path, row, zone, x0, y0, width, height, (float(centre[0]), float(centre[1])),
                                 (float(across[0]), float(across[1])), (float(along[0]), float(along[1])), v))
    return locs


def plan_acquisitions(params: WorldParams, seed: int, paths: list[int]) -> list[Acquisition]:
    rng = np.random.default_rng([seed, 6001])
    out = []
    days = (params.end - params.start).days + 1
    for d in range(days):
        day = params.start + timedelta(days=d)
        for path in sorted(set(paths)):
            for platform, (_, offset, (hh, mm)) in PLATFORMS.items():
                if ((day - ANCHOR).days - offset - 7 * (path - FIRST_PATH)) % 16:
                    continue
                # Sun-synchronous: a path further west is crossed later (~6 min per path).
                t = datetime(day.year, day.month, day.day, hh, mm, tzinfo=timezone.utc) \
                    + timedelta(minutes=6 * (path - FIRST_PATH))
                out.append((t, platform, path))
    acqs = []
    for i, (t, platform, path) in enumerate(sorted(out)):
        t = t + timedelta(seconds=float(rng.uniform(0, 40)))
        acqs.append(Acquisition(i, platform, path, t, float(rng.uniform(*params.cloud_range)),
                                0.04 if t.month in (12, 1, 2) else 0.0))
    return acqs


def plan_scenes(params: WorldParams, seed: int, frame: GroundFrame) -> list[LandsatScene]:
    locs = plan_locations(params, frame)
    acqs = plan_acquisitions(params, seed, [loc.path for loc in locs])
    rng = np.random.default_rng([seed, 6002])
    scenes = []
    for acq in acqs:
        for loc in sorted((lc for lc in locs if lc.path == acq.path), key=lambda lc: lc.row):
            t = acq.time + timedelta(seconds=round(loc.v_en / 7000.0, 3))
            t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
            created = t + timedelta(days=8, hours=float(rng.uniform(0, 20)))
            prefix = PLATFORMS[acq.platform][0]
            pr = f"{loc.path:03d}{loc.row:03d}"
            scenes.append(LandsatScene(
                id=f"{prefix}_L2SP_{pr}_{t:%Y%m%d}_02_T1",
                product_id=f"{prefix}_L2SP_{pr}_{t:%Y%m%d}_{created:%Y%m%d}_02_T1",
                acq=acq, loc=loc, time=t, created=created,
                updated=created + timedelta(minutes=float(rng.uniform(1, 30))), noise_key=len(scenes)))
    return scenes


# ---------------------------------------------------------------- rendering

class _RasterGround:
    """Cubic fit of a (possibly non-square) raster's pixel centres -> ground E/N (like PixelToGround)."""

    def __init__(self, loc: Location, frame: GroundFrame) -> None:
        to_ll = Transformer.from_crs(loc.epsg, 4326, always_xy=True)
        u = np.linspace(0.0, 1.0, 13)
        uu, vv = np.meshgrid(u, u)
        lon, lat = to_ll.transform(loc.x0 + uu.ravel() * loc.width * RES, loc.y0 - vv.ravel() * loc.height * RES)
        e, n = frame.to_en(lon, lat)
        basis = PixelToGround._basis(uu.ravel(), vv.ravel())
        self.ce = np.linalg.lstsq(basis, e, rcond=None)[0]
        self.cn = np.linalg.lstsq(basis, n, rcond=None)[0]
        self.loc = loc

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        uu, vv = np.meshgrid((np.arange(self.loc.width) + 0.5) / self.loc.width,
                             (np.arange(self.loc.height) + 0.5) / self.loc.height)
        terms = (1.0, uu, vv, uu * uu, uu * vv, vv * vv, uu**3, uu * uu * vv, uu * vv * vv, vv**3)
        return sum(c * t for c, t in zip(self.ce, terms)), sum(c * t for c, t in zip(self.cn, terms))


@dataclass
class _LocationSurface:
    e: np.ndarray
    n: np.ndarray
    cls: np.ndarray           # surface class (4, 5, 6)
    refl: np.ndarray          # (6, H, W) float32 reflectance * 10000 (red, green, blue, nir, swir16, swir22)
    a: np.ndarray             # parallelogram coordinates of the pixel centres
    b: np.ndarray
    inside: np.ndarray


def _location_surface(loc: Location, surface: Surface, frame: GroundFrame, seed: int) -> _LocationSurface:
    e, n = _RasterGround(loc, frame).all()
    cls = surface.classes(e, n)
    refl = np.concatenate([surface.reflectance(e, n, cls), surface.swir(e, n, cls)])
    # Deep water: near-zero or negative surface reflectance in the infrared (as in real L2 SR).
    cell_e, cell_n = np.floor(e / RES), np.floor(n / RES)
    deep = (cls == WATER) & (hash01(cell_e, cell_n, salt=seed * 7 + 6) < 0.3)
    refl[3:, deep] = (-70.0 + 80.0 * hash01(cell_e, cell_n, salt=seed * 7 + 8)[deep]).astype(np.float32)
    # Dark targets anywhere (~0.5 %): every band near zero or below, so some values clamp to 1.
    dark = hash01(cell_e, cell_n, salt=seed * 7 + 5) < 0.005
    refl[:, dark] = (-80.0 + 90.0 * hash01(cell_e, cell_n, salt=seed * 7 + 9)[dark]).astype(np.float32)
    xs = loc.x0 + (np.arange(loc.width) + 0.5) * RES
    ys = loc.y0 - (np.arange(loc.height) + 0.5) * RES
    a, b = loc.ab(*np.meshgrid(xs, ys))
    inside = (np.abs(a) < 0.5) & (np.abs(b) < 0.5)
    return _LocationSurface(e, n, cls, refl, a, b, inside)


def _slc_gaps(scene: LandsatScene, ls: _LocationSurface, lay: Layout, seed: int) -> np.ndarray:
    """Landsat 7 SLC-off: wedge-shaped gaps along the scan lines (across track), every
    SLC_PERIOD_PX rows, from SLC_WIDTH_PX[0] px wide on the centre line to SLC_WIDTH_PX[1] at the edges."""
    phase = float(np.random.default_rng([seed, 6003, scene.noise_key]).uniform(0, SLC_PERIOD_PX))
    along_px = ls.b * lay.length_m / RES
    across_px = ls.a * lay.width_m / RES
    width = SLC_WIDTH_PX[0] + (SLC_WIDTH_PX[1] - SLC_WIDTH_PX[0]) * np.abs(2.0 * ls.a)
    return np.mod(along_px + SLC_SLANT * across_px + phase, SLC_PERIOD_PX) < width


def _gain(t: datetime) -> np.ndarray:
    doy = t.timetuple().tm_yday
    greening = 1.0 + 0.25 * (doy - 32) / 90.0   # as the S2 scenes (world/render.py)
    return np.array([1.0 - 0.05 * (doy - 32) / 90.0, 1.0, 1.0, greening, 1.0, 1.0], dtype=np.float32)


_SNOW = (8600.0, 8250.0, 7900.0, 7550.0, 1100.0, 700.0)
_CIRRUS_ADD = (1200.0, 1200.0, 1200.0, 1200.0, 500.0, 300.0)


def render_scene(scene: LandsatScene, ls: _LocationSurface, weather: Weather, lay: Layout, seed: int,
                 noise: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """(6, H, W) uint16 DN, (H, W) uint16 qa_pixel and cloud percentages of one scene."""
    e, n = ls.e, ls.n
    f = weather.cloud(e, n)
    cloud = f > weather.t_cloud
    high = f > weather.t_high
    fringe = ~cloud & (f > weather.t_cloud - 0.25)
    land = (ls.cls == VEGETATION) | (ls.cls == BARE)
    # Exclusive weather classes with world/weather.py's priority: cloud > cirrus > shadow > snow.
    cirrus = ~cloud & (weather.cirrus(e, n) > weather.t_cirrus)
    # Shadows: the clouds displaced away from the sun, SHADOW_REACH times as far as on the S2
    # scenes so they reach beyond the dilated-cloud halo.
    shadow = ~cloud & ~cirrus & (weather.cloud(e - SHADOW_REACH * weather.shadow_de,
                                               n - SHADOW_REACH * weather.shadow_dn) > weather.t_cloud)
    snow = ~cloud & ~cirrus & ~shadow & land & (weather.snow(e, n) > weather.t_snow)
    bright = np.clip((f - weather.t_cloud) / 1.2, 0.0, 1.0).astype(np.float32)

    fill = ~ls.inside
    if scene.acq.platform == "landsat-7":
        fill |= _slc_gaps(scene, ls, lay, seed)

    rng = np.random.default_rng([seed, 9101, scene.noise_key])
    gain = _gain(scene.time)
    dn = np.zeros(ls.refl.shape, np.uint16)
    for b in range(ls.refl.shape[0]):
        v = ls.refl[b] * gain[b]
        v = np.where(shadow, v * 0.35, v)
        v = np.where(cirrus, v + _CIRRUS_ADD[b], v)
        v = np.where(snow, _SNOW[b], v)
        v = np.where(cloud & ~high, 3600.0 + 2500.0 * bright - 80.0 * b, v)
        v = np.where(high, 6200.0 + 2800.0 * bright - 80.0 * b, v)
        v = v + rng.standard_normal(v.shape, dtype=np.float32) * np.float32(noise)
        d = np.clip(np.rint((v.astype(np.float64) + 2000.0) / 0.275), 1, 65535).astype(np.uint16)
        d[fill] = 0
        dn[b] = d

    # The halo grows from the clouds seen in the image (not from those under fill or SLC gaps).
    dilated = ndimage.binary_dilation(cloud & ~fill, structure=np.ones((3, 3), bool), iterations=3) & ~cloud
    l89 = scene.acq.platform != "landsat-7"
    qa = np.zeros(cloud.shape, np.uint32)
    qa |= dilated.astype(np.uint32) << 1
    if l89:
        qa |= cirrus.astype(np.uint32) << 2
    qa |= cloud.astype(np.uint32) << 3
    qa |= shadow.astype(np.uint32) << 4
    qa |= snow.astype(np.uint32) << 5
    qa |= (~(cloud | dilated)).astype(np.uint32) << 6
    qa |= ((ls.cls == WATER) & ~cloud & ~snow).astype(np.uint32) << 7
    qa |= np.where(cloud, 3, np.where(fringe, 2, 1)).astype(np.uint32) << 8
    qa |= np.where(shadow, 3, 1).astype(np.uint32) << 10
    qa |= np.where(snow, 3, 1).astype(np.uint32) << 12
    if l89:
        qa |= np.where(cirrus, 3, 1).astype(np.uint32) << 14
    qa = qa.astype(np.uint16)
    qa[fill] = NODATA_QA

    data = ~fill
    cc = 100.0 * float(np.mean((cloud | dilated)[data])) if data.any() else 0.0
    cl = 100.0 * float(np.mean((cloud | dilated)[data & land])) if (data & land).any() else 0.0
    return dn, qa, {"eo:cloud_cover": round(cc, 2), "landsat:cloud_cover_land": round(cl, 2),
                    "fill_percentage": round(100.0 * float(np.mean(fill)), 4)}


def render_location(args) -> list[tuple[str, dict]]:
    """Render and write every scene of one path/row; returns (scene id, stats)."""
    out, params, seed, frame, loc, scenes = args
    surface = Surface(seed, frame)
    ls = _location_surface(loc, surface, frame, seed)
    lay = Layout.for_params(params)
    block = block_size(min(loc.width, loc.height), params.block_max)
    results = []
    for scene in scenes:
        weather = Weather(seed, 1000 + scene.acq.index, scene.acq.cloud_fraction, scene.acq.snow_fraction,
                          min(params.tile_px * 10, 40000), aoi_en(params, frame))
        dn, qa, stats = render_scene(scene, ls, weather, lay, seed, params.noise_dn)
        for b, key in enumerate(BAND_KEYS):
            write_cog(Path(out) / scene.file(key), dn[b], loc.epsg, loc.transform, block=block, resampling="average")
        write_cog(Path(out) / scene.file("qa_pixel"), qa, loc.epsg, loc.transform, block=block,
                  resampling="nearest", nodata=NODATA_QA)
        results.append((scene.id, stats))
    return results


# ---------------------------------------------------------------- STAC

STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/scientific/v1.0.0/schema.json",
    "https://stac-extensions.github.io/classification/v1.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.0.0/schema.json",
    "https://landsat.usgs.gov/stac/landsat-extension/v1.1.1/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.0.0/schema.json",
]


def rfc3339_us(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _sun(t: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Approximate solar elevation and azimuth (degrees) for view:sun_*."""
    doy = t.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + doy) / 365.0)
    hours = t.hour + t.minute / 60 + t.second / 3600 + lon / 15.0
    h = math.radians((hours - 12.0) * 15.0)
    phi = math.radians(lat)
    elev = math.asin(math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(h))
    az = math.degrees(math.atan2(math.sin(h), math.cos(h) * math.sin(phi) - math.tan(decl) * math.cos(phi))) + 180.0
    return round(math.degrees(elev), 8), round(az % 360.0, 7)


def make_item(scene: LandsatScene, stats: dict, base_url: str) -> dict:
    loc, acq = scene.loc, scene.acq
    geom = loc.footprint()
    l7 = acq.platform == "landsat-7"
    root = base_url.rstrip("/")
    c = geom.centroid
    elev, az = _sun(scene.time, c.x, c.y)
    doy = scene.time.timetuple().tm_yday
    props = {
        "platform": acq.platform,
        "instruments": ["etm"] if l7 else ["oli", "tirs"],
        "created": _ms(scene.created),
        "gsd": 30,
        "description": "Landsat Collection 2 Level-2",
        "eo:cloud_cover": stats["eo:cloud_cover"],
        "view:off_nadir": 0,
        "view:sun_elevation": elev,
        "view:sun_azimuth": az,
        "proj:epsg": loc.epsg,
        "proj:shape": [loc.height, loc.width],
        "proj:transform": loc.transform,
        "landsat:cloud_cover_land": stats["landsat:cloud_cover_land"],
        "landsat:wrs_type": "2",
        "landsat:wrs_path": f"{loc.path:03d}",
        "landsat:wrs_row": f"{loc.row:03d}",
        "landsat:collection_category": "T1",
        "landsat:collection_number": "02",
        "landsat:correction": "L2SP",
        "landsat:scene_id": f"L{'E7' if l7 else 'C' + scene.sensor[-1]}{loc.path:03d}{loc.row:03d}{scene.time.year}{doy:03d}LGN00",
        "sci:doi": "10.5066/P9C7I13B" if l7 else "10.5066/P9OGBGM6",
        "datetime": rfc3339_us(scene.time),
        "earthsearch:payload_id": f"usgs-landsat-c2l2/workflow-landsat-to-stac/{scene.product_id}_SR",
        "updated": _ms(scene.updated),
    }
    assets = {}
    for key in BAND_KEYS:
        title, oli, oli_wl, etm, etm_wl, desc = _BANDS[key]
        num, (wl, fwhm) = (etm, etm_wl) if l7 else (oli, oli_wl)
        assets[key] = {
            "href": f"{root}/{scene.file(key)}",
            "type": COG_TYPE,
            "title": title,
            "description": f"Collection 2 Level-2 {title} (SR_B{num}) Surface Reflectance",
            "eo:bands": [{"name": f"{'ETM' if l7 else 'OLI'}_B{num}", "common_name": key, "description": desc,
                          "center_wavelength": wl, "full_width_half_max": fwhm}],
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "spatial_resolution": 30,
                              "scale": SCALE, "offset": OFFSET}],
            "roles": ["data", "reflectance"],
        }
    assets["qa_pixel"] = {
        "href": f"{root}/{scene.file('qa_pixel')}",
        "type": COG_TYPE,
        "title": "Pixel Quality Assessment Band",
        "description": "Collection 2 Level-1 Pixel Quality Assessment Band (QA_PIXEL)",
        "classification:bitfields": classification_bitfields(),
        "raster:bands": [{"nodata": NODATA_QA, "data_type": "uint16", "spatial_resolution": 30, "unit": "bit index"}],
        "roles": ["cloud", "cloud-shadow", "snow-ice", "water-mask"],
    }
    minx, miny, maxx, maxy = geom.bounds
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": scene.id,
        "collection": COLLECTION,
        "bbox": [round(minx, 8), round(miny, 8), round(maxx, 8), round(maxy, 8)],
        "geometry": mapping(geom),
        "properties": props,
        "assets": assets,
        "links": [{"rel": "collection", "href": f"{root}/{COLLECTION_FILE}", "type": "application/json"}],
    }


def make_collection(items: list[dict], base_url: str) -> dict:
    bboxes = np.array([it["bbox"] for it in items]) if items else np.zeros((1, 4))
    times = sorted(it["properties"]["datetime"] for it in items) or [None]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION,
        "title": "Landsat Collection 2 Level-2 (offline test world)",
        "description": "Synthetic Landsat 7/8/9 C2 L2 scenes in Earth Search v1 layout, made by scripts/world.",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[float(bboxes[:, 0].min()), float(bboxes[:, 1].min()),
                                  float(bboxes[:, 2].max()), float(bboxes[:, 3].max())]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "links": [{"rel": "self", "href": f"{base_url.rstrip('/')}/{COLLECTION_FILE}", "type": "application/json"}],
    }


def build_landsat(out: Path, params: WorldParams, seed: int, frame: GroundFrame, base_url: str,
                  pool=None) -> tuple[list[dict], dict]:
    """Render and write the Landsat scenes; returns their items and world.json's `landsat` section."""
    scenes = plan_scenes(params, seed, frame)
    jobs = []
    for loc in {s.loc for s in scenes}:
        mine = [s for s in scenes if s.loc == loc]
        jobs.append((str(out), params, seed, frame, loc, mine))
    jobs.sort(key=lambda j: (j[4].path, j[4].row))
    rendered = pool.map(render_location, jobs, chunksize=1) if pool is not None and len(jobs) > 1 \
        else [render_location(j) for j in jobs]
    stats = {sid: s for group in rendered for sid, s in group}
    items = [make_item(s, stats[s.id], base_url) for s in scenes]
    lay = Layout.for_params(params)
    meta = {
        "collection": COLLECTION,
        "collection_file": COLLECTION_FILE,
        "bands": list(BAND_KEYS),
        "dn_rule": "DN = round((reflectance + 0.2) / 2.75e-05) clipped to 1..65535 (raster:bands scale 2.75e-05, offset -0.2); 0 = fill",
        "qa_fill": NODATA_QA,
        "invalid_bits_default": [0, 1, 2, 3, 4],
        "layout": {"width_m": lay.width_m, "length_m": lay.length_m, "path_step_m": lay.path_step_m,
                   "row_step_m": lay.row_step_m, "heading_deg": HEADING_DEG, "across_deg": ACROSS_DEG},
        "slc_off": {"period_px": SLC_PERIOD_PX, "width_px": list(SLC_WIDTH_PX), "slant": SLC_SLANT},
        "acquisitions": [{"index": a.index, "platform": a.platform, "path": a.path, "datetime": rfc3339_us(a.time),
                          "cloud_fraction": a.cloud_fraction, "snow_fraction": a.snow_fraction}
                         for a in sorted({s.acq for s in scenes}, key=lambda a: a.index)],
        "locations": [{"path": j[4].path, "row": j[4].row, "epsg": j[4].epsg, "transform": j[4].transform,
                       "shape": [j[4].height, j[4].width],
                       "corners": [[round(float(x), 3), round(float(y), 3)] for x, y in j[4].corners()]} for j in jobs],
        "scenes": [{"id": s.id, "platform": s.acq.platform, "path": s.loc.path, "row": s.loc.row,
                    "datetime": rfc3339_us(s.time), "acquisition": s.acq.index, "epsg": s.loc.epsg,
                    "folder": s.folder, "cloud_cover": stats[s.id]["eo:cloud_cover"],
                    "fill_percentage": stats[s.id]["fill_percentage"]} for s in scenes],
    }
    return items, meta
