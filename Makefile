# Two entry points: `make demo` and `make test`. Both install everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint typecheck pytest bench clean catalogues

$(STAMP): pyproject.toml scripts/system-deps
	./scripts/system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/newsletter demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: install
	@status=0; for script in benchmarks/*.py; do \
		echo "== $$script"; $(BIN)/python $$script || status=1; \
	done; exit $$status

# After a fixed string changed: extract the strings, merge them into every catalogue (new
# ones come empty, changed ones fuzzy), translate those, and compile (README, "Translations").
LOCALE := newsletter/i18n/locale
catalogues: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -w 100 \
		--project=newsletter --copyright-holder="the newsletter authors" -o $(LOCALE)/newsletter.pot .
	$(BIN)/pybabel update -i $(LOCALE)/newsletter.pot -d $(LOCALE) -D newsletter -w 100 \
		--ignore-obsolete
	$(BIN)/pybabel compile -d $(LOCALE) -D newsletter --statistics

clean:
	rm -rf $(VENV) out build *.egg-info
