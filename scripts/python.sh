#!/usr/bin/env bash
# `make python`: lint, build and test the Python bindings (bindings/python).
#
# The crate lives outside the cargo workspace (it builds against a Python), so it is formatted
# and linted here, against its own Cargo.lock. The wheel is built with maturin, installed into
# a fresh virtualenv, and pytest (warnings are errors), mypy's stubtest and mypy --strict run against the
# installed wheel, never the source tree. The build tools live in a venv under GSM_PY_VENV
# (default /var/tmp/gsm-py-venv), made on first use and remade when the pins change.
#
# `scripts/python.sh bench` instead builds a release wheel and prints the figures of
# bindings/python/bench.py (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=bindings/python
VENV="${GSM_PY_VENV:-/var/tmp/gsm-py-venv}"
# One target dir for the workspace and the bindings (whose own default would be bindings/python/target).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
TARGET="$CARGO_TARGET_DIR"

if ! cmp -s "$PY/requirements-dev.txt" "$VENV/gsm-requirements.txt" 2>/dev/null; then
    python3 -m venv --clear "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PY/requirements-dev.txt"
    cp "$PY/requirements-dev.txt" "$VENV/gsm-requirements.txt"
fi

if [ "${1:-}" = bench ]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    "$VENV/bin/maturin" build --quiet --release --manifest-path "$PY/Cargo.toml" --out "$WORK/wheels"
    python3 -m venv "$WORK/env"
    "$WORK/env/bin/pip" install --quiet --disable-pip-version-check "$WORK"/wheels/gsm-*.whl
    "$WORK/env/bin/python" "$PY/bench.py"
    exit
fi

cargo fmt --manifest-path "$PY/Cargo.toml" --check
cargo clippy --manifest-path "$PY/Cargo.toml" --all-targets --locked -- -D warnings

# The protocol stand-ins the adapter tests talk to.
cargo build --locked -q -p gsm-sim-7dtd -p gsm-sim-rcon
export GSM_SIM_7DTD="$TARGET/debug/gsm-sim-7dtd" GSM_SIM_RCON="$TARGET/debug/gsm-sim-rcon"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/maturin" build --quiet --manifest-path "$PY/Cargo.toml" --out "$WORK/wheels"

# A fresh environment with only the wheel and the test tools in it.
python3 -m venv "$WORK/env"
"$WORK/env/bin/pip" install --quiet --disable-pip-version-check \
    -r "$PY/requirements-dev.txt" "$WORK"/wheels/gsm-*.whl

# Outside the source tree, so `import gsm` can only find the installed wheel.
(cd "$PY" && "$WORK/env/bin/python" -m pytest -p no:cacheprovider -q)
(cd "$WORK" && "$WORK/env/bin/python" -m mypy.stubtest gsm && "$WORK/env/bin/python" -m mypy --strict -p gsm)
