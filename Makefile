# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-quick lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

# The address is checked first: a second `make run` must not reset the demo credentials
# the first one printed (demo setup) before it fails to bind.
run: $(STAMP)
	$(BIN)/python -m authserver.bind_check
	$(BIN)/authserver db upgrade
	$(BIN)/authserver demo setup
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

# The whole suite on SQLite, and on PostgreSQL and Redis too when AUTHSERVER_TEST_DATABASE_URL
# and AUTHSERVER_TEST_REDIS_URL are set (.ci/run sets both). test-quick leaves out the tests
# marked `processes` (gunicorn, console scripts, throwaway servers).
test: $(STAMP)
	$(BIN)/pytest -q

test-quick: $(STAMP)
	$(BIN)/pytest -q -m "not processes"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/bench_policy.py
	$(BIN)/python bench/bench_preview.py
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_dpop.py
	$(BIN)/python bench/bench_kit.py

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
