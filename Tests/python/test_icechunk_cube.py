"""Cubes in an Icechunk repository (issue 23), end to end: the living-cube world (nginx byte
ranges, a real STAC API whose catalog changes between steps) built into `icechunk:PATH` by
`cube init` + `cube run`, appended and updated, each step one commit on main; read by
icechunk-python 2.x and xarray (under .venv-icechunk, Python 3.12: Tests/python/icechunk/cube_repo.py)
and compared with the independent reference and with a plain-Zarr build of the same spec.
Also: `kill -9` of the process group during a build and during an append (main stays where it
was; the rerun commits once and equals an uninterrupted build), icechunk-python committing on
top of a cube commit and cube appending on top of that, versions read back by snapshot id and
tag, and the same on S3 (moto) with two coordinators racing."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from world_testkit import REPO, cube_bin, world_with
from test_living_cube import (BANDS, BBOX, FEB, MAR, Catalog, before_catalog, after_catalog, choose_changes,
                              cube, write_spec)

from world.reference import reference_cube
from world.refgrid import Grid

PY312 = REPO / ".venv-icechunk" / "bin" / "python"
READER = REPO / "Tests" / "python" / "icechunk" / "cube_repo.py"
VARS = BANDS + ["count"]


def icechunk_python(location, *args, env=None) -> dict:
    assert PY312.is_file(), f"{PY312} missing: run scripts/test (setup_icechunk_python)"
    out = subprocess.run([str(PY312), str(READER), str(location), *map(str, args)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, f"cube_repo.py {args}: {out.stderr[-4000:]}"
    return json.loads(out.stdout.splitlines()[-1])


def read_version(location, tmp: Path, version=None, env=None) -> tuple[dict, dict]:
    """Arrays and facts of a version (default: the tip of main) as icechunk-python reads it."""
    out = tmp / f"read-{time.monotonic_ns()}.npz"
    facts = icechunk_python(location, "read", out, *(["--version", version] if version else []), env=env)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}, facts


def plain_arrays(store: Path) -> dict[str, np.ndarray]:
    import zarr
    g = zarr.open_group(str(store), mode="r")
    return {b: np.asarray(g[b][:]) for b in VARS}


def reference(world: Path, bins) -> dict[str, np.ndarray]:
    return reference_cube(world, Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX), bins, BANDS)


def assert_same(got: dict, want: dict, what: str) -> None:
    for b in VARS:
        assert got[b].shape == want[b].shape, f"{what}: {b} {got[b].shape} != {want[b].shape}"
        np.testing.assert_array_equal(got[b], want[b], err_msg=f"{what}: {b}")


def log(location, env=None) -> list[dict]:
    out = cube("log", location, "--json", env=env)
    return [json.loads(line) for line in out.stdout.splitlines()]


def done_records(repo: Path, label: str) -> int:
    folder = repo / "_cube" / "done" / label
    return sum(1 for _ in folder.rglob("*.json")) if folder.is_dir() else 0


def killed_midway(args: list, repo: Path, label: str, min_done: int = 2) -> None:
    """Starts `cube ARGS` in its own process group and kills the group with SIGKILL once
    `min_done` jobs of bin `label` are recorded done."""
    proc = subprocess.Popen([cube_bin(), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and done_records(repo, label) < min_done:
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


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
    w, catalog = world
    changes = choose_changes(catalog.full)
    before, after = before_catalog(catalog.full, changes), after_catalog(catalog.full, changes)
    folder = tmp_path_factory.mktemp("icechunk-cube")
    env = catalog.serve(before)
    repo = folder / "living.icechunk"
    loc = f"icechunk:{repo}"
    r: dict = dict(world=w, folder=folder, repo=repo, loc=loc)

    # The plain build of the same spec, and the references of each step's catalog.
    cube("run", write_spec(folder, env, "2024-02-29", name="plain"), "--workers", "2", "--quiet", "--no-previews")
    r["plain_feb"] = plain_arrays(folder / "plain.zarr")
    r["ref_feb"], r["ref_mar"] = reference(w, FEB), reference(w, MAR)

    # 1. cube init (a commit: the schema), then the build (a commit).
    feb_spec = write_spec(folder, env, "2024-02-29", name="living")
    r["init"] = cube("init", feb_spec, "--store", loc)
    r["log_init"] = log(loc)
    r["run"] = cube("run", loc, "--workers", "2", "--json", "--no-previews")
    r["run_report"] = json.loads(r["run"].stdout.splitlines()[-1])
    r["log_feb"] = log(loc)
    r["feb"], r["feb_facts"] = read_version(loc, folder)
    r["info_feb"] = icechunk_python(repo, "info")
    r["status"] = cube("status", loc, "--json")
    cube("tag", loc, "feb-release")

    # A kill -9 during a build: a fresh repository, its init commit, a killed run, a rerun.
    killed = folder / "killed-build.icechunk"
    cube("init", feb_spec, "--store", f"icechunk:{killed}")
    r["killed_build_log0"] = log(f"icechunk:{killed}")
    killed_midway(["run", f"icechunk:{killed}", "--workers", "2", "--quiet", "--no-previews"], killed, "2024-02")
    r["killed_build_log1"] = log(f"icechunk:{killed}")
    r["killed_build_tip1"], _ = read_version(killed, folder)
    cube("run", f"icechunk:{killed}", "--workers", "2", "--quiet", "--no-previews")
    r["killed_build_log2"] = log(f"icechunk:{killed}")
    r["killed_build"], _ = read_version(killed, folder)

    # A kill -9 during an append, on a copy of the February repository.
    appended = folder / "killed-append.icechunk"
    shutil.copytree(repo, appended)
    mar_spec = write_spec(folder, env, "2024-03-31", name="living")
    killed_midway(["run", mar_spec, "--store", f"icechunk:{appended}", "--workers", "2", "--quiet", "--no-previews"],
                  appended, "2024-03")
    r["killed_append_log1"] = log(f"icechunk:{appended}")
    r["killed_append_tip1"], r["killed_append_facts1"] = read_version(appended, folder)
    cube("run", mar_spec, "--store", f"icechunk:{appended}", "--workers", "2", "--quiet", "--no-previews")
    r["killed_append_log2"] = log(f"icechunk:{appended}")
    r["killed_append"], _ = read_version(appended, folder)

    # 2. icechunk-python commits on top of the cube's commit; cube appends March on top of it.
    r["python_commit"] = icechunk_python(repo, "add-array", "quality_flags")["snapshot"]
    r["append"] = cube("run", mar_spec, "--store", loc, "--workers", "2", "--json", "--no-previews")
    r["log_mar"] = log(loc)
    r["mar"], r["mar_facts"] = read_version(loc, folder)

    # 3. The catalog changes; cube update rebuilds what changed (a commit).
    catalog.serve(after)
    r["ref_after"] = reference(w, MAR)
    r["update"] = cube("update", loc, "--workers", "2", "--json", "--no-previews")
    r["log_update"] = log(loc)
    r["updated"], _ = read_version(loc, folder)
    r["info_update"] = icechunk_python(repo, "info")
    catalog.serve(before)
    return r


def test_init_and_build_are_one_commit_each_and_read_like_the_plain_build(steps):
    init, feb = steps["log_init"], steps["log_feb"]
    assert [c["message"] for c in init][-1] == "Repository initialized" and len(init) == 2
    assert "cube init" in init[0]["message"] and init[0]["metadata"]["spec_digest"]
    assert len(feb) == 3 and feb[1]["id"] == init[0]["id"] and feb[0]["parent"] == init[0]["id"]
    assert "1 time steps (2024-02..2024-02), 1 complete" in feb[0]["message"]
    meta = feb[0]["metadata"]
    assert meta["cube:version"] and meta["index_snapshot"] and meta["jobs_done"] == meta["jobs"]
    assert steps["run_report"]["commit"] == feb[0]["id"] and steps["run_report"]["complete"]
    # icechunk-python reads the tip of main: the reference, exactly, and the plain build.
    assert_same(steps["feb"], steps["ref_feb"], "icechunk build vs reference")
    assert_same(steps["feb"], steps["plain_feb"], "icechunk build vs plain build")
    assert (steps["feb"]["count"] > 0).any()
    facts = steps["feb_facts"]
    assert facts["snapshot"] == feb[0]["id"] and facts["sizes"]["time"] == 1
    assert facts["attrs"]["cube:complete"] is True and facts["attrs"]["cube:bins_complete"] == [True]
    # What icechunk-python inspects agrees: the commits, the tag, the nodes cube wrote.
    info = steps["info_feb"]
    assert [c["id"] for c in info["ancestry"]] == [c["id"] for c in feb]
    paths = {n["path"] for n in info["snapshot"]["nodes"]}
    assert {"/", "/red", "/count", "/time", "/time_bnds", "/latitude", "/longitude", "/spatial_ref"} <= paths
    assert not any(p.startswith("/_cube") for p in paths), "bookkeeping stays outside the snapshot"
    # Every manifest listed with its exact size and ref count; as many refs per array as the
    # plain build has chunk objects; the repo object names the branch and snapshots cube wrote.
    assert info["manifest_mismatches"] == []
    plain = steps["folder"] / "plain.zarr"
    for b in VARS + ["time", "time_bnds"]:
        files = [p for p in (plain / b / "c").rglob("*") if p.is_file()]
        assert info["refs_per_array"].get(f"/{b}", 0) == len(files) > 0, b
    repo_info = info["repo_info"]
    assert repo_info["branches"]["main"] == feb[0]["id"]
    assert {s["id"] for s in repo_info["snapshots"]} == {c["id"] for c in feb}
    assert info["snapshot"]["header"]["written_by"].startswith("cube")


def test_status_and_tags_name_versions(steps, tmp_path):
    loc = steps["loc"]
    status = json.loads(steps["status"].stdout)
    assert status["jobs"]["done"] == status["jobs"]["total"]
    tagged = [c for c in log(loc) if "feb-release" in c["tags"]]
    assert len(tagged) == 1 and tagged[0]["id"] == steps["log_feb"][0]["id"]
    # A tagged version reads as it was, after the append and the update moved main on.
    old, facts = read_version(steps["repo"], tmp_path, "feb-release")
    assert facts["sizes"]["time"] == 1
    assert_same(old, steps["feb"], "tag feb-release")
    at = json.loads(cube("status", loc, "--at", "feb-release", "--json").stdout)
    assert at["version"]["snapshot"] == tagged[0]["id"] and at["version"]["tip_of_main"] is False
    assert at["published_bins"] == 1 and at["complete_bins"] == 1
    tip = json.loads(cube("status", loc, "--json").stdout)
    assert tip["version"]["tip_of_main"] is True and tip["published_bins"] == 2
    assert "version:  " in cube("status", loc, "--at", "feb-release").stdout
    png = tmp_path / "feb.png"
    cube("preview", loc, "--time", "2024-02", "--at", steps["log_feb"][0]["id"], "-o", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Errors name what is wrong.
    bad = cube("status", loc, "--at", "no-such-tag", check=False)
    assert bad.returncode != 0 and "no snapshot, tag or branch named no-such-tag" in bad.stderr
    again = cube("tag", loc, "feb-release", check=False)
    assert again.returncode == 2 and "exists already" in again.stderr
    plain = cube("log", steps["folder"] / "plain.zarr", check=False)
    assert plain.returncode == 2 and "keeps no versions" in plain.stderr


def served_info(location, *args) -> tuple[dict, dict]:
    import urllib.request
    proc = subprocess.Popen([cube_bin(), "serve", str(location), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0].rstrip("/")
        info = json.loads(urllib.request.urlopen(url + "/api/info", timeout=30).read())
        lon, lat = (BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2
        point = json.loads(urllib.request.urlopen(f"{url}/api/point?lon={lon}&lat={lat}", timeout=30).read())
        return info, point
    finally:
        proc.terminate()
        proc.wait()


def test_serve_shows_the_tip_or_the_version_named(steps):
    loc = steps["loc"]
    info, point = served_info(loc)
    assert info["bins"] == ["2024-02", "2024-03"]
    assert point["series"]["red"] == [int(v) for v in steps["updated"]["red"][:, point["row"], point["col"]]]
    info, point = served_info(loc, "--at", "feb-release")
    assert info["bins"] == ["2024-02"]
    assert point["series"]["red"] == [int(v) for v in steps["feb"]["red"][:, point["row"], point["col"]]]


def test_commit_each_bin_lets_readers_follow_a_build_bin_by_bin(steps, world, tmp_path):
    _, catalog = world
    loc = f"icechunk:{tmp_path / 'each.icechunk'}"
    cube("init", write_spec(tmp_path, catalog.env, "2024-03-31", name="each"), "--store", loc)
    cube("run", loc, "--workers", "2", "--quiet", "--no-previews", "--commit-each-bin")
    commits = log(loc)
    assert len(commits) == 4, [c["message"] for c in commits]
    assert "1 complete" in commits[1]["message"] and "2 complete" in commits[0]["message"]
    first, _ = read_version(tmp_path / "each.icechunk", tmp_path, commits[1]["id"])
    for b in VARS:
        np.testing.assert_array_equal(first[b][0], steps["ref_mar"][b][0], err_msg=b)
    last, _ = read_version(tmp_path / "each.icechunk", tmp_path)
    assert_same(last, steps["ref_mar"], "commit-each-bin build vs reference")


def test_kill_during_a_build_leaves_main_at_the_init_commit(steps):
    log0, log1, log2 = steps["killed_build_log0"], steps["killed_build_log1"], steps["killed_build_log2"]
    assert log1 == log0, "a killed build commits nothing"
    assert int(steps["killed_build_tip1"]["count"].max()) == 0, "readers of main see the empty schema"
    assert len(log2) == len(log0) + 1 and log2[0]["parent"] == log0[0]["id"], "the rerun commits once"
    assert_same(steps["killed_build"], steps["feb"], "killed and resumed build vs uninterrupted")


def test_kill_during_an_append_leaves_main_at_the_previous_commit(steps):
    feb = steps["log_feb"]
    log1, log2 = steps["killed_append_log1"], steps["killed_append_log2"]
    assert [c["id"] for c in log1] == [c["id"] for c in feb], "a killed append commits nothing"
    assert steps["killed_append_facts1"]["sizes"]["time"] == 1
    assert_same(steps["killed_append_tip1"], steps["feb"], "main after the killed append")
    assert len(log2) == len(feb) + 1 and log2[0]["parent"] == feb[0]["id"], "the rerun commits once"
    assert_same(steps["killed_append"], steps["ref_mar"], "killed and resumed append vs reference")


def test_append_commits_on_top_of_icechunk_pythons_commit(steps, tmp_path):
    mar, feb = steps["log_mar"], steps["log_feb"]
    assert len(mar) == len(feb) + 2
    assert mar[1]["id"] == steps["python_commit"] and mar[1]["message"] == "icechunk-python adds quality_flags"
    assert mar[0]["parent"] == steps["python_commit"]
    assert "2 time steps (2024-02..2024-03), 2 complete" in mar[0]["message"]
    assert steps["mar_facts"]["sizes"]["time"] == 2
    assert_same(steps["mar"], steps["ref_mar"], "append vs reference")
    # icechunk-python's array came through cube's commit unchanged.
    np.testing.assert_array_equal(steps["mar"]["quality_flags"], np.arange(20, dtype="int16").reshape(4, 5))
    # The previous snapshot still reads the previous cube, exactly.
    old, facts = read_version(steps["repo"], tmp_path, feb[0]["id"])
    assert facts["sizes"]["time"] == 1
    assert_same(old, steps["feb"], "the February snapshot after the append")


def test_update_is_one_commit_and_the_previous_version_survives(steps, tmp_path):
    mar, upd = steps["log_mar"], steps["log_update"]
    assert len(upd) == len(mar) + 1 and upd[0]["parent"] == mar[0]["id"]
    assert "update of" in upd[0]["message"] and "jobs rebuilt" in upd[0]["message"]
    assert_same(steps["updated"], steps["ref_after"], "update vs reference of the changed catalog")
    assert any(not np.array_equal(steps["updated"][b], steps["mar"][b]) for b in VARS), "the update changed pixels"
    old, _ = read_version(steps["repo"], tmp_path, mar[0]["id"])
    assert_same(old, steps["mar"], "the pre-update snapshot after the update")
    assert [c["id"] for c in steps["info_update"]["ancestry"]] == [c["id"] for c in upd]


def test_zarr_v2_and_missing_repositories_are_refused(steps, tmp_path):
    spec = tmp_path / "v2.yaml"
    text = (steps["folder"] / "living.yaml").read_text().replace("store: living.zarr", "store: living.zarr\nzarr_format: 2")
    spec.write_text(text)
    out = cube("init", spec, "--store", f"icechunk:{tmp_path / 'v2.icechunk'}", check=False)
    assert out.returncode == 2 and "Zarr v3 only" in out.stderr
    assert not (tmp_path / "v2.icechunk").exists()
    missing = cube("status", f"icechunk:{tmp_path / 'none'}", check=False)
    assert missing.returncode != 0 and "no Icechunk repository there" in missing.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    out = cube("init", steps["folder"] / "living.yaml", "--store", f"icechunk:{full}", check=False)
    assert out.returncode != 0 and "holds objects but no Icechunk repository" in out.stderr


@pytest.fixture(scope="module")
def s3():
    import boto3
    import socket
    from world_testkit import wait_http
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "icechunk-s3cr3t",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_NO_SIGN_REQUEST"):
        env.pop(k, None)
    boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="icechunk-s3cr3t",
                 region_name="us-east-1").create_bucket(Bucket="cubes")
    yield env
    proc.kill()
    proc.wait()


def test_on_s3_a_build_and_an_append_commit_and_racing_coordinators_lose_nothing(steps, world, s3, tmp_path):
    w, catalog = world
    env = {**s3, **catalog.env}
    loc = "icechunk:s3://cubes/living"
    feb_spec = write_spec(tmp_path, catalog.env, "2024-02-29", name="living")
    cube("run", feb_spec, "--store", loc, "--workers", "2", "--quiet", "--no-previews", env=env)
    first = log(loc, env=env)
    assert len(first) == 2 and "1 complete" in first[0]["message"]
    got, facts = read_version("s3://cubes/living", tmp_path, env=env)
    assert facts["snapshot"] == first[0]["id"]
    assert_same(got, steps["ref_feb"], "S3 build vs reference")
    assert_same(got, steps["plain_feb"], "S3 build vs plain build")

    # Two coordinators append at once: one builds and commits, the other is refused; one commit.
    mar_spec = write_spec(tmp_path, catalog.env, "2024-03-31", name="living")
    procs = [subprocess.Popen([cube_bin(), "run", mar_spec, "--store", loc, "--workers", "1", "--quiet", "--no-previews"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outs)
    assert codes == [0, 1], outs
    loser = next(err for code, err in outs if code == 1)
    assert "another `cube run` is building this store" in loser, loser
    second = log(loc, env=env)
    assert len(second) == 3 and second[1]["id"] == first[0]["id"]
    got, _ = read_version("s3://cubes/living", tmp_path, env=env)
    assert_same(got, steps["ref_mar"], "S3 append vs reference")
    old, _ = read_version("s3://cubes/living", tmp_path, first[0]["id"], env=env)
    assert_same(old, steps["ref_feb"], "S3 February snapshot after the append")


def test_a_relative_store_and_force_replace_in_one_commit(tmp_path):
    """`store: icechunk:repo` is relative to the spec's folder; `cube init --force` with another
    spec replaces the cube in one commit (old arrays gone, new ones there), nothing left staged."""
    spec = """name: f
stac: {items: items.ndjson, collection: sentinel-2-l2a}
grid: {crs: EPSG:4326, resolution: 1/3600, bbox: [12.0, 45.0, 12.02, 45.015], chunk: CHUNK}
time: {start: 2024-01-01, end: 2024-02-29}
bands: BANDS
land_mask: none
store: icechunk:repo
"""
    (tmp_path / "items.ndjson").write_text("")
    (tmp_path / "a.yaml").write_text(spec.replace("CHUNK", "16").replace("BANDS", "[red, nir]"))
    (tmp_path / "b.yaml").write_text(spec.replace("CHUNK", "32").replace("BANDS", "[green]"))
    cube("init", tmp_path / "a.yaml", "--no-index")
    assert (tmp_path / "repo" / "repo").is_file(), "the repository sits beside the spec"
    refused = cube("init", tmp_path / "b.yaml", "--no-index", check=False)
    assert refused.returncode != 0 and "changed: bands, grid.chunk" in refused.stderr
    cube("init", tmp_path / "b.yaml", "--no-index", "--force")
    commits = log(f"icechunk:{tmp_path / 'repo'}")
    assert len(commits) == 3 and "12 jobs" in commits[0]["message"] and "40 jobs" in commits[1]["message"]
    info = icechunk_python(tmp_path / "repo", "info")
    paths = {n["path"] for n in info["snapshot"]["nodes"]}
    assert "/green" in paths and "/red" not in paths and "/nir" not in paths
    assert not list((tmp_path / "repo" / "_cube" / "icechunk" / "staged").glob("*.json"))
