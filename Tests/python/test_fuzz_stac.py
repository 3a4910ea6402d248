"""Fuzzing `cube worker` with a malicious or broken STAC API.

A threaded HTTP server on loopback plays the STAC API. The cube has one tiny chunk and a time
step of one day over 2023-01-01..2024-06-30 (547 bins), so one `cube worker --attempts 1`
process runs 547 jobs, and the server picks the response for each job from the `datetime` of
its search (day index -> variant): every job meets a different broken response. Variants:
invalid, truncated and oddly typed JSON, items with missing or mistyped fields (generated
combinatorially), bad hrefs, bad datetimes, huge pages, endless and foreign `next` links,
HTTP errors with and without Retry-After, slow responses, wrong content types and encodings,
redirects, and COG hrefs that 404, 500, hold garbage, are truncated or have odd georeferencing.

The worker must finish in bounded time, exit 0 or 1 (never a crash), print exactly one final
line (done or failed) per job, give every failure an error, and list item-level problems as
skipped scenes with reasons.

    CUBE=.build/debug/cube .venv/bin/python -m pytest Tests/python/test_fuzz_stac.py -q -s

`-s` prints the summary; FUZZ_SUMMARY_STAC=path also writes it as JSON. FUZZ_STAC_SLOW=1 adds a COG
that answers 500 for good (GDAL retries it itself for ~26 s per open, times the worker's scene
attempts: minutes); by default that COG answers 500 twice and then serves the file.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import threading
import time
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from world_testkit import REPO, cube_bin  # noqa: E402
SEED = 547
START = date(2023, 1, 1)
END = date(2024, 6, 30)
DAYS = (END - START).days + 1                        # 547 jobs
WORKER_TIMEOUT = 600                                 # hard bound; the run should take well under 2 min
SLOW = bool(os.environ.get("FUZZ_STAC_SLOW"))        # also a COG that answers 500 for good (costs minutes)
SIGNAL_EXITS = {132, 133, 134, 135, 136, 139}

# The chunk: 16 x 16 one-arc-second pixels at 12.2 E, 45.5 N (about 345 m x 490 m).
CHUNK_BBOX = [12.2, 45.5, 12.2 + 16 / 3600, 45.5 + 16 / 3600]
SCENE_POLYGON = [[[12.1, 45.4], [12.3, 45.4], [12.3, 45.6], [12.1, 45.6], [12.1, 45.4]]]
FAR_POLYGON = [[[20.0, 10.0], [20.1, 10.0], [20.1, 10.1], [20.0, 10.1], [20.0, 10.0]]]
# UTM 32N, 10 m pixels, 64 x 64: covers the chunk (centre ~ 750166 E, 5043730 N).
UTM_ORIGIN = (749840.0, 5044050.0)


# ---------------------------------------------------------------- responses

@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/geo+json"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0               # seconds before the status line
    trickle: float = 0.0             # seconds over which the body is sent in pieces
    content_length: int | None = None  # a lie, when set
    close_without_reply: bool = False
    raw: bytes | None = None         # sent verbatim instead of an HTTP response


@dataclass
class Ctx:
    idx: int
    day: date
    page: int
    method: str
    path: str
    query: dict
    body: object
    base: str
    calls: int                       # requests this variant has seen so far (1 = first)


@dataclass
class Variant:
    name: str
    kind: str
    respond: Callable[[Ctx], Response]
    # Expected final status ("done"/"failed") and a text the error or a skip reason must contain.
    want_status: str | None = None
    want_text: str | None = None
    want_skip_id: str | None = None   # the skipped scene id that must carry want_text


def fc(features, links=None, **extra) -> dict:
    doc = {"type": "FeatureCollection", "features": features}
    if links is not None:
        doc["links"] = links
    doc.update(extra)
    return doc


def js(doc, **kw) -> Response:
    return Response(body=json.dumps(doc, allow_nan=True).encode(), **kw)


def item(ctx: Ctx, k: int = 0, cog: str = "missing", when: str | None = None, polygon=None, **over) -> dict:
    """An Earth Search like sentinel-2-l2a item over the chunk on the job's day; its COGs are
    served by this server according to `cog` (default: 404)."""
    dt = when if when is not None else f"{ctx.day.isoformat()}T10:30:{k % 60:02d}Z"
    host = "http://127.0.0.1:1" if cog == "refused" else ctx.base     # port 1: connection refused
    cog_base = f"{host}/cog/{cog}/{ctx.idx}/{k}"
    it = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"S2B_32TQR_{ctx.day.strftime('%Y%m%d')}_{ctx.idx}_{k}_L2A",
        "collection": "sentinel-2-l2a",
        "geometry": {"type": "Polygon", "coordinates": polygon or SCENE_POLYGON},
        "bbox": [12.1, 45.4, 12.3, 45.6],
        "properties": {
            "datetime": dt,
            "created": "2023-01-02T00:00:00.000Z",
            "updated": "2023-01-02T00:00:00.000Z",
            "eo:cloud_cover": 12.5,
            "proj:epsg": 32632,
            "s2:processing_baseline": "05.09",
            "grid:code": f"MGRS-32TQR{k}",
            "earthsearch:boa_offset_applied": True,
        },
        "assets": {
            "red": {
                "href": f"{cog_base}/red.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data", "reflectance"],
                "proj:shape": [64, 64],
                "proj:transform": [10, 0, UTM_ORIGIN[0], 0, -10, UTM_ORIGIN[1]],
                "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}],
            },
            "scl": {
                "href": f"{cog_base}/scl.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "proj:shape": [64, 64],
                "proj:transform": [10, 0, UTM_ORIGIN[0], 0, -10, UTM_ORIGIN[1]],
                "raster:bands": [{"nodata": 0, "data_type": "uint8"}],
            },
        },
        "links": [{"rel": "self", "href": f"{ctx.base}/collections/sentinel-2-l2a/items/x"}],
    }
    for dotted, value in over.items():
        set_path(it, tuple(dotted.split("__")), value)
    return it


DELETE = object()


def set_path(doc, path, value):
    d = doc
    for p in path[:-1]:
        if isinstance(d, list):
            p = int(p)
        d = d[p]
    last = int(path[-1]) if isinstance(d, list) else path[-1]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value


def one(fn, **kw) -> Callable[[Ctx], Response]:
    """A response holding the items `fn(ctx)` returns."""
    return lambda ctx: js(fc(fn(ctx)), **kw)


# ---------------------------------------------------------------- the variants

def item_variants(rng: random.Random, count: int) -> list[Variant]:
    """Items with one field replaced by a value of a wrong type or size (sampled product)."""
    paths = [
        ("type",), ("id",), ("collection",), ("geometry",), ("geometry", "type"), ("geometry", "coordinates"),
        ("bbox",), ("properties",), ("properties", "datetime"), ("properties", "eo:cloud_cover"),
        ("properties", "proj:epsg"), ("properties", "proj:code"), ("properties", "s2:processing_baseline"),
        ("properties", "grid:code"), ("properties", "mgrs:utm_zone"), ("properties", "created"),
        ("properties", "updated"), ("properties", "earthsearch:boa_offset_applied"), ("assets",),
        ("assets", "scl"), ("assets", "scl", "href"), ("assets", "scl", "roles"), ("assets", "scl", "proj:shape"),
        ("assets", "scl", "proj:transform"), ("assets", "scl", "proj:epsg"), ("assets", "scl", "proj:code"),
        ("assets", "red", "raster:bands"), ("assets", "red", "raster:bands", "0"),
        ("assets", "red", "raster:bands", "0", "nodata"), ("assets", "red", "raster:bands", "0", "scale"),
        ("assets", "red", "raster:bands", "0", "offset"), ("assets", "red", "href"), ("assets", "red", "type"),
        ("links",), ("stac_extensions",),
    ]
    values = [DELETE, None, "", "x", 0, -1, 1.5, 1e308, -1e308, 10 ** 30, True, False, [], [1, "a"], {},
              {"a": {"b": [1]}}, "nan", "-inf", "\u202e" * 3 + "🙂" * 300, "y" * 100_000, [[[[[[[]]]]]]],
              [0, 0, 0, 0], [1e308, -1e308, 1e308, -1e308, 0, 1]]
    combos = [(p, v) for p in paths for v in range(len(values))]
    rng.shuffle(combos)
    out = []
    for n, (p, vi) in enumerate(combos[:count]):
        value = values[vi]
        dotted = "__".join(p)

        def respond(ctx, dotted=dotted, value=value):
            it = item(ctx)
            try:
                set_path(it, tuple(dotted.split("__")), value if value is DELETE else deepcopy(value))
            except (KeyError, IndexError, TypeError):
                pass                        # a parent was already replaced: the item stays as is
            return js(fc([it]))

        label = "delete" if value is DELETE else repr(value)[:24]
        out.append(Variant(f"item-{n:03d}-{'.'.join(p)}={label}", "item-field", respond, want_status="done"))
    return out


def special_item_variants() -> list[Variant]:
    V = []

    def add(name, fn, status="done", text=None, skip_id=None, kind="item-special"):
        V.append(Variant(name, kind, fn, want_status=status, want_text=text, want_skip_id=skip_id))

    def iid(ctx, k=0):
        return item(ctx, k)["id"]

    # hrefs a remote catalog may not give, or that go nowhere
    for n, href in enumerate(["file:///etc/passwd", "/etc/passwd", "red.tif", "../../../etc/passwd", "ftp://h/x.tif",
                              "gs://bucket/x.tif", "http://", "http:///x.tif", "javascript:alert(1)",
                              "data:image/tiff;base64,SUkqAA==", "/vsicurl/http://127.0.0.1:1/x.tif", "/vsimem/x.tif",
                              "", "   ", "FILE:///etc/passwd", "file://localhost/etc/passwd", "\\\\server\\share\\x.tif",
                              "C:\\x.tif", "~/x.tif", "vsis3/bucket/x", "//127.0.0.1/x.tif", "mailto:x@y"]):
        add(f"href-scl-{n:02d}-{href[:20]}", one(lambda ctx, h=href: [item(ctx, **{"assets__scl__href": h})]),
            text="not allowed", skip_id="ID")
    add("href-red-file", one(lambda ctx: [item(ctx, **{"assets__red__href": "file:///etc/shadow"})]),
        text="not allowed", skip_id="ID")
    add("href-number", one(lambda ctx: [item(ctx, **{"assets__scl__href": 12})]), text="href is not a string", skip_id="ID")
    add("href-missing", one(lambda ctx: [item(ctx, **{"assets__scl__href": DELETE})]),
        text="missing required field assets.scl.href", skip_id="ID")
    add("href-with-credentials", one(lambda ctx: [item(ctx, **{"assets__scl__href":
                                                               ctx.base.replace("//", "//user:secret@") + "/cog/missing/x/scl.tif"})]))
    add("href-space-padded", one(lambda ctx: [item(ctx, **{"assets__scl__href": "  " + ctx.base + "/cog/missing/1/scl.tif  "})]))
    add("href-uppercase-scheme", one(lambda ctx: [item(ctx, **{"assets__scl__href": ctx.base.replace("http", "HTTP") + "/cog/missing/2/scl.tif"})]))
    add("href-query-fragment", one(lambda ctx: [item(ctx, **{"assets__scl__href": ctx.base + "/cog/missing/3/scl.tif?x=1#frag"})]))
    add("href-percent", one(lambda ctx: [item(ctx, **{"assets__scl__href": ctx.base + "/cog/missing/%2e%2e/%00/scl.tif"})]))
    add("href-unicode", one(lambda ctx: [item(ctx, **{"assets__scl__href": ctx.base + "/cog/missing/ünï/🙂.tif"})]))
    add("href-very-long", one(lambda ctx: [item(ctx, **{"assets__scl__href": ctx.base + "/cog/missing/" + "a" * 20000 + ".tif"})]))

    # datetimes
    bad = "properties.datetime is not RFC 3339"
    for n, (dt, text) in enumerate([
            ("2023-01-01", bad), ("2023-01-01T10:30:00", bad), ("DAYT10:30:00+25:00", bad), ("DAYT10:30:00+05", bad),
            ("2023-13-01T10:30:00Z", bad), ("2023-02-30T10:30:00Z", bad), ("T", bad), ("", bad), ("10:30", bad),
            ("DAYT24:00:00Z", bad), ("DAYT10:60:00Z", bad), ("DAYt10:30:00z", None), ("DAY 10:30:00Z", None),
            ("+00DAYT10:30:00Z", bad), ("DAYT10:30:00.Z", bad), ("DAYT10:30:00,5Z", bad), ("٢٠٢٣-٠١-٠١T10:30:00Z", bad),
            ("DAYT10:30:00Z ", bad), (" DAYT10:30:00Z", bad), ("DAYT10:30:00\u0000Z", bad), ("99999-01-01T00:00:00Z", bad),
            ("0000-01-01T00:00:00Z", "outside"), ("DAYT10:30:00." + "9" * 400 + "Z", None), ("now", bad),
            ("DAYT10:30:00-00:00x", bad), ("DAYT10:30:00+23:59", "outside"), ("9999-12-31T23:59:59Z", "outside")]):
        def fn(ctx, dt=dt):
            return [item(ctx, when=dt.replace("DAY", ctx.day.isoformat()))]
        add(f"datetime-{n:02d}-{dt[:24]}", one(fn), text=text, skip_id="ID")
    add("datetime-null-with-range", one(lambda ctx: [item(ctx, **{"properties__datetime": None,
                                                                  "properties__start_datetime": f"{ctx.day}T00:00:00Z",
                                                                  "properties__end_datetime": f"{ctx.day}T23:59:59Z"})]),
        text="missing required field properties.datetime", skip_id="ID")
    add("datetime-missing", one(lambda ctx: [item(ctx, **{"properties__datetime": DELETE})]),
        text="missing required field properties.datetime", skip_id="ID")
    add("datetime-number", one(lambda ctx: [item(ctx, **{"properties__datetime": 1672569000})]),
        text="properties.datetime is not a string", skip_id="ID")
    add("datetime-previous-day", one(lambda ctx: [item(ctx, when=f"{ctx.day - timedelta(days=1)}T10:30:00Z")]),
        text="outside", skip_id="ID")
    add("datetime-bin-end", one(lambda ctx: [item(ctx, when=f"{ctx.day + timedelta(days=1)}T00:00:00Z")]),
        text="outside", skip_id="ID")
    add("datetime-leap-second", one(lambda ctx: [item(ctx, when=f"{ctx.day}T23:59:60Z")]))
    add("datetime-offset", one(lambda ctx: [item(ctx, when=f"{ctx.day}T12:30:00+02:00")]))
    add("datetime-long-fraction", one(lambda ctx: [item(ctx, when=f"{ctx.day}T10:30:00.123456789012345678901234567890Z")]))
    add("created-bad", one(lambda ctx: [item(ctx, **{"properties__created": "yesterday"})]),
        text="properties.created is not RFC 3339", skip_id="ID")

    # ids
    add("id-missing", one(lambda ctx: [item(ctx, **{"id": DELETE})]), text="missing required field id", skip_id="<page 1>")
    add("id-empty", one(lambda ctx: [item(ctx, **{"id": ""})]), text="missing required field id")
    add("id-number", one(lambda ctx: [item(ctx, **{"id": 7})]), text="id is not a string", skip_id="<page 1>")
    add("id-huge", one(lambda ctx: [item(ctx, **{"id": "I" * 200_000})]))
    add("id-control-chars", one(lambda ctx: [item(ctx, **{"id": "a\"b\\c\n\t\u0000\u001f\u2028🙂"})]))
    add("id-slashes", one(lambda ctx: [item(ctx, **{"id": "../../../../etc/passwd"})]))
    add("id-duplicate", one(lambda ctx: [item(ctx, 0), item(ctx, 0)]), text="returned again", skip_id="ID")
    add("id-duplicate-200", one(lambda ctx: [item(ctx, 0)] * 200), text="returned again", skip_id="ID")
    add("reprocessed-duplicate", one(lambda ctx: [
        item(ctx, 0, **{"properties__s2:processing_baseline": "05.09", "properties__grid:code": "MGRS-32TQR"}),
        item(ctx, 1, when=f"{ctx.day}T10:30:00Z", **{"properties__s2:processing_baseline": "05.10",
                                                      "properties__grid:code": "MGRS-32TQR"})]),
        text="reprocessed duplicate", skip_id="ID")

    # geometry and footprint
    geoms = [({"type": "Point", "coordinates": [12.2, 45.5]}, "type Point is not Polygon"),
             ({"type": "LineString", "coordinates": [[12, 45], [13, 46]]}, "is not Polygon or MultiPolygon"),
             ({"type": "Polygon", "coordinates": [[[12, 45], [13, 46]]]}, "fewer than 3 positions"),
             ({"type": "MultiPolygon", "coordinates": []}, "MultiPolygon is empty"),
             ({"type": "Polygon", "coordinates": [[["12", "45"], [13, 45], [13, 46], [12, 45]]]}, "not [lon, lat]"),
             ({"type": "Polygon", "coordinates": [[[1000, 45], [13, 45], [13, 46], [1000, 45]]]}, "not [lon, lat]"),
             ({"type": "Polygon", "coordinates": [[[12, 91], [13, 45], [13, 46], [12, 91]]]}, "not [lon, lat]"),
             ({"type": "Polygon", "coordinates": []}, "polygon has no rings"), ({"type": "Polygon"}, "no coordinates"),
             ({"coordinates": SCENE_POLYGON}, "geometry has no type"),
             ({"type": "GeometryCollection", "geometries": []}, "geometry has no coordinates"),
             ("POLYGON((12 45, 13 45, 13 46, 12 45))", "geometry has no type"),
             ({"type": "Polygon", "coordinates": [[[12.1, 45.4, 0, 0, 0], [12.3, 45.4], [12.3, 45.6], [12.1, 45.4]]]}, None),
             ({"type": "Polygon", "coordinates": [[[12.1], [12.3, 45.4], [12.3, 45.6], [12.1, 45.4]]]}, "not [lon, lat]"),
             ({"type": "polygon", "coordinates": SCENE_POLYGON}, "is not Polygon or MultiPolygon"),
             ({"type": "Polygon", "coordinates": [[[[12.1, 45.4]]]]}, "not [lon, lat]"),
             ({"type": "MultiPolygon", "coordinates": [SCENE_POLYGON, "x"]}, "MultiPolygon part is not an array"),
             ({"type": "Polygon", "coordinates": ["ring"]}, "ring is not an array"),
             (None, "missing required field geometry"), ([], "geometry has no type")]
    for n, (g, text) in enumerate(geoms):
        add(f"geometry-{n:02d}", one(lambda ctx, g=g: [item(ctx, geometry=g)]), text=text, skip_id="ID")
    add("geometry-far-away", one(lambda ctx: [item(ctx, polygon=FAR_POLYGON)]), text="footprint misses", skip_id="ID")
    add("geometry-hole-over-chunk", one(lambda ctx: [item(ctx, polygon=SCENE_POLYGON + [[[12.15, 45.45], [12.25, 45.45],
                                                                                        [12.25, 45.55], [12.15, 45.55], [12.15, 45.45]]])]),
        text="footprint misses", skip_id="ID")
    add("geometry-antimeridian", one(lambda ctx: [item(ctx, geometry={"type": "MultiPolygon", "coordinates": [
        [[[179, -1], [180, -1], [180, 1], [179, 1], [179, -1]]], [[[-180, -1], [-179, -1], [-179, 1], [-180, 1], [-180, -1]]]]})]),
        text="footprint misses", skip_id="ID")
    add("geometry-100k-vertices", one(lambda ctx: [item(ctx, polygon=[[[12.1 + 0.2 * i / 100_000, 45.4 + 0.2 * ((i * 7919) % 100_000) / 100_000]
                                                                        for i in range(100_000)] + [[12.1, 45.4]]])]))
    add("geometry-degenerate", one(lambda ctx: [item(ctx, polygon=[[[12.2, 45.5]] * 4])]))
    add("geometry-self-crossing", one(lambda ctx: [item(ctx, polygon=[[[12.1, 45.4], [12.3, 45.6], [12.3, 45.4], [12.1, 45.6], [12.1, 45.4]]])]))
    add("bbox-wrong", one(lambda ctx: [item(ctx, bbox=[1, 2, 3])]), text="bbox is not 4 or 6 numbers", skip_id="ID")
    add("bbox-contradicts-geometry", one(lambda ctx: [item(ctx, bbox=[100, 10, 101, 11])]))

    # projection, raster bands and other typed fields
    for n, (path, value, text) in enumerate([
        ("properties__proj:epsg", "32632", "proj:epsg is not a positive integer"),
        ("properties__proj:epsg", 0, "proj:epsg is not a positive integer"),
        ("properties__proj:epsg", 1.5, "proj:epsg is not a positive integer"),
        ("properties__proj:epsg", 2 ** 53, None),
        ("properties__proj:epsg", 99999, None),
        ("assets__scl__proj:epsg", -32632, "proj:epsg is not a positive integer"),
        ("assets__scl__proj:code", "EPSG:abc", None),
        ("assets__scl__proj:code", 32632, "proj:code is not a string"),
        ("assets__scl__proj:transform", [10, 0, 1, 0, -10], "proj:transform is not 6 or 9 numbers"),
        ("assets__scl__proj:transform", [10, 0, 1, 0, -10, 2, 1, 1, 1], "last row is not [0, 0, 1]"),
        ("assets__scl__proj:transform", ["10", 0, 1, 0, -10, 2], "proj:transform"),
        ("assets__scl__proj:shape", [0, 64], "proj:shape is not [rows, columns]"),
        ("assets__scl__proj:shape", [64], "proj:shape"),
        ("assets__scl__proj:shape", [1e300, 64], "proj:shape"),
        ("assets__red__raster:bands", {"nodata": 0}, "raster:bands is not a list"),
        ("assets__red__raster:bands", [1], "raster:bands[0] is not an object"),
        ("assets__red__raster:bands__0__nodata", "abc", "nodata is the string"),
        ("assets__red__raster:bands__0__nodata", "nan", None),
        ("assets__red__raster:bands__0__nodata", [], "nodata is not a number"),
        ("assets__red__raster:bands__0__scale", 0, "scale is 0 with a non-zero offset"),
        ("assets__red__raster:bands__0__offset", 1e300, "absurd DN shift"),
        ("properties__eo:cloud_cover", 100.5, "eo:cloud_cover is 100.5"),
        ("properties__eo:cloud_cover", -1, "eo:cloud_cover"),
        ("properties__eo:cloud_cover", "10", "eo:cloud_cover is not a number"),
        ("properties__mgrs:utm_zone", 61, "mgrs:utm_zone"),
        ("properties__mgrs:utm_zone", "32", "mgrs:utm_zone"),
        ("properties__earthsearch:boa_offset_applied", "yes", "boa_offset_applied is not true or false"),
        ("properties__s2:processing_baseline", 5.1, "processing_baseline is not a string"),
        ("collection", "landsat-c2-l2", "collection landsat-c2-l2 is not sentinel-2-l2a"),
        ("type", "FeatureCollection", "type is FeatureCollection"),
        ("assets", [], "assets is not an object"),
        ("assets", {}, "no 'scl' (mask) asset"),
        ("assets__scl", "x", "assets.scl is not an object"),
        ("properties", [], "properties is not an object"),
    ]):
        def fn(ctx, path=path, value=value):
            it = item(ctx)
            set_path(it, tuple(path.split("__")), value if value is DELETE else deepcopy(value))
            if path == "assets__red__raster:bands__0__scale" or path == "assets__red__raster:bands__0__offset":
                it["properties"]["earthsearch:boa_offset_applied"] = False
            if "mgrs:" in path:
                del it["properties"]["grid:code"]
            return [it]
        add(f"field-{n:02d}-{path.split('__')[-1]}={str(value)[:16]}", one(fn), text=text, skip_id="ID" if text else None)

    # features that are not items
    for n, f in enumerate([1, "x", None, [], True, {"type": "Feature"}, {}]):
        add(f"feature-not-item-{n}", one(lambda ctx, f=f: [f, item(ctx)]), text=None)
    # many items on one page, all in the footprint (each one's COG 404s)
    add("items-150-in-footprint", one(lambda ctx: [item(ctx, k) for k in range(150)]))
    add("items-64-same-solar-day", one(lambda ctx: [item(ctx, k, when=f"{ctx.day}T10:{k % 60:02d}:00Z") for k in range(64)]))
    return V


def page_variants() -> list[Variant]:
    V = []

    def add(name, fn, status=None, text=None, kind="page"):
        V.append(Variant(name, kind, fn, want_status=status, want_text=text))

    for n, body in enumerate([b"", b"{", b"}", b"null", b"[]", b"42", b'"x"', b"true", b"{'a': 1}", b"<html><body>hi</body></html>",
                              b"\x00\x01\x02", b'{"features": [}', b'{"features": [1,]}', b'{"features": []',
                              b'{"features": [NaN]}', b'{"features": [], "x": Infinity}', b'{"features": [], "x": 1e400}',
                              b'{"features": [], "x": -1e400}', b'{"features": [{"id": 1e999999}]}',
                              b'{"features": [], "x": "\\ud800"}', b'{"features": [], "x": "\xff\xfe"}',
                              b'{"features": [], "x": "\\u00"}', b'{"features": [] } trailing', b'{"features": []}{"features": []}',
                              b'\xef\xbb\xbf{"features": []}', '{"features": []}'.encode("utf-16"), b'{"features":' + b"[" * 100_000,
                              b'{"features": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", b'{"features": [' + b"[" * 513 + b"]" * 513 + b"]}",
                              b'{"features": [' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}", b'{"features": [], "features": 5}',
                              b'{"features": [], "features": []}', b'{"type": "FeatureCollection", "features": [] }' + b" " * 1_000_000]):
        add(f"json-{n:02d}", lambda ctx, body=body: Response(body=body), text=None)
    # truncated valid pages
    for n, frac in enumerate([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.999]):
        def fn(ctx, frac=frac):
            text = json.dumps(fc([item(ctx, 0), item(ctx, 1)]))
            return Response(body=text[: int(len(text) * frac)].encode())
        add(f"truncated-{n}-{frac}", fn, status="failed", text="not JSON")
    # wrong top-level shapes
    for n, doc in enumerate([{"type": "FeatureCollection"}, {"features": None}, {"features": {}}, {"features": "x"},
                             {"features": 1}, {"features": True}, {"features": {"0": {}}}, {"type": "Feature", "id": "x"},
                             {"FEATURES": []}, {"items": []}]):
        add(f"shape-{n:02d}", lambda ctx, doc=doc: js(doc), status="failed", text="no features list")
    add("shape-list-of-items", lambda ctx: js([item(ctx)]), status="failed", text="no features list")
    add("shape-single-feature", lambda ctx: js(item(ctx)), status="failed", text="no features list")
    add("empty-features", lambda ctx: js(fc([])), status="done")
    add("empty-features-with-next", lambda ctx: js(fc([], links=[{"rel": "next", "href": f"{ctx.base}/search?v={ctx.idx}&page=1"}])),
        status="done")
    add("context-nonsense", lambda ctx: js(fc([item(ctx)], context={"matched": -1, "returned": "x", "limit": None},
                                              numberMatched=1e308, numberReturned=-5)), status="done")
    # huge pages
    add("huge-page-3MB-far-items", lambda ctx: js(fc([item(ctx, k, polygon=FAR_POLYGON) for k in range(2500)])), status="done")
    add("huge-page-6MB-one-string", lambda ctx: js(fc([item(ctx, **{"properties__description": "d" * 6_000_000})])), status="done")
    add("huge-page-20k-tiny-features", lambda ctx: js(fc([{"type": "Feature"}] * 20_000)), status="done")
    add("huge-number-of-links", lambda ctx: js(fc([item(ctx)], links=[{"rel": "other", "href": "x"}] * 50_000)), status="done")
    return V


def paging_variants() -> list[Variant]:
    V = []

    def add(name, fn, status=None, text=None):
        V.append(Variant(name, "paging", fn, want_status=status, want_text=text))

    def nxt(ctx, href=None, **extra):
        link = {"rel": "next", "href": href if href is not None else f"{ctx.base}/search?v={ctx.idx}&page={ctx.page + 1}"}
        link.update(extra)
        return link

    def page(ctx, links, k=None):
        return js(fc([item(ctx, ctx.page if k is None else k)], links=links))

    add("loop-same-get", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search?v={ctx.idx}&page=1")], k=0),
        status="failed", text="loops")
    add("loop-same-post", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search", method="POST",
                                                     body={"token": f"{ctx.idx}:1"})], k=0), status="failed", text="loops")
    add("loop-post-no-body", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search", method="POST")], k=0),
        status="failed", text="loops")
    add("loop-alternating", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search?v={ctx.idx}&page={1 + ctx.page % 2}")]),
        status="failed", text="loops")
    add("loop-post-merge", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search", method="POST", merge=True,
                                                      body={"token": f"{ctx.idx}:1"})], k=0), status="failed", text="loops")
    add("chain-40-pages", lambda ctx: page(ctx, [nxt(ctx)] if ctx.page < 39 else []), status="done")
    add("chain-40-pages-post", lambda ctx: page(ctx, [nxt(ctx, f"{ctx.base}/search", method="POST",
                                                          body={"token": f"{ctx.idx}:{ctx.page + 1}"})] if ctx.page < 39 else []),
        status="done")
    add("chain-endless", lambda ctx: page(ctx, [nxt(ctx)], k=0), status="failed", text="page cap")
    add("chain-relative-href", lambda ctx: page(ctx, [nxt(ctx, f"?v={ctx.idx}&page={ctx.page + 1}")] if ctx.page < 3 else []),
        status="done")
    add("chain-same-items-again", lambda ctx: page(ctx, [nxt(ctx)] if ctx.page < 3 else [], k=0), status="done",
        text="returned again")
    for n, href in enumerate(["http://localhost:{port}/search?page=1", "http://127.0.0.1:1/search", "https://127.0.0.1:{port}/search",
                              "file:///etc/passwd", "//evil.example/search", "http://evil.example/search", "javascript:alert(1)",
                              "ftp://127.0.0.1:{port}/search", "http://127.0.0.2:{port}/search", "http://[::1]:{port}/search"]):
        add(f"next-foreign-{n}-{href[:24]}", lambda ctx, href=href: page(ctx, [nxt(ctx, href.format(port=ctx.base.rsplit(':', 1)[1]))]),
            status="failed", text="leaves the API host")
    for n, (link, text) in enumerate([({"rel": "next"}, "no href"), ({"rel": "next", "href": ""}, "no href"),
                                      ({"rel": "next", "href": 5}, "no href"), ({"rel": "next", "href": "http://[::1"}, "rejected"),
                                      ({"rel": "next", "href": "/search?x", "method": "DELETE"}, "is not GET or POST"),
                                      ({"rel": "next", "href": "/search?x", "method": "post", "body": "not an object"}, None),
                                      ({"rel": "next", "href": "/search?x", "method": 5}, None),
                                      ({"rel": "next", "href": "/search?x", "method": "POST", "body": None}, "loops"),
                                      ({"rel": "next", "href": "/search?x", "method": "POST", "merge": "yes", "body": {"a": 1}}, None),
                                      ({"rel": "NEXT", "href": "http://evil.example/"}, None),
                                      ({"rel": ["next"], "href": "http://evil.example/"}, None)]):
        add(f"next-link-{n:02d}", lambda ctx, link=link: page(ctx, [link], k=0), text=text,
            status="failed" if text else None)
    add("links-not-list", lambda ctx: js(fc([item(ctx)], links={"rel": "next", "href": "x"})), status="done")
    add("links-junk-entries", lambda ctx: js(fc([item(ctx)], links=[1, "x", None, [], {"rel": 5}])), status="done")
    add("next-page-500", lambda ctx: page(ctx, [nxt(ctx)]) if ctx.page == 0 else Response(500, b"boom", headers={"Retry-After": "0"}),
        status="failed", text="HTTP 500")
    add("next-page-404", lambda ctx: page(ctx, [nxt(ctx)]) if ctx.page == 0 else Response(404, b"gone"),
        status="failed", text="HTTP 404")
    add("next-page-not-json", lambda ctx: page(ctx, [nxt(ctx)]) if ctx.page == 0 else Response(body=b"<html>"),
        status="failed", text="not JSON")
    add("next-page-no-features", lambda ctx: page(ctx, [nxt(ctx)]) if ctx.page == 0 else js({"links": []}),
        status="failed", text="no features list")
    return V


def http_variants() -> list[Variant]:
    V = []

    def add(name, fn, status=None, text=None):
        V.append(Variant(name, "http", fn, want_status=status, want_text=text))

    def good(ctx, **kw):
        return js(fc([item(ctx)]), **kw)

    for code in [400, 401, 403, 410, 418, 422, 451, 499, 505, 599, 600, 999]:
        add(f"status-{code}", lambda ctx, code=code: Response(code, b'{"code": "nope"}'), status="failed")
    add("status-404-then-get-404", lambda ctx: Response(404, b"not found"), status="failed", text="HTTP 404")
    add("status-405-get-works", lambda ctx: Response(405, b"no POST") if ctx.method == "POST" else good(ctx), status="done")
    add("status-501-get-works", lambda ctx: Response(501, b"") if ctx.method == "POST" else good(ctx), status="done")
    add("status-404-get-invalid", lambda ctx: Response(404, b"") if ctx.method == "POST" else Response(body=b"{"),
        status="failed", text="not JSON")
    add("status-204", lambda ctx: Response(204, b"", content_type=None), status="failed")
    add("status-201-valid", lambda ctx: good(ctx, status=201), status="done")
    add("status-302-no-location", lambda ctx: Response(302, b"", content_type=None), status="failed")
    add("status-304", lambda ctx: Response(304, b"", content_type=None), status="failed")
    # persistent server errors: fast with Retry-After: 0, backoff without it
    add("500-retry-after-0", lambda ctx: Response(500, b"boom", headers={"Retry-After": "0"}), status="failed", text="HTTP 500")
    add("502-retry-after-0", lambda ctx: Response(502, b"", headers={"Retry-After": "0"}), status="failed", text="HTTP 502")
    add("503-retry-after-0", lambda ctx: Response(503, b"", headers={"Retry-After": "0"}), status="failed", text="HTTP 503")
    add("504-retry-after-0", lambda ctx: Response(504, b"", headers={"Retry-After": "0"}), status="failed", text="HTTP 504")
    add("429-retry-after-0", lambda ctx: Response(429, b"slow down", headers={"Retry-After": "0"}), status="failed", text="HTTP 429")
    add("429-retry-after-1", lambda ctx: Response(429, b"slow down", headers={"Retry-After": "1"}), status="failed", text="HTTP 429")
    add("503-retry-after-huge", lambda ctx: Response(503, b"", headers={"Retry-After": "99999"}), status="failed", text="HTTP 503")
    add("503-retry-after-1e308", lambda ctx: Response(503, b"", headers={"Retry-After": "1e308"}), status="failed", text="HTTP 503")
    add("503-retry-after-past-date", lambda ctx: Response(503, b"", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        status="failed", text="HTTP 503")
    add("503-retry-after-far-date", lambda ctx: Response(503, b"", headers={"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
        status="failed", text="HTTP 503")
    add("500-no-retry-after", lambda ctx: Response(500, b"boom"), status="failed", text="HTTP 500")
    add("503-no-retry-after", lambda ctx: Response(503, b""), status="failed", text="HTTP 503")
    add("429-no-retry-after", lambda ctx: Response(429, b""), status="failed", text="HTTP 429")
    # transient errors: the retries must get through
    for n, (code, ra, fails) in enumerate([(503, None, 2), (500, None, 1), (429, "1", 1), (502, "0", 5), (503, "soon", 2),
                                           (503, "-5", 1), (429, "inf", 1), (504, "0.2", 3), (503, "", 2),
                                           (500, "Wed, 21 Oct 2015 07:28:00 GMT", 2)]):
        def fn(ctx, code=code, ra=ra, fails=fails):
            if ctx.calls <= fails:
                return Response(code, b"later", headers={"Retry-After": ra} if ra is not None else {})
            return good(ctx)
        add(f"transient-{n}-{code}-ra={ra}-x{fails}", fn, status="done")
    add("transient-503-x6", lambda ctx: Response(503, b"", headers={"Retry-After": "0"}) if ctx.calls <= 6 else good(ctx),
        status="failed", text="HTTP 503")
    # slow responses
    for n, delay in enumerate([0.3, 1.0, 2.5]):
        add(f"slow-{delay}", lambda ctx, delay=delay: good(ctx, delay=delay), status="done")
    add("trickle-2s", lambda ctx: good(ctx, trickle=2.0), status="done")
    # bodies, content types, encodings
    add("empty-200", lambda ctx: Response(body=b""), status="failed", text="not JSON")
    for n, ctype in enumerate(["text/html", "image/png", None, "application/json; charset=utf-16", "application/xml",
                               "application/geo+json; charset=latin-1", "multipart/byteranges; boundary=x", "x" * 5000]):
        add(f"content-type-{n}", lambda ctx, ctype=ctype: good(ctx, content_type=ctype), status="done")
    add("gzip-valid", lambda ctx: Response(body=gzip.compress(json.dumps(fc([item(ctx)])).encode()),
                                           headers={"Content-Encoding": "gzip"}), status="done")
    add("gzip-lie", lambda ctx: good(ctx, headers={"Content-Encoding": "gzip"}), status="failed")
    add("deflate-garbage-transient", lambda ctx: Response(body=b"\x78\x9c garbage", headers={"Content-Encoding": "deflate"})
        if ctx.calls <= 1 else good(ctx), status="done")
    add("encoding-unknown-transient", lambda ctx: good(ctx, headers={"Content-Encoding": "x-weird"}) if ctx.calls <= 1
        else good(ctx))
    add("gzip-bomb", lambda ctx: Response(body=gzip.compress(b'{"features": [], "pad": "' + b"0" * 100_000_000 + b'"}'),
                                          headers={"Content-Encoding": "gzip"}), status="failed")
    add("content-length-short", lambda ctx: good(ctx, content_length=20), status="failed", text="not JSON")
    add("content-length-long-transient", lambda ctx: good(ctx, content_length=10_000_000) if ctx.calls <= 1 else good(ctx),
        status="done")
    add("content-length-negative-transient", lambda ctx: good(ctx, content_length=-1) if ctx.calls <= 1 else good(ctx),
        status="done")
    add("close-without-reply-transient", lambda ctx: Response(close_without_reply=True) if ctx.calls <= 1 else good(ctx),
        status="done")
    add("raw-garbage-reply", lambda ctx: Response(raw=b"garbage garbage\r\n\r\n"), status="failed")
    add("raw-http09", lambda ctx: Response(raw=json.dumps(fc([])).encode()))
    add("raw-bad-chunked-transient", lambda ctx: Response(
        raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n") if ctx.calls <= 1 else good(ctx),
        status="done")
    add("raw-huge-header-transient", lambda ctx: Response(
        raw=b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 200_000 + b"\r\nContent-Length: 2\r\n\r\n{}") if ctx.calls <= 1 else good(ctx),
        status="done")
    add("raw-status-garbage-transient", lambda ctx: Response(raw=b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\n{}")
        if ctx.calls <= 1 else good(ctx))             # curl 1 (permanent) or a retried error
    # redirects
    add("redirect-same-server", lambda ctx: Response(307, b"", headers={"Location": f"/search?v={ctx.idx}&page=0"})
        if ctx.page == 0 and "v" not in ctx.query else good(ctx), status="done")
    add("redirect-loop", lambda ctx: Response(302, b"", headers={"Location": f"/search?v={ctx.idx}&page=0&r={ctx.calls}"}),
        status="failed")
    add("redirect-to-file", lambda ctx: Response(302, b"", headers={"Location": "file:///etc/passwd"}), status="failed")
    add("redirect-to-other-host-name", lambda ctx: Response(307, b"", headers={"Location": ctx.base.replace("127.0.0.1", "localhost")
                                                                               + f"/search?v={ctx.idx}&page=0"})
        if "v" not in ctx.query else good(ctx))
    add("redirect-to-gopher", lambda ctx: Response(302, b"", headers={"Location": "gopher://127.0.0.1/"}), status="failed")
    return V


def cog_variants() -> list[Variant]:
    V = []

    def add(name, cog, status="done", text=None, used=None, **item_over):
        def fn(ctx):
            return js(fc([item(ctx, 0, cog=cog, **item_over)]))
        V.append(Variant(name, "cog", fn, want_status=status, want_text=text, want_skip_id=None if text is None else "ID"))
        V[-1].want_used = used

    add("cog-good", "good", used=1)
    add("cog-good-again", "good", used=1)
    add("cog-missing", "missing", text="unreadable")
    add("cog-crs-contradiction", "good", text="not the catalogue's EPSG:32633", **{"properties__proj:epsg": 32633})
    add("cog-unknown-epsg", "good", text="unreadable", **{"properties__proj:epsg": 999999})
    add("cog-epsg-4326-file", "wgs84", text="not the catalogue's EPSG:32632")
    add("cog-no-crs", "nocrs", text="unreadable")
    add("cog-rotated", "rotated", text="unreadable")
    add("cog-truncated", "truncated", text="unreadable")
    add("cog-header-only", "header", text="unreadable")
    add("cog-garbage", "garbage", text="unreadable")
    add("cog-html", "html", text="unreadable")
    add("cog-empty", "empty", text="unreadable")
    add("cog-huge-dimensions", "huge", text="unreadable")
    add("cog-tiny-pixels", "tinypixels")
    add("cog-giant-pixels", "giantpixels")
    add("cog-far-away", "faraway")
    add("cog-403", "403", text="unreadable")
    add("cog-416", "416", text="unreadable")
    add("cog-redirect-file", "redirect-file", text="unreadable")
    add("cog-no-range", "norange")
    add("cog-slow", "slow")
    if SLOW:
        # GDAL retries a 5xx itself (5 times, from 0.5 s doubling, ignoring Retry-After): ~26 s per
        # open, times the worker's own scene attempts.
        add("cog-500", "500", status="failed", text="500")
    else:
        add("cog-500", "500x2", used=1)             # two 500s, then the file: GDAL's retries get through
    add("cog-connection-refused", "refused", status="failed", text="connect")
    add("cog-mask-ok-red-missing", "redmissing", text="unreadable")
    add("cog-float-nan", "floatnan")
    # odd but parseable catalogue values next to a readable file
    for n, code in enumerate(["EPSG:-4326", "EPSG:9223372036854775807", "EPSG:99999999999999999999", "EPSG:+32632",
                              "epsg:32632", "EPSG:032632", "EPSG:32632.0", "IAU_2015:30100", "EPSG:4326"]):
        add(f"cog-good-proj-code-{n}-{code[:20]}", "good", **{"properties__proj:epsg": None, "properties__proj:code": code})
    add("cog-good-asset-epsg-2^31", "good", **{"assets__scl__proj:epsg": 2 ** 31})
    # A DN shift outside the uint16 range must skip the item, not fail the job (it would fail every retry).
    absurd = "absurd DN shift"
    for n, (offset, scale, text) in enumerate([(-0.1, 0.0001, None), (100.0, 0.0001, absurd), (-100.0, 0.0001, absurd),
                                               (0.09, 1e-10, absurd), (1e-300, 1e-300, None), (-0.1, -0.0001, None),
                                               (-0.1, 5e-324, absurd), (6.5535, 0.0001, None), (6.5536, 0.0001, absurd)]):
        add(f"cog-good-shift-{n}-{offset}/{scale}", "good", text=text, **{
            "properties__earthsearch:boa_offset_applied": False,
            "assets__red__raster:bands__0__offset": offset, "assets__red__raster:bands__0__scale": scale})
    return V


def all_variants() -> list[Variant]:
    rng = random.Random(SEED)
    fixed = special_item_variants() + page_variants() + paging_variants() + http_variants() + cog_variants()
    assert len(fixed) < DAYS, len(fixed)
    return fixed + item_variants(rng, DAYS - len(fixed))


# ---------------------------------------------------------------- COG files

def make_cogs(folder: Path) -> dict[str, bytes]:
    """Small GeoTIFFs for the /cog/<kind>/... hrefs, written with rasterio."""
    import rasterio
    from rasterio.transform import Affine

    def tif(name, dtype, value, crs="EPSG:32632", transform=None, width=64, height=64, sparse=False, block=16, **kw):
        path = folder / f"{name}.tif"
        profile = dict(driver="GTiff", width=width, height=height, count=1, dtype=dtype, tiled=True,
                       blockxsize=block, blockysize=block,
                       transform=transform or Affine(10, 0, UTM_ORIGIN[0], 0, -10, UTM_ORIGIN[1]), **kw)
        profile = {k: v for k, v in profile.items() if v is not None}
        if crs:
            profile["crs"] = crs
        if sparse:
            profile["SPARSE_OK"] = True
        with rasterio.open(path, "w", **profile) as dst:
            if not sparse:
                dst.write(np.full((1, height, width), value, dtype=dtype))
        return path.read_bytes()

    import warnings
    warnings.filterwarnings("ignore")
    files = {
        "good/scl": tif("good_scl", "uint8", 4),
        "good/red": tif("good_red", "uint16", 1234),
        "wgs84/scl": tif("wgs84_scl", "uint8", 4, crs="EPSG:4326", transform=Affine(1 / 3600, 0, 12.19, 0, -1 / 3600, 45.51)),
        "nocrs/scl": tif("nocrs_scl", "uint8", 4, crs=None),
        "rotated/scl": tif("rot_scl", "uint8", 4, transform=Affine(10, 2, UTM_ORIGIN[0], 2, -10, UTM_ORIGIN[1])),
        "huge/scl": tif("huge_scl", "uint8", 4, width=50_000, height=50_000, sparse=True, block=512),
        "tinypixels/scl": tif("tiny_scl", "uint8", 4, transform=Affine(1e-9, 0, 750160.0, 0, -1e-9, 5043730.0)),
        "giantpixels/scl": tif("giant_scl", "uint8", 4, transform=Affine(1e12, 0, -1e13, 0, -1e12, 1e13)),
        "faraway/scl": tif("far_scl", "uint8", 4, transform=Affine(10, 0, 100000.0, 0, -10, 1000000.0)),
        "floatnan/scl": tif("nan_scl", "float32", float("nan")),
    }
    files["truncated/scl"] = files["good/scl"][: len(files["good/scl"]) // 2]
    files["header/scl"] = files["good/scl"][:16]
    files["garbage/scl"] = bytes(random.Random(1).randrange(256) for _ in range(8192))
    files["html/scl"] = b"<html><body>Access denied</body></html>" * 10
    files["empty/scl"] = b""
    for kind in ["tinypixels", "giantpixels", "faraway", "norange", "slow", "redmissing", "floatnan"]:
        files.setdefault(f"{kind}/scl", files["good/scl"])
    for kind in ["wgs84", "nocrs", "rotated", "huge", "tinypixels", "giantpixels", "faraway", "norange", "slow", "floatnan"]:
        files[f"{kind}/red"] = files["good/red"]
    return files


# ---------------------------------------------------------------- the server

class StacServer:
    def __init__(self, variants: list[Variant], cogs: dict[str, bytes]):
        self.variants = variants
        self.cogs = cogs
        self.lock = threading.Lock()
        self.calls: dict[int, int] = {}
        self.cog_calls: dict[str, int] = {}
        self.requests = 0
        self.cog_requests = 0
        self.errors: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self, "GET")

            def do_POST(self):
                server.handle(self, "POST")

            def do_HEAD(self):
                server.handle(self, "HEAD")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler, method: str):
        try:
            with self.lock:
                self.requests += 1
            url = urlsplit(h.path)
            query = parse_qs(url.query)
            length = int(h.headers.get("Content-Length") or 0)
            raw = h.rfile.read(length) if length > 0 else b""
            if url.path.startswith("/cog/"):
                return self.serve_cog(h, method, url.path)
            if not url.path.startswith("/search"):
                return self.send(h, Response(404, b"no such path"), method)
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            idx, page = self.locate(query, body)
            if idx is None:
                return self.send(h, Response(400, b'{"code": "bad datetime"}'), method)
            with self.lock:
                self.calls[idx] = self.calls.get(idx, 0) + 1
                calls = self.calls[idx]
            ctx = Ctx(idx=idx, day=START + timedelta(days=idx), page=page, method=method, path=url.path, query=query,
                      body=body, base=self.base, calls=calls)
            self.send(h, self.variants[idx].respond(ctx), method)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:                       # a bug in a variant: record it, answer 599
            with self.lock:
                self.errors.append(f"{h.path[:100]}: {type(e).__name__}: {e}")
            try:
                self.send(h, Response(599, b"test server error"), method)
            except OSError:
                pass

    def locate(self, query, body):
        if "v" in query:
            return int(query["v"][0]), int(query.get("page", ["0"])[0])
        if isinstance(body, dict) and isinstance(body.get("token"), str):
            v, p = body["token"].split(":")
            return int(v), int(p)
        text = body.get("datetime") if isinstance(body, dict) else (query.get("datetime") or [None])[0]
        if not isinstance(text, str):
            return None, 0
        try:
            start = datetime.fromisoformat(text.split("/")[0].replace("Z", "+00:00")).astimezone(timezone.utc).date()
        except ValueError:
            return None, 0
        idx = (start - START).days
        return (idx, 0) if 0 <= idx < len(self.variants) else (None, 0)

    def serve_cog(self, h, method, path):
        with self.lock:
            self.cog_requests += 1
        parts = path.strip("/").split("/")          # cog/<kind>/<idx>/<k>/<asset>.tif
        kind = parts[1] if len(parts) > 1 else ""
        asset = parts[-1].rsplit(".", 1)[0]
        if kind == "500x2":
            with self.lock:
                self.cog_calls[path] = self.cog_calls.get(path, 0) + 1
                if self.cog_calls[path] <= 2:
                    return self.send(h, Response(500, b"boom"), method)
            kind = "good"
        data = self.cogs.get(f"{kind}/{asset}")
        if kind == "500":
            return self.send(h, Response(500, b"boom"), method)
        if kind == "403":
            return self.send(h, Response(403, b"denied"), method)
        if kind == "416":
            return self.send(h, Response(416, b""), method)
        if kind == "redirect-file":
            return self.send(h, Response(302, b"", headers={"Location": "file:///etc/passwd"}), method)
        if data is None:
            return self.send(h, Response(404, b"not found", content_type="text/plain"), method)
        delay = 1.0 if kind == "slow" else 0.0
        rng = h.headers.get("Range")
        if rng and kind != "norange" and rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            start = int(a or 0)
            end = min(int(b) if b else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self.send(h, Response(416, b"", headers={"Content-Range": f"bytes */{len(data)}"}), method)
            return self.send(h, Response(206, data[start:end + 1], content_type="image/tiff", delay=delay,
                                         headers={"Content-Range": f"bytes {start}-{end}/{len(data)}",
                                                  "Accept-Ranges": "bytes"}), method)
        return self.send(h, Response(200, data, content_type="image/tiff", delay=delay,
                                     headers={"Accept-Ranges": "bytes"} if kind != "norange" else {}), method,
                         head_length=len(data))

    def send(self, h, r: Response, method, head_length=None):
        if r.delay:
            time.sleep(r.delay)
        if r.close_without_reply:
            h.close_connection = True
            return
        if r.raw is not None:
            h.wfile.write(r.raw)
            h.close_connection = True
            return
        h.send_response_only(r.status) if r.status < 200 else h.send_response(r.status)
        if r.content_type:
            h.send_header("Content-Type", r.content_type)
        for k, v in r.headers.items():
            h.send_header(k, v)
        length = r.content_length if r.content_length is not None else len(r.body)
        h.send_header("Content-Length", str(length))
        h.send_header("Connection", "close")
        h.end_headers()
        if method == "HEAD":
            return
        if r.trickle and r.body:
            pieces = 10
            step = max(1, len(r.body) // pieces)
            for i in range(0, len(r.body), step):
                h.wfile.write(r.body[i:i + step])
                h.wfile.flush()
                time.sleep(r.trickle / pieces)
        else:
            h.wfile.write(r.body)
        h.close_connection = True


# ---------------------------------------------------------------- the test

def write_spec(folder: Path, base: str) -> Path:
    spec = folder / "stacfuzz.yaml"
    spec.write_text(f"""name: stacfuzz
stac: {{api: "{base}", collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(CHUNK_BBOX)}, chunk: 16}}
time: {{start: {START.isoformat()}, end: {END.isoformat()}, step: 1 day}}
bands: [red]
mask: {{asset: scl, invalid: [0, 1, 3, 8, 9, 10]}}
land_mask: none
store: stacfuzz.zarr
""")
    return spec


def test_fuzz_stac(tmp_path):
    cube = cube_bin()
    variants = all_variants()
    assert len(variants) == DAYS >= 500
    cogs = make_cogs(tmp_path)

    with StacServer(variants, cogs) as server:
        spec = write_spec(tmp_path, server.base)
        plan = subprocess.run([cube, "plan", "--json", str(spec)], capture_output=True, text=True, timeout=60)
        assert plan.returncode == 0, plan.stderr
        summary_plan = json.loads(plan.stdout)
        assert summary_plan["jobs_total"] == DAYS and summary_plan["chunks_total"] == 1, summary_plan
        # The worker's own search is fuzzed here (a store without a scene index); the index
        # build, which searches the same server, must refuse a broken catalog in one clear line.
        init = subprocess.run([cube, "init", "--no-index", str(spec)], capture_output=True, text=True, timeout=120)
        assert init.returncode == 0, init.stderr
        store = tmp_path / "stacfuzz.zarr"
        indexing = subprocess.run([cube, "index", str(store)], capture_output=True, text=True, timeout=300)
        assert indexing.returncode == 1, (indexing.returncode, indexing.stderr[-2000:])
        assert indexing.stderr.splitlines()[-1].startswith("cube: error: STAC"), indexing.stderr[-2000:]
        # An index that did not complete records nothing: no snapshot, no job done.
        assert not (store / "_cube" / "index" / "snapshot.json").exists()
        assert not list((store / "_cube").glob("done/*/*.json"))

        started = time.monotonic()
        env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        proc = subprocess.Popen([cube, "worker", str(store), "--attempts", "1"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        # Read the job lines as they come, with arrival times (for the slowest jobs).
        lines: list[tuple[float, bytes]] = []
        err_chunks: list[bytes] = []
        readers = [threading.Thread(target=lambda: [lines.append((time.monotonic(), ln)) for ln in iter(proc.stdout.readline, b"")],
                                    daemon=True),
                   threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)]
        for t in readers:
            t.start()
        hung = False
        try:
            proc.wait(timeout=WORKER_TIMEOUT)
        except subprocess.TimeoutExpired:
            hung = True
            proc.kill()
            proc.wait()
        for t in readers:
            t.join(timeout=30)
        elapsed = time.monotonic() - started
        out, err = b"".join(ln for _, ln in lines), b"".join(err_chunks)
        server_errors = list(server.errors)
        requests, cog_requests = server.requests, server.cog_requests

    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    rc = proc.returncode
    crashed = rc < 0 or rc in SIGNAL_EXITS or "Fatal error" in stderr or "Program crashed" in stderr

    # Parse the job lines.
    records: dict[str, list[dict]] = {}
    unparsable = []
    job_seconds: dict[str, float] = {}
    previous = started
    for arrived, raw_line in lines:             # split on "\n" only: ids may hold U+2028 and friends
        line = raw_line.decode("utf-8", "replace")
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            unparsable.append(line[:200])
            continue
        records.setdefault(str(rec.get("job")), []).append(rec)
        job_seconds[str(rec.get("job"))] = round(arrived - previous, 2)
        previous = arrived

    problems: list[str] = []
    checked = 0
    per_variant = []
    for idx, v in enumerate(variants):
        day = START + timedelta(days=idx)
        job = f"{day.isoformat()}/0/0"
        recs = records.get(job, [])
        finals = [r for r in recs if r.get("status") in ("done", "failed")]
        if len(finals) != 1:
            problems.append(f"{v.name} ({job}): {len(finals)} final lines: {[r.get('status') for r in recs]}")
            per_variant.append({"variant": v.name, "job": job, "status": None})
            continue
        rec = finals[0]
        status = rec["status"]
        entry = {"variant": v.name, "kind": v.kind, "job": job, "status": status, "seconds": job_seconds.get(job)}
        if status == "failed":
            entry["error"] = str(rec.get("error"))[:300]
            if not isinstance(rec.get("error"), str) or not rec["error"].strip():
                problems.append(f"{v.name}: failed without an error: {rec}")
        else:
            skipped = rec.get("scenes_skipped")
            if not isinstance(skipped, list) or not all(isinstance(s, dict) and isinstance(s.get("reason"), str)
                                                        and s["reason"].strip() and isinstance(s.get("id"), str)
                                                        for s in skipped):
                problems.append(f"{v.name}: scenes_skipped malformed: {str(skipped)[:200]}")
                skipped = []
            entry["skipped"] = [f"{s['id'][:60]}: {s['reason'][:160]}" for s in skipped[:3]]
            entry["scenes_used"] = rec.get("scenes_used")
            if v.kind == "item-field" and rec.get("scenes_used", 0) == 0 and not skipped:
                problems.append(f"{v.name}: the item is neither used nor listed as skipped: {json.dumps(rec)[:300]}")
        per_variant.append(entry)

        if v.want_status and status != v.want_status:
            problems.append(f"{v.name}: status {status}, want {v.want_status}: {json.dumps(rec)[:400]}")
            continue
        if v.want_text:
            checked += 1
            if status == "failed":
                if v.want_text.lower() not in str(rec.get("error", "")).lower():
                    problems.append(f"{v.name}: error lacks {v.want_text!r}: {str(rec.get('error'))[:300]}")
            else:
                want_id = v.want_skip_id
                if want_id == "ID":
                    want_id = f"S2B_32TQR_{day.strftime('%Y%m%d')}_{idx}_0_L2A"
                reasons = [s["reason"] for s in rec.get("scenes_skipped", []) if want_id is None or s["id"] == want_id]
                if not any(v.want_text.lower() in r.lower() for r in reasons):
                    problems.append(f"{v.name}: no skipped scene {want_id} with {v.want_text!r}: "
                                    f"{json.dumps(rec.get('scenes_skipped'))[:400]}")
        want_used = getattr(v, "want_used", None)
        if want_used is not None and status == "done" and rec.get("scenes_used") != want_used:
            problems.append(f"{v.name}: scenes_used {rec.get('scenes_used')}, want {want_used}: {json.dumps(rec)[:300]}")

    extra_jobs = set(records) - {f"{(START + timedelta(days=i)).isoformat()}/0/0" for i in range(DAYS)}
    done = sum(1 for e in per_variant if e["status"] == "done")
    failed = sum(1 for e in per_variant if e["status"] == "failed")
    kinds = sorted({v.kind for v in variants})
    summary = {
        "seed": SEED,
        "variants_tried": len(variants),
        "jobs": DAYS,
        "jobs_done": done,
        "jobs_failed": failed,
        "jobs_without_final_line": DAYS - done - failed,
        "crashes": int(crashed),
        "hangs": int(hung),
        "exit_code": rc,
        "seconds": round(elapsed, 1),
        "server_requests": requests,
        "cog_requests": cog_requests,
        "targeted_checks": checked,
        "slowest_jobs": sorted(([e.get("seconds") or 0, e["variant"]] for e in per_variant), reverse=True)[:15],
        "by_kind": {k: {"done": sum(1 for e, v in zip(per_variant, variants) if v.kind == k and e["status"] == "done"),
                        "failed": sum(1 for e, v in zip(per_variant, variants) if v.kind == k and e["status"] == "failed")}
                    for k in kinds},
        "problems": problems,
        "unparsable_lines": unparsable[:20],
        "extra_jobs": sorted(extra_jobs)[:20],
        "server_errors": server_errors[:20],
        "stderr_tail": stderr[-3000:],
        "variants": per_variant,
    }
    print(f"\nSTAC fuzz: {len(variants)} variants, {done} jobs done, {failed} failed, "
          f"crashes {summary['crashes']}, hangs {summary['hangs']}, exit {rc}, {summary['seconds']} s, "
          f"{requests} requests ({cog_requests} COG), {checked} targeted checks, {len(problems)} problems")
    for p in problems[:40]:
        print("  problem:", p[:500])
    print("  slowest jobs (s):", ", ".join(f"{name} {sec}" for sec, name in summary["slowest_jobs"][:10]))
    if os.environ.get("FUZZ_SUMMARY_STAC"):
        Path(os.environ["FUZZ_SUMMARY_STAC"]).write_text(json.dumps(summary, indent=1) + "\n")

    assert not hung, f"worker did not finish within {WORKER_TIMEOUT} s"
    assert not crashed, f"worker crashed (exit {rc}): {stderr[-3000:]}"
    assert rc in (0, 1), f"exit {rc}: {stderr[-2000:]}"
    assert not server_errors, server_errors[:5]
    assert not unparsable, unparsable[:5]
    assert not extra_jobs, sorted(extra_jobs)[:5]
    assert not problems, "\n".join(problems[:30])
    assert rc == (1 if failed else 0)
