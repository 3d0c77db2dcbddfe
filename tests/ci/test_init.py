"""`pilot ci init` on the example project: the file it writes, overwrite refusal, and every pilot command in it
running on examples/shop with SQLite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture
def shop(tmp_path):
    """A copy of examples/shop (its own repository root), with the SQLite file and caches inside it."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("db.sqlite3", "backups", "__pycache__", "*.pilot-lock"))
    return root


def pilot(root, *args, env=None):
    command = [sys.executable, "-m", "migration_pilot.cli.main", *args]
    base = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False, timeout=300,
                          env={**base, "SHOP_SQLITE_PATH": str(root / "ci.sqlite3"), **(env or {})})


def test_writes_the_projects_settings_python_and_database(shop):
    done = pilot(shop, "--settings", "shopsite.settings", "ci", "init", "github")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Wrote .github/workflows/migrations.yml (jobs: lint, docs, migration-tests,")
    workflow = yaml.safe_load((shop / ".github" / "workflows" / "migrations.yml").read_text())
    assert workflow["env"]["DJANGO_SETTINGS_MODULE"] == "shopsite.settings"
    assert workflow["env"]["PYTHONPATH"] == "."
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert workflow["jobs"]["lint"]["steps"][1]["with"]["python-version"] == python
    assert "services" not in workflow["jobs"]["verify-reference"]  # the example's default database is SQLite


def test_postgresql_settings_get_a_postgres_service(shop):
    (shop / "pgsettings.py").write_text(textwrap.dedent("""
        from shopsite.settings import *  # noqa: F403
        DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop", "HOST": "nowhere.invalid"}}
    """))

    done = pilot(shop, "--settings", "pgsettings", "ci", "init", "gitlab")

    assert done.returncode == 0, done.stdout + done.stderr
    pipeline = yaml.safe_load((shop / ".gitlab-ci.yml").read_text())
    assert pipeline["verify-reference"]["services"][0]["name"].startswith("postgres:")
    assert pipeline["variables"]["DJANGO_SETTINGS_MODULE"] == "pgsettings"


def test_settings_below_the_repository_root_get_a_pythonpath(shop, tmp_path):
    repo = tmp_path / "outer"
    shutil.copytree(shop, repo / "site")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)

    done = pilot(repo / "site", "--settings", "shopsite.settings", "ci", "init", "github")

    assert done.returncode == 0, done.stdout + done.stderr
    workflow = yaml.safe_load((repo / ".github" / "workflows" / "migrations.yml").read_text())
    assert workflow["env"]["PYTHONPATH"] == "site"


def test_never_overwrites_without_force(shop):
    target = shop / ".gitlab-ci.yml"
    target.write_text("stages: [mine]\n")

    refused = pilot(shop, "--settings", "shopsite.settings", "ci", "init", "gitlab")
    kept = target.read_text()
    forced = pilot(shop, "--settings", "shopsite.settings", "ci", "init", "gitlab", "--force")

    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"error: {target} exists; pass --force to replace it, or --output to write"
                                      " elsewhere.")
    assert kept == "stages: [mine]\n"
    assert forced.returncode == 0 and forced.stdout.startswith("Replaced .gitlab-ci.yml")
    assert "migration-pilot verify --prepare" in target.read_text()
    assert [p.name for p in shop.iterdir() if p.name.startswith(".gitlab-ci.yml.")] == []  # no temporary left


def test_output_path(shop):
    done = pilot(shop, "--settings", "shopsite.settings", "ci", "init", "github", "--output", "ci/flow.yml")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (shop / "ci" / "flow.yml").is_file() and not (shop / ".github").exists()


def runs_pilot(script):
    return any(line.strip().startswith("migration-pilot ") for line in script.splitlines())


def pilot_scripts(provider, workflow):
    """(job, shell script) for every script in the workflow that runs migration-pilot."""
    if provider == "github":
        return [(name, step["run"]) for name, job in workflow["jobs"].items() for step in job["steps"]
                if runs_pilot(step.get("run", ""))]
    return [(name, line) for name, job in workflow.items() if isinstance(job, dict) and "script" in job
            for line in job["script"] if runs_pilot(line)]


# The documented exit codes each job may end with on the example: lint 1 = findings (the example's migrations
# are deliberately unsafe), docs --check 1 = pages missing (the example keeps none).
ALLOWED = {"lint": {0, 1}, "docs": {0, 1}, "verify-reference": {0}, "deploy": {0}}


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_every_pilot_command_in_the_workflow_runs_on_the_example(shop, provider):
    done = pilot(shop, "--settings", "shopsite.settings", "ci", "init", provider)
    assert done.returncode == 0, done.stderr
    path = shop / (".github/workflows/migrations.yml" if provider == "github" else ".gitlab-ci.yml")
    workflow = yaml.safe_load(path.read_text())
    variables = workflow["env"] if provider == "github" else workflow["variables"]
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    env.update(variables, PATH=f"{bin_dir}:{env['PATH']}", SHOP_SQLITE_PATH=str(shop / "ci.sqlite3"))
    scripts = pilot_scripts(provider, workflow)

    ran = {}
    for job, script in scripts:
        result = subprocess.run(["bash", "-e", "-c", script], cwd=shop, env=env, capture_output=True, text=True,
                                check=False, timeout=300)
        ran[job] = result.returncode
        assert result.returncode in ALLOWED[job], f"{job}: {script}\n{result.stdout}\n{result.stderr}"

    assert sorted(ran) == ["deploy", "docs", "lint", "verify-reference"]
    report = shop / ("pilot-lint.sarif" if provider == "github" else "gl-code-quality-report.json")
    findings = json.loads(report.read_text())
    assert (findings["runs"][0]["results"] if provider == "github" else findings)
    assert list((shop / ".pilot-cache" / "verify").glob("*.json"))  # the artifact the deploy job downloads
    assert ran["deploy"] == 0
