"""Code health rules the compiler does not check (issue 17): Package.swift's dependencies
equal the imports, and every `@unchecked Sendable` carries its reason beside it."""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_declared_dependencies_equal_imports():
    run = subprocess.run([sys.executable, str(ROOT / "scripts/check/deps.py"), str(ROOT)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dependencies equal imports" in run.stdout


def test_every_unchecked_sendable_says_why():
    found = []
    for path in sorted((ROOT / "Sources").rglob("*.swift")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "@unchecked Sendable" not in line or line.lstrip().startswith("//"):
                continue
            comment = " ".join(l.strip() for l in lines[max(0, i - 8):i] if l.strip().startswith("///"))
            found.append(path.name)
            assert re.search(r"`?@?unchecked`?", comment, re.I), f"{path}:{i + 1}: no reason beside @unchecked Sendable"
    # The count is part of the record; more than a handful means convention creeps back.
    assert 0 < len(found) <= 10, found
