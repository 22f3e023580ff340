# The README's entry points. Everything runs from a virtual environment that `make` builds itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= ../shared/datasets
PORT ?= 8000
# test-services: the tests that touch a database or a broker, on PostgreSQL and Redis (.ci/run starts them).
# The tests make a database of their own on that server (test_<name>) and use Redis database 15 (the broker)
# and 14 (the cache, where the request rates are counted).
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
SERVICES_BROKER_URL ?= redis://127.0.0.1:6379/15
SERVICES_CACHE_URL ?= redis://127.0.0.1:6379/14

.PHONY: install run serve test test-services lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# tests/contract's TypeScript tools (openapi-typescript, tsc), as pinned in its package-lock.json (node 20).
CONTRACT_TOOLS := tests/contract/node_modules/.installed
$(CONTRACT_TOOLS): tests/contract/package.json tests/contract/package-lock.json
	npm ci --prefix tests/contract --no-audit --no-fund --silent
	touch $@

install: $(VENV)/.installed

# Everything on this machine, state under RNNSERVICE_HOME (default .rnnservice): migrations, the demo user and
# data sets, the web server, a worker per queue and celery beat; Ctrl-C stops them all. DJANGO_DEBUG defaults to
# true here only: a built-in secret key and static files served from the apps.
run: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py run_local --port $(PORT)

# The production web server alone (granian: rnnservice/server.py), on 127.0.0.1:$(PORT) unless WEB_HOST says
# otherwise, with its settings from the environment as docker-compose.yml's web service runs it (WEB_WORKERS,
# WEB_THREADS, TORCH_THREADS, WEB_HEADER_TIMEOUT, WEB_BODY_TIMEOUT). It needs a migrated database and, with
# DJANGO_DEBUG=false, `manage.py collectstatic` for the admin's files.
serve: install
	WEB_PORT=$(PORT) $(PY) -m rnnservice.server

test: install $(CONTRACT_TOOLS)
	$(PY) -m pytest

# tests/ml has no database and no broker: the first pass covers it.
test-services: install $(CONTRACT_TOOLS)
	DATABASE_URL=$(SERVICES_DATABASE_URL) CELERY_BROKER_URL=$(SERVICES_BROKER_URL) CACHE_URL=$(SERVICES_CACHE_URL) \
	  $(PY) -m pytest --ignore=tests/ml

lint: install
	$(VENV)/bin/ruff check manage.py rnnservice apps tests bench

# Every benchmark on the whole data sets, one after another (well over an hour on a 2-core CPU).
bench: install
	$(PY) -m bench.throughput --data $(DATA)
	for name in ud_upos conll_ner sst2 names multi30k; do $(PY) -m bench.accuracy $$name --data $(DATA) || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/contract/node_modules
