"""`cube run`, `cube status`, `cube preview` end to end on a coastal world (part sea): the local
executor's worker processes, resume after SIGKILL, two coordinators, failures, Ctrl-C, and the
Kubernetes manifest. Servers are real (nginx byte ranges, rustac serve)."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
import shapely
import yaml
import zarr

from world_testkit import REPO, cube_bin, index_empty_jobs, world_with, served

from world.ground import _SEA
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
BBOX = [12.44, 45.40, 12.56, 45.48]          # the Adriatic coast east of Lido: land and sea
BANDS = ["red", "green", "blue", "nir"]
CHUNK = 32


@pytest.fixture(scope="module")
def coast():
    world = world_with("small", seed=5, name="coast", aoi=tuple(BBOX), start=date(2024, 3, 1), end=date(2024, 3, 31))
    with served(world) as env:
        yield world, env


def spec(tmp: Path, env, name="coastal", fmt=3) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(f"""name: {name}
stac: {{api: {env['WORLD_STAC_URL']}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {CHUNK}}}
time: {{start: 2024-03-01, end: 2024-03-31}}
bands: {json.dumps(BANDS)}
zarr_format: {fmt}
store: {name}.zarr
""")
    return path


def cube(*args, check=True, timeout=300, **kw):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out


def data_files(store: Path) -> dict[str, bytes]:
    """Every Zarr object of the cube (metadata and chunks), not the build bookkeeping."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.relative_to(store).parts[0] != "_cube"}


def built_mask(store: Path, height: int, width: int) -> np.ndarray:
    built = np.zeros((height, width), bool)
    for f in (store / "_cube" / "done" / "2024-03").iterdir():
        cy, cx = map(int, f.name[:-5].split("."))
        built[cy * CHUNK:(cy + 1) * CHUNK, cx * CHUNK:(cx + 1) * CHUNK] = True
    return built


def all_chunks_decode(store: Path):
    """Reads every stored chunk through zarr-python: a partial chunk would not decode."""
    g = zarr.open_group(str(store), mode="r", use_consolidated=False)
    for name in BANDS + ["count"]:
        np.asarray(g[name][:])


def worker_pids(store: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"worker {store} --serve"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def wait_for_workers_to_exit(store: Path, timeout=60):
    deadline = time.time() + timeout
    while worker_pids(store) and time.time() < deadline:
        time.sleep(0.1)
    assert not worker_pids(store), "orphaned workers did not finish"


@pytest.fixture(scope="module")
def initialised(coast, tmp_path_factory):
    """One `cube init`, copied for every build that must be compared byte for byte (the root
    attributes carry the init time)."""
    _, env = coast
    tmp = tmp_path_factory.mktemp("initialised")
    cube("init", spec(tmp, env))
    return tmp / "coastal.zarr"


def copy_of(initialised: Path, dest: Path) -> Path:
    shutil.copytree(initialised, dest)
    return dest


@pytest.fixture(scope="module")
def reference_store(initialised, tmp_path_factory):
    store = copy_of(initialised, tmp_path_factory.mktemp("reference-run") / "coastal.zarr")
    out = cube("run", store, "--workers", "2", "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    return store, lines


def test_coastal_run_builds_land_skips_ocean_and_matches_reference(coast, reference_store):
    world, _ = coast
    store, lines = reference_store
    report = lines[-1]
    assert report["complete"] and report["jobs"]["failed"] == 0 and report["jobs"]["pending"] == 0
    # Jobs the scene index found empty were recorded done by `cube init`; the run built the rest.
    from_index = index_empty_jobs(store)
    assert report["jobs"]["skipped_ocean"] > 0 and from_index
    assert report["jobs"]["already_done"] == len(from_index)
    assert report["jobs"]["done_this_run"] + len(from_index) == report["jobs"]["total"]
    assert [e for e in lines[:-1] if e.get("event") == "done"], "JSON events per job"
    assert json.loads((store / "_cube" / "report.json").read_text())["complete"]
    assert json.loads((store / "zarr.json").read_text())["attributes"]["cube:complete"] is True

    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    ref = reference_cube(world, grid, month_bins(date(2024, 3, 1), date(2024, 3, 31)), BANDS)
    g = zarr.open_group(str(store), mode="r")
    got = {b: np.asarray(g[b][:]) for b in BANDS + ["count"]}
    built = built_mask(store, grid.height, grid.width)
    assert 0 < built.mean() < 1, "the coast world has land and ocean chunks"
    # Ocean chunks were never processed: no done record, no chunk, fill value everywhere.
    assert not (got["count"][0][~built]).any()
    # Built chunks equal the reference exactly.
    for b in BANDS + ["count"]:
        np.testing.assert_array_equal(got[b][0][built], ref[b][0][built], err_msg=b)
    # No land pixel lost: every pixel on land (the world's own coastline) with reference data is built.
    lon = (grid.ix0 + np.arange(grid.width) + 0.5) * grid.rx
    lat = (grid.iy0 - np.arange(grid.height) - 0.5) * grid.ry
    land = ~shapely.contains_xy(_SEA, *np.meshgrid(lon, lat))
    assert land.any() and int((land & (ref["count"][0] > 0) & ~built).sum()) == 0

    # The report's preview and `cube preview`: RGBA, transparent exactly where there is no data.
    assert report["previews"]["2024-03"] == "_cube/previews/2024-03.png"
    png = store / "_cube" / "previews" / "2024-03.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out_png = store.parent / "quicklook.png"
    cube("preview", store, "--time", "2024-03", "--size", "1000", "-o", out_png)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)  # a PNG has no georeference
        src = rasterio.open(out_png)
    with src:
        assert src.count == 4 and (src.width, src.height) == (grid.width, grid.height)
        alpha = src.read(4)
        rgb = src.read([1, 2, 3])
    has_data = (got["red"][0] > 0) & (got["green"][0] > 0) & (got["blue"][0] > 0)
    np.testing.assert_array_equal(alpha == 255, has_data)
    assert rgb[:, has_data].std() > 10, "stretched to a visible range"
    bad = cube("preview", store, "--time", "1999-01", "-o", out_png, check=False)
    assert bad.returncode == 2 and "no such time bin" in bad.stderr

    status = json.loads(cube("status", store, "--json").stdout)
    assert status["complete"] and status["jobs"]["done"] == status["jobs"]["total"] and status["running"] is None


def test_sigkill_at_random_moments_then_resume_gives_identical_store(initialised, reference_store, tmp_path):
    expected = data_files(reference_store[0])
    rng = random.Random(20261122)
    modes = ["coordinator", "group", "worker"]
    for trial in range(10):
        store = copy_of(initialised, tmp_path / f"trial{trial}" / "coastal.zarr")
        path = store
        proc = subprocess.Popen([cube_bin(), "run", str(path), "--workers", "2", "--quiet", "--no-previews"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.1, 1.6))
        mode = modes[trial % 3]
        if mode == "coordinator":
            proc.kill()
        elif mode == "group":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            pids = worker_pids(store)
            for pid in pids[:1]:
                os.kill(pid, signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.kill()
        proc.wait()
        # Whatever is in the store right after the kill decodes: nothing is half written.
        all_chunks_decode(store)
        out = cube("run", path, "--workers", "2", "--quiet", "--no-previews")
        assert "complete" in out.stdout, out.stdout
        wait_for_workers_to_exit(store)
        assert data_files(store) == expected, f"trial {trial} ({mode}): store differs from the uninterrupted build"
        leftovers = [p for p in store.rglob("*") if ".__cube_tmp." in p.name]
        assert not leftovers, leftovers


def test_second_coordinator_refuses(coast, tmp_path):
    _, env = coast
    path = spec(tmp_path, env)
    cube("init", path)
    store = tmp_path / "coastal.zarr"
    first = subprocess.Popen([cube_bin(), "run", str(store), "--workers", "1", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (store / "_cube" / "run.lock").exists() and time.time() < deadline:
        time.sleep(0.02)
    second = cube("run", store, "--workers", "1", check=False)
    assert second.returncode == 1
    assert "another `cube run` is building this store" in second.stderr and str(first.pid) in second.stderr
    status = cube("status", store).stdout
    assert f"pid {first.pid}" in status
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not (store / "_cube" / "run.lock").exists()


def test_unreachable_scenes_fail_jobs_then_a_rerun_completes(coast, tmp_path):
    world, env = coast
    path = spec(tmp_path, env)
    store = tmp_path / "coastal.zarr"
    http_port = env["WORLD_HTTP_URL"].rsplit(":", 1)[1]
    stac_port = env["WORLD_STAC_URL"].rsplit(":", 1)[1]
    nginx_pid = int((world / ".run" / "nginx.pid").read_text())
    os.kill(nginx_pid, signal.SIGTERM)  # the COG server goes away; the STAC API stays
    time.sleep(0.5)
    try:
        out = cube("run", path, "--workers", "2", "--attempts", "2", "--json", "--no-previews",
                   "--bbox", "12.44,45.46,12.47,45.48", check=False)
        assert out.returncode == 1, out.stderr
        lines = [json.loads(line) for line in out.stdout.splitlines()]
        report = lines[-1]
        # Every job that needs a scene failed; only jobs without any scene (nothing to read) are
        # done, recorded by the scene index before the workers started.
        jobs = report["jobs"]
        assert jobs["failed"] > 0 and jobs["failed"] + jobs["already_done"] == jobs["selected"]
        assert jobs["done_this_run"] == 0
        # The index could not read the COG headers: the next run reads them.
        snapshot = json.loads((store / "_cube" / "index" / "snapshot.json").read_text())
        assert snapshot["headers"]["failed_transient"] == snapshot["headers"]["assets"] > 0
        assert all("connect" in f["error"].lower() for f in report["failures"]), report["failures"]
        assert all(f["attempts"] == 2 for f in report["failures"])
        assert any(e.get("event") == "retrying" for e in lines[:-1])
        status = json.loads(cube("status", store, "--json").stdout)
        assert status["jobs"]["failed"] == report["jobs"]["failed"]
    finally:
        subprocess.run([SERVICES, "stop", str(world)], timeout=60)
        started = subprocess.run([SERVICES, "start", str(world), "--http-port", http_port, "--stac-port", stac_port],
                                 capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, started.stderr
    again = json.loads(cube("run", store, "--workers", "2", "--json", "--no-previews",
                            "--bbox", "12.44,45.46,12.47,45.48").stdout.splitlines()[-1])
    assert again["jobs"]["failed"] == 0 and again["jobs"]["done_this_run"] == report["jobs"]["failed"]
    snapshot = json.loads((store / "_cube" / "index" / "snapshot.json").read_text())
    assert snapshot["headers"]["failed_transient"] == 0 and snapshot["headers"]["indexed"] == snapshot["headers"]["assets"]
    assert json.loads(cube("status", store, "--json").stdout)["jobs"]["failed"] == 0


def test_ctrl_c_stops_cleanly_and_the_next_run_continues(initialised, reference_store, tmp_path):
    store = copy_of(initialised, tmp_path / "coastal.zarr")
    proc = subprocess.Popen([cube_bin(), "run", str(store), "--workers", "2", "--json", "--no-previews"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if '"event":"done"' in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    report = json.loads(out.splitlines()[-1])
    assert report["interrupted"] and report["jobs"]["pending"] > 0 and not report["complete"]
    wait_for_workers_to_exit(store)
    all_chunks_decode(store)
    cube("run", store, "--workers", "2", "--quiet", "--no-previews")
    assert data_files(store) == data_files(reference_store[0])


def test_time_and_bbox_restrict_the_run(coast, tmp_path):
    _, env = coast
    path = spec(tmp_path, env)
    out = cube("run", path, "--workers", "1", "--json", "--time", "2024-03", "--bbox", "12.44,45.46,12.47,45.48")
    report = json.loads(out.stdout.splitlines()[-1])
    assert 0 < report["jobs"]["selected"] < report["jobs"]["total"] and not report["complete"]
    done = sorted(p.name for p in (tmp_path / "coastal.zarr" / "_cube" / "done" / "2024-03").iterdir())
    # The rest of the selection the scene index found empty (done without a worker).
    assert len(done) == report["jobs"]["done_this_run"] > 0
    assert report["jobs"]["done_this_run"] + report["jobs"]["already_done"] == report["jobs"]["selected"]
    # Chunk columns of lon 12.44–12.47 at 1″ and 32 px: columns 0..3, rows of lat 45.46–45.48: 0..2.
    assert all(int(n.split(".")[0]) <= 2 and int(n.split(".")[1]) <= 3 for n in done), done
    bad = cube("run", path, "--time", "2030-01", check=False)
    assert bad.returncode == 1 and "no such time bin" in bad.stderr


def test_kubernetes_manifest_is_an_indexed_job(coast, tmp_path):
    _, env = coast
    path = spec(tmp_path, env)
    manifest = tmp_path / "job.yaml"
    cube("run", path, "--executor", "kubernetes", "--emit", manifest, "--workers", "8", "--parallelism", "3",
         "--image", "registry.example/cube:1.0", "--time", "2024-03")
    doc = yaml.safe_load(manifest.read_text())
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "Job"
    s = doc["spec"]
    assert s["completionMode"] == "Indexed" and s["completions"] == 8 and s["parallelism"] == 3
    assert s["backoffLimitPerIndex"] >= 1
    assert s["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]
    pod = s["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["image"] == "registry.example/cube:1.0"
    cmd = container["command"]
    assert cmd[:3] == ["cube", "worker", str(tmp_path / "coastal.zarr")]
    assert cmd[cmd.index("--shard") + 1] == "8" and cmd[cmd.index("--shard-env") + 1] == "JOB_COMPLETION_INDEX"
    assert cmd[cmd.index("--time") + 1] == "2024-03"
    # What each pod runs works: shards 0..7 of the worker split the jobs without overlap.
    cube("init", path)
    seen = []
    for i in range(8):
        run = cube(*cmd[1:], env={**os.environ, "JOB_COMPLETION_INDEX": str(i)})
        seen.append({json.loads(line)["job"] for line in run.stdout.splitlines()})
    assert sum(len(s) for s in seen) == len(set().union(*seen)) > 0
