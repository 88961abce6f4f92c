#!/usr/bin/env bash
# A short, reproducible fuzzing pass over every parser that reads peer or disk bytes (both
# agent-protocol directions, the RCON decoder, the 7DTD framer and log parser, the journal format
# of the agent's ledger), as CI runs it. A fixed seed and a fixed number of runs make a CI result
# repeatable on any machine. Longer, open-ended runs:
#   cd fuzz && cargo +nightly fuzz run agent_frame corpus/agent_frame
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
RUNS="${FUZZ_RUNS:-100000}"
SEED="${FUZZ_SEED:-1}"

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
for target in agent_frame server_frame rcon_decoder sdtd_framer sdtd_log_parser ledger_journal; do
    # Run on a copy: new inputs the fuzzer finds must not dirty the checked-in seed corpus.
    cp -r "corpus/$target" "$work/$target"
    if ! cargo +nightly fuzz run "$target" "$work/$target" -- \
        -runs="$RUNS" -seed="$SEED" -max_len=65536 -print_final_stats=1 > "$work/$target.log" 2>&1; then
        tail -60 "$work/$target.log" >&2
        echo "fuzz-smoke: $target failed; the input is under fuzz/artifacts/$target/ — add it to fuzz/corpus/$target/ once fixed" >&2
        exit 1
    fi
    echo "fuzz-smoke: $target: $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$work/$target.log" || echo 'done')"
done
echo "fuzz-smoke: no crash in $RUNS runs per target (seed $SEED)"
