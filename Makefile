# One obvious target per task. Each creates the virtualenv it needs on first use.
PYTHON ?= python3
VENV := .venv
SDK5_VENV := .venv-sdk5
SPYGLASS := $(VENV)/bin/spyglass

.PHONY: serve test test-compat-sdk5 lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The newest langfuse 5.x, as a second client environment for the compatibility suite.
$(SDK5_VENV)/.installed: $(VENV)/.installed
	$(PYTHON) -m venv $(SDK5_VENV)
	$(SDK5_VENV)/bin/pip install --quiet --upgrade pip
	$(SDK5_VENV)/bin/pip install --quiet 'langfuse>=5,<6' 'pytest>=8,<10' 'pytest-timeout>=2.3,<3' 'httpx>=0.27,<1'
	touch $@

## Run the whole platform on the embedded default (http://127.0.0.1:3000, data in ./spyglass-data).
serve: $(VENV)/.installed
	$(SPYGLASS) serve

## Layer contracts, the compatibility suite under langfuse 5.x, the compatibility and API suites again on
## PostgreSQL + Redis + S3 (moto) + chDB, then the whole suite (langfuse 4.14.3).
test: $(VENV)/.installed $(SDK5_VENV)/.installed
	$(VENV)/bin/lint-imports
	SPYGLASS_SERVER_PYTHON=$(abspath $(VENV))/bin/python $(SDK5_VENV)/bin/pytest tests/compat -c pyproject.toml
	SPYGLASS_TEST_STACK=scaleout $(VENV)/bin/pytest tests/compat tests/compat_js tests/integration/api
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

## Spyglass and Arize Phoenix side by side (~1 h; Phoenix is installed into ~/.cache); results go to bench/README.md.
bench: $(VENV)/.installed
	$(VENV)/bin/python bench/suite.py

clean:
	rm -rf $(VENV) $(SDK5_VENV) spyglass-data
