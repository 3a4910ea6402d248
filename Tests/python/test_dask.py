"""`cube run --executor dask` on a real dask.distributed cluster started here (`dask scheduler`
and two `dask worker` processes, one thread each, on this machine): each Dask task runs
`cube worker --shard I/N`; the cube built equals the Python reference and the local executor's
store byte for byte, and a Dask worker killed (SIGKILL) while its shard runs has its shard
rescheduled on the other worker, with the same cube at the end."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import zarr

from world_testkit import cube_bin, index_empty_jobs, world_with, served

from world.reference import reference_cube
from world.refgrid import Grid, month_bins

BBOX = [12.44, 45.40, 12.56, 45.48]          # the coastal world of test_run.py: land and sea
BANDS = ["red", "green", "blue", "nir"]
CHUNK = 32
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """A scheduler and N workers as separate processes (workers without a nanny, so a killed
    worker stays dead and its task must move to another one)."""

    def __init__(self, tmp: Path, workers: int):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.tmp = tmp
        self.logs: list[Path] = []
        self.scheduler_file = tmp / "scheduler.json"
        self.scheduler = self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                                   "--no-dashboard", "--scheduler-file", str(self.scheduler_file)])
        self.workers: dict[str, subprocess.Popen] = {}
        for i in range(workers):
            port = _free_port()
            proc = self._start(f"worker{i}", ["worker", self.address, "--nthreads", "1", "--no-nanny",
                                             "--host", "127.0.0.1", "--worker-port", str(port), "--no-dashboard",
                                             "--local-directory", str(tmp / f"worker{i}")])
            self.workers[f"tcp://127.0.0.1:{port}"] = proc
        self._wait_for_workers(workers)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        # The cube the workers run must not see the test's PYTHONPATH tweaks; the workers
        # need only `distributed` (their own interpreter) and the cube executable.
        return subprocess.Popen([DASK, *args], stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_for_workers(self, n: int, timeout: float = 60):
        from distributed import Client
        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self):
        for proc in [*self.workers.values(), self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture()
def cluster(tmp_path):
    (tmp_path / "cluster").mkdir()
    c = DaskCluster(tmp_path / "cluster", 2)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def coast():
    world = world_with("small", seed=5, name="coast", aoi=tuple(BBOX), start=date(2024, 3, 1), end=date(2024, 3, 31))
    with served(world) as env:
        yield world, env


@pytest.fixture(scope="module")
def initialised(coast, tmp_path_factory):
    """One `cube init`, copied for every build compared byte for byte (the root attributes
    carry the init time)."""
    _, env = coast
    tmp = tmp_path_factory.mktemp("initialised")
    spec = tmp / "coastal.yaml"
    spec.write_text(f"""name: coastal
stac: {{api: {env['WORLD_STAC_URL']}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {CHUNK}}}
time: {{start: 2024-03-01, end: 2024-03-31}}
bands: {json.dumps(BANDS)}
zarr_format: 3
store: coastal.zarr
""")
    cube("init", spec)
    return tmp / "coastal.zarr"


@pytest.fixture(scope="module")
def local_build(initialised, tmp_path_factory):
    store = tmp_path_factory.mktemp("local") / "coastal.zarr"
    shutil.copytree(initialised, store)
    cube("run", store, "--workers", "2", "--quiet", "--no-previews")
    return store


def cube(*args, timeout=300, check=True, **kw):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out


def data_files(store: Path) -> dict[str, bytes]:
    """Every Zarr object of the cube (metadata and chunks), not the build bookkeeping under _cube/."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.relative_to(store).parts[0] != "_cube"}


def assert_same_store(got_store: Path, expected_store: Path):
    expected, got = data_files(expected_store), data_files(got_store)
    assert sorted(got) == sorted(expected), set(got) ^ set(expected)
    differing = [k for k in expected if got[k] != expected[k]]
    assert not differing, f"{len(differing)} Zarr files differ, e.g. {differing[:5]}"


def notes(lines: list[dict]) -> list[str]:
    return [e["message"] for e in lines if e.get("event") == "note"]


TASK_DONE = re.compile(r"dask task (\d+)/(\d+) done on (\S+): (\d+) jobs built")


def tasks_done(lines: list[dict]) -> list[tuple[int, str, int]]:
    """(task, worker address, jobs built) of every task the run reported done."""
    return [(int(m[1]), m[3], int(m[4])) for m in map(TASK_DONE.match, notes(lines)) if m]


def test_dask_cluster_builds_the_reference_cube(cluster, coast, initialised, local_build, tmp_path):
    world, _ = coast
    store = tmp_path / "dask" / "coastal.zarr"
    shutil.copytree(initialised, store)
    started = time.monotonic()
    out = cube("run", store, "--executor", "dask", "--scheduler", cluster.address, "--workers", "4",
               "--json", "--no-previews", "--dask-python", sys.executable)
    print(f"dask run {time.monotonic() - started:.1f} s")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    report = lines[-1]
    assert report["executor"] == "dask" and report["workers"] == 4 and report["complete"], report
    jobs = report["jobs"]
    assert jobs["failed"] == 0 and jobs["pending"] == 0 and not report["failures"] and not report["interrupted"]
    empty = len(index_empty_jobs(initialised))
    assert jobs["already_done"] == empty and jobs["done_this_run"] + empty == jobs["total"] == jobs["done_in_store"]
    # The records of this run come from the store: scenes and bytes are counted as for Slurm.
    assert report["scenes"]["used"] > 0 and report["bytes_read"] > 0

    # One outcome per task, each on one of the cluster's workers, together every job built.
    done = tasks_done(lines)
    assert sorted(t for t, _, _ in done) == [0, 1, 2, 3], notes(lines)
    assert {w for _, w, _ in done} <= set(cluster.workers), done
    assert sum(n for _, _, n in done) == jobs["done_this_run"]

    # Exactly the reference on every built chunk, and the local executor's store byte for byte.
    grid = Grid.from_bbox("EPSG:4326", 1 / 3600, BBOX)
    ref = reference_cube(world, grid, month_bins(date(2024, 3, 1), date(2024, 3, 31)), BANDS)
    g = zarr.open_group(str(store), mode="r")
    built = np.zeros((grid.height, grid.width), bool)
    for f in (store / "_cube" / "done" / "2024-03").iterdir():
        cy, cx = map(int, f.name[:-5].split("."))
        built[cy * CHUNK:(cy + 1) * CHUNK, cx * CHUNK:(cx + 1) * CHUNK] = True
    assert 0 < built.mean() < 1
    for b in BANDS + ["count"]:
        np.testing.assert_array_equal(np.asarray(g[b][:])[0][built], ref[b][0][built], err_msg=b)
    assert_same_store(store, local_build)
    assert json.loads((store / "zarr.json").read_text())["attributes"]["cube:complete"] is True


def _shard_processes(store: Path) -> dict[int, tuple[int, int]]:
    """Running `cube worker STORE --shard I/N`: pid → (I, parent pid)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        args = [a.decode() for a in argv if a]
        if len(args) > 3 and args[1:3] == ["worker", str(store)] and "--shard" in args:
            index = int(args[args.index("--shard") + 1].split("/")[0])
            found[int(proc.name)] = (index, int(stat.rsplit(")", 1)[1].split()[1]))
    return found


def test_a_killed_dask_worker_has_its_shard_rescheduled(cluster, initialised, local_build, tmp_path):
    store = tmp_path / "dask" / "coastal.zarr"
    shutil.copytree(initialised, store)
    # Two shards on two one-thread workers: each worker runs one, so the killed one's shard
    # can only finish on the other worker.
    # The scheduler named by its file this time (as `dask scheduler --scheduler-file` writes it).
    run = subprocess.Popen([cube_bin(), "run", str(store), "--executor", "dask", "--scheduler", str(cluster.scheduler_file),
                            "--workers", "2", "--json", "--no-previews", "--dask-python", sys.executable],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    by_pid = {proc.pid: address for address, proc in cluster.workers.items()}
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        for pid, (index, parent) in _shard_processes(store).items():
            if parent in by_pid:
                victim = (index, by_pid[parent], parent, pid)
                break
        time.sleep(0.05)
    assert victim is not None, "no shard was seen running on a Dask worker"
    shard, address, worker_pid, shard_pid = victim
    os.kill(worker_pid, signal.SIGKILL)
    cluster.workers[address].wait(timeout=10)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, f"exit {run.returncode}\n{err}\n{out}"
    # The killed worker's shard died with it (no second writer left behind).
    deadline = time.monotonic() + 10
    while Path(f"/proc/{shard_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{shard_pid}").exists() or "Z" in Path(f"/proc/{shard_pid}/stat").read_text().split()[2]

    lines = [json.loads(line) for line in out.splitlines()]
    report = lines[-1]
    assert report["complete"] and report["jobs"]["failed"] == 0 and report["jobs"]["pending"] == 0, report
    survivor = next(a for a in cluster.workers if a != address)
    done = {t: w for t, w, _ in tasks_done(lines)}
    assert sorted(done) == [0, 1] and done[shard] == survivor, (done, address, notes(lines))
    assert_same_store(store, local_build)


def test_a_python_without_distributed_is_a_clear_error(initialised, tmp_path):
    plain = shutil.which("python3", path="/usr/bin")
    if plain is None or subprocess.run([plain, "-c", "import distributed"], capture_output=True).returncode == 0:
        pytest.skip("needs a python3 without distributed in /usr/bin")
    store = tmp_path / "coastal.zarr"
    shutil.copytree(initialised, store)
    out = cube("run", store, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--dask-python", plain,
               "--quiet", check=False)
    assert out.returncode == 1 and "cannot import distributed" in out.stderr, out.stderr
    # Nothing was built (no done record), and the run lock was released.
    assert not list((store / "_cube" / "done").rglob("*.json"))
    assert not (store / "_cube" / "run.lock").exists()
