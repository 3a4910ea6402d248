#!/usr/bin/env python3
"""Generate an offline Sentinel-2 L2A-like world: COGs + Earth Search v1 STAC items.

  .venv/bin/python scripts/world/make_world.py --out DIR --preset small --seed 1 \
      --base-url http://127.0.0.1:8080

Writes DIR/sentinel-s2-l2a-cogs/.../<id>/{B04,B03,B02,B08,SCL}.tif, DIR/items.ndjson,
DIR/items.json (ItemCollection), DIR/collection.json and DIR/world.json (ground truth).
With --landsat it also writes Landsat C2 L2 scenes (world/landsat.py):
DIR/landsat-c2-l2/collection02/level-2/standard/<oli-tirs|etm>/<yyyy>/<ppp>/<rrr>/<product>/*_SR_B*.TIF,
*_QA_PIXEL.TIF, their items in the same items.ndjson/items.json (collection landsat-c2-l2) and
DIR/collection-landsat-c2-l2.json.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from world import landsat  # noqa: E402
from world.cog import block_size, write_cog  # noqa: E402
from world.ground import GroundFrame, Surface  # noqa: E402
from world.passes import aoi_en, plan_passes, plan_scenes  # noqa: E402
from world.presets import WorldParams, preset  # noqa: E402
from world.render import render_scene, tile_surface  # noqa: E402
from world.stac_items import ASSETS, BAND_KEYS, footprint, make_collection, make_item, rfc3339, scene_dir  # noqa: E402
from world.tiling import Tiling, tiles_for_aoi  # noqa: E402
from world.weather import Weather  # noqa: E402

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def _render_tile(args) -> list[tuple[str, dict]]:
    """Render and write every scene of one tile; returns (scene id, percentages)."""
    out, params, seed, frame, tile, scenes = args
    surface = Surface(seed, frame)
    ts = tile_surface(tile, surface, frame)
    results = []
    for scene in scenes:
        weather = Weather(seed, scene.pas.index, scene.pas.cloud_fraction, scene.pas.snow_fraction,
                          min(tile.tiling.size_m, 40000), aoi_en(params, frame))
        raster = render_scene(scene, ts, weather, seed, params.noise_dn)
        folder = Path(out) / scene_dir(scene)
        bblock = block_size(tile.size_px, params.block_max)
        for b, key in enumerate(BAND_KEYS):
            write_cog(folder / ASSETS[key][0], raster.bands[b], tile.epsg, tile.transform(10),
                      block=bblock, resampling="nearest")
        write_cog(folder / ASSETS["scl"][0], raster.scl, tile.epsg, tile.transform(20),
                  block=block_size(tile.size_px // 2, params.block_max), resampling="nearest")
        results.append((scene.id, raster.percentages))
    return results


def build_world(out: Path, params: WorldParams, seed: int, base_url: str = DEFAULT_BASE_URL,
                preset_name: str = "custom") -> dict:
    out = Path(out)
    if (out / "world.json").exists():
        shutil.rmtree(out / "sentinel-s2-l2a-cogs", ignore_errors=True)
        shutil.rmtree(out / landsat.ROOT_DIR, ignore_errors=True)
        (out / landsat.COLLECTION_FILE).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    frame = GroundFrame((params.aoi[0] + params.aoi[2]) / 2, (params.aoi[1] + params.aoi[3]) / 2)
    tiling = Tiling(params.tile_px)
    tiles = tiles_for_aoi(list(params.zones), params.aoi, tiling)
    passes = plan_passes(params, seed, frame)
    scenes = plan_scenes(passes, tiles, params, seed, frame)

    jobs = []
    for tile in tiles:
        mine = [s for s in scenes if s.tile.name == tile.name]
        if mine:
            jobs.append((str(out), params, seed, frame, tile, mine))
    landsat_items, landsat_meta = [], None
    if params.workers > 1 and (len(jobs) > 1 or params.landsat):
        with multiprocessing.get_context("fork").Pool(min(params.workers, max(len(jobs), 2))) as pool:
            rendered = pool.map(_render_tile, jobs, chunksize=1)
            if params.landsat:
                landsat_items, landsat_meta = landsat.build_landsat(out, params, seed, frame, base_url, pool)
    else:
        rendered = [_render_tile(j) for j in jobs]
        if params.landsat:
            landsat_items, landsat_meta = landsat.build_landsat(out, params, seed, frame, base_url)
    pct = {sid: p for group in rendered for sid, p in group}

    s2_items = [make_item(s, pct[s.id], footprint(s.tile, s.pas, frame), base_url) for s in scenes]
    items = s2_items + landsat_items
    items.sort(key=lambda it: (it["properties"]["datetime"], it["id"]))
    with open(out / "items.ndjson", "w") as f:
        for it in items:
            f.write(json.dumps(it, separators=(",", ":")) + "\n")
    (out / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    (out / "collection.json").write_text(json.dumps(make_collection(s2_items, base_url), indent=1))
    world = _world_json(params, seed, base_url, preset_name, frame, tiles, passes, scenes)
    if params.landsat:
        (out / landsat.COLLECTION_FILE).write_text(json.dumps(landsat.make_collection(landsat_items, base_url), indent=1))
        world["landsat"] = landsat_meta
    (out / "world.json").write_text(json.dumps(world, indent=1))
    return world


def _world_json(params, seed, base_url, preset_name, frame, tiles, passes, scenes) -> dict:
    p = asdict(params)
    p["start"], p["end"] = params.start.isoformat(), params.end.isoformat()
    if not params.landsat:
        del p["landsat"]   # worlds without Landsat stay byte-identical to those made before it
    originals = {(s.tile.name, s.time): s.id for s in scenes if "_0_L2A" in s.id}
    return {
        "format": "cube-test-world/1",
        "preset": preset_name,
        "seed": seed,
        "base_url": base_url,
        "params": p,
        "ground_frame": {"lon0": frame.lon0, "lat0": frame.lat0},
        "bands": list(BAND_KEYS),
        "nodata": 0,
        "invalid_scl_default": [0, 1, 3, 8, 9, 10],
        "dn_rule": {
            "old_baseline": "DN = reflectance*10000 (raster:bands offset 0)",
            "new_baseline": "DN = reflectance*10000 + 1000 (scale 0.0001, offset -0.1) unless earthsearch:boa_offset_applied",
        },
        "tiles": [{"name": t.name, "epsg": t.epsg, "transform10": t.transform(10), "shape10": list(t.shape(10)),
                   "transform20": t.transform(20), "shape20": list(t.shape(20))} for t in tiles],
        "passes": [{"index": q.index, "datetime": rfc3339(q.time), "platform": q.platform, "orbit": q.orbit,
                    "edge": {"e0": q.edge_e0, "slope": q.edge_slope, "side": q.side},
                    "cloud_fraction": q.cloud_fraction, "snow_fraction": q.snow_fraction,
                    "baseline": q.baseline, "offset_applied": q.offset_applied} for q in passes],
        "scenes": [{"id": s.id, "tile": s.tile.name, "pass": s.pas.index, "datetime": rfc3339(s.time),
                    "baseline": s.baseline, "offset_applied": s.offset_applied, "adds_offset": s.adds_offset,
                    "updated": rfc3339(s.updated),
                    "duplicate_of": originals.get((s.tile.name, s.time)) if "_1_L2A" in s.id else None,
                    "path": scene_dir(s)} for s in scenes],
        "dedup_winners": [s.id for s in scenes if "_1_L2A" in s.id],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-url", default=DEFAULT_BASE_URL)
    ap.add_argument("--tile-px", type=int)
    ap.add_argument("--aoi", type=float, nargs=4, metavar=("LON0", "LAT0", "LON1", "LAT1"))
    ap.add_argument("--start", type=date.fromisoformat)
    ap.add_argument("--end", type=date.fromisoformat)
    ap.add_argument("--revisit-days", type=int)
    ap.add_argument("--duplicates", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--cloud-range", type=float, nargs=2, metavar=("MIN", "MAX"))
    ap.add_argument("--landsat", action="store_true",
                    help="also make Landsat C2 L2 scenes (collection landsat-c2-l2) over the same ground")
    a = ap.parse_args(argv)
    try:
        params = preset(a.preset, tile_px=a.tile_px, aoi=tuple(a.aoi) if a.aoi else None, start=a.start,
                        end=a.end, revisit_days=a.revisit_days, duplicates=a.duplicates, workers=a.workers,
                        cloud_range=tuple(a.cloud_range) if a.cloud_range else None,
                        landsat=True if a.landsat else None)
        t0 = time.time()
        world = build_world(a.out, params, a.seed, a.base_url, a.preset)
    except (ValueError, OSError) as e:
        print(f"make_world: error: {e}", file=sys.stderr)
        return 2
    extra = f" + {len(world['landsat']['scenes'])} Landsat scenes" if "landsat" in world else ""
    print(f"world {a.preset} seed {a.seed}: {len(world['tiles'])} tiles, {len(world['passes'])} passes, "
          f"{len(world['scenes'])} scenes{extra} in {time.time() - t0:.1f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
