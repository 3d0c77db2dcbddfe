"""The generated workflows parse as YAML and validate against the CI's published JSON schema.

The schemas are SchemaStore's `github-workflow.json` and `gitlab-ci.json`, as vendored by the
check-jsonschema package (a dev extra): no network is needed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from migration_pilot.ci import CiContext, render

SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}


def context(database="postgresql", with_tests=True):
    return CiContext(settings_module="mysite.settings", pythonpath="src", python_version="3.12", database=database,
                     install='python -m pip install --upgrade pip && pip install "django-migration-pilot[postgresql]"',
                     with_tests=with_tests)


def validate(provider, text, tmp_path):
    path = tmp_path / f"{provider}.yml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", SCHEMAS[provider],
                           str(path)], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("provider", ["github", "gitlab"])
@pytest.mark.parametrize("database", ["postgresql", "mysql", "sqlite"])
@pytest.mark.parametrize("with_tests", [True, False])
def test_workflow_validates_against_the_published_schema(provider, database, with_tests, tmp_path):
    text = render(provider, context(database, with_tests))

    done = validate(provider, text, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(text)


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = render("github", context()).replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1)

    assert validate("github", broken, tmp_path).returncode == 1


def test_github_jobs_services_and_settings():
    workflow = yaml.safe_load(render("github", context("postgresql")))

    assert list(workflow["jobs"]) == ["lint", "docs", "migration-tests", "verify-reference", "deploy"]
    assert workflow["env"] == {"DJANGO_SETTINGS_MODULE": "mysite.settings", "PYTHONPATH": "src",
                               "MIGRATION_PILOT_CACHE_DIR": ".pilot-cache/verify"}
    assert workflow["jobs"]["verify-reference"]["services"]["postgres"]["image"] == "postgres:16"
    assert workflow["jobs"]["lint"]["steps"][1]["with"]["python-version"] == "3.12"
    upload = workflow["jobs"]["lint"]["steps"][-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif") and upload["if"] == "always()"
    assert workflow["jobs"]["lint"]["permissions"]["security-events"] == "write"
    assert workflow["jobs"]["deploy"]["needs"] == ["lint", "docs", "verify-reference", "migration-tests"]


def test_lint_jobs_see_no_database_credentials():
    for provider in ("github", "gitlab"):
        workflow = yaml.safe_load(render(provider, context("mysql")))
        top = workflow.get("env") or workflow.get("variables")
        lint = workflow["jobs"]["lint"] if provider == "github" else workflow["lint"]

        assert "DATABASE_URL" not in top
        assert "DATABASE_URL" not in (lint.get("env") or lint.get("variables") or {})
        assert "services" not in lint


def test_gitlab_uploads_a_code_quality_report_and_uses_the_mariadb_service():
    pipeline = yaml.safe_load(render("gitlab", context("mysql")))

    assert pipeline["lint"]["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    assert "--format codeclimate > gl-code-quality-report.json" in pipeline["lint"]["script"][1]
    assert pipeline["verify-reference"]["services"][0]["name"].startswith("mariadb:")
    assert pipeline["verify-reference"]["variables"]["DATABASE_URL"].startswith("mysql://")
    assert pipeline["default"]["image"] == "python:3.12"


def test_without_pytest_there_is_no_test_job():
    workflow = yaml.safe_load(render("github", context(with_tests=False)))

    assert "migration-tests" not in workflow["jobs"]
    assert workflow["jobs"]["deploy"]["needs"] == ["lint", "docs", "verify-reference"]


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_deploy_script_names_the_exit_code_and_keeps_it(code, tmp_path):
    workflow = yaml.safe_load(render("github", context()))
    script = workflow["jobs"]["deploy"]["steps"][-1]["run"]
    fake = tmp_path / "migration-pilot"
    fake.write_text(f"#!/bin/sh\nexit {code}\n")
    fake.chmod(0o755)

    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, check=False,
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"})

    assert done.returncode == code
    assert f"pilot deploy exit {code}: " in done.stdout
    assert done.stdout.startswith("::error") == (code != 0)
