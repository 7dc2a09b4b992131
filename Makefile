# The two commands a newcomer needs: `make run` (install + serve on SQLite under ./var/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint agreement clean

install: $(STAMP)

# Reinstall when the dependency list changes; the project itself is installed editable.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/faxbounce migrate
	$(BIN)/faxbounce serve

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

# How often the generic delivery-report reader agrees with Sisimai on ../shared/corpus.
agreement: install
	$(BIN)/python bench/corpus_agreement.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
