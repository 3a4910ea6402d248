"""Object storage end to end: a cube built into an S3-compatible server (moto's server mode on
loopback) from scenes read both over HTTP and from a bucket as s3:// hrefs; equal to the
local-folder build object for file; read back by xarray (s3fs) and tensorstore's S3 kvstore;
surviving injected 500/503 responses and a SIGKILL."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
import xarray as xr

from world_testkit import REPO, cube_bin, world_with, wait_http

SERVICES = str(REPO / "scripts" / "services")
BBOX = [11.98, 45.47, 12.02, 45.49]
BANDS = ["red", "green", "blue", "nir"]
SECRET = "s3cr3t-KEY-never-logged-7f3a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_NO_SIGN_REQUEST"):
        env.pop(k, None)
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET,
                          region_name="us-east-1")
    for bucket in ("scenes", "cubes"):
        client.create_bucket(Bucket=bucket)
    yield url, env, client
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def mixed_catalog(s3, tmp_path_factory):
    """The zone world served by nginx; every other item's assets uploaded to s3://scenes and
    referenced as s3:// hrefs in a local catalog."""
    _, _, client = s3
    world = world_with("small", seed=11, name="zones", aoi=tuple(BBOX))
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    base = env["WORLD_HTTP_URL"] + "/"
    items = [json.loads(line) for line in (world / ".run" / "items.ndjson").read_text().splitlines()]
    uploaded = 0
    for i, item in enumerate(items):
        if i % 2:
            continue
        for asset in item["assets"].values():
            rel = asset["href"][len(base):]
            client.upload_file(str(world / rel), "scenes", rel)
            asset["href"] = "s3://scenes/" + rel
            uploaded += 1
    assert uploaded > 0
    tmp = tmp_path_factory.mktemp("catalog")
    catalog = tmp / "items-mixed.ndjson"
    catalog.write_text("".join(json.dumps(it) + "\n" for it in items))
    yield catalog
    subprocess.run([SERVICES, "stop", str(world)], timeout=60)


def cube(*args, env=None, check=True, timeout=600):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    assert SECRET not in out.stdout and SECRET not in out.stderr
    return out


@pytest.fixture(scope="module")
def initialised(mixed_catalog, tmp_path_factory):
    tmp = mixed_catalog.parent
    spec = tmp / "s3cube.yaml"
    spec.write_text(f"""name: s3cube
stac: {{items: {mixed_catalog.name}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: 32}}
time: {{start: 2024-02-01, end: 2024-03-31}}
bands: {json.dumps(BANDS)}
land_mask: none
store: initialised.zarr
""")
    cube("init", spec)
    return tmp / "initialised.zarr"


def upload_tree(client, local: Path, bucket: str, prefix: str) -> None:
    for p in sorted(local.rglob("*")):
        if p.is_file():
            client.upload_file(str(p), bucket, f"{prefix}/{p.relative_to(local)}")


def bucket_objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(prefix) + 1:]
            out[key] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


def data_part(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if not k.startswith("_cube/")}


def local_objects(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_build(initialised, s3):
    _, env, _ = s3
    store = initialised.parent / "local.zarr"
    shutil.copytree(initialised, store)
    cube("run", store, "--workers", "2", "--quiet", "--no-previews", env=env)
    return store


def test_build_into_bucket_equals_local_build_and_consumers_read_it(s3, initialised, local_build):
    url, env, client = s3
    upload_tree(client, initialised, "cubes", "main.zarr")
    out = cube("run", "s3://cubes/main.zarr", "--workers", "2", "--json", "--no-previews", env=env)
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["complete"] and report["jobs"]["failed"] == 0
    # Scenes came from both sources.
    done = bucket_objects(client, "cubes", "main.zarr")
    assert any(k.startswith("_cube/done/") for k in done)
    objects = data_part(done)
    expected = data_part(local_objects(local_build))
    assert objects.keys() == expected.keys()
    assert all(objects[k] == expected[k] for k in expected), "S3 objects differ from the local files"
    assert sum(1 for k in objects if "/c/" in k) > 10
    status = json.loads(cube("status", "s3://cubes/main.zarr", "--json", env=env).stdout)
    assert status["complete"] and status["jobs"]["done"] == status["jobs"]["total"]
    assert SECRET not in json.dumps(report) and not any(SECRET.encode() in v for v in done.values())

    # xarray through fsspec/s3fs, straight from the bucket.
    ds = xr.open_zarr("s3://cubes/main.zarr", storage_options={
        "endpoint_url": url, "key": "AKIDEXAMPLE", "secret": SECRET, "client_kwargs": {"region_name": "us-east-1"}})
    ref = xr.open_zarr(local_build)
    raw = xr.open_zarr(local_build, mask_and_scale=False)  # the stored integers, as tensorstore reads them
    for b in BANDS + ["count"]:
        np.testing.assert_array_equal(ds[b].values, ref[b].values, err_msg=b)
    # tensorstore's S3 kvstore.
    import tensorstore as ts
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY=SECRET)
    try:
        arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "s3", "bucket": "cubes", "path": "main.zarr/red/",
                                                      "endpoint": url, "aws_region": "us-east-1"}},
                      read=True).result()
        np.testing.assert_array_equal(arr.read().result(), np.asarray(raw["red"].values))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_injected_500_and_503_during_writes_and_reads_are_survived(s3, initialised, local_build, tmp_path):
    url, env, client = s3
    upload_tree(client, initialised, "cubes", "faulty.zarr")
    # Two proxies in a row: every 4th request answered 503 SlowDown, every 7th 500.
    def start(target, *args):
        p = subprocess.Popen([sys.executable, str(REPO / "scripts" / "faultproxy.py"), "--target", target, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return p, f"http://127.0.0.1:{int(p.stdout.readline().split()[-1])}"

    slow, slow_url = start(url, "--fail-every", "4", "--status", "503", "--retry-after", "0")
    broken, broken_url = start(slow_url, "--fail-every", "7", "--status", "500")
    errors = []
    try:
        faulty = {**env, "AWS_ENDPOINT_URL": broken_url}
        out = cube("run", "s3://cubes/faulty.zarr", "--workers", "2", "--json", "--no-previews", env=faulty)
        assert json.loads(out.stdout.splitlines()[-1])["complete"]
    finally:
        for p in (broken, slow):
            p.send_signal(signal.SIGTERM)
            errors.append(p.communicate(timeout=30)[1])
    injected = [int(err.split("'status': ")[1].split(",")[0]) for err in errors]
    assert all(n > 10 for n in injected), errors
    assert data_part(bucket_objects(client, "cubes", "faulty.zarr")) == data_part(local_objects(local_build))


def test_killed_run_resumes_into_the_bucket(s3, initialised, local_build):
    _, env, client = s3
    upload_tree(client, initialised, "cubes", "killed.zarr")
    proc = subprocess.Popen([cube_bin(), "run", "s3://cubes/killed.zarr", "--workers", "2", "--quiet", "--no-previews"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(2.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = bucket_objects(client, "cubes", "killed.zarr")
    done_before = [k for k in partial if k.startswith("_cube/done/")]
    expected = data_part(local_objects(local_build))
    # Whatever is there is complete: every stored chunk equals the finished build's.
    for k, v in data_part(partial).items():
        if "/c/" in k:
            assert v == expected[k], k
    cube("run", "s3://cubes/killed.zarr", "--workers", "2", "--quiet", "--no-previews", env=env)
    assert data_part(bucket_objects(client, "cubes", "killed.zarr")) == expected
    assert len(done_before) < len([k for k in expected if k.startswith("red/c/")]) + 100  # sanity


def test_second_coordinator_on_a_bucket_refuses(s3, initialised):
    _, env, client = s3
    upload_tree(client, initialised, "cubes", "locked.zarr")
    client.put_object(Bucket="cubes", Key="locked.zarr/_cube/run.lock", Body=json.dumps({
        "host": "elsewhere", "pid": 1, "token": "x", "started": "2026-11-22T00:00:00Z",
        "heartbeat": time.time(), "executor": "slurm"}).encode())
    out = cube("run", "s3://cubes/locked.zarr", "--quiet", env=env, check=False)
    assert out.returncode == 1 and "another `cube run` is building this store" in out.stderr


def test_bad_store_urls_and_missing_buckets_are_clear_errors(s3):
    _, env, _ = s3
    out = cube("status", "s3://Not_A_Bucket/x", env=env, check=False)
    assert out.returncode == 1 and "not a valid bucket name" in out.stderr
    out = cube("status", "s3://no-such-bucket/x.zarr", env=env, check=False)
    assert out.returncode == 1 and ("NoSuchBucket" in out.stderr or "not an initialised cube" in out.stderr), out.stderr


def test_serve_reads_a_bucket(s3, local_build):
    """`cube serve s3://...`: the page's endpoints answer from the bucket as from the folder."""
    import math
    from io import BytesIO
    from PIL import Image
    _, env, client = s3
    upload_tree(client, local_build, "cubes", "served.zarr")
    proc = subprocess.Popen([cube_bin(), "serve", "s3://cubes/served.zarr", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving s3://cubes/served.zarr at "), line + proc.stderr.read()
        url = line.split(" at ")[1].split()[0].rstrip("/")
        info = json.loads(urllib.request.urlopen(url + "/api/info", timeout=30).read())
        assert info["name"] == "s3cube" and info["bins"] == ["2024-02", "2024-03"]
        lon, lat, z = (BBOX[0] + BBOX[2]) / 2, (BBOX[1] + BBOX[3]) / 2, 14
        x = int((lon + 180) / 360 * 2 ** z)
        y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * 2 ** z)
        png = urllib.request.urlopen(f"{url}/tiles/2024-03/{z}/{x}/{y}.png", timeout=30).read()
        assert (np.asarray(Image.open(BytesIO(png)).convert("RGBA"))[..., 3] == 255).any()
        point = json.loads(urllib.request.urlopen(f"{url}/api/point?lon={lon}&lat={lat}", timeout=30).read())
        raw = xr.open_zarr(local_build, mask_and_scale=False)
        for b in BANDS + ["count"]:
            assert point["series"][b] == [int(v) for v in raw[b].values[:, point["row"], point["col"]]], b
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert SECRET not in proc.stderr.read()
