# Two commands do everything on a fresh machine:
#   make run    set up, then run the bot (the local playground when BOT_TOKEN is not set)
#   make test   set up, then run the test suite (SQLite; PostgreSQL + Redis when
#               TEST_DATABASE_URL / TEST_REDIS_URL are set, see README)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SOURCES := bot handlers services models
CATALOGS := $(wildcard locales/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test lint setup locales extract-messages update-messages bench clean

run: setup
	$(BIN)/python -m bot start

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check $(SOURCES) tests bench migrations/env.py
	$(BIN)/ruff format --check $(SOURCES) tests bench migrations/env.py
	$(BIN)/mypy $(SOURCES)

setup: $(STAMP) locales

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

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
	rm -rf $(VENV) locales/*/LC_MESSAGES/*.mo
