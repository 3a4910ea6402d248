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


UNCHECKED_REASON = re.compile(r"(?:`@unchecked`|unchecked)\s*:\s*(.+)", re.I | re.S)


def unchecked_reason(lines: list[str], i: int) -> str | None:
    """The reason given for the `@unchecked Sendable` declared on line i: the text after
    "`@unchecked`:" (or "Unchecked:") in the doc comment block directly above it, or None."""
    block = []
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("///"):
        block.insert(0, lines[j].strip()[3:].strip())
        j -= 1
    m = UNCHECKED_REASON.search(" ".join(block))
    if not m:
        return None
    reason = m.group(1).strip()
    return reason if len(reason.split()) >= 8 else None


def test_the_unchecked_check_itself_fails_without_a_reason():
    decl = "final class X: @unchecked Sendable {"
    assert unchecked_reason(["/// Holds unchecked state.", decl], 1) is None, "the word alone is no reason"
    assert unchecked_reason(["/// `@unchecked`: trust me.", decl], 1) is None, "too short to say why"
    assert unchecked_reason(["/// `@unchecked`: every field is read and written with `lock` held.", "", decl], 2) is None, \
        "the reason must sit directly above the declaration"
    assert unchecked_reason(["/// `@unchecked`: every field is read and written with `lock` held.", decl], 1)


def test_every_unchecked_sendable_says_why():
    found = []
    for path in sorted((ROOT / "Sources").rglob("*.swift")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "@unchecked Sendable" not in line or line.lstrip().startswith("//"):
                continue
            found.append(path.name)
            assert unchecked_reason(lines, i), f"{path}:{i + 1}: no reason (`@unchecked`: …) directly above @unchecked Sendable"
    assert 0 < len(found) <= 10, found
