"""Faults: flaky servers (a fault-injecting proxy in front of the real STAC API and the real COG
server), broken scenes, a COG server that dies mid-run and comes back, a full disk. The run
must finish (now or on the next run), report what it skipped, and leave a cube equal to the
one built without faults (or to the reference computed without the broken scenes)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import shapely
import zarr
from shapely.geometry import shape

from world_testkit import REPO, cube_bin, world_with, wait_http

from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
BBOX = [11.98, 45.47, 12.02, 45.49]
BANDS = ["red", "green", "blue", "nir"]
START, END = date(2024, 2, 1), date(2024, 3, 31)
RUSTAC = str(REPO / ".venv" / "bin" / "rustac")


def cube(*args, check=True, timeout=600, env=None):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout[-3000:]}"
    return out


def write_spec(path: Path, api: str, store: str) -> Path:
    path.write_text(f"""name: faults
stac: {{api: {api}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: 32}}
time: {{start: {START}, end: {END}}}
bands: {json.dumps(BANDS)}
land_mask: none
store: {store}
""")
    return path


def chunks(store: Path) -> dict[str, bytes]:
    """Every data chunk (the cube's values) by key."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and "/c/" in str(p.relative_to(store))}


class Proxy:
    def __init__(self, target: str, *args: str):
        self.proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "faultproxy.py"), "--target", target, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self.proc.stdout.readline().split()[-1])}"

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        counts = err.split("injected ")[-1].strip()
        return json.loads(counts.replace("'", '"'))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A private copy of the zone world (tests break files in it), served by nginx + rustac."""
    src = world_with("small", seed=11, name="zones", aoi=tuple(BBOX))
    dst = tmp_path_factory.mktemp("faults") / "world"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".run"))
    out = subprocess.run([SERVICES, "start", str(dst)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (dst / ".run" / "urls.env").read_text().splitlines())
    yield dst, env
    subprocess.run([SERVICES, "stop", str(dst)], timeout=60)


@pytest.fixture(scope="module")
def clean_build(world, tmp_path_factory):
    _, env = world
    tmp = tmp_path_factory.mktemp("clean")
    spec = write_spec(tmp / "clean.yaml", env["WORLD_STAC_URL"], "clean.zarr")
    cube("run", spec, "--workers", "2", "--quiet", "--no-previews")
    return tmp / "clean.zarr"


def test_flaky_stac_api_and_cog_server_do_not_change_the_cube(world, clean_build, tmp_path):
    dst, env = world
    # Faults in front of nginx: every 25th request 503 (Retry-After 0), every 41st dropped, every 30th slow.
    cogs = Proxy(env["WORLD_HTTP_URL"], "--fail-every", "25", "--status", "503", "--retry-after", "0",
                 "--drop-every", "41", "--delay-every", "30", "--delay", "0.2")
    # A second STAC API whose items point at the COG proxy, behind its own faults: 500s, 429s, drops.
    stac_dir = tmp_path / "stac"
    subprocess.run([sys.executable, str(REPO / "scripts" / "world" / "rebase_hrefs.py"), str(dst), cogs.url, str(stac_dir)],
                   check=True)
    port = int(subprocess.run([sys.executable, "-c", "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])"],
                              capture_output=True, text=True).stdout)
    api = subprocess.Popen([RUSTAC, "serve", "--addr", f"127.0.0.1:{port}", str(stac_dir / "collection.json"),
                            str(stac_dir / "items.json")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        # The catalog is searched once per time bin (by the scene index), so its faults come first:
        # a 429 with Retry-After, then two 500s, then every 3rd request a 500 and every 7th dropped.
        stac = Proxy(f"http://127.0.0.1:{port}", "--fail-first", "2", "--fail-every", "3", "--status", "500",
                     "--drop-every", "7")
        stac429 = Proxy(stac.url, "--fail-first", "1", "--fail-every", "10", "--status", "429", "--retry-after", "1")
        spec = write_spec(tmp_path / "flaky.yaml", stac429.url, "flaky.zarr")
        out = cube("run", spec, "--workers", "2", "--json", "--no-previews", "--attempts", "5")
        report = json.loads(out.stdout.splitlines()[-1])
        injected = {"cogs": cogs.stop(), "stac": stac.stop(), "stac429": stac429.stop()}
    finally:
        api.kill()
        api.wait()
    print("injected:", injected)
    assert report["complete"] and report["jobs"]["failed"] == 0
    assert injected["cogs"]["status"] > 5 and injected["cogs"]["drop"] > 0 and injected["stac"]["status"] >= 2
    assert injected["stac429"]["status"] >= 1
    assert chunks(tmp_path / "flaky.zarr") == chunks(clean_build)


def test_broken_scenes_are_skipped_listed_and_the_cube_equals_the_reference_without_them(world, tmp_path):
    dst, env = world
    items = [json.loads(line) for line in (dst / "items.ndjson").read_text().splitlines()]
    base = json.loads((dst / "world.json").read_text())["base_url"].rstrip("/") + "/"
    area = shapely.box(*BBOX)
    dups = {it["id"].replace("_1_", "_0_") for it in items if "_1_" in it["id"]} | {it["id"] for it in items if "_1_" in it["id"]}
    usable = [it for it in items if it["id"] not in dups
              and shape(it["geometry"]).intersection(area).area > 0.4 * area.area]
    assert len(usable) >= 5
    not_found, truncated, corrupt, no_asset, wrong_proj = usable[:5]

    def path(item, key):
        return dst / item["assets"][key]["href"][len(base):]

    # The world is shared with the other tests of this module: put every file back afterwards.
    touched = [path(not_found, "green"), path(truncated, "red"), path(corrupt, "blue")]
    backups = {p: p.read_bytes() for p in touched}
    try:
        _break_and_build(dst, env, items, base, area, not_found, truncated, corrupt, no_asset, wrong_proj, path, tmp_path)
    finally:
        for p, data in backups.items():
            p.write_bytes(data)


def _break_and_build(dst, env, items, base, area, not_found, truncated, corrupt, no_asset, wrong_proj, path, tmp_path):
    path(not_found, "green").unlink()                       # 404 from nginx
    p = path(truncated, "red")
    p.write_bytes(p.read_bytes()[:600])                     # cut inside the first tile
    p = path(corrupt, "blue")
    data = bytearray(p.read_bytes())
    # Overwrite the tile data (past the header and IFDs) with garbage.
    for i in range(len(data) // 2, len(data) - 16, 7):
        data[i] = (data[i] * 31 + 17) % 256
    p.write_bytes(bytes(data))
    # Catalog problems: an item without its nir asset, an item whose CRS is wrong.
    rewritten = []
    for it in items:
        if it["id"] == no_asset["id"]:
            it = json.loads(json.dumps(it))
            del it["assets"]["nir"]
        if it["id"] == wrong_proj["id"]:
            it = json.loads(json.dumps(it))
            props = it["properties"]
            props.pop("proj:code", None)
            props["proj:epsg"] = 32631
            for a in it["assets"].values():
                a.pop("proj:code", None)
                a["proj:epsg"] = 32631
        rewritten.append(it)
    broken = {x["id"] for x in (not_found, truncated, corrupt, no_asset, wrong_proj)}
    catalog = tmp_path / "broken.ndjson"
    http = env["WORLD_HTTP_URL"] + "/"
    catalog.write_text("".join(json.dumps(it).replace(base, http) + "\n" for it in rewritten))
    spec = tmp_path / "broken.yaml"
    spec.write_text(write_spec(tmp_path / "tmp.yaml", "x", "broken.zarr").read_text()
                    .replace("stac: {api: x, collection: sentinel-2-l2a}", f"stac: {{items: {catalog.name}, collection: sentinel-2-l2a}}"))
    out = cube("run", spec, "--workers", "2", "--json", "--no-previews")
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["complete"] and report["jobs"]["failed"] == 0
    listed = {s["id"]: s["reason"] for s in report["scenes"]["unreadable"]}
    # The corrupt file may still decode where the chunk's tiles are intact; the others cannot.
    assert broken - {corrupt["id"]} <= listed.keys(), listed
    assert "no 'nir' asset" in listed[no_asset["id"]]
    assert "EPSG:32631" in listed[wrong_proj["id"]]
    assert "404" in listed[not_found["id"]] or "not found" in listed[not_found["id"]].lower(), listed[not_found["id"]]
    summary = cube("run", tmp_path / "broken.zarr", "--no-previews").stdout
    assert "complete" in summary

    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    excluded = set(listed) & broken
    ref = reference_cube(dst, grid, month_bins(START, END), BANDS, exclude=excluded)
    g = zarr.open_group(str(tmp_path / "broken.zarr"), mode="r")
    if corrupt["id"] in listed:
        for b in BANDS + ["count"]:
            np.testing.assert_array_equal(np.asarray(g[b][:]), ref[b], err_msg=b)
    else:
        # The corrupt tiles were not needed by this cube: it equals the reference with the scene.
        for b in BANDS + ["count"]:
            np.testing.assert_array_equal(np.asarray(g[b][:]), ref[b], err_msg=b)


def test_cog_server_dies_mid_run_and_comes_back(world, clean_build, tmp_path):
    dst, env = world
    spec = write_spec(tmp_path / "outage.yaml", env["WORLD_STAC_URL"], "outage.zarr")
    run = dst / ".run"
    proc = subprocess.Popen([cube_bin(), "run", str(spec), "--workers", "2", "--json", "--no-previews", "--attempts", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if '"event":"done"' in line:
            break
    nginx = int((run / "nginx.pid").read_text())
    os.kill(nginx, signal.SIGTERM)   # the COG server goes down mid-run
    time.sleep(3)
    subprocess.run(["/usr/sbin/nginx", "-p", str(run), "-e", str(run / "nginx-error.log"), "-c", str(run / "nginx.conf")],
                   check=True)
    wait_http(env["WORLD_HTTP_URL"] + "/world.json")
    out, err = proc.communicate(timeout=600)
    first = json.loads(out.splitlines()[-1])
    assert proc.returncode in (0, 1), err
    # Whatever could not be finished in time is reported failed, never half written ...
    assert first["jobs"]["failed"] == len(first["failures"])
    # ... and the next run completes the cube, equal to the one built without the outage.
    second = json.loads(cube("run", tmp_path / "outage.zarr", "--json", "--no-previews").stdout.splitlines()[-1])
    assert second["complete"] and second["jobs"]["failed"] == 0
    assert chunks(tmp_path / "outage.zarr") == chunks(clean_build)


def test_full_disk_fails_clearly_leaves_no_partial_chunk_and_resumes(world, clean_build, tmp_path):
    _, env = world
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); needs root")
    try:
        spec = write_spec(tmp_path / "disk.yaml", env["WORLD_STAC_URL"], str(mnt / "disk.zarr"))
        cube("init", spec)
        # Leave about 40 KiB free: a few chunks fit, then the disk is full.
        stat = os.statvfs(mnt)
        free = stat.f_bavail * stat.f_frsize
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * max(0, free - 40 * 1024))
        out = cube("run", mnt / "disk.zarr", "--workers", "2", "--json", "--no-previews", "--attempts", "1", check=False)
        assert out.returncode == 1, (out.stdout[-2000:], out.stderr[-2000:], subprocess.run(["df", str(mnt)], capture_output=True, text=True).stdout)
        report = json.loads(out.stdout.splitlines()[-1])
        assert report["jobs"]["failed"] > 0 and not report["complete"]
        assert any("No space left on device" in f["error"] for f in report["failures"]), report["failures"][:3]
        # No partial chunk and no temporary file: every chunk present decodes to the finished value.
        expected = chunks(clean_build)
        for key, data in chunks(mnt / "disk.zarr").items():
            assert data == expected[key], key
        assert not [p for p in mnt.rglob("*") if ".__cube_tmp." in p.name]
        # Space is back: the next run completes.
        filler.unlink()
        again = json.loads(cube("run", mnt / "disk.zarr", "--json", "--no-previews").stdout.splitlines()[-1])
        assert again["complete"] and again["jobs"]["failed"] == 0
        assert chunks(mnt / "disk.zarr") == expected
    finally:
        subprocess.run(["umount", "-l", str(mnt)])
