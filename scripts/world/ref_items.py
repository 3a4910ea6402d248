"""Reading Earth Search v1 items for the reference: time/footprint filters, dedup of reprocessed
scenes, solar-day grouping. Implements the rules in docs/test-world.md independently of Swift.

Collections: `sentinel-2-l2a` (an item without `collection` is taken as one) and `landsat-c2-l2`.
Dedup applies to Sentinel-2 items only; Landsat items are unique by id and all kept. Solar days
are grouped per (collection, date): scenes of different collections are never fused."""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import shapely
from shapely.geometry import shape

from .refgrid import TimeBin


SENTINEL2 = "sentinel-2-l2a"
LANDSAT = "landsat-c2-l2"


@dataclass(frozen=True)
class RefItem:
    raw: dict
    id: str
    time: datetime
    tile: str
    baseline: tuple[int, ...]
    updated: datetime
    geometry: shapely.Geometry
    collection: str = SENTINEL2

    @property
    def solar_date(self):
        """UTC datetime + centroid longitude / 15 hours (fractional, see docs/test-world.md)."""
        lon = self.geometry.centroid.x
        return (self.time + timedelta(hours=lon / 15.0)).date()

    @property
    def offset_applied(self) -> bool:
        return bool(self.raw["properties"].get("earthsearch:boa_offset_applied", False))

    def epsg(self) -> int:
        p = self.raw["properties"]
        if "proj:epsg" in p and p["proj:epsg"] is not None:
            return int(p["proj:epsg"])
        code = str(p.get("proj:code", ""))
        if code.upper().startswith("EPSG:"):
            return int(code.split(":", 1)[1])
        raise ValueError(f"item {self.id}: no proj:epsg or EPSG proj:code")


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _baseline(s) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in str(s).split("."))
    except ValueError:
        return (-1,)


def _tile(item: dict) -> str:
    p = item["properties"]
    if p.get("grid:code"):
        return str(p["grid:code"])
    if "mgrs:utm_zone" in p:
        return f"MGRS-{p['mgrs:utm_zone']}{p.get('mgrs:latitude_band', '')}{p.get('mgrs:grid_square', '')}"
    return item["id"].split("_")[1]


def load_items(path: Path) -> list[RefItem]:
    """Items from an .ndjson file or an ItemCollection .json."""
    text = Path(path).read_text()
    raws = ([json.loads(line) for line in text.splitlines() if line.strip()] if str(path).endswith(".ndjson")
            else json.loads(text)["features"])
    out = []
    for it in raws:
        p = it["properties"]
        t = parse_time(p["datetime"])
        out.append(RefItem(it, it["id"], t, _tile(it), _baseline(p.get("s2:processing_baseline")),
                           parse_time(p.get("updated") or p["datetime"]), shape(it["geometry"]),
                           str(it.get("collection") or SENTINEL2)))
    return out


def dedup(items: list[RefItem]) -> list[RefItem]:
    """Sentinel-2: same tile + same datetime: keep the highest baseline, then latest `updated`,
    then largest id. Items of other collections (Landsat) are kept as they are (unique by id)."""
    best: dict[tuple, RefItem] = {}
    others: list[RefItem] = []
    for it in items:
        if it.collection != SENTINEL2:
            others.append(it)
            continue
        key = (it.tile, it.time)
        cur = best.get(key)
        if cur is None or (it.baseline, it.updated, it.id) > (cur.baseline, cur.updated, cur.id):
            best[key] = it
    return sorted(list(best.values()) + others, key=lambda i: (i.time, i.id))


def select(items: list[RefItem], tbin: TimeBin, footprint: shapely.Geometry) -> list[RefItem]:
    return [it for it in items if tbin.start <= it.time < tbin.end and it.geometry.intersects(footprint)]


def solar_day_groups(items: list[RefItem]) -> list[list[RefItem]]:
    """Observations: items of one collection and one solar day, each group in (datetime, id)
    order; groups ordered by (date, collection id)."""
    groups: dict = defaultdict(list)
    for it in items:
        groups[(it.solar_date, it.collection)].append(it)
    return [sorted(groups[k], key=lambda i: (i.time, i.id)) for k in sorted(groups)]
