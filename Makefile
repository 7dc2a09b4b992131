# The two commands a newcomer needs: `make run` (install + serve on SQLite under ./var/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint agreement bench faults fuzz clean

install: $(STAMP)

# Reinstall when the dependency list changes; the project itself is installed editable.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q processor  # an editable install compiles nothing; start-up then parses source
	$(BIN)/python -m processor.caches  # likewise the catalogues' TOML and the regular expressions
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

# Performance side by side with aiosmtpd's ceiling, Postfix's smtp-sink and Sisimai (installs the latter two).
bench: install
	$(BIN)/python bench/perf.py

# Fault report: kill -9, database outage, locked and full SQLite, duplicates, SIGTERM (root for the tmpfs).
faults: install
	$(BIN)/python bench/faults.py

# Hostile input through parse, classify and the worker; prints the number of inputs tried.
fuzz: install
	$(BIN)/python bench/fuzz.py --examples 20000

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
