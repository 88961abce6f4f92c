#!/usr/bin/env bash
# `make web-e2e`: the dashboard in headless Chromium against the real gsm-server (which embeds the
# dashboard: run `make web` first), gsm-agent and gsm-sim-7dtd. `web-e2e.sh bench` prints the
# dashboard's figures instead (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f web/dist/index.html ]; then
    echo "web/dist is missing: run \`make web\` first (the server embeds it when it compiles)" >&2
    exit 1
fi
CHROMIUM="${GSM_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    echo "no Chromium at $CHROMIUM: apt-get install chromium (or set GSM_CHROMIUM)" >&2
    exit 1
fi
[ -d web/node_modules ] || (cd web && npm ci --no-audit --no-fund)

cargo build --locked -q -p gsm-server -p gsm-agent -p gsm-sim-7dtd
TARGET="${CARGO_TARGET_DIR:-$PWD/target}/debug"
export GSM_SERVER_BIN="$TARGET/gsm-server" GSM_AGENT_BIN="$TARGET/gsm-agent" GSM_SIM_BIN="$TARGET/gsm-sim-7dtd"
export GSM_CHROMIUM="$CHROMIUM"

if [ "${1:-}" = bench ]; then
    exec node web/scripts/bench.mjs
fi
exec node web/e2e/run.mjs
