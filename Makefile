# The two set-up commands of the README are `make demo` and `make test`; everything
# they need (Debian packages when run as root, a virtualenv, the pinned Go binaries) is
# installed on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ARGS   ?=

.PHONY: demo test lint unit integration binaries packages bench bench-node bench-ui screenshots clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

packages:
	hack/install-packages.sh

binaries: packages
	hack/build-binaries.sh

demo: $(VENV)/.installed binaries
	PYTHONPATH=hack $(PY) hack/demo.py $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests hack bench
	$(VENV)/bin/ruff format --check src tests hack bench
	$(VENV)/bin/mypy  # strict on src; tests, hack and bench with mypy's defaults (pyproject)
	$(VENV)/bin/lint-imports

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(ARGS)

integration: $(VENV)/.installed binaries
	$(PY) -m pytest tests/integration $(ARGS)

test: lint binaries
	$(PY) -m pytest tests $(ARGS)

bench: $(VENV)/.installed binaries
	PYTHONPATH=hack $(PY) bench/run.py $(ARGS)

bench-node: $(VENV)/.installed binaries
	PYTHONPATH=hack $(PY) bench/node.py $(ARGS)

bench-ui: $(VENV)/.installed binaries
	PYTHONPATH=hack $(PY) bench/ui.py $(ARGS)

# The README's web UI screenshots, made by the browser tests in a real Chromium.
screenshots: $(VENV)/.installed binaries
	GITOPS_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/integration/test_ui_browser.py -q $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
