# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# Development runs in debug (the settings default to production and fail closed).
DEV := DJANGO_DEBUG=true
# The locks are compiled for the image's and CI's platform (hashes cover every platform's files).
LOCK := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --annotation-style line

.PHONY: run test lint install install-dev lock demo clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

## install: the hashed lock (every transitive package pinned and its download checked).
install: $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.txt

install-dev: $(VENV)/bin/python
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.txt
	bash scripts/install_test_deps.sh

## make lock: recompile requirements.txt and requirements-dev.txt from the .in files.
lock: install-dev
	$(VENV)/bin/uv pip compile requirements.in $(LOCK) -o requirements.txt
	$(VENV)/bin/uv pip compile requirements-dev.in $(LOCK) -o requirements-dev.txt

## make run: virtualenv, pins, migrations, demo data, then the server on 127.0.0.1 (SQLite, mock payments).
## The demo admin signs in with its password alone: two-factor is relaxed, which only debug allows.
DEMO := $(DEV) STAFF_2FA_REQUIRED=false
run: install
	$(DEMO) $(PY) manage.py migrate --no-input
	$(DEMO) $(PY) manage.py seed_demo
	$(DEMO) $(PY) manage.py runserver $(HOST):$(PORT)

## make test: virtualenv, pins and test tools, then the whole suite (DATABASE_URL picks the database).
test: install-dev
	$(DEV) $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest selected no test"; rc=0; fi; exit $$rc

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* .pytest_cache
