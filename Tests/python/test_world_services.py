"""scripts/services: nginx with byte ranges and the rustac STAC API over a small world."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import pytest
import shapely
from shapely.geometry import shape

from world_testkit import REPO, items, local_path, small_world

SERVICES = str(REPO / "scripts" / "services")
BBOX = [12.255, 45.475, 12.275, 45.485]
WINDOW = ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59Z")


@pytest.fixture(scope="module")
def services():
    world = small_world(7)
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    pids = [int((world / ".run" / f).read_text()) for f in ("nginx.pid", "rustac.pid")]
    yield world, env
    subprocess.run([SERVICES, "stop", str(world)], check=True, timeout=60)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _get(url, headers=None, body=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.status, r.read(), r.headers


def _expected_ids(world):
    box = shapely.box(*BBOX)
    return {i["id"] for i in items(world)
            if WINDOW[0] <= i["properties"]["datetime"] <= WINDOW[1] and shape(i["geometry"]).intersects(box)}


def test_nginx_serves_byte_ranges_and_logs_them(services):
    world, env = services
    it = json.loads((world / ".run" / "items.ndjson").read_text().splitlines()[0])
    href = it["assets"]["red"]["href"]
    assert href.startswith(env["WORLD_HTTP_URL"] + "/")  # hrefs were rebased onto the running nginx
    status, data, headers = _get(href, {"Range": "bytes=100-1123"})
    assert status == 206 and len(data) == 1024
    path = local_path(world, json.loads((world / "items.ndjson").read_text().splitlines()[0])["assets"]["red"]["href"])
    assert data == path.read_bytes()[100:1124]
    assert headers["Content-Range"] == f"bytes 100-1123/{path.stat().st_size}"
    # nginx writes the log line after the response; give it a moment.
    for _ in range(50):
        if '" 206 1024 "bytes=100-1123"' in (world / ".run" / "nginx-access.log").read_text():
            break
        time.sleep(0.05)
    else:
        pytest.fail("range request not in the access log")


def test_post_search_filters_and_pages(services):
    world, env = services
    body = {"collections": ["sentinel-2-l2a"], "bbox": BBOX, "datetime": "/".join(WINDOW), "limit": 4}
    seen, pages, url = [], 0, env["WORLD_STAC_URL"] + "/search"
    while True:
        status, raw, _ = _get(url, body=body)
        page = json.loads(raw)
        assert status == 200 and len(page["features"]) <= 4
        seen += [f["id"] for f in page["features"]]
        pages += 1
        nxt = [link for link in page["links"] if link["rel"] == "next"]
        if not nxt:
            break
        assert nxt[0]["method"] == "POST"
        url, body = nxt[0]["href"], nxt[0]["body"]
    expected = _expected_ids(world)
    assert len(expected) > 8 and pages >= 3
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_get_search_pages_with_next_links(services):
    world, env = services
    url = env["WORLD_STAC_URL"] + "/search?limit=5&datetime=" + "/".join(WINDOW)
    seen = []
    while url:
        _, raw, _ = _get(url)
        page = json.loads(raw)
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert set(seen) == {i["id"] for i in items(world) if WINDOW[0] <= i["properties"]["datetime"] <= WINDOW[1]}


def test_rustac_quirks_are_as_documented(services):
    """docs/test-world.md: date-only intervals are rejected; GET with bbox/collections fails."""
    _, env = services
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(env["WORLD_STAC_URL"] + "/search", body={"datetime": "2024-03-01/2024-03-31"})
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(env["WORLD_STAC_URL"] + "/search?bbox=" + ",".join(map(str, BBOX)))
    assert e.value.code == 500


def test_start_refuses_a_second_instance(services):
    world, _ = services
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "already running" in out.stderr
