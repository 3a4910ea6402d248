"""`cube run --executor slurm` on a real one-node Slurm cluster (scripts/slurm: munged, slurmctld,
slurmd on this machine): the job array builds exactly the store the local executor builds.

The cluster gets its own state directory and ports for this module, so it neither disturbs nor
depends on a cluster someone started by hand (scripts/slurm start, state in .slurm/)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from world_testkit import REPO, cube_bin, index_empty_jobs, world_with, served

SLURM = str(REPO / "scripts" / "slurm")
SERVICES = str(REPO / "scripts" / "services")
BBOX = [12.44, 45.40, 12.56, 45.48]          # the coastal world of test_run.py: land and sea
BANDS = ["red", "green", "blue", "nir"]
CHUNK = 32
SLURM_BINARIES = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel"]


def _installed(name: str) -> bool:
    return shutil.which(name) is not None or os.access(f"/usr/sbin/{name}", os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    missing = [b for b in SLURM_BINARIES if not _installed(b)]
    if missing:
        pytest.skip(f"Slurm is not installed (missing {', '.join(missing)}; "
                    "apt-get install slurmctld slurmd slurm-client munge)")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "CUBE_SLURMCTLD_PORT": str(_free_port()), "CUBE_SLURMD_PORT": str(_free_port())}
    started = time.monotonic()
    out = subprocess.run([SLURM, "start", "--dir", str(state)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, f"scripts/slurm start failed (exit {out.returncode}):\n{out.stderr}\n{out.stdout}"
    conf = (state / "env").read_text().strip().removeprefix("export SLURM_CONF=")
    assert f"export SLURM_CONF={conf}" in out.stdout and Path(conf).is_file()
    print(f"slurm cluster up in {time.monotonic() - started:.1f} s ({conf})")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf            # for `cube run`, and through sbatch for its tasks
    try:
        yield state
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        stop = subprocess.run([SLURM, "stop", "--dir", str(state)], capture_output=True, text=True, env=env, timeout=60)
        assert stop.returncode == 0, stop.stderr


@pytest.fixture(scope="module")
def coast():
    world = world_with("small", seed=5, name="coast", aoi=tuple(BBOX), start=date(2024, 3, 1), end=date(2024, 3, 31))
    with served(world) as env:
        yield world, env


def spec(tmp: Path, env) -> Path:
    path = tmp / "coastal.yaml"
    path.write_text(f"""name: coastal
stac: {{api: {env['WORLD_STAC_URL']}, collection: sentinel-2-l2a}}
grid: {{crs: EPSG:4326, resolution: 1/3600, bbox: {json.dumps(BBOX)}, chunk: {CHUNK}}}
time: {{start: 2024-03-01, end: 2024-03-31}}
bands: {json.dumps(BANDS)}
zarr_format: 3
store: coastal.zarr
""")
    return path


def cube(*args, timeout=180):
    out = subprocess.run([cube_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"cube {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out


def data_files(store: Path) -> dict[str, bytes]:
    """Every Zarr object of the cube (metadata and chunks), not the build bookkeeping under _cube/."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.relative_to(store).parts[0] != "_cube"}


def done_records(store: Path) -> set[str]:
    return {str(p.relative_to(store / "_cube" / "done")) for p in (store / "_cube" / "done").rglob("*.json")}


def test_slurm_array_builds_the_same_store_as_the_local_executor(slurm_cluster, coast, tmp_path):
    _, env = coast
    # One `cube init` (the root attributes carry the init time), copied for both builds.
    (tmp_path / "init").mkdir()
    cube("init", spec(tmp_path / "init", env))
    initialised = tmp_path / "init" / "coastal.zarr"
    on_slurm = tmp_path / "slurm" / "coastal.zarr"
    local = tmp_path / "local" / "coastal.zarr"
    shutil.copytree(initialised, on_slurm)
    shutil.copytree(initialised, local)
    logs = tmp_path / "logs"

    started = time.monotonic()
    out = cube("run", on_slurm, "--executor", "slurm", "--workers", "3", "--json", "--no-previews",
               "--log-dir", logs)
    slurm_seconds = time.monotonic() - started
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["executor"] == "slurm" and report["complete"], report
    assert report["workers"] == 3 and not report["interrupted"]
    jobs = report["jobs"]
    assert jobs["failed"] == 0 and jobs["pending"] == 0 and not report["failures"], report
    # Jobs the scene index found empty were recorded done by `cube init`; Slurm built the rest.
    empty = len(index_empty_jobs(initialised))
    assert jobs["already_done"] == empty
    assert jobs["done_this_run"] + empty == jobs["total"] == jobs["done_in_store"] > 0, jobs
    assert json.loads((on_slurm / "_cube" / "report.json").read_text())["executor"] == "slurm"

    started = time.monotonic()
    cube("run", local, "--workers", "2", "--quiet", "--no-previews")
    local_seconds = time.monotonic() - started
    print(f"slurm run {slurm_seconds:.1f} s, local run {local_seconds:.1f} s")

    # The same cube, byte for byte, outside the bookkeeping.
    expected = data_files(local)
    got = data_files(on_slurm)
    assert sorted(got) == sorted(expected), set(got) ^ set(expected)
    differing = [k for k in expected if got[k] != expected[k]]
    assert not differing, f"{len(differing)} Zarr files differ, e.g. {differing[:5]}"
    assert json.loads((on_slurm / "zarr.json").read_text())["attributes"]["cube:complete"] is True

    # Every job of the cube has a done record, in both stores alike, but those the scene index
    # found empty (done without a worker).
    done = done_records(on_slurm)
    assert len(done) + empty == jobs["total"] and done == done_records(local)
    status = json.loads(cube("status", on_slurm, "--json").stdout)
    assert status["complete"] and status["jobs"]["done"] == status["jobs"]["total"] == jobs["total"]

    # The batch script and one log per array task, all from a single array (no resubmission).
    assert (logs / "cube-worker-round1.sh").is_file() and not (logs / "cube-worker-round2.sh").exists()
    task_logs = sorted(logs.glob("slurm-*_*.out"))
    arrays = {p.name.split("_")[0] for p in task_logs}
    assert len(arrays) == 1, task_logs
    assert sorted(p.stem.rsplit("_", 1)[1] for p in task_logs) == ["0", "1", "2"], task_logs
