# Entry points for a fresh machine: `make demo` (the main job), `make test` (every tier, as CI runs it) and
# `make check` (the fast tier only, a few minutes: the developer's loop; no browser, PostgreSQL or provider set-up).
# All create .venv and install the project when missing; they are quick when it is already there.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install browser postgres oidc-deps demo test check taxonomy-bundle bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the CPU wheel on disk, so no dependency pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# The bundled taxonomy's search indexes and competency embeddings, once for every home (a few minutes).
	$(BIN)/loopbaan taxonomy prepare
	touch $(STAMP)

demo: $(STAMP) oidc-deps
	$(BIN)/loopbaan demo

# The local OpenID provider (oidc/, oidc-provider from npm) for sign-in in the demo and the tests: its packages
# exactly as the lock file names them. Without npm the sign-in tests skip and say why.
OIDC_STAMP := oidc/node_modules/.installed
oidc-deps: $(OIDC_STAMP)

$(OIDC_STAMP): oidc/package.json oidc/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd oidc && npm ci --no-audit --no-fund --loglevel=error && touch $(CURDIR)/$(OIDC_STAMP); \
	else echo "npm is not installed: the local OpenID provider (sign-in) is not available"; fi

# The browser test drives Debian's Chromium; install it where this user may (root with apt), else the test
# skips and says why.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  echo "installing Debian's chromium and chromium-driver for the browser test" && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "Chromium could not be installed here: the browser test will be skipped"

# The vault's tests also run on a throwaway PostgreSQL cluster that they start themselves (initdb/pg_ctl on a
# loopback port); install Debian's postgresql where this user may (root with apt), else those tests skip and say why.
postgres:
	@{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; } || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  echo "installing Debian's postgresql for the vault's PostgreSQL tests" && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "PostgreSQL could not be installed here: the vault's PostgreSQL tests will be skipped"

test: $(STAMP) browser postgres oidc-deps
	$(BIN)/python -m pytest

# The tests without a tier marker (pyproject.toml's markers name the tiers).
FAST_TIER := not slow and not browser and not distributed and not postgres and not oidc
check: $(STAMP)
	$(BIN)/python -m pytest -m "$(FAST_TIER)" -q

# Maintainers only: rebuild the compact taxonomy copy from ../shared/data (needs that folder).
taxonomy-bundle: $(STAMP)
	$(BIN)/python scripts/build_taxonomy_bundle.py --source ../shared/data --out features/taxonomy_data

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_retrieval.py
	$(BIN)/python benchmarks/bench_taxonomy.py

clean:
	rm -rf $(VENV) .loopbaan oidc/node_modules
