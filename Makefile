# The README's two commands: `make run` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
PG_ADMIN_URL ?= postgresql://127.0.0.1:5432/test
PYTEST_ARGS ?=

.PHONY: run test test-sqlite test-postgres lint install install-dev browser pdf-libs clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev-deps: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.run-deps

install: $(VENV)/.run-deps pdf-libs
install-dev: $(VENV)/.dev-deps pdf-libs

# Pango and a font for WeasyPrint, which renders the dossier's PDF.
pdf-libs:
	@ldconfig -p | grep -q libpangoft2-1.0 && fc-list 2>/dev/null | grep -qi dejavu || { \
	  apt-get update -qq && apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 \
	    libharfbuzz-subset0 fonts-dejavu-core >/dev/null; }

# Serve on http://127.0.0.1:5000 with SQLite in instance/ and jobs run in-process; beside it,
# `worker` (without REDIS_URL) runs the periodic tasks: SLA sweep, outbox relay, checkpoints.
run: install
	@if [ ! -f instance/docket.db ]; then new=1; fi; \
	$(FLASK) db upgrade && \
	if [ -n "$$new" ]; then $(FLASK) demo; fi && \
	{ $(FLASK) worker & periodic=$$!; trap 'kill $$periodic 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host 127.0.0.1 --port 5000; }

# Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: install-dev
	$(VENV)/bin/ruff check .

test-sqlite: install-dev browser
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

# A fresh PostgreSQL database for this run, dropped afterwards whatever the outcome.
test-postgres: install-dev browser
	@db=docket_test_$$$$; \
	$(PY) -m tests.pg_database create "$(PG_ADMIN_URL)" $$db || exit 1; \
	trap '$(PY) -m tests.pg_database drop "$(PG_ADMIN_URL)" '$$db EXIT; \
	DATABASE_URL="$$($(PY) -m tests.pg_database url "$(PG_ADMIN_URL)" $$db)" \
	  $(VENV)/bin/pytest -q $(PYTEST_ARGS)

test: lint test-sqlite test-postgres

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
