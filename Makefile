# gsm's two front doors: `make demo` and `make test`. Everything else is a helper.
# Build caches may live outside the clone: set CARGO_TARGET_DIR (CI uses /var/tmp/gsm-target).

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: test demo fmt lint unit bench build help fuzz-smoke schemathesis python web web-e2e

help:
	@echo "make demo   build gsm and show it working"
	@echo "make test   formatting, lints and every test (what CI runs)"
	@echo "make bench  print the performance figures (see docs/benchmarks.md)"
	@echo "make python lint, build and test the Python bindings (bindings/python)"
	@echo "make web    build the dashboard (web/dist, embedded by the next cargo build of gsm-server)"
	@echo "make fuzz-smoke  fuzz the protocol decoders briefly (needs a nightly toolchain)"

# The dashboard comes first: gsm-server embeds web/dist when it compiles, so the cargo steps
# below test the server that ships it.
test: web fmt lint unit schemathesis python web-e2e

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) nextest run --workspace --locked --no-fail-fast
	$(CARGO) test --workspace --locked --doc

build:
	$(CARGO) build --workspace --locked

# The dashboard: install the locked npm deps, check the generated API types are fresh and the
# code type-checks, run its unit tests (vitest), and build web/dist.
web:
	cd web && npm ci --no-audit --no-fund && npm run check-types && npm test && npm run build

# The dashboard end to end in headless Chromium against the real server, agent and simulated 7DTD.
web-e2e:
	scripts/web-e2e.sh

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
	scripts/web-e2e.sh bench

demo:
	@scripts/demo.sh
