# Two commands do everything on a fresh machine:
#   make run    set up, then run the bot (the local playground when BOT_TOKEN is not set)
#   make test   set up, then run the test suite (SQLite; PostgreSQL + Redis when
#               TEST_DATABASE_URL / TEST_REDIS_URL are set, see README)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := bot handlers services models
# linted and type-checked with the sources, but no messages to extract: the emulator
LINTED := $(SOURCES) tgemu
CATALOGS := $(wildcard locales/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test lint setup lock locales extract-messages update-messages bench clean

run: setup
	$(BIN)/python -m bot start

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(LINTED) tests bench migrations/env.py
	$(BIN)/ruff format --check $(LINTED) tests bench migrations/env.py
	$(BIN)/mypy $(LINTED)

setup: $(STAMP) locales

# pip itself as pinned (requirements-pip.lock, with its hash), then
# every dependency exactly as locked, each file checked against its hash (runtime and dev tools:
# requirements-dev.lock holds the runtime pins of requirements.lock plus pytest, ruff, mypy...),
# then the project itself, resolving nothing more
$(STAMP): pyproject.toml requirements-dev.lock requirements-pip.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps --only-binary :all: \
		-r requirements-pip.lock
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# after changing dependencies in pyproject.toml, or to take newer versions (security fixes):
# resolve again and write both locks with hashes (pip-tools in a venv of its own), then review
# the diff and run the tests. The locks are for CPython 3.11 on Linux, as the image and CI run.
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --all-build-deps --no-emit-index-url --no-emit-find-links --upgrade
lock:
	test -d $(LOCK_VENV) || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'pip-tools>=7.4'
	$(PIP_COMPILE) --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint requirements.lock --output-file requirements-dev.lock \
		pyproject.toml

# compiled catalogs are build products: never edited, never committed
locales: $(STAMP) $(COMPILED)

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po
	$(BIN)/pybabel compile --use-fuzzy -d locales -D messages -l $* -i $< -o $@

# after adding or changing messages: extract, merge into every catalog, then translate
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k NC_:1c,2 -k NP_:1,2 --add-comments=Translators: \
		--no-location --sort-output \
		--project community-commerce-bot -o locales/messages.pot $(SOURCES)

update-messages: extract-messages
	$(BIN)/pybabel update -i locales/messages.pot -d locales -D messages --no-fuzzy-matching \
		--ignore-obsolete
	$(BIN)/python scripts/fill_english.py locales/en/LC_MESSAGES/messages.po

bench: setup
	$(BIN)/python bench/dispatch.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) locales/*/LC_MESSAGES/*.mo
