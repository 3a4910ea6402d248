#!/usr/bin/env python3
"""Package.swift's declared dependencies against what each target's sources import, and the
direction of every arrow.

Prints every target whose declared dependencies differ from its imports (ignoring system
modules such as Foundation, Glibc, Testing, Synchronization), every target that depends on a
target in a higher layer of `LAYERS` (or sits in none), and any C library or wrapper of one
that parsing a spec would link, and exits 1 if there is any.
Usage: scripts/check/deps.py [repository root]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2])
SYSTEM = {"Foundation", "FoundationEssentials", "Glibc", "Musl", "Darwin", "Dispatch", "Testing", "XCTest",
          "Synchronization", "os"}
PRODUCTS = {"ArgumentParser": "ArgumentParser", "Yams": "Yams"}

# The layers, bottom first: a target may depend on its own layer or lower ones, never higher,
# so the flow runs one way (spec → grid → plan → schema → jobs → index/warp → worker → run → CLI).
# Every non-test target must sit in one; test targets may depend on anything.
LAYERS = [
    ("C libraries", ["CGDAL", "CBlosc", "CZstd", "CDeflate", "CCurl"]),
    ("JSON", ["JSON"]),
    ("shared values", ["CubeCore"]),
    ("wrappers and models", ["GDALKit", "HTTPClient", "TiffIndex", "StacItems", "Composite"]),
    ("store, search, sensors", ["CubeStore", "StacSearch", "Sensors"]),
    ("formats", ["Zarr", "Icechunk"]),
    ("spec", ["CubeSpec"]),
    ("grid", ["CubeGrid"]),
    ("plan", ["CubePlan"]),
    ("schema", ["CubeSchema"]),
    ("jobs, and readers of a built cube", ["CubeJobs", "CubePyramid", "CubePreview", "CubeServe"]),
    ("index and warp", ["SceneWarp", "SceneIndex"]),
    ("worker", ["ChunkWorker", "CubeUpdate"]),
    ("run", ["CubeRun", "BenchSupport"]),
    ("CLI", ["CubeCLI", "IcechunkFixture"]),
]
# Parsing a spec (and its tests) links neither GDAL nor libcurl, directly or through a wrapper.
FORBIDDEN_BELOW = {name: {"CGDAL", "GDALKit", "CCurl", "HTTPClient"} for name in ["CubeSpec", "CubeSpecTests"]}


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


def arrows(found):
    """Every arrow against the layers and the forbidden links, one line per problem."""
    layer = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}
    problems = []
    for name, (kind, deps) in sorted(found.items()):
        if kind == "testTarget":
            continue
        if name not in layer:
            problems.append(f"{name}: in no layer (add it to LAYERS in scripts/check/deps.py)")
            continue
        for dep in sorted(deps & set(found)):
            if dep in layer and layer[dep] > layer[name]:
                problems.append(f"{name} ({LAYERS[layer[name]][0]}) depends on {dep}, "
                                f"a higher layer ({LAYERS[layer[dep]][0]})")
    for name, forbidden in sorted(FORBIDDEN_BELOW.items()):
        if name not in found:
            continue
        below, todo = set(), [name]
        while todo:
            for dep in found.get(todo.pop(), ("", set()))[1]:
                if dep not in below:
                    below.add(dep)
                    todo.append(dep)
        if below & forbidden:
            problems.append(f"{name} links {sorted(below & forbidden)} (through its dependencies)")
    return problems


def main():
    bad = 0
    found = targets()
    for name, (kind, deps) in sorted(found.items()):
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
    problems = arrows(found)
    for line in problems:
        print(line)
    print("every arrow points down" if not problems else f"{len(problems)} arrow problem(s)")
    return 1 if bad or problems else 0


if __name__ == "__main__":
    sys.exit(main())
