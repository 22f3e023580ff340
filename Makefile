# The README's entry points. Everything runs from a virtual environment that `make` builds itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/datasets

.PHONY: install test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check manage.py rnnservice apps tests bench

# Every benchmark on the whole data sets, one after another (well over an hour on a 2-core CPU).
bench: install
	$(PY) -m bench.throughput --data $(DATA)
	for name in ud_upos conll_ner sst2 names multi30k; do $(PY) -m bench.accuracy $$name --data $(DATA) || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
