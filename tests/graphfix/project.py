"""Throwaway projects with a real two-branch migration conflict, made with real git."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.pipeline.project import DeployProject, Result

ADD_FIELD = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "{parent}")]
    operations = [
        migrations.AddField("invoice", "{field}", {definition}),
    ]
'''

ALTER_AMOUNT = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "{parent}")]
    operations = [
        migrations.AlterField("invoice", "amount", models.IntegerField(default={default})),
    ]
'''

# billing.0001 depends on a migration the branch adds: fix-conflicts must retarget it.
BILLING = '''
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [
        # The invoice's due date must exist first.
        ("shop", "{shop}"),
    ]
    operations = [
        migrations.CreateModel(
            name="Payment",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                               verbose_name="ID"))],
        ),
    ]
'''

FIELDS = {
    "note": "models.CharField(max_length=50, null=True)",
    "paid": "models.BooleanField(default=False)",
    "due": "models.DateField(null=True)",
}


class GraphProject(DeployProject):
    """A DeployProject (app shop on one real database) that also speaks git and django-admin."""

    def __init__(self, root: Path, database: dict[str, Any], *, billing: bool = False) -> None:
        super().__init__(root, database)
        if billing:
            (root / "billing" / "migrations").mkdir(parents=True)
            (root / "billing" / "__init__.py").write_text("")
            (root / "billing" / "migrations" / "__init__.py").write_text("")
            (root / "billing" / "models.py").write_text(
                "from django.db import models\n\n\nclass Payment(models.Model):\n    pass\n")
            with (root / "settings.py").open("a") as settings:
                settings.write('INSTALLED_APPS += ["billing"]\n')
        (root / ".gitignore").write_text("*.sqlite3\n__pycache__/\nbackups/\nmodels.py\nsettings.py\n")

    def add_field(self, name: str, parent: str, field: str) -> None:
        self.migration(name, ADD_FIELD.format(parent=parent, field=field, definition=FIELDS[field]))

    def fields(self, *names: str) -> None:
        self.models("number = models.CharField(max_length=30)\n    amount = models.IntegerField(default=0)"
                    + "".join(f"\n    {n} = {FIELDS[n]}" for n in names))

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, env=env,
                              check=check, timeout=60)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def django(self, *args: str) -> Result:
        """`django-admin` on this project (migrate, makemigrations, ...), in a subprocess."""
        done = subprocess.run([sys.executable, "-m", "django", *args, "--settings", "settings",
                               "--pythonpath", str(self.root)], cwd=self.root, capture_output=True, text=True,
                              env=self.env(), timeout=120, check=False)
        return Result(done.stdout, done.stderr, done.returncode)

    def migration_in(self, app: str, name: str, text: str) -> None:
        (self.root / app / "migrations" / f"{name}.py").write_text(textwrap.dedent(text).lstrip())

    def files(self, app: str = "shop") -> list[str]:
        return sorted(p.name for p in (self.root / app / "migrations").glob("0*.py"))

    def text(self, app: str, name: str) -> str:
        return (self.root / app / "migrations" / f"{name}.py").read_text()

    def write(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(textwrap.dedent(text).lstrip())


def two_branches(project: GraphProject, *, merge: bool = True, before_merge: Any = None) -> None:
    """main: shop 0002_note; feature: shop 0002_paid, 0003_due (and billing 0001 on 0003_due).

    Ends on feature with main merged in (git merge), so both leaves are on disk.
    `before_merge(project)` runs on feature before main is merged (to apply its migrations).
    """
    project.git("init", "-q", "-b", "main")
    project.commit("initial")
    project.git("checkout", "-q", "-b", "feature")
    project.add_field("0002_paid", "0001_initial", "paid")
    project.add_field("0003_due", "0002_paid", "due")
    if (project.root / "billing").exists():
        project.migration_in("billing", "0001_initial", BILLING.format(shop="0003_due"))
    project.fields("paid", "due")
    project.commit("feature: paid, due")
    if before_merge is not None:
        before_merge(project)
    project.git("checkout", "-q", "main")
    project.add_field("0002_note", "0001_initial", "note")
    project.fields("note")
    project.commit("main: note")
    project.git("checkout", "-q", "feature")
    if merge:
        project.git("merge", "-q", "--no-edit", "main", check=False)
    project.fields("note", "paid", "due")
