"""The repository's .pre-commit-hooks.yaml: the pilot-lint hook lints only the migrations a commit changes."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NEW_MIGRATION = '''
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_alter_invoice_number")]
    operations = [migrations.RemoveField("invoice", "note")]
'''


def hook():
    (entry,) = [h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()) if h["id"] == "pilot-lint"]
    return entry


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "shop", root, ignore=shutil.ignore_patterns("db.sqlite3", "backups",
                                                                                     "__pycache__"))
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "shop"], check=True)
    return root


def run_hook(root):
    entry = hook()
    argv = [*shlex.split(entry["entry"]), "--settings", "shopsite.settings"]  # the user's `args:`
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False, timeout=300)


def test_manifest_runs_in_the_projects_environment_without_file_names():
    entry = hook()

    assert entry["language"] == "system" and entry["pass_filenames"] is False
    assert re.search(entry["files"], "billing/migrations/0005_remove_invoice_note.py")
    assert re.search(entry["files"], "migrations/0001_initial.py")
    assert not re.search(entry["files"], "billing/models.py")


def test_hook_lints_only_the_changed_migration(repo):
    (repo / "billing" / "migrations" / "0005_remove_invoice_note.py").write_text(NEW_MIGRATION.lstrip())

    result = run_hook(repo)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "billing/migrations/0005_remove_invoice_note.py" in result.stdout
    assert "of 1 migrations" in result.stdout  # the committed ones are not linted again


def test_hook_passes_when_no_migration_changed(repo):
    result = run_hook(repo)

    assert result.returncode == 0, result.stdout + result.stderr
