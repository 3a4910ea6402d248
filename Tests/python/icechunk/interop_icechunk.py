"""Icechunk repositories written by the Swift `Icechunk` module, read and extended by
icechunk-python 2.x (the reference implementation), and the other way round, on a local disk
and on S3 (moto). Runs under the Python 3.12 venv (.venv-icechunk: icechunk 2.x needs >= 3.12);
Tests/python/test_icechunk.py runs this file there. The Swift side is the test-only executable
IcechunkFixture (Sources/IcechunkFixture), path in $ICECHUNK_FIXTURE."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import icechunk
import numpy as np
import pytest
import xarray as xr
import zarr

FIXTURE = os.environ.get("ICECHUNK_FIXTURE", "")
assert icechunk.__version__.startswith("2."), f"icechunk {icechunk.__version__} (need 2.x)"


def swift(location, *args, stdin=None, env=None, check=True):
    out = subprocess.run([FIXTURE, str(location), *map(str, args)], input=stdin, capture_output=True,
                         text=True, timeout=300, env=env)
    if check:
        assert out.returncode == 0, f"IcechunkFixture {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}"
        return json.loads(out.stdout)
    return out


def swift_commit(location, plan, env=None):
    return swift(location, "commit", stdin=json.dumps(plan), env=env)["snapshot"]


# Three arrays over (time, y, x) and (y, x): blosc+zstd, plain zstd with inline chunks, and a
# sharded array (one Icechunk chunk per shard).
RED = {"path": "/red", "shape": [3, 10, 14], "chunks": [1, 4, 5], "compression": "blosc",
       "dimension_names": ["time", "y", "x"], "base": 10}
NIR = {"path": "/nir", "shape": [10, 14], "chunks": [5, 7], "compression": "zstd",
       "dimension_names": ["y", "x"], "base": 1000, "inline_below": 512}
SHARD = {"path": "/qa", "shape": [3, 10, 14], "chunks": [1, 10, 14], "inner_chunks": [1, 5, 7],
         "compression": "none", "dimension_names": ["time", "y", "x"], "base": 5}


def expected(spec, writes=()):
    """The array a plan writes: base + flat index; `writes` = later (spec, chunk coords) overlays."""
    shape = spec["shape"]
    out = ((np.arange(int(np.prod(shape))) + spec["base"]) % 65536).astype("uint16").reshape(shape)
    for later, coords in writes:
        sl = tuple(slice(c * n, min((c + 1) * n, s)) for c, n, s in zip(coords, later["chunks"], shape))
        full = ((np.arange(int(np.prod(shape))) + later["base"]) % 65536).astype("uint16").reshape(shape)
        out[sl] = full[sl]
    return out


def first_commit(location, env=None):
    swift(location, "create", env=env)
    return swift_commit(location, {"message": "first cube", "metadata": {"tool": "cube", "bins": 3},
                                   "groups": {"/": {"title": "test cube"}}, "arrays": [RED, NIR, SHARD]}, env=env)


def check_reads(repo, snapshot=None, branch=None, red_writes=()):
    session = repo.readonly_session(snapshot_id=snapshot) if snapshot else repo.readonly_session(branch=branch)
    group = zarr.open_group(session.store, mode="r")
    assert group.attrs["title"] == "test cube"
    np.testing.assert_array_equal(group["red"][...], expected(RED, red_writes))
    np.testing.assert_array_equal(group["nir"][...], expected(NIR))
    np.testing.assert_array_equal(group["qa"][...], expected(SHARD))
    assert group["qa"].shards == (1, 10, 14) and group["qa"].chunks == (1, 5, 7)
    ds = xr.open_zarr(session.store, consolidated=False)
    assert ds["red"].dims == ("time", "y", "x") and ds["red"].dtype == np.uint16
    np.testing.assert_array_equal(ds["red"].values, expected(RED, red_writes))
    np.testing.assert_array_equal(ds["nir"].values, expected(NIR))


def test_swift_writes_and_icechunk_python_reads(tmp_path):
    path = tmp_path / "repo"
    first = first_commit(path)
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
    check_reads(repo, branch="main")

    # A second commit rewrites two chunks of one time bin: only that bin's manifest changes.
    update = {**RED, "base": 30000, "write": [[1, 0, 0], [1, 2, 2]]}
    second = swift_commit(path, {"message": "bin 1 again", "arrays": [update]})
    writes = [(update, (1, 0, 0)), (update, (1, 2, 2))]
    check_reads(repo, branch="main", red_writes=writes)
    check_reads(repo, snapshot=first)  # time travel: the first commit still reads its values

    log = list(repo.ancestry(branch="main"))
    assert [c.id for c in log] == [second, first, "1CECHNKREP0F1RSTCMT0"]
    assert [c.message for c in log] == ["bin 1 again", "first cube", "Repository initialized"]
    assert log[1].metadata == {"tool": "cube", "bins": 3}
    assert log[0].written_at > log[1].written_at

    # What icechunk-python inspects agrees with what Swift wrote.
    mine = swift(path, "inspect", second)
    theirs = repo.inspect_snapshot(second)
    assert theirs["header"]["spec_version"].startswith("2") and theirs["header"]["file_type"] == "snapshot"
    assert sorted((m["id"], m["size_bytes"], m["num_chunk_refs"]) for m in theirs["manifests"]) == \
        sorted((m["id"], m["size_bytes"], m["num_chunk_refs"]) for m in mine["manifest_files"])
    for f in mine["manifest_files"]:
        assert f["size_bytes"] == (path / "manifests" / f["id"]).stat().st_size
    red = next(n for n in theirs["nodes"] if n["path"] == "/red")
    assert [d["num_chunks"] for d in red["shape"]] == [3, 3, 3]
    assert sorted(m["id"] for m in red["manifest_refs"]) == sorted(m["id"] for m in mine["arrays"]["/red"])
    before = {m["id"] for m in swift(path, "inspect", first)["arrays"]["/red"]}
    after = {m["id"] for m in mine["arrays"]["/red"]}
    assert len(before) == 3 and len(before & after) == 2, "unchanged time bins reuse their manifests"
    changed = (after - before).pop()
    manifest = repo.inspect_manifest(changed)
    # The rewritten bin keeps its 7 untouched refs and takes the 2 new ones.
    assert manifest["total_chunk_refs"] == 9 and manifest["total_native"] == 9
    assert [a["node_id"] for a in manifest["arrays"]] == [red["id"]]
    info = repo.inspect_repo_info()
    assert info["branches"] == {"main": second}
    assert [u["update_type"]["type"] for u in info["latest_updates"]] == \
        ["NewCommitUpdate", "NewCommitUpdate", "RepoInitializedUpdate"]
    assert len(list((path / "overwritten").iterdir())) == 2

    # A tag made by Swift is one icechunk-python resolves.
    swift(path, "tag", "v1", first)
    assert repo.lookup_tag("v1") == first
    check_reads(repo, snapshot=repo.lookup_tag("v1"))

    # Deleting an array: gone on main, still there in the older snapshots.
    third = swift_commit(path, {"message": "drop qa", "delete": ["/qa"]})
    group = zarr.open_group(repo.readonly_session(branch="main").store, mode="r")
    assert sorted(group.array_keys()) == ["nir", "red"]
    np.testing.assert_array_equal(group["red"][...], expected(RED, writes))
    assert repo.lookup_branch("main") == third
    check_reads(repo, snapshot=second, red_writes=writes)


def round_trip(storage, location, env=None):
    """icechunk-python commits on top of a Swift commit; Swift reads that commit and commits
    on top again; icechunk-python reads the result."""
    first = first_commit(location, env=env)
    repo = icechunk.Repository.open(storage)
    session = repo.writable_session("main")
    group = zarr.open_group(session.store, mode="r+")
    group["red"][2, :4, :5] = 7                     # one chunk of bin 2
    extra = group.create_array("swir", shape=(10, 14), chunks=(5, 7), dtype="uint16",
                               dimension_names=["y", "x"], fill_value=0)
    extra[...] = np.arange(140, dtype="uint16").reshape(10, 14)
    python_commit = session.commit("from python", metadata={"by": "icechunk-python"})

    mine = swift(location, "read", "branch", "main", env=env)
    assert mine["id"] == python_commit and mine["message"] == "from python"
    assert mine["metadata"] == {"by": "icechunk-python"}
    red = expected(RED)
    red[2, :4, :5] = 7
    assert mine["arrays"]["/red"] == red.ravel().tolist()
    assert mine["arrays"]["/swir"] == list(range(140))
    assert mine["arrays"]["/qa"] == expected(SHARD).ravel().tolist()

    update = {**RED, "base": 20000, "write": [[0, 1, 1]]}
    third = swift_commit(location, {"message": "swift again", "arrays": [update]}, env=env)
    repo = icechunk.Repository.open(storage)
    group = zarr.open_group(repo.readonly_session(branch="main").store, mode="r")
    red_now = red.copy()
    red_now[0, 4:8, 5:10] = expected(update)[0, 4:8, 5:10]
    np.testing.assert_array_equal(group["red"][...], red_now)
    np.testing.assert_array_equal(group["swir"][...], np.arange(140, dtype="uint16").reshape(10, 14))
    assert [c.message for c in repo.ancestry(branch="main")] == \
        ["swift again", "from python", "first cube", "Repository initialized"]
    assert [c["id"] for c in swift(location, "ancestry", "main", env=env)] == \
        [third, python_commit, first, "1CECHNKREP0F1RSTCMT0"]
    return repo, third


def test_icechunk_python_and_swift_commit_on_top_of_each_other(tmp_path):
    path = tmp_path / "repo"
    round_trip(icechunk.local_filesystem_storage(str(path)), path)


def test_losing_writer_gets_a_conflict_and_loses_no_commit(tmp_path):
    path = tmp_path / "repo"
    first = first_commit(path)
    a = swift_commit(path, {"parent": first, "message": "a", "arrays": [{**RED, "base": 1, "write": [[0, 0, 0]]}]})
    out = swift(path, "commit", stdin=json.dumps({"parent": first, "message": "b",
                                                   "arrays": [{**RED, "base": 2, "write": [[0, 0, 0]]}]}), check=False)
    assert out.returncode == 3 and "moved during the commit" in out.stderr and first in out.stderr
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(str(path)))
    assert [c.message for c in repo.ancestry(branch="main")] == ["a", "first cube", "Repository initialized"]
    assert repo.lookup_branch("main") == a


# MARK: S3 (moto)

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    import boto3
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(os.sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:
            time.sleep(0.1)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_NO_SIGN_REQUEST"):
        env.pop(k, None)
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret", region_name="us-east-1")
    client.create_bucket(Bucket="cubes")
    yield url, env, client
    proc.kill()
    proc.wait()


def s3_storage(url, prefix):
    return icechunk.s3_storage(bucket="cubes", prefix=prefix, endpoint_url=url, allow_http=True, force_path_style=True,
                               region="us-east-1", access_key_id="AKIDEXAMPLE", secret_access_key="secret")


def test_on_s3_both_ways_with_conditional_updates(s3):
    url, env, client = s3
    repo, third = round_trip(s3_storage(url, "interop"), "s3://cubes/interop", env=env)
    check = repo.inspect_repo_info()
    assert check["branches"] == {"main": third}
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="cubes", Prefix="interop/overwritten/")["Contents"]]
    assert len(keys) == 3  # one backup per replaced repo object

    # A writer that lost the race on S3: If-Match refuses the stale repo object.
    out = swift("s3://cubes/interop", "commit", stdin=json.dumps(
        {"parent": "1CECHNKREP0F1RSTCMT0", "message": "stale", "arrays": [{**RED, "write": [[0, 0, 0]]}]}),
        env=env, check=False)
    assert out.returncode == 3 and "moved during the commit" in out.stderr
    assert icechunk.Repository.open(s3_storage(url, "interop")).lookup_branch("main") == third

    # Writers racing from the same parent: the conditional PUT lets exactly one move the branch.
    plan = json.dumps({"parent": third, "message": "racer", "arrays": [{**RED, "write": [[0, 0, 0]]}]})
    racers = [subprocess.Popen([FIXTURE, "s3://cubes/interop", "commit"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    results = [p.communicate(plan, timeout=300) + (p.returncode,) for p in racers]
    winners = [json.loads(o)["snapshot"] for o, _, rc in results if rc == 0]
    assert len(winners) == 1, results
    assert all(rc == 3 and "moved during the commit" in e for _, e, rc in results if rc != 0), results
    log = list(icechunk.Repository.open(s3_storage(url, "interop")).ancestry(branch="main"))
    assert [c.id for c in log[:2]] == [winners[0], third]
