# Baomi — the two commands a newcomer needs are `make demo` and `make test` (README.md).
# Everything else here is for development.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint typecheck check-translations messages lock bench clean

$(STAMP): requirements/lock.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Baomi needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	touch $(STAMP)

venv: $(STAMP)

## Set up and run the product on embedded defaults (SQLite, filesystem broker).
demo: $(STAMP)
	BAOMI_ENV=development $(PY) manage.py migrate --noinput
	BAOMI_ENV=development $(PY) manage.py migrate --noinput --database keystore
	BAOMI_ENV=development $(PY) manage.py seed_demo
	BAOMI_ENV=development exec $(PY) scripts/demo.py

## Set up and run the whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL say so).
AXE := tests/browser/node_modules/axe-core/axe.min.js

# Browser tests need axe-core (npm) and Chromium (/usr/bin/chromium); without them they
# skip with the reason, unless REQUIRE_SERVICES=1.
$(AXE): tests/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/browser --no-audit --no-fund --silent; \
	else echo "npm not found: browser tests will be skipped"; fi

test: $(STAMP)
	-@$(MAKE) --no-print-directory $(AXE)
	BAOMI_ENV=test $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	BAOMI_ENV=test $(VENV)/bin/lint-imports

typecheck: $(STAMP)
	BAOMI_ENV=test $(VENV)/bin/mypy config core tenants orders privacy riders incidents audits training

## Fail when the zh-Hans catalogue is out of date with the source (needs GNU gettext).
check-translations: $(STAMP)
	BAOMI_ENV=test $(PY) scripts/check_translations.py

## Regenerate the zh-Hans catalogue after changing user-facing strings, then translate.
messages: $(STAMP)
	BAOMI_ENV=test $(PY) manage.py makemessages -l zh_Hans --no-location --no-wrap --no-obsolete --ignore=.venv --ignore=var --ignore=tests
	BAOMI_ENV=test $(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

## Re-resolve the locked dependency sets from pyproject.toml (lock.txt: with dev tools;
## prod.txt: the production image's).
lock: $(STAMP)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --no-header -o requirements/lock.txt
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
		--generate-hashes --no-header -o requirements/prod.txt

## Benchmarks against PostgreSQL and Redis on localhost (ARGS=--quick for small sizes).
bench: $(STAMP)
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) var
