"""A short libFuzzer run of the COG header parser (Sources/TiffIndex: CogHeader.parse and its
JSON form) with AddressSanitizer, so the harness cannot rot and a crash shows up in the suite.
The long run is `scripts/fuzz/run` (5,000,000 executions); see scripts/fuzz/run for options."""
from __future__ import annotations

import re
import subprocess

from world_testkit import REPO


def test_fuzz_cog_header_smoke():
    out = subprocess.run([str(REPO / "scripts" / "fuzz" / "run"), "--smoke"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    m = re.search(r"^executions: (\d+)", out.stdout, re.M)
    assert m, out.stdout[-3000:]
    assert int(m.group(1)) >= 5000, out.stdout[-3000:]
    assert "stat::number_of_executed_units" in out.stdout
