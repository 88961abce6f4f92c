#!/usr/bin/env bash
# A short fuzzing pass over the agent-protocol decoders (both directions), as CI runs it.
# Longer runs: cd fuzz && cargo +nightly fuzz run agent_frame corpus/agent_frame
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-30}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: no nightly toolchain on this machine; cargo-fuzz needs one (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz-smoke: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-/var/tmp/gsm-fuzz-target}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for target in agent_frame server_frame rcon_decoder sdtd_framer sdtd_log_parser; do
    # Run on a copy: new inputs the fuzzer finds must not dirty the checked-in seed corpus.
    cp -r "corpus/$target" "$work/$target"
    cargo +nightly fuzz run "$target" "$work/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -print_final_stats=1 2>&1 | tail -3
done
echo "fuzz-smoke: no crash in ${SECONDS_PER_TARGET}s per target"
