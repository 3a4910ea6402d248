"""The README's first command, scripts/demo, runs end to end (with the debug build here):
world, servers, cube run, agreement with the reference, xarray."""
from __future__ import annotations

import os
import subprocess

from world_testkit import REPO


def test_demo_builds_the_demo_cube():
    out = subprocess.run([str(REPO / "scripts" / "demo")], capture_output=True, text=True, timeout=900,
                         env={**os.environ, "CUBE_BUILD_CONFIG": "debug"})
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    assert "cube demo: complete" in out.stdout
    assert "verdict: PASS" in out.stdout
    assert "pixels with at least one clear observation" in out.stdout
    assert (REPO / "demo-output" / "demo-2024-03.png").is_file()
