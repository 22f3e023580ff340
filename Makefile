# The README's entry points. Everything runs from a virtual environment that `make` builds itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/datasets

.PHONY: install test lint bench bench-quick clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check rnnservice tests bench

# Every benchmark on the whole data sets: about two hours on a 2-core CPU. See bench/RESULTS.md.
bench: install
	$(PY) -m bench.run_all --data $(DATA)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
