"""Shared helpers for the test-world tests (Tests/python/test_world_*.py)."""
from __future__ import annotations

import atexit
import contextlib
import subprocess
import time
import urllib.error
import urllib.request
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from world.make_world import build_world  # noqa: E402
from world.presets import preset  # noqa: E402

BASE_URL = "http://127.0.0.1:8080"
_ROOT = Path(tempfile.mkdtemp(prefix="cube-test-worlds-"))
atexit.register(shutil.rmtree, _ROOT, True)


@functools.lru_cache(maxsize=None)
def small_world(seed: int = 7, name: str = "a") -> Path:
    """The `small` preset world, built once per (seed, name) per test session."""
    out = _ROOT / f"small-{seed}-{name}"
    build_world(out, preset("small"), seed, BASE_URL, "small")
    return out


@functools.lru_cache(maxsize=None)
def world_with(preset_name: str, seed: int, name: str, **overrides) -> Path:
    """A world of `preset_name` with parameter overrides (aoi=..., end=...), built once per session."""
    out = _ROOT / f"{preset_name}-{seed}-{name}"
    build_world(out, preset(preset_name, **overrides), seed, BASE_URL, preset_name)
    return out


def cube_bin() -> str:
    """The cube executable under test (scripts/test sets CUBE; else the debug build)."""
    path = os.environ.get("CUBE") or str(REPO / ".build" / "debug" / "cube")
    if not Path(path).is_file():
        raise RuntimeError(f"no cube executable at {path}; run `swift build` or set CUBE")
    return path


def items(world: Path) -> list[dict]:
    return [json.loads(line) for line in (world / "items.ndjson").read_text().splitlines()]


def local_path(world: Path, href: str) -> Path:
    base = json.loads((world / "world.json").read_text())["base_url"].rstrip("/")
    assert href.startswith(base + "/"), href
    return world / href[len(base) + 1:]


def tree_digest(world: Path) -> dict[str, str]:
    """sha256 of every generated file (run state under .run excluded)."""
    return {str(p.relative_to(world)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(world.rglob("*")) if p.is_file() and ".run" not in p.parts}


SERVICES = str(REPO / "scripts" / "services")


@contextlib.contextmanager
def served(world: Path):
    """nginx + `rustac serve` over `world` for the duration of the block; yields urls.env as a dict."""
    out = subprocess.run([SERVICES, "start", str(world)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    try:
        yield dict(line.split("=", 1) for line in (world / ".run" / "urls.env").read_text().splitlines())
    finally:
        subprocess.run([SERVICES, "stop", str(world)], timeout=60)


def wait_http(url: str, seconds: float = 30) -> None:
    """Waits until `url` answers with any HTTP status."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def index_empty_jobs(store: Path) -> set[str]:
    """Jobs (`<bin>/<cy>/<cx>`) the cube's scene index found no scene for: done without a worker."""
    snapshot = json.loads((Path(store) / "_cube" / "index" / "snapshot.json").read_text())
    return {f"{b['label']}/{name.replace('.', '/')}" for b in snapshot["bins"] for name in b.get("empty") or []}
