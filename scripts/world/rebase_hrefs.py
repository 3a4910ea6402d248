#!/usr/bin/env python3
"""Copy a world's STAC files with every href under the generation base URL moved to a new base.

  rebase_hrefs.py WORLD_DIR NEW_BASE_URL OUT_DIR   -> OUT_DIR/{items.ndjson,items.json,collection.json}
                                                     and OUT_DIR/collection-*.json (one per extra
                                                     collection, e.g. collection-landsat-c2-l2.json)

Used by scripts/services so the items always point at the nginx that is actually running. Every
href under the old base is moved, whatever its path (Sentinel-2 and Landsat assets, links).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def rebase(value, old: str, new: str):
    if isinstance(value, dict):
        return {k: (new + v[len(old):] if k == "href" and isinstance(v, str) and v.startswith(old)
                    else rebase(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [rebase(v, old, new) for v in value]
    return value


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    world, new, out = Path(argv[0]), argv[1].rstrip("/"), Path(argv[2])
    try:
        old = json.loads((world / "world.json").read_text())["base_url"].rstrip("/")
        items = [json.loads(line) for line in (world / "items.ndjson").read_text().splitlines() if line.strip()]
        collection = json.loads((world / "collection.json").read_text())
        extra = {p.name: json.loads(p.read_text()) for p in sorted(world.glob("collection-*.json"))}
    except (OSError, KeyError, ValueError) as e:
        print(f"rebase_hrefs: cannot read world {world}: {e}", file=sys.stderr)
        return 2
    items = [rebase(it, old, new) for it in items]
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.ndjson").write_text("".join(json.dumps(it, separators=(",", ":")) + "\n" for it in items))
    (out / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    (out / "collection.json").write_text(json.dumps(rebase(collection, old, new)))
    for stale in out.glob("collection-*.json"):
        if stale.name not in extra:
            stale.unlink()
    for name, doc in extra.items():
        (out / name).write_text(json.dumps(rebase(doc, old, new)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
