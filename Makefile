# django-migration-pilot: `make demo` and `make test` work from a fresh clone with only Python and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Django 6.x needs Python 3.12+; the second test leg runs there when one is found.
VENV6 ?= .venv-django6
PY6 := $(VENV6)/bin/python
FIND_PY312 = for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3.13 \
	$$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.13 /usr/local/bin/python3.12; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; \
	then command -v $$p; break; fi; done
SHOP := examples/shop
DEMO_DEPLOY_FLAGS ?=

# A large real application from PyPI (wagtail) for the no-false-positive tests of verify.
VENV_REAL ?= .venv-realapps
WAGTAIL_VERSION ?= 8.0.1

.PHONY: demo test test-django5 test-django6 lint-code install clean docs bench-lint realapps

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' 'Django>=5.2,<5.3'
	@touch $@

install: $(VENV)/.installed

# The MySQL driver compiles against libmariadb headers; without them the MySQL tests skip with that reason.
mysql-driver-%:
	@$(VENVDIR)/bin/python -c 'import MySQLdb' 2>/dev/null || \
	  $(VENVDIR)/bin/python -m pip install -q 'mysqlclient>=2.2.1' || \
	  echo "warning: mysqlclient did not build (install libmariadb-dev and pkg-config); MySQL tests will skip"

demo: $(VENV)/.installed
	@rm -f $(SHOP)/db.sqlite3 $(SHOP)/db.sqlite3.pilot-lock
	@echo "== 1. pilot lint: review the example shop's migrations as production (PostgreSQL) would meet them =="
	@echo "   (linting never connects to a database; --fail-on never so the demo goes on)"
	cd $(SHOP) && ../../$(PY) manage.py pilot lint --vendor postgresql --fail-on never
	@echo
	@echo "== 1b. pilot makesafe --diff: the online form of the flagged index migration (nothing is written) =="
	@echo "   (pilot deploy on PostgreSQL runs plain migrations in this form by itself)"
	cd $(SHOP) && ../../$(PY) manage.py pilot makesafe orders 0003 --vendor postgresql --diff
	@echo
	@echo "== 1c. pilot docs: one page per migration (runbook format, SQL both ways, locks, findings), then --check =="
	@echo "   (written to a temporary directory; no database is touched)"
	cd $(SHOP) && out=$$(mktemp -d) && ../../$(PY) manage.py pilot docs --vendor postgresql --output $$out \
		&& sed -n '1,/^## Operations/p' $$out/orders/0002_order_tracking_number.md \
		&& ../../$(PY) manage.py pilot docs --vendor postgresql --output $$out --check; status=$$?; rm -rf $$out; exit $$status
	@echo
	@echo "== 2. pilot plan: what deploy would do to the (empty) SQLite database =="
	cd $(SHOP) && ../../$(PY) manage.py pilot plan --no-sql
	@echo
	@echo "== 3. pilot verify --prepare: the build step caches the schema these migrations must produce =="
	cd $(SHOP) && ../../$(PY) manage.py pilot verify --prepare
	@echo
	@echo "== 4. pilot deploy: lint gate, backup, deploy lock, timeouts, apply, verify =="
	cd $(SHOP) && ../../$(PY) manage.py pilot deploy $(DEMO_DEPLOY_FLAGS)
	@echo
	@echo "== 5. pilot backups: the pre-deploy backup, checksummed, restorable with 'pilot restore ID' =="
	cd $(SHOP) && ../../$(PY) manage.py pilot backups
	@echo
	@echo "== 6. pilot history: the run, as recorded in the database =="
	cd $(SHOP) && ../../$(PY) manage.py pilot history --limit 1
	@echo
	@echo "== 7. pilot maintain: statistics for the tables the deploy touched (report first, then run) =="
	cd $(SHOP) && ../../$(PY) manage.py pilot maintain --dry-run && ../../$(PY) manage.py pilot maintain
	@echo
	@echo "Demo finished: the example's migrations were linted, planned, backed up, deployed, verified"
	@echo "and maintained on $(SHOP)/db.sqlite3."

lint-code: $(VENV)/.installed
	$(PY) -m ruff check src tests bench examples
	$(PY) -m mypy

$(VENV_REAL)/.installed: pyproject.toml
	@test -x $(VENV_REAL)/bin/python || $(PYTHON) -m venv $(VENV_REAL)
	$(VENV_REAL)/bin/python -m pip install -q --upgrade pip
	$(VENV_REAL)/bin/python -m pip install -q -e '.[postgresql]' 'Django>=5.2,<5.3' 'wagtail==$(WAGTAIL_VERSION)'
	@$(MAKE) --no-print-directory mysql-driver-real VENVDIR=$(VENV_REAL)
	@touch $@

realapps: $(VENV_REAL)/.installed

# The two Django legs run side by side: each leaves a core mostly idle (it waits on subprocesses and
# database servers), and every test uses scratch databases of its own, so they do not meet.
test: lint-code realapps
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-django5 test-django6

# Bytecode: many tests run `migration-pilot` in a subprocess; where PYTHONDONTWRITEBYTECODE is
# set (as on these machines) each one compiles the package from source again (0.4 s of CPU each).
# Compiling src once up front lets every subprocess read the .pyc files; nothing else is written.
test-django5: $(VENV)/.installed
	@$(MAKE) --no-print-directory mysql-driver-5 VENVDIR=$(VENV)
	$(PY) -m compileall -q src
	$(PY) -m pytest

test-django6:
	@py=$$($(FIND_PY312)); \
	if [ -z "$$py" ]; then \
	  if [ -n "$$CI" ]; then echo "error: CI must test Django 6.x but no Python 3.12+ was found"; exit 1; fi; \
	  echo "note: no Python 3.12+ found; skipping the Django 6.x test leg"; exit 0; fi; \
	test -x $(PY6) || $$py -m venv $(VENV6); \
	test -f $(VENV6)/.installed -a $(VENV6)/.installed -nt pyproject.toml || { \
	  $(PY6) -m pip install -q --upgrade pip && \
	  $(PY6) -m pip install -q -e '.[dev]' 'Django>=6.0,<6.2' && touch $(VENV6)/.installed; } || exit 1; \
	$(MAKE) --no-print-directory mysql-driver-6 VENVDIR=$(VENV6); \
	echo "== Django $$($(PY6) -c 'import django; print(django.get_version())') on $$($(PY6) -V) =="; \
	$(PY6) -m compileall -q src && \
	$(PY6) -m pytest

docs: $(VENV)/.installed
	$(PY) -m migration_pilot.cli.main --settings tests.settings --pythonpath . rules --write-docs docs/rules

bench-lint:
	$(PYTHON) bench/lint/run.py

clean:
	rm -rf $(VENV) $(VENV6) $(VENV_REAL) $(SHOP)/db.sqlite3 build dist src/*.egg-info
