"""Icechunk interop (issue 23): the Swift `Icechunk` module against icechunk-python 2.x, the
reference implementation. icechunk 2.x needs Python >= 3.12 and this suite runs on 3.11, so the
checks live in Tests/python/icechunk/interop_icechunk.py and run here under the 3.12 venv that
scripts/lib/setup.sh (setup_icechunk_python) makes. A missing venv or fixture is a failure, not
a skip: a quietly skipped interop test would hide a broken format."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from world_testkit import REPO


def test_icechunk_interop_with_icechunk_python():
    python = REPO / ".venv-icechunk" / "bin" / "python"
    assert python.is_file(), f"{python} missing: run scripts/test (setup_icechunk_python)"
    fixture = Path(os.environ.get("ICECHUNK_FIXTURE") or REPO / ".build" / "debug" / "IcechunkFixture")
    assert fixture.is_file(), f"{fixture} missing: run swift build --build-tests"
    version = subprocess.run([str(python), "-c", "import icechunk; print(icechunk.__version__)"],
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("2."), version.stdout + version.stderr
    out = subprocess.run([str(python), "-m", "pytest", str(REPO / "Tests" / "python" / "icechunk" / "interop_icechunk.py"),
                          "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, timeout=900, cwd=REPO,
                         env={**os.environ, "ICECHUNK_FIXTURE": str(fixture)})
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    assert " passed" in out.stdout and "failed" not in out.stdout, out.stdout[-3000:]
