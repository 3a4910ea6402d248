"""What readers get (issue 16), end to end on a served world (nginx byte ranges, rustac serve):
sharded Zarr v3 (`grid.inner_chunk`) against the unsharded build of the same spec, read by
zarr-python, xarray and tensorstore; kill -9 during a sharded build and resume; the multiscale
pyramid (GeoZarr multiscales) against a numpy reference computed from the level below; and the
STAC Collection and Items the store carries, read by pystac and validated offline."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from world_testkit import cube_bin, served, world_with

BBOX = [12.44, 45.43, 12.52, 45.48]          # the north-west of test_run's coastal world: land and sea
BANDS = ["red", "green", "blue", "nir"]
ARRAYS = BANDS + ["count"]


@pytest.fixture(scope="module")
def coast():
    world = world_with("small", seed=5, name="readers", aoi=tuple(BBOX), start=date(2024, 3, 1), end=date(2024, 4, 30))
    with served(world) as env:
        yield world, env


def write_spec(tmp: Path, env, name: str, chunk: int, extra_grid: str = "", extra: str = "") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(f"""name: {name}
stac: {{api: {env['WORLD_STAC_URL']}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {chunk}{extra_grid}}}
time: {{start: 2024-03-01, end: 2024-04-30}}
bands: {json.dumps(BANDS)}
composite: median
store: {name}.zarr
{extra}""")
    return path


def cube(*args, check=True, timeout=600):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out


def build(tmp: Path, env, name: str, **kw) -> Path:
    spec = write_spec(tmp, env, name, **kw)
    cube("init", spec)
    store = tmp / f"{name}.zarr"
    cube("run", store, "--workers", "2", "--quiet", "--no-previews")
    return store


def arrays_of(store: Path, group: str = "") -> dict[str, np.ndarray]:
    g = zarr.open_group(str(store), mode="r", path=group)
    names = [n for n in g.array_keys() if len(g[n].shape) == 3]
    return {n: np.asarray(g[n][:]) for n in names}


def data_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.relative_to(store).parts[0] != "_cube"}


@pytest.fixture(scope="module")
def pair(coast, tmp_path_factory):
    """The same cube unsharded (chunks 96²) and sharded (96² shards of 32² inner chunks)."""
    _, env = coast
    tmp = tmp_path_factory.mktemp("pair")
    plain = build(tmp, env, "plain", chunk=96)
    sharded = build(tmp, env, "sharded", chunk=96, extra_grid=", inner_chunk: 32")
    return plain, sharded


def test_sharded_and_unsharded_builds_decode_to_identical_arrays(pair):
    plain, sharded = pair
    meta = json.loads((sharded / "red" / "zarr.json").read_text())
    codec = meta["codecs"][0]
    assert codec["name"] == "sharding_indexed" and codec["configuration"]["chunk_shape"] == [1, 32, 32]
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [1, 96, 96]
    # One object per array per job, as unsharded.
    count = lambda s: sum(1 for p in (s / "red" / "c").rglob("*") if p.is_file())
    assert count(sharded) == count(plain) > 0

    a, b = arrays_of(plain), arrays_of(sharded)
    assert a.keys() == b.keys() and set(ARRAYS) <= a.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert (a["count"] > 0).any()

    xa, xb = xr.open_zarr(plain), xr.open_zarr(sharded)
    for name in ARRAYS:
        xr.testing.assert_identical(xa[name], xb[name])

    import tensorstore as ts
    for name in ("red", "count"):
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(sharded / name)}}
        arr = ts.open(spec, read=True).result()
        np.testing.assert_array_equal(arr.read().result(), a[name], err_msg=f"tensorstore {name}")


def test_kill_during_a_sharded_build_then_resume_is_byte_identical(coast, pair, tmp_path):
    _, env = coast
    _, expected_store = pair
    expected = data_files(expected_store)
    rng = random.Random(20261130)
    for trial in range(2):
        tmp = tmp_path / f"t{trial}"
        tmp.mkdir()
        spec = write_spec(tmp, env, "sharded", chunk=96, extra_grid=", inner_chunk: 32")
        cube("init", spec)
        store = tmp / "sharded.zarr"
        # The root attributes carry the init time: take the expected store's metadata.
        for meta in ("zarr.json",):
            shutil.copy(expected_store / meta, store / meta)
        proc = subprocess.Popen([cube_bin(), "run", str(store), "--workers", "2", "--quiet", "--no-previews"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.3, 2.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        arrays_of(store)   # whatever is stored decodes
        cube("run", store, "--workers", "2", "--quiet", "--no-previews")
        got = data_files(store)
        assert got.keys() == expected.keys()
        differ = [k for k in got if got[k] != expected[k] and k != "zarr.json"]
        assert not differ, f"trial {trial}: {differ[:5]}"


def reference_level(below: dict[str, np.ndarray], kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """The documented rule, in numpy: uint16 bands the mean of the valid (non-zero) cells of
    each 2x2 block rounded half up, float32 the mean of the non-NaN cells, counts the sum."""
    out = {}
    for name, a in below.items():
        t, h, w = a.shape
        H, W = (h + 1) // 2, (w + 1) // 2
        pad = np.zeros((t, 2 * H, 2 * W), a.dtype) if a.dtype != np.float32 else np.full((t, 2 * H, 2 * W), np.nan, np.float32)
        pad[:, :h, :w] = a
        blocks = pad.reshape(t, H, 2, W, 2).transpose(0, 1, 3, 2, 4).reshape(t, H, W, 4)
        if a.dtype == np.float32:
            valid = ~np.isnan(blocks)
            n = valid.sum(-1)
            s = np.where(valid, blocks.astype(np.float64), 0).sum(-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(n > 0, (s / np.maximum(n, 1)).astype(np.float32), np.float32(np.nan))
        elif kinds[name] == "count":
            out[name] = np.minimum(blocks.astype(np.uint32).sum(-1), 65535).astype(np.uint16)
        else:
            b = blocks.astype(np.uint32)
            n = (b > 0).sum(-1).astype(np.uint32)
            s = b.sum(-1)
            out[name] = np.where(n > 0, (s + n // 2) // np.maximum(n, 1), 0).astype(np.uint16)
    return out


@pytest.fixture(scope="module")
def pyramid_store(coast, tmp_path_factory):
    """A sharded cube with a pyramid (chunks of 32², inner 16²: four levels above the base)."""
    _, env = coast
    return build(tmp_path_factory.mktemp("pyramid"), env, "pyramid", chunk=32, extra_grid=", inner_chunk: 16",
                 extra="pyramid: true\n")


def test_pyramid_levels_equal_the_reference_from_the_level_below(pyramid_store):
    store = pyramid_store
    root = json.loads((store / "zarr.json").read_text())["attributes"]
    assert any(c["uuid"] == "d35379db-88df-4056-af3a-620245f8e347" for c in root["zarr_conventions"])
    layout = root["multiscales"]["layout"]
    assert [l["asset"] for l in layout] == [str(i) for i in range(len(layout))] and len(layout) >= 3
    for i, level in enumerate(layout[1:], start=1):
        assert level["derived_from"] == str(i - 1) and level["transform"]["scale"] == [2.0, 2.0]
    report = json.loads((store / "_cube" / "report.json").read_text())
    assert report["pyramid"]["failed"] == [] and report["pyramid"]["built"] > 0
    # The GeoZarr toolkit's own validators: the metadata models and every asset present.
    from geozarr_toolkit.helpers.validation import validate_multiscales, validate_multiscales_structure
    ok, errors = validate_multiscales(root)
    assert ok, errors
    ok, errors = validate_multiscales_structure(zarr.open_group(str(store), mode="r"))
    assert ok, errors

    kinds = {n: ("count" if n.startswith("count") else "band") for n in arrays_of(store, "0")}
    below = arrays_of(store, "0")
    base = xr.open_zarr(store, group="0")
    assert (below["count"] > 0).any()
    for i in range(1, len(layout)):
        got = arrays_of(store, str(i))
        want = reference_level(below, kinds)
        assert got.keys() == want.keys()
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"level {i} {name}")
        # Each level opens in xarray on its own coordinates, the grid's extent kept.
        ds = xr.open_zarr(store, group=str(i))
        assert ds.sizes["longitude"] == got["red"].shape[2]
        left = float(base.longitude[0]) - 0.5 / 3600
        assert abs(float(ds.longitude[0]) - (left + 2 ** i / 3600 / 2)) < 1e-9
        assert abs(float(ds.longitude[1] - ds.longitude[0]) - 2 ** i / 3600) < 1e-9
        shape = layout[i]["proj:shape"]
        assert shape == list(got["red"].shape[1:])
        below = got
    # The top level fits one chunk.
    assert max(below["red"].shape[1:]) <= 32
    status = json.loads(cube("status", store, "--json").stdout)
    assert status["pyramid"]["levels"] == len(layout) - 1
    assert status["pyramid"]["built"] == status["pyramid"]["chunks"] > 0
    # A rerun builds nothing again.
    out = cube("run", store, "--workers", "1", "--quiet", "--no-previews")
    report = json.loads((store / "_cube" / "report.json").read_text())
    assert report["pyramid"]["built"] == 0 and report["pyramid"]["already_built"] > 0, out.stdout


def test_the_store_carries_a_stac_collection_and_items_that_pystac_reads(pair):
    import pystac
    plain, _ = pair
    collection = pystac.Collection.from_file(str(plain / "_cube" / "stac" / "collection.json"))
    assert collection.id == "plain"
    assert {"cube:dimensions", "cube:variables"} <= collection.extra_fields.keys()
    dims = collection.extra_fields["cube:dimensions"]
    assert dims["time"]["type"] == "temporal" and dims["longitude"]["axis"] == "x"
    assert set(ARRAYS) <= collection.extra_fields["cube:variables"].keys()
    items = list(collection.get_items())
    assert [i.id for i in items] == ["plain-2024-03", "plain-2024-04"]
    asset = collection.assets["zarr"]
    href = Path(asset.get_absolute_href())
    assert href.resolve() == plain.resolve()
    ds = xr.open_dataset(href, **asset.extra_fields["xarray:open_kwargs"])
    xr.testing.assert_identical(ds["red"].load(), xr.open_zarr(plain)["red"].load())
    bbox = collection.extent.spatial.bboxes[0]
    assert bbox[0] <= BBOX[0] + 1e-6 and bbox[2] >= BBOX[2] - 1e-6
    try:
        from stac_offline import validate
    except ImportError:
        pytest.skip("no offline STAC schemas")
    validate(collection)
    for item in items:
        validate(item)


def test_the_training_example_learns_from_a_sharded_pyramid_cube(pyramid_store):
    import sys
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "scripts/examples/train_from_cube.py"),
                          str(pyramid_store), "--group", "0", "--patch", "64", "--epochs", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    losses = [float(l.split("mse ")[1]) for l in out.stdout.splitlines() if "mse" in l]
    assert len(losses) == 2 and losses[-1] < losses[0], out.stdout
    assert "patches" in out.stdout and "nir ≈" in out.stdout


# ---------------------------------------------------------------- cube serve

ARTIFACTS = Path(os.environ.get("CUBE_ARTIFACTS", Path(__file__).resolve().parents[2] / ".artifacts")) / "serve"


@pytest.fixture(scope="module")
def server(pyramid_store):
    proc = subprocess.Popen([cube_bin(), "serve", str(pyramid_store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("serving "), line + proc.stderr.read()
    url = line.split(" at ")[1].split()[0].rstrip("/")
    yield url
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def get(url: str):
    import urllib.request
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def lonlat_to_tile(lon, lat, z):
    import math
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_serve_answers_tiles_series_and_progress(server, pyramid_store):
    from io import BytesIO
    from PIL import Image
    _, _, body = get(server + "/api/info")
    info = json.loads(body)
    assert info["bins"] == ["2024-03", "2024-04"] and info["default_bands"] == ["red", "green", "blue"]
    assert info["levels"] >= 4
    lon, lat = (BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2
    for z in (9, 13, 16):   # a coarse level, a middle one, the base
        x, y = lonlat_to_tile(lon, lat, z)
        status, ctype, png = get(f"{server}/tiles/2024-03/{z}/{x}/{y}.png?bands=red,green,blue&min=0&max=3000")
        assert status == 200 and ctype == "image/png"
        img = np.asarray(Image.open(BytesIO(png)).convert("RGBA"))
        assert img.shape == (256, 256, 4) and (img[..., 3] == 255).any(), f"zoom {z}: no opaque pixel"
    # Outside the cube: transparent.
    x, y = lonlat_to_tile(-60, -30, 9)
    _, _, png = get(f"{server}/tiles/2024-03/9/{x}/{y}.png")
    assert (np.asarray(Image.open(BytesIO(png)).convert("RGBA"))[..., 3] == 0).all()
    progress = json.loads(get(server + "/api/progress")[2])
    assert progress["complete"] and progress["done"] == progress["total"] > 0
    import urllib.error
    with pytest.raises(urllib.error.HTTPError) as bad:
        get(server + "/tiles/2099-01/9/1/1.png")
    assert bad.value.code == 400


def test_serve_in_a_real_browser(server, pyramid_store):
    """Headless Chromium: the page loads without console errors, tiles appear, the time slider
    changes them, and a click shows a time series whose values are the cube's."""
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = arrays_of(pyramid_store, "0")
    ds = xr.open_zarr(pyramid_store, group="0")
    res = float(ds.longitude[1] - ds.longitude[0])
    left, top = float(ds.longitude[0]) - res / 2, float(ds.latitude[0]) + res / 2
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(server + "/")
        page.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length >= 4", timeout=30000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / "map-2024-04.png"))
        before = sorted(page.eval_on_selector_all("img.leaflet-tile-loaded", "els => els.map(e => e.src)"))
        assert all("/tiles/2024-04/" in s for s in before), before[:2]
        # Move the slider to the first bin: the tiles are the other bin's, and they differ.
        page.eval_on_selector("#time", "el => { el.value = 0; el.dispatchEvent(new Event('input')); }")
        page.wait_for_function("[...document.querySelectorAll('img.leaflet-tile-loaded')].some(e => e.src.includes('/tiles/2024-03/'))",
                               timeout=30000)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / "map-2024-03.png"))
        after = sorted(page.eval_on_selector_all("img.leaflet-tile-loaded", "els => els.map(e => e.src)"))
        assert any("/tiles/2024-03/" in s for s in after)
        # Tiles over land differ between the bins (tiles over unbuilt sea are empty in both).
        march = [s for s in after if "/tiles/2024-03/" in s]
        assert any(get(s)[2] != get(s.replace("/tiles/2024-03/", "/tiles/2024-04/"))[2] for s in march), \
            "every tile is the same image in both bins"
        assert page.text_content("#bin-label") == "2024-03"
        # Click on land inside the cube and read the series table.
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5)
        page.wait_for_selector("#series-table", timeout=15000)
        page.screenshot(path=str(ARTIFACTS / "series.png"))
        text = page.text_content("#series p")
        lat, lon = map(float, text.split("(")[1].split(")")[0].split(","))
        row, col = int((top - lat) / res), int((lon - left) / res)
        assert f"row {row}, col {col}" in text, text
        for array in ("red", "green", "blue", "nir", "count"):
            cells = page.eval_on_selector_all(f"#series-table td[data-array='{array}']", "els => els.map(e => e.textContent)")
            assert list(map(int, cells)) == [int(v) for v in base[array][:, row, col]], array
        browser.close()
    assert not errors, errors
