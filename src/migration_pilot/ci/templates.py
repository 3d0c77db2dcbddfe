"""The workflow texts: the runbook's CI jobs for GitHub Actions and GitLab CI, filled in from a CiContext.

Written as text, not dumped from data, so they keep their comments. Every
`migration-pilot` command stands on a line of its own (tests run each one on
the example project). Settings come from DJANGO_SETTINGS_MODULE and PYTHONPATH
set once for the whole workflow; database credentials are set only on the jobs
that need a database. The pull-request lint job runs `lint --static`, which
never imports the migration modules (docs/ci.md, S8).
"""

from __future__ import annotations

from typing import Final

from migration_pilot.ci.context import CiContext

EXIT_CODES: Final = {
    0: "deployed (or nothing to do)",
    1: "refused: validation, another deploy holds the lock, or a killed deploy's statement still runs; nothing changed",
    2: "usage or configuration error; nothing changed",
    3: "failed, and the database is back at its pre-deploy state (verified)",
    4: "failed and NOT fully back: a person must look (the message above says what is applied)",
}

_GITHUB_SERVICES: Final = {
    "postgresql": """\
    services:
      postgres:
        image: postgres:16  # use production's major version: the verify reference is keyed by it
        env:
          POSTGRES_PASSWORD: postgres
        ports: ["5432:5432"]
        options: >-
          --health-cmd pg_isready --health-interval 5s --health-timeout 5s --health-retries 20
    env:
      DATABASE_URL: postgres://postgres:postgres@localhost:5432/postgres
""",
    "mysql": """\
    services:
      mariadb:
        image: mariadb:11  # use production's server and version: the verify reference is keyed by it
        env:
          MARIADB_ROOT_PASSWORD: root
          MARIADB_DATABASE: ci
        ports: ["3306:3306"]
        options: >-
          --health-cmd "healthcheck.sh --connect --innodb_initialized" --health-interval 5s
          --health-timeout 5s --health-retries 20
    env:
      DATABASE_URL: mysql://root:root@127.0.0.1:3306/ci
""",
    "sqlite": "",
}

_GITLAB_SERVICES: Final = {
    "postgresql": """\
  services:
    - name: postgres:16  # use production's major version: the verify reference is keyed by it
      alias: postgres
  variables:
    POSTGRES_PASSWORD: postgres
    DATABASE_URL: postgres://postgres:postgres@postgres:5432/postgres
""",
    "mysql": """\
  services:
    - name: mariadb:11  # use production's server and version: the verify reference is keyed by it
      alias: mariadb
  variables:
    MARIADB_ROOT_PASSWORD: root
    MARIADB_DATABASE: ci
    DATABASE_URL: mysql://root:root@mariadb:3306/ci
""",
    "sqlite": "",
}


def _exit_mapping(indent: str, annotate: bool) -> str:
    """A shell `case` that names the deploy's exit code, then exits with it (so the job fails on non-zero)."""
    lines = ['case "$code" in']
    for code, meaning in EXIT_CODES.items():
        prefix = "" if code == 0 else ("::error title=pilot deploy::" if annotate else "ERROR: ")
        lines.append(f'  {code}) echo "{prefix}pilot deploy exit {code}: {meaning}" ;;')
    lines.append('  *) echo "pilot deploy exit $code: stopped by a signal or an unexpected error" ;;')
    lines.append("esac")
    lines.append('exit "$code"')
    return "\n".join(indent + line for line in lines)


def _github_setup(ctx: CiContext) -> str:
    """The steps every job starts with: the code, the Python and the project installed."""
    return f"""\
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "{ctx.python_version}"
      - run: {ctx.install}
"""


def github_workflow(ctx: CiContext) -> str:
    """`.github/workflows/migrations.yml`."""
    service = _GITHUB_SERVICES[ctx.database]
    setup = _github_setup(ctx)
    tests = ""
    if ctx.with_tests:
        tests = f"""
  migration-tests:
    # The migration tests (the migrator fixture / MigratorTestCase of django-migration-pilot's pytest plugin).
    runs-on: ubuntu-latest
{service}    steps:
{setup}      - run: pip install pytest pytest-django
      - run: python -m pytest -m migration_test || test $? -eq 5  # 5: no migration tests collected
"""
    return f"""\
# Written by 'pilot ci init github' (django-migration-pilot): the migrations runbook's CI jobs.
# Settings: {ctx.settings_module}; Python {ctx.python_version}; database: {ctx.database}.
name: migrations

on:
  pull_request:
  push:
    branches: [main]
  workflow_dispatch:

permissions:
  contents: read

env:
  DJANGO_SETTINGS_MODULE: {ctx.settings_module}
  PYTHONPATH: {ctx.pythonpath}
  MIGRATION_PILOT_CACHE_DIR: .pilot-cache/verify

jobs:
  lint:
    # Lint --static reads the migration files and never imports them: no pull request code runs here.
    # Keep it that way: on `pull_request`, never `pull_request_target`, no database credentials and no
    # secrets in this job (docs/ci.md, "Security: lint runs your migration modules").
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write
    steps:
{setup}      - name: pilot lint
        run: |
          migration-pilot lint --static --vendor {ctx.database} --format sarif > pilot-lint.sarif
      - name: Upload findings to code scanning
        if: always()
        uses: github/codeql-action/upload-sarif@v3
        with:
          sarif_file: pilot-lint.sarif
          category: migration-pilot

  docs:
    # The migration documentation pages in docs/migrations are up to date (exit 1 names the stale ones).
    runs-on: ubuntu-latest
    steps:
{setup}      - name: pilot docs --check
        run: |
          migration-pilot docs --check
{tests}
  verify-reference:
    # Build the reference schema once, in CI's database service; the deploy reads it instead of building it.
    runs-on: ubuntu-latest
{service}    steps:
{setup}      - name: pilot verify --prepare
        run: |
          migration-pilot verify --prepare
      - uses: actions/upload-artifact@v4
        with:
          name: pilot-verify-reference
          path: .pilot-cache/verify
          include-hidden-files: true

  deploy:
    if: github.event_name == 'push' && github.ref == 'refs/heads/main'
    needs: [lint, docs, verify-reference{", migration-tests" if ctx.with_tests else ""}]
    runs-on: ubuntu-latest
    environment: production
    # The pre-deploy backup is written to MIGRATION_PILOT["backup_dir"]: on a hosted runner it is gone when the
    # job ends, so point it at lasting storage or run this job on a runner next to the database.
    env:
      DATABASE_URL: ${{{{ secrets.DATABASE_URL }}}}
    steps:
{setup}      - uses: actions/download-artifact@v4
        with:
          name: pilot-verify-reference
          path: .pilot-cache/verify
      - name: pilot deploy
        shell: bash
        run: |
          set +e
          migration-pilot deploy
          code=$?
{_exit_mapping("          ", annotate=True)}
"""


def gitlab_pipeline(ctx: CiContext) -> str:
    """`.gitlab-ci.yml`."""
    service = _GITLAB_SERVICES[ctx.database]
    tests = ""
    if ctx.with_tests:
        tests = f"""
migration-tests:
  # The migration tests (the migrator fixture / MigratorTestCase of django-migration-pilot's pytest plugin).
  stage: test
{service}  script:
    - {ctx.install} && pip install pytest pytest-django
    - python -m pytest -m migration_test || test $? -eq 5  # 5: no migration tests collected
"""
    return f"""\
# Written by 'pilot ci init gitlab' (django-migration-pilot): the migrations runbook's CI jobs.
# Settings: {ctx.settings_module}; Python {ctx.python_version}; database: {ctx.database}.
# Keep the production DATABASE_URL a protected, masked CI/CD variable: merge request pipelines, where lint
# imports (runs) the branch's migration modules, must not see it.
stages: [lint, test, build, deploy]

default:
  image: python:{ctx.python_version}

variables:
  DJANGO_SETTINGS_MODULE: {ctx.settings_module}
  PYTHONPATH: {ctx.pythonpath}
  MIGRATION_PILOT_CACHE_DIR: .pilot-cache/verify

workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

lint:
  # Lint --static reads the migration files and never imports them; still no variables or secrets
  # beyond the settings here (docs/ci.md, "Security: lint runs your migration modules").
  stage: lint
  script:
    - {ctx.install}
    - migration-pilot lint --static --vendor {ctx.database} --format codeclimate > gl-code-quality-report.json
  artifacts:
    when: always
    reports:
      codequality: gl-code-quality-report.json

docs:
  # The migration documentation pages in docs/migrations are up to date (exit 1 names the stale ones).
  stage: lint
  script:
    - {ctx.install}
    - migration-pilot docs --check
{tests}
verify-reference:
  # Build the reference schema once, in CI's database service; the deploy reads it instead of building it.
  stage: build
{service}  script:
    - {ctx.install}
    - migration-pilot verify --prepare
  artifacts:
    paths:
      - .pilot-cache/verify

deploy:
  stage: deploy
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  environment: production
  needs: [lint, docs, verify-reference{", migration-tests" if ctx.with_tests else ""}]
  # The pre-deploy backup is written to MIGRATION_PILOT["backup_dir"]: in a container it is gone when the job
  # ends, so point it at lasting storage or run this job on a runner next to the database.
  script:
    - {ctx.install}
    - |
      set +e
      migration-pilot deploy
      code=$?
{_exit_mapping("      ", annotate=False)}
"""


TEMPLATES: Final = {"github": github_workflow, "gitlab": gitlab_pipeline}
DEFAULT_PATHS: Final = {"github": ".github/workflows/migrations.yml", "gitlab": ".gitlab-ci.yml"}
