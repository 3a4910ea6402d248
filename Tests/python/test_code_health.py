"""Code health rules the compiler does not check (issues 17, 26): Package.swift's dependencies
equal the imports and point down the declared layers, and every `@unchecked Sendable` carries
its reason beside it."""
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
    assert "every arrow points down" in run.stdout


def check_package(tmp_path, edit):
    """deps.py run on a copy of Package.swift changed by `edit` (no sources beside it, so only
    the arrows are checked)."""
    text = (ROOT / "Package.swift").read_text()
    changed = edit(text)
    assert changed != text, "the edit did not apply"
    (tmp_path / "Package.swift").write_text(changed)
    return subprocess.run([sys.executable, str(ROOT / "scripts/check/deps.py"), str(tmp_path)],
                          capture_output=True, text=True)


def test_the_direction_check_passes_the_package_as_it_is(tmp_path):
    run = check_package(tmp_path, lambda t: t + "\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "every arrow points down" in run.stdout


def test_the_direction_check_fails_on_a_wrong_way_arrow(tmp_path):
    # The grid depending on the plan: a stage reaching up to a later one.
    run = check_package(tmp_path, lambda t: t.replace('.target(name: "CubeGrid", dependencies: [',
                                                      '.target(name: "CubeGrid", dependencies: ["CubePlan", ', 1))
    assert run.returncode == 1, run.stdout
    assert "CubeGrid (grid) depends on CubePlan, a higher layer (plan)" in run.stdout
    # The shared values reaching up to a wrapper.
    run = check_package(tmp_path, lambda t: t.replace('.target(name: "CubeCore", dependencies: ["JSON"',
                                                      '.target(name: "CubeCore", dependencies: ["JSON", "HTTPClient"', 1))
    assert run.returncode == 1, run.stdout
    assert "CubeCore (shared values) depends on HTTPClient" in run.stdout


def test_the_direction_check_fails_when_a_spec_would_link_gdal_or_curl(tmp_path):
    # GDALKit sits below the spec, so only the explicit rule catches this arrow.
    run = check_package(tmp_path, lambda t: t.replace('.target(name: "Sensors", dependencies: [',
                                                      '.target(name: "Sensors", dependencies: ["GDALKit", ', 1))
    assert run.returncode == 1, run.stdout
    assert "higher layer" not in run.stdout
    assert "CubeSpec links ['CGDAL', 'GDALKit']" in run.stdout
    # libcurl through the search client, and the spec's tests asking for GDAL themselves.
    run = check_package(tmp_path, lambda t: t.replace('"Sensors", dependencies: ["Composite", "StacItems"',
                                                      '"Sensors", dependencies: ["Composite", "StacItems", "StacSearch"', 1)
                        .replace('"CubeSpecTests", dependencies: ["CubeSpec"', '"CubeSpecTests", dependencies: ["CubeSpec", "GDALKit"', 1))
    assert run.returncode == 1, run.stdout
    assert "CubeSpec links ['CCurl', 'HTTPClient']" in run.stdout
    assert "CubeSpecTests links ['CCurl', 'CGDAL', 'GDALKit', 'HTTPClient']" in run.stdout


def test_the_direction_check_fails_on_a_target_in_no_layer(tmp_path):
    run = check_package(tmp_path, lambda t: t.replace('.target(name: "JSON", dependencies: []),',
                                                      '.target(name: "JSON", dependencies: []),\n        .target(name: "Stray", dependencies: ["JSON"]),', 1))
    assert run.returncode == 1, run.stdout
    assert "Stray: in no layer" in run.stdout


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


def test_every_cube_key_is_spelled_once():
    """Keys under the store's `_cube/` folder are named in CubeCore's StoreKeys only (issue 26):
    any other string literal holding `_cube` in Sources is a second spelling."""
    literal = re.compile(r'"(?:[^"\n]*/)?_cube(?:/[^"\n]*)?"')
    found = []
    for path in sorted((ROOT / "Sources").rglob("*.swift")):
        if path.relative_to(ROOT).as_posix() == "Sources/CubeCore/StoreKeys.swift":
            continue
        for i, line in enumerate(path.read_text().splitlines()):
            code = line.split("//")[0] if not line.lstrip().startswith("///") else ""
            if literal.search(code):
                found.append(f"{path.relative_to(ROOT)}:{i + 1}: {line.strip()}")
    assert not found, "\n".join(found)
    assert '"_cube"' in (ROOT / "Sources/CubeCore/StoreKeys.swift").read_text()
