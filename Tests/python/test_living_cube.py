"""Living cubes (issue 22), end to end on a served world whose catalog changes between runs
(nginx byte ranges, a real STAC API restarted on the same port with the catalog of each step):
a first build one month short on the "before" catalog (late scenes missing, one item that is
withdrawn later, `_0_` scenes whose `_1_` copies appear later), an append of the month, then
`cube update` on the "after" catalog. After each step the cube equals the independent reference
computed from that step's catalog; the rebuilt jobs are exactly those whose scenes changed
(worked out here from the items, not from cube); untouched chunk objects keep their bytes and
modification times; after the update the cube equals a fresh build, byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import shapely
import xarray as xr
import zarr

from world_testkit import REPO, cube_bin, world_with

from world.ref_items import dedup, load_items, select
from world.reference import reference_cube
from world.refgrid import Grid, month_bins

SERVICES = str(REPO / "scripts" / "services")
BBOX = [12.25, 45.47, 12.28, 45.49]
BANDS = ["red", "green", "blue", "nir"]
CHUNK = 32
FEB, MAR = month_bins(date(2024, 2, 1), date(2024, 2, 29)), month_bins(date(2024, 2, 1), date(2024, 3, 31))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cube(*args, check=True, timeout=600, env=None):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out


class Catalog:
    """The world's items served as one catalog at a time, on fixed ports."""

    def __init__(self, world: Path):
        self.world = world
        self.full = [json.loads(line) for line in (world / "items-full.ndjson").read_text().splitlines()]
        self.http_port, self.stac_port = free_port(), free_port()
        self.env: dict[str, str] = {}

    def serve(self, items: list[dict]) -> dict[str, str]:
        self.stop()
        (self.world / "items.ndjson").write_text("".join(json.dumps(i) + "\n" for i in items))
        out = subprocess.run([SERVICES, "start", str(self.world), "--http-port", str(self.http_port),
                              "--stac-port", str(self.stac_port)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        self.env = dict(line.split("=", 1) for line in (self.world / ".run" / "urls.env").read_text().splitlines())
        return self.env

    def stop(self) -> None:
        subprocess.run([SERVICES, "stop", str(self.world)], capture_output=True, timeout=60)


def choose_changes(items: list[dict]) -> dict:
    """Which items the "before" catalog lacks or has extra, from the world's own items."""
    ids = [i["id"] for i in items]
    dups = sorted(i for i in ids if "_1_L2A" in i)
    originals = {d.replace("_1_L2A", "_0_L2A") for d in dups}
    feb = sorted((i for i in items if i["properties"]["datetime"].startswith("2024-02") and i["id"] not in originals
                  and "_1_L2A" not in i["id"]), key=lambda i: (i["properties"]["datetime"], i["id"]))
    assert dups and len(feb) >= 6, "the small world has reprocessed copies and several February scenes"
    late = [feb[-1]["id"], feb[-2]["id"]]           # arrive only after the first build
    withdrawn = feb[1]["id"]                        # in the first builds, gone from the catalog later
    touched = feb[2]["id"]                          # its metadata is updated later (newer `updated`)
    return {"dups": dups, "late": late, "withdrawn": withdrawn, "touched": touched}


def before_catalog(full: list[dict], c: dict) -> list[dict]:
    return [i for i in full if i["id"] not in set(c["dups"]) | set(c["late"])]


def after_catalog(full: list[dict], c: dict) -> list[dict]:
    out = []
    for i in full:
        if i["id"] == c["withdrawn"]:
            continue
        if i["id"] == c["touched"]:
            i = json.loads(json.dumps(i))
            t = datetime.fromisoformat(i["properties"]["updated"].replace("Z", "+00:00")) + timedelta(days=40)
            i["properties"]["updated"] = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(i)
    return out


def write_spec(folder: Path, env: dict, end: str, name: str = "living", extra: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"""name: {name}
stac: {{api: {env['WORLD_STAC_URL']}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {CHUNK}}}
time: {{start: 2024-02-01, end: {end}}}
bands: {json.dumps(BANDS)}
land_mask: none
store: {name}.zarr
{extra}""")
    return path


def data_files(store: Path) -> dict[str, tuple[bytes, int]]:
    """Every Zarr object but the root metadata (it carries the init time) and cube's bookkeeping."""
    out = {}
    for p in sorted(store.rglob("*")):
        rel = p.relative_to(store)
        if p.is_file() and rel.parts[0] != "_cube" and str(rel) != "zarr.json":
            out[str(rel)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out


def chunk_files(store: Path, bin_index: int, cy: int, cx: int) -> list[str]:
    return [f"{a}/c/{bin_index}/{cy}/{cx}" for a in BANDS + ["count"]]


def cube_arrays(store: Path) -> dict[str, np.ndarray]:
    g = zarr.open_group(str(store), mode="r")
    return {b: np.asarray(g[b][:]) for b in BANDS + ["count"]}


def assert_equals_reference(store: Path, world: Path, bins) -> None:
    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    ref = reference_cube(world, grid, bins, BANDS)
    got = cube_arrays(store)
    for b in BANDS + ["count"]:
        assert got[b].shape == ref[b].shape, b
        np.testing.assert_array_equal(got[b], ref[b], err_msg=b)
    assert (got["count"] > 0).any()


def job_scenes(items: list[dict], tbin) -> dict[tuple[int, int], set]:
    """Per chunk of the grid: the (id, updated) of the scenes a job uses (footprint, dedup)."""
    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    rows, cols = -(-grid.height // CHUNK), -(-grid.width // CHUNK)
    refs = dedup(load_items_from(items))
    out = {}
    for cy in range(rows):
        for cx in range(cols):
            x0 = (grid.ix0 + cx * CHUNK) * grid.rx
            x1 = (grid.ix0 + min((cx + 1) * CHUNK, grid.width)) * grid.rx
            y1 = (grid.iy0 - cy * CHUNK) * grid.ry
            y0 = (grid.iy0 - min((cy + 1) * CHUNK, grid.height)) * grid.ry
            box = shapely.box(x0, y0, x1, y1)
            out[(cy, cx)] = {(i.id, i.raw["properties"].get("updated")) for i in select(refs, tbin, box)}
    return out


def load_items_from(items: list[dict]):
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"living-items-{os.getpid()}.ndjson"
    tmp.write_text("".join(json.dumps(i) + "\n" for i in items))
    try:
        return load_items(tmp)
    finally:
        tmp.unlink()


@pytest.fixture(scope="module")
def world():
    w = world_with("small", seed=13, name="living", aoi=tuple(BBOX))
    if not (w / "items-full.ndjson").exists():
        shutil.copy(w / "items.ndjson", w / "items-full.ndjson")
    catalog = Catalog(w)
    yield w, catalog
    catalog.stop()
    shutil.copy(w / "items-full.ndjson", w / "items.ndjson")


@pytest.fixture(scope="module")
def steps(world, tmp_path_factory):
    """The three steps on one store, with what each left behind."""
    w, catalog = world
    changes = choose_changes(catalog.full)
    before, after = before_catalog(catalog.full, changes), after_catalog(catalog.full, changes)
    folder = tmp_path_factory.mktemp("living")
    env = catalog.serve(before)
    store = folder / "living.zarr"

    cube("run", write_spec(folder, env, "2024-02-29"), "--workers", "2", "--quiet", "--no-previews")
    first = {"files": data_files(store), "arrays": cube_arrays(store)}
    assert_equals_reference(store, w, FEB)

    out = cube("run", write_spec(folder, env, "2024-03-31"), "--workers", "2", "--json", "--no-previews")
    append_report = json.loads(out.stdout.splitlines()[-1])
    second = {"files": data_files(store), "report": append_report, "stderr": out.stderr}
    assert_equals_reference(store, w, MAR)

    catalog.serve(after)
    pre_update = folder / "pre-update.zarr"
    shutil.copytree(store, pre_update)
    dry = cube("update", store, "--dry-run", "--json")
    dry_report = json.loads(dry.stdout)
    untouched_before = data_files(store)
    out = cube("update", store, "--workers", "2", "--json", "--no-previews")
    lines = out.stdout.splitlines()
    update, run = json.loads(lines[-2]), json.loads(lines[-1])
    return dict(world=w, catalog=catalog, changes=changes, pre_update=pre_update, before=before, after=after, folder=folder, store=store,
                first=first, second=second, dry=dry_report, update=update, run=run,
                files_before_update=untouched_before, files_after_update=data_files(store))


def test_append_extends_the_cube_and_rewrites_nothing_of_the_first_month(steps):
    store, first, second = steps["store"], steps["first"], steps["second"]
    assert "extended" in second["stderr"] and "2024-03" in second["stderr"]
    report = second["report"]
    assert report["complete"] and report["published_bins"] == 2 and report["complete_bins"] == 2
    # Nothing of February was put again: same bytes, same modification times.
    for key, (data, mtime) in first["files"].items():
        if key.split("/")[0] in BANDS + ["count"] and "/c/" in key:
            assert second["files"][key] == (data, mtime), key
    # Arrays, the time axis and its bounds grew; each time chunk is its own object.
    ds = xr.open_zarr(store)
    assert ds.sizes["time"] == 2
    assert [str(t)[:10] for t in ds.time.values] == ["2024-02-01", "2024-03-01"]
    assert (store / "time" / "c" / "1").is_file() and second["files"]["time/c/0"] == first["files"]["time/c/0"]
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    assert attrs["cube:bins_complete"] == [True, True] and attrs["cube:complete"] is True
    items = sorted(p.name for p in (store / "_cube" / "stac" / "items").iterdir())
    assert items == ["2024-02.json", "2024-03.json"]
    collection = json.loads((store / "_cube" / "stac" / "collection.json").read_text())
    assert collection["extent"]["temporal"]["interval"][0][1].startswith("2024-03-31")


def test_update_rebuilds_exactly_the_jobs_whose_scenes_changed(steps):
    before, after = steps["before"], steps["after"]
    expected = set()
    for t, tbin in enumerate(MAR):
        a, b = job_scenes(before, tbin), job_scenes(after, tbin)
        expected |= {f"{tbin.label}/{cy}/{cx}" for (cy, cx) in a if a[(cy, cx)] != b[(cy, cx)]}
    assert expected, "the catalog change touches some jobs"
    total = len(job_scenes(before, MAR[0])) * 2
    assert len(expected) < total, "and leaves others alone"
    for report in (steps["dry"], steps["update"]):
        got = {j["job"] for b in report["bins"] for j in b["rebuild"] + b["emptied"]}
        assert got == expected
    # Every kind of change is named in the reasons.
    changes = steps["changes"]
    reasons = [j["change"] for b in steps["dry"]["bins"] for j in b["rebuild"]]
    assert any(changes["withdrawn"] in c["withdrawn"] for c in reasons)
    assert any(changes["touched"] in c["changed"] for c in reasons)
    assert any(set(changes["late"]) & set(c["added"]) for c in reasons)
    assert any(r for c in reasons for r in c["replaced"] if "_0_L2A → " in r and r.endswith("_1_L2A"))
    run = steps["run"]
    assert run["complete"] and run["jobs"]["done_this_run"] == steps["update"]["jobs_rebuild"]
    assert run["update"]["jobs_rebuilt"] == steps["update"]["jobs_rebuild"]
    # The dry run wrote nothing: what the update found is what the dry run said.
    assert steps["dry"]["dry_run"] and not steps["update"]["dry_run"]


def test_untouched_jobs_keep_their_chunk_objects(steps):
    store = steps["store"]
    rebuilt = {j["job"] for b in steps["update"]["bins"] for j in b["rebuild"] + b["emptied"]}
    before, after = steps["files_before_update"], steps["files_after_update"]
    labels = [b.label for b in MAR]
    kept = 0
    for key, value in before.items():
        parts = key.split("/")
        if parts[0] not in BANDS + ["count"] or len(parts) != 5:
            continue
        job = f"{labels[int(parts[2])]}/{parts[3]}/{parts[4]}"
        if job not in rebuilt:
            assert after[key] == value, key
            kept += 1
    assert kept > 0
    # The bins' STAC items say what changed.
    item = json.loads((store / "_cube" / "stac" / "items" / "2024-02.json").read_text())
    assert item["properties"]["cube_update"]["jobs_rebuilt"] > 0


def test_after_update_the_cube_equals_the_reference_and_a_fresh_build(steps, tmp_path):
    store, w, catalog = steps["store"], steps["world"], steps["catalog"]
    assert_equals_reference(store, w, MAR)
    fresh_folder = tmp_path / "fresh"
    fresh_folder.mkdir()
    spec = write_spec(fresh_folder, catalog.env, "2024-03-31")
    cube("run", spec, "--workers", "2", "--quiet", "--no-previews")
    fresh = {k: v[0] for k, v in data_files(fresh_folder / "living.zarr").items()}
    got = {k: v[0] for k, v in data_files(store).items()}
    assert got.keys() == fresh.keys()
    assert [k for k in got if got[k] != fresh[k]] == []
    # A second update finds nothing to do.
    again = json.loads(cube("update", store, "--dry-run", "--json").stdout)
    assert again["jobs_rebuild"] == 0 and again["jobs_emptied"] == 0


def test_status_job_lists_the_scenes_a_chunk_came_from(steps):
    store = steps["store"]
    out = cube("status", store, "--job", "2024-02/0/0", "--json")
    record = json.loads(out.stdout)
    assert record["job"] == "2024-02/0/0" and record["scenes"]
    for s in record["scenes"]:
        assert s["id"] and s["datetime"] and s["assets"].keys() >= {"red", "scl"}
    assert steps["changes"]["withdrawn"] not in {s["id"] for s in record["scenes"]}
    text = cube("status", store, "--job", "2024-02/0/0").stdout
    assert record["scenes"][0]["id"] in text


def readers_see_only_complete_steps(store: Path, expected: dict[str, np.ndarray]) -> int:
    """xarray, zarr-python and tensorstore open the store without error, and every time step
    they show equals the uninterrupted build (only complete steps are published). Returns the
    number of steps shown."""
    ds = xr.open_zarr(store)
    steps = ds.sizes["time"]
    assert 1 <= steps <= expected["red"].shape[0]
    assert len(ds.time_bnds) == steps
    g = zarr.open_group(str(store), mode="r")
    import tensorstore as ts
    for b in BANDS + ["count"]:
        got = np.asarray(g[b][:])
        assert got.shape[0] == steps
        np.testing.assert_array_equal(got, expected[b][:steps], err_msg=f"zarr {b}")
        arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(store / b)}}, read=True).result()
        assert arr.shape[0] in (steps, steps + 1)   # arrays grow before the time axis, never past complete steps
        np.testing.assert_array_equal(arr[:steps].read().result(), expected[b][:steps], err_msg=f"tensorstore {b}")
    flags = json.loads((store / "zarr.json").read_text())["attributes"]["cube:bins_complete"]
    assert len(flags) == steps
    return steps


def kill_during(args: list, seconds: float, env=None) -> None:
    proc = subprocess.Popen([cube_bin(), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=env)
    time.sleep(seconds)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def zarr_bytes(store: Path) -> dict[str, bytes]:
    return {k: v[0] for k, v in data_files(store).items()}


def test_kill_during_an_append_then_rerun(steps, tmp_path):
    catalog, folder = steps["catalog"], steps["folder"]
    env = catalog.serve(steps["before"])
    month = tmp_path / "month"
    month.mkdir()
    cube("run", write_spec(month, env, "2024-02-29"), "--workers", "2", "--quiet", "--no-previews")
    full = tmp_path / "full"
    shutil.copytree(month, full)
    cube("run", write_spec(full, env, "2024-03-31"), "--workers", "2", "--quiet", "--no-previews")
    expected = cube_arrays(full / "living.zarr")
    for trial, delay in enumerate((0.4, 1.5)):
        t = tmp_path / f"t{trial}"
        shutil.copytree(month, t)
        kill_during(["run", write_spec(t, env, "2024-03-31"), "--workers", "2", "--quiet", "--no-previews"], delay)
        readers_see_only_complete_steps(t / "living.zarr", expected)
        cube("run", write_spec(t, env, "2024-03-31"), "--workers", "2", "--quiet", "--no-previews")
        assert readers_see_only_complete_steps(t / "living.zarr", expected) == 2
        got, want = zarr_bytes(t / "living.zarr"), zarr_bytes(full / "living.zarr")
        assert got.keys() == want.keys()
        assert [k for k in got if got[k] != want[k]] == [], f"trial {trial}"


def test_kill_during_an_update_then_rerun(steps, tmp_path):
    catalog = steps["catalog"]
    catalog.serve(steps["after"])
    final = zarr_bytes(steps["store"])
    expected_after = cube_arrays(steps["store"])
    for trial, delay in enumerate((0.5, 1.5)):
        t = tmp_path / f"u{trial}" / "living.zarr"
        shutil.copytree(steps["pre_update"], t)
        kill_during(["update", t, "--workers", "2", "--quiet", "--no-previews"], delay)
        # Readers open it; each chunk is whole (the old or the new one), the time axis unchanged.
        ds = xr.open_zarr(t)
        assert ds.sizes["time"] == 2
        np.asarray(ds["red"].values)
        if (t / "_cube" / "update.json").exists():
            # `cube run` refuses to build over an unfinished update.
            out = cube("run", t, "--quiet", check=False)
            assert out.returncode != 0 and "cube update" in out.stderr
        cube("update", t, "--workers", "2", "--quiet", "--no-previews")
        assert not (t / "_cube" / "update.json").exists()
        got = zarr_bytes(t)
        assert got.keys() == final.keys()
        assert [k for k in got if got[k] != final[k]] == [], f"trial {trial}"
        np.testing.assert_array_equal(cube_arrays(t)["red"], expected_after["red"])


def test_specs_that_change_more_than_the_end_are_refused(steps, tmp_path):
    env = steps["catalog"].env
    store = tmp_path / "copy.zarr"
    shutil.copytree(steps["store"], store)
    files = data_files(store)

    def spec(i: int, end: str, edit=lambda text: text, extra: str = "") -> Path:
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        path = write_spec(folder, env, end, extra=extra)
        path.write_text(edit(path.read_text()))
        return path

    cases = [
        (spec(0, "2024-04-30", extra="composite: mean\n"), ["composite", "only a later time.end"]),
        (spec(1, "2024-02-15"), ["time.end", "shrink"]),
        (spec(2, "2024-04-30", lambda t: t.replace('bands: ["red"', 'bands: ["rededge1", "red"')), ["bands"]),
        (spec(3, "2024-04-30", lambda t: t.replace("start: 2024-02-01", "start: 2024-01-01")), ["time.start", "only a later time.end"]),
    ]
    for path, words in cases:
        out = cube("run", path, "--store", store, "--quiet", check=False)
        assert out.returncode != 0, path.read_text()
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("cube: error:"), out.stderr
        for w in words:
            assert w in lines[0], (w, lines[0])
    assert data_files(store) == files


def test_update_on_a_store_without_provenance_says_how_to_proceed(steps, tmp_path):
    catalog = steps["catalog"]
    catalog.serve(steps["after"])
    t = tmp_path / "old.zarr"
    shutil.copytree(steps["store"], t)
    for p in (t / "_cube" / "done").rglob("*.json"):
        record = json.loads(p.read_text())
        record.pop("scenes", None)
        p.write_text(json.dumps(record))
    files = data_files(t)
    out = cube("update", t, "--dry-run", check=False)
    assert out.returncode == 1 and "--rebuild-unrecorded" in out.stderr
    out = cube("update", t, check=False)
    assert out.returncode == 1 and "--rebuild-unrecorded" in out.stderr
    assert data_files(t) == files and not (t / "_cube" / "update.json").exists()
    report = json.loads(cube("update", t, "--rebuild-unrecorded", "--workers", "2", "--json", "--no-previews").stdout.splitlines()[-2])
    assert report["jobs_unrecorded"] > 0 and report["jobs_rebuild"] >= report["jobs_unrecorded"]
    assert zarr_bytes(t) == zarr_bytes(steps["store"])
    assert json.loads(cube("update", t, "--dry-run", "--json").stdout)["jobs_rebuild"] == 0


def test_update_with_the_catalog_unreachable_changes_nothing(steps, tmp_path):
    t = tmp_path / "offline.zarr"
    shutil.copytree(steps["store"], t)
    steps["catalog"].stop()
    try:
        before = {str(p.relative_to(t)): (p.read_bytes(), p.stat().st_mtime_ns) for p in t.rglob("*") if p.is_file()}
        out = cube("update", t, check=False, timeout=300)
        assert out.returncode == 1
        lines = [l for l in out.stderr.splitlines() if l.startswith("cube: error:")]
        assert len(lines) == 1, out.stderr
        after = {str(p.relative_to(t)): (p.read_bytes(), p.stat().st_mtime_ns) for p in t.rglob("*") if p.is_file()}
        assert after == before
    finally:
        steps["catalog"].serve(steps["after"])


def test_a_coordinator_that_loses_its_lock_stops(steps, tmp_path):
    catalog = steps["catalog"]
    env = catalog.serve(steps["after"])
    spec = write_spec(tmp_path, env, "2024-03-31").read_text().replace(f"chunk: {CHUNK}", "chunk: 16")
    (tmp_path / "lock.yaml").write_text(spec)
    cube("init", tmp_path / "lock.yaml")
    store = tmp_path / "living.zarr"
    proc = subprocess.Popen([cube_bin(), "run", str(store), "--workers", "1", "--quiet", "--no-previews"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CUBE_LOCK_HEARTBEAT_SECONDS": "0.2"})
    lock = store / "_cube" / "run.lock"
    deadline = time.time() + 30
    while not lock.exists() and time.time() < deadline:
        time.sleep(0.02)
    holder = json.loads(lock.read_text())
    other = {**holder, "host": "another-host", "pid": 1, "token": "someone-else", "heartbeat": time.time() + 3600}
    tmp = lock.with_suffix(".tmp")
    tmp.write_text(json.dumps(other))
    os.replace(tmp, lock)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "lost its lock" in err and "published nothing" in err
    assert json.loads(lock.read_text())["token"] == "someone-else"      # the other run's lock stays
    done = list((store / "_cube" / "done").rglob("*.json")) if (store / "_cube" / "done").exists() else []
    plan_jobs = json.loads((store / "zarr.json").read_text())["attributes"]["cube:jobs"]
    assert len(done) < plan_jobs, "it stopped before building everything"
    assert not (store / "_cube" / "report.json").exists()


def test_append_and_update_into_a_bucket(steps, tmp_path):
    """The same three steps into an S3-compatible bucket (moto on loopback): after the append and
    after the update the bucket holds the local store's Zarr objects, byte for byte."""
    import boto3
    port = free_port()
    log = (tmp_path / "moto.log").open("w")
    moto = subprocess.Popen([str(REPO / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        from world_testkit import wait_http
        wait_http(url)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-living",
               "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_NO_SIGN_REQUEST"):
            env.pop(k, None)
        client = boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIDEXAMPLE",
                              aws_secret_access_key="secret-living", region_name="us-east-1")
        client.create_bucket(Bucket="cubes")

        def bucket() -> dict[str, bytes]:
            out = {}
            for page in client.get_paginator("list_objects_v2").paginate(Bucket="cubes", Prefix="living/"):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len("living/"):]
                    if not key.startswith("_cube/") and key != "zarr.json":
                        out[key] = client.get_object(Bucket="cubes", Key=obj["Key"])["Body"].read()
            return out

        catalog = steps["catalog"]
        served = catalog.serve(steps["before"])
        location = "s3://cubes/living"
        cube("run", write_spec(tmp_path, served, "2024-02-29"), "--store", location, "--workers", "2", "--quiet",
             "--no-previews", env=env)
        cube("run", write_spec(tmp_path, served, "2024-03-31"), "--store", location, "--workers", "2", "--quiet",
             "--no-previews", env=env)
        appended = bucket()
        assert appended == zarr_bytes(steps["pre_update"])
        catalog.serve(steps["after"])
        dry = json.loads(cube("update", location, "--dry-run", "--json", env=env).stdout)
        assert {j["job"] for b in dry["bins"] for j in b["rebuild"] + b["emptied"]} == \
            {j["job"] for b in steps["update"]["bins"] for j in b["rebuild"] + b["emptied"]}
        cube("update", location, "--workers", "2", "--quiet", "--no-previews", env=env)
        assert bucket() == zarr_bytes(steps["store"])
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="cubes", Prefix="living/_cube/")["Contents"]]
        assert "living/_cube/update.json" not in keys
    finally:
        moto.kill()
        moto.wait()


@pytest.mark.parametrize("variant,extra", [("pyramid", "pyramid: true\n"), ("v2", "zarr_format: 2\n")])
def test_pyramids_and_zarr_v2_follow_appends_and_updates(steps, tmp_path, variant, extra):
    """The pyramid levels (time axis, chunks above rebuilt jobs) and a Zarr v2 cube (read by GDAL)
    through the same append and update: equal to a fresh build from the final catalog."""
    catalog = steps["catalog"]
    env = catalog.serve(steps["before"])
    store = tmp_path / "living.zarr"
    cube("run", write_spec(tmp_path, env, "2024-02-29", extra=extra), "--workers", "2", "--quiet", "--no-previews")
    cube("run", write_spec(tmp_path, env, "2024-03-31", extra=extra), "--workers", "2", "--quiet", "--no-previews")
    catalog.serve(steps["after"])
    report = json.loads(cube("update", store, "--workers", "2", "--json", "--no-previews").stdout.splitlines()[-2])
    assert report["jobs_rebuild"] > 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    cube("run", write_spec(fresh, catalog.env, "2024-03-31", extra=extra), "--workers", "2", "--quiet", "--no-previews")

    def objects(s: Path) -> dict[str, bytes]:
        root_meta = {"zarr.json", ".zattrs", ".zmetadata", ".zgroup"}
        return {str(p.relative_to(s)): p.read_bytes() for p in sorted(s.rglob("*"))
                if p.is_file() and p.relative_to(s).parts[0] != "_cube" and str(p.relative_to(s)) not in root_meta}

    got, want = objects(store), objects(fresh / "living.zarr")
    assert got.keys() == want.keys()
    assert [k for k in got if got[k] != want[k]] == []
    if variant == "pyramid":
        for level in ("0", "1"):
            ds = xr.open_zarr(store, group=level)
            assert ds.sizes["time"] == 2 and int(ds["count"].isel(time=1).sum()) > 0
        attrs = json.loads((store / "zarr.json").read_text())["attributes"]
        assert attrs["cube:bins_complete"] == [True, True]
    else:
        info = json.loads(subprocess.run(["gdalinfo", "-json", f'ZARR:"{store}":/red:1'], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["size"][0] > 0
        assert xr.open_zarr(store).sizes["time"] == 2
        assert json.loads((store / ".zattrs").read_text())["cube:bins_complete"] == [True, True]


def test_serve_shows_only_published_bins(steps, tmp_path):
    """`cube serve` lists and renders the published bins only: a bin built by an append but not
    yet published (here: the publication record rolled back to one bin) is not on its map."""
    import urllib.error
    import urllib.request
    store = tmp_path / "serve.zarr"
    shutil.copytree(steps["store"], store)
    record = json.loads((store / "_cube" / "publication.json").read_text())
    (store / "_cube" / "publication.json").write_text(json.dumps({"bins": 1, "complete": record["complete"][:1]}))
    # Readers see what the root group says (it is published with the consolidated metadata).
    root = json.loads((store / "zarr.json").read_text())
    root["attributes"]["cube:bins_complete"] = root["attributes"]["cube:bins_complete"][:1]
    (store / "zarr.json").write_text(json.dumps(root))
    proc = subprocess.Popen([cube_bin(), "serve", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0].rstrip("/")
        info = json.loads(urllib.request.urlopen(url + "/api/info", timeout=30).read())
        assert info["bins"] == ["2024-02"]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{url}/tiles/2024-03/12/2187/1465.png", timeout=30)
        assert e.value.code == 400
        ok = urllib.request.urlopen(f"{url}/tiles/2024-02/12/2187/1465.png", timeout=30)
        assert ok.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
