# gsm's two front doors: `make demo` and `make test`. Everything else is a helper.
# Build caches may live outside the clone: set CARGO_TARGET_DIR (CI uses /var/tmp/gsm-target).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: test demo fmt lint unit bench build help fuzz-smoke schemathesis python

help:
	@echo "make demo   build gsm and show it working"
	@echo "make test   formatting, lints and every test (what CI runs)"
	@echo "make bench  print the performance figures (see docs/benchmarks.md)"
	@echo "make python lint, build and test the Python bindings (bindings/python)"
	@echo "make fuzz-smoke  fuzz the protocol decoders briefly (needs a nightly toolchain)"

test: fmt lint unit schemathesis python

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) nextest run --workspace --locked --no-fail-fast
	$(CARGO) test --workspace --locked --doc

build:
	$(CARGO) build --workspace --locked

# The live server against its own OpenAPI document (Schemathesis, in a venv under GSM_VENV).
schemathesis:
	scripts/schemathesis.sh

# The Python bindings: lint, build the wheel, test it installed in a fresh venv (GSM_PY_VENV).
python:
	scripts/python.sh

fuzz-smoke:
	scripts/fuzz-smoke.sh

bench:
	$(CARGO) run --release --locked -p gsm-bench -- all
	scripts/python.sh bench

demo:
	@scripts/demo.sh
