#!/usr/bin/env python3
"""Package.swift's declared dependencies against what each target's sources import.

Prints every target whose declared dependencies differ from its imports (ignoring system
modules such as Foundation, Glibc, Testing, Synchronization) and exits 1 if any do.
Usage: scripts/check/deps.py [repository root]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Musl", "Darwin", "Dispatch", "Testing", "XCTest",
          "Synchronization", "os"}
PRODUCTS = {"ArgumentParser": "ArgumentParser", "Yams": "Yams"}


def balanced(text, start):
    """The text from `start` (just after an opening parenthesis) to its closing one."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return text[start:]


def targets():
    text = (ROOT / "Package.swift").read_text()
    found = {}
    for m in re.finditer(r'\.(target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*"([^"]+)"', text):
        kind, name = m.groups()
        rest = balanced(text, m.start() + len(m.group(0).split("(")[0]) + 1)
        deps = set()
        d = re.search(r'dependencies:\s*\[(.*?)\]', rest, re.S)
        if d:
            deps |= set(re.findall(r'(?<![\w.])"([A-Za-z0-9_]+)"', re.sub(r'\.product\([^)]*\)', '', d.group(1))))
            deps |= set(re.findall(r'\.product\(\s*name:\s*"([^"]+)"', d.group(1)))
        found[name] = (kind, deps)
    return found


def imports(folder):
    used = set()
    for f in folder.rglob("*.swift"):
        for line in f.read_text().splitlines():
            # Imports lead the file: stop at the first declaration (a string literal below
            # may well say "import numpy").
            if line.strip() and not re.match(r'\s*(//|import|@testable|@_exported|#if|#else|#endif|@preconcurrency)', line):
                break
            m = re.match(r'\s*(?:@testable\s+|@_exported\s+)?import\s+(?:struct\s+|enum\s+|class\s+|func\s+)?([A-Za-z0-9_]+)', line)
            if m:
                used.add(m.group(1))
    return used - SYSTEM


def main():
    bad = 0
    for name, (kind, deps) in sorted(targets().items()):
        if kind == "systemLibrary":
            continue
        folder = ROOT / ("Tests" if kind == "testTarget" else "Sources") / name
        if not folder.is_dir():
            continue
        used = imports(folder)
        # C targets (system libraries and the curl shim) are imported by their module name.
        missing, unused = used - deps, deps - used
        if missing or unused:
            bad += 1
            print(f"{name}: imports but does not declare {sorted(missing)}; declares but does not import {sorted(unused)}")
    print("dependencies equal imports" if not bad else f"{bad} target(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
