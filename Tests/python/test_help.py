"""`cube --help` and every subcommand's help read well at 80 columns: no line wider (the
generated USAGE line aside), and the prose is filled, not wrapped twice (a line never ends where
the next line's first word would still have fitted)."""
from __future__ import annotations

import os
import subprocess

import pytest

from world_testkit import cube_bin

COMMANDS = ["", "init", "plan", "index", "run", "update", "worker", "status", "preview", "serve", "log", "tag"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_well_at_80_columns(command):
    args = [cube_bin()] + ([command] if command else []) + ["--help"]
    out = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, COLUMNS="80"), timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and lines[0].startswith("OVERVIEW:")
    for line in lines:
        assert len(line) <= 80 or line.startswith("USAGE:"), f"{command or 'cube'}: {len(line)} columns: {line!r}"
    prose = lines[:next(i for i, l in enumerate(lines) if l.startswith("USAGE:"))]
    for a, b in zip(prose, prose[1:]):
        if a.strip() and b.strip():
            assert len(a) + 1 + len(b.split()[0]) >= 80, f"{command or 'cube'}: ragged wrap after {a!r}"
