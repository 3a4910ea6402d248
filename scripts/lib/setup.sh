# Sourced by scripts/demo, scripts/test and scripts/bench: installs what is missing on a fresh
# Debian 12 machine (C libraries, GDAL tools, nginx, a Python venv for the test side) and puts
# Swift on PATH. Safe to run again: each step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
export PATH="/opt/swift/usr/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_packages=(libgdal-dev libdeflate-dev gdal-bin libblosc-dev libzstd-dev libcurl4-openssl-dev nginx-light pkg-config python3-venv
              slurmctld slurmd slurm-client munge chromium)

setup_system() {
    local missing=()
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null || { echo "swift not found (expected at /opt/swift)" >&2; exit 1; }
}

setup_python() {
    local req="$ROOT/scripts/requirements.txt"
    local stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    log "setting up the Python venv for tests ($VENV)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -r "$req"
    # geozarr-toolkit declares Python >= 3.12 but runs on Debian 12's 3.11 (tested: its models
    # and validators); it validates the pyramid's multiscales metadata in the tests.
    "$VENV/bin/pip" install -q --ignore-requires-python "geozarr-toolkit==0.1.2" structlog
    echo "$want" > "$stamp"
}

# icechunk-python 2.x, the reference reader and writer the Icechunk tests compare against, needs
# Python >= 3.12 (under Debian's 3.11 pip quietly installs 1.x, which writes spec 1): a venv of
# its own from pyenv's CPython 3.12, checked for a 2.x version, failing loudly otherwise.
ICECHUNK_VENV="$ROOT/.venv-icechunk"
ICECHUNK_PYTHON_REQUIREMENTS=("icechunk>=2,<3" "zarr>=3" xarray numpy "moto[server]" boto3 pytest)

setup_icechunk_python() {
    local stamp="$ICECHUNK_VENV/.requirements"
    local want="${ICECHUNK_PYTHON_REQUIREMENTS[*]}"
    if [ -x "$ICECHUNK_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return
    fi
    local base="${ICECHUNK_BASE_PYTHON:-}"
    if [ -z "$base" ]; then
        for candidate in /root/.pyenv/versions/3.12*/bin/python "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python python3.12 python3.13; do
            if command -v "$candidate" >/dev/null 2>&1; then base="$candidate"; break; fi
        done
    fi
    if [ -z "$base" ] || ! "$base" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
        echo "setup_icechunk_python: no Python >= 3.12 found (set ICECHUNK_BASE_PYTHON); icechunk 2.x needs it" >&2
        exit 1
    fi
    log "setting up the Python 3.12 venv for the Icechunk tests ($ICECHUNK_VENV)"
    [ -x "$ICECHUNK_VENV/bin/python" ] || "$base" -m venv "$ICECHUNK_VENV"
    "$ICECHUNK_VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$ICECHUNK_VENV/bin/pip" install -q "${ICECHUNK_PYTHON_REQUIREMENTS[@]}"
    local version
    version="$("$ICECHUNK_VENV/bin/python" -c 'import icechunk; print(icechunk.__version__)')"
    case "$version" in
        2.*) ;;
        *) echo "setup_icechunk_python: icechunk $version installed, need 2.x" >&2; exit 1 ;;
    esac
    echo "$want" > "$stamp"
}

build_cube() {
    local config="${1:-release}"
    log "building cube ($config)"
    local out
    out="$(mktemp)"
    if ! (cd "$ROOT" && swift build -c "$config" --product cube >"$out" 2>&1); then
        grep -Ev '^\[[0-9]+/[0-9]+\]' "$out" >&2; rm -f "$out"; exit 1
    fi
    rm -f "$out"
    CUBE="$(cd "$ROOT" && swift build -c "$config" --show-bin-path)/cube"
    export CUBE
}
