"""Quick runs of every benchmark in scripts/bench (debug build, small worlds), so they cannot
rot. Their figures mean nothing; the real runs are documented in docs/performance.md."""
from __future__ import annotations

import subprocess

import pytest

from world_testkit import REPO


@pytest.mark.parametrize("what,expect", [
    ("plan", "plan: chunks total/land"),
    ("chunk", "peer/cube ="),
    ("composites", "of the median alone"),
    ("geomedian", "1e-7 (now)"),
    ("workers", "speed-up"),
    ("latency", "peer/cube by round trip"),
    ("index", "index:"),
    ("update", "dry run / index ="),
    ("readers", "cube serve tile latency"),
    ("icechunk", "icechunk commit:"),
])
def test_benchmark_smoke(what, expect):
    out = subprocess.run([str(REPO / "scripts" / "bench" / "run"), what, "--smoke"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert expect in out.stdout, out.stdout[-3000:]
