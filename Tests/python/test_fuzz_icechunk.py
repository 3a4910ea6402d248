"""A short libFuzzer run of the Icechunk metadata readers (Sources/Icechunk: object envelope,
FlatBuffers decoders of repo/snapshot/manifest/transaction log, FlexBuffers values) with
AddressSanitizer: no input traps, and whatever decodes re-encodes to the same value.
The long run is `scripts/fuzz/run-icechunk` (5,000,000 executions)."""
from __future__ import annotations

import re
import subprocess

from world_testkit import REPO


def test_fuzz_icechunk_readers_smoke():
    out = subprocess.run([str(REPO / "scripts" / "fuzz" / "run-icechunk"), "--smoke"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    m = re.search(r"^executions: (\d+)", out.stdout, re.M)
    assert m, out.stdout[-3000:]
    assert int(m.group(1)) >= 5000, out.stdout[-3000:]
    assert "stat::number_of_executed_units" in out.stdout
