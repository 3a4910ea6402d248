#!/usr/bin/env python3
"""Runs the code blocks of a Markdown file against a cube store, so the docs cannot rot.

    run_doc_examples.py DOC.md STORE

Every ```python block runs on its own (fresh globals, as a reader would paste it) with the
environment variable CUBE_STORE set to the store path. Every ```bash block (the GDAL examples,
which need Zarr v2) runs with `bash -euo pipefail` in a scratch folder when the store is a
Zarr v2 store, and is skipped for v3. A failing block fails the run, named by its line.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import traceback

FENCE = re.compile(r"^```(python|bash)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class ExampleFailed(Exception):
    pass


def code_blocks(text):
    """(language, line number of the first code line, source) of every python/bash block."""
    return [(m.group(1), text.count("\n", 0, m.start()) + 2, m.group(2)) for m in FENCE.finditer(text)]


def run_python(name, source):
    printed = io.StringIO()  # the examples print for readers; keep it for failure reports only
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, name, "exec"), {"__name__": "__doc_example__"})
    except Exception as error:  # report which example broke, with the end of its traceback
        detail = "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=-3))
        raise ExampleFailed(f"python example at {name} ({source.splitlines()[0]!r}) failed:\n"
                            f"{printed.getvalue()}{detail}") from error


def run_bash(name, source):
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", source], cwd=folder,
                                capture_output=True, text=True)
    if result.returncode != 0:
        raise ExampleFailed(f"bash example at {name} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def run_examples(doc_path, store):
    """Runs the blocks; returns how many ran. Raises ExampleFailed on the first failure."""
    with open(doc_path) as f:
        blocks = code_blocks(f.read())
    if not any(language == "python" for language, _, _ in blocks):
        raise ExampleFailed(f"{doc_path} has no ```python blocks")
    zarr_v2 = os.path.exists(os.path.join(store, ".zgroup"))
    previous = os.environ.get("CUBE_STORE")
    os.environ["CUBE_STORE"] = os.path.abspath(store)
    ran = 0
    try:
        for language, line, source in blocks:
            name = f"{os.path.basename(doc_path)}:{line}"
            if language == "python":
                run_python(name, source)
            elif zarr_v2:
                run_bash(name, source)
            else:
                continue
            ran += 1
    finally:
        if previous is None:
            os.environ.pop("CUBE_STORE", None)
        else:
            os.environ["CUBE_STORE"] = previous
    return ran


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        count = run_examples(sys.argv[1], sys.argv[2])
    except ExampleFailed as failure:
        print(f"FAILED {failure}")
        return 1
    print(f"OK {count} examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
