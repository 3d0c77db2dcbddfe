"""Rendering only each operation's models gives the same pages as rendering every model, as migrate does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.cli.project import make_project

LIBRARY = '''
from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [
        migrations.CreateModel("Author", [
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("name", models.CharField(max_length=100, unique=True)),
        ]),
        migrations.CreateModel("Tag", [("id", models.AutoField(primary_key=True, serialize=False)),
                                       ("label", models.SlugField())]),
        migrations.CreateModel("Book", [
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("title", models.CharField(max_length=50)),
            ("author", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="shop.author")),
            ("writer", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="shop.author",
                                         to_field="name", related_name="+")),
            ("owner", models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL,
                                        to=settings.AUTH_USER_MODEL)),
            ("tags", models.ManyToManyField(to="shop.tag")),
        ]),
        *[migrations.CreateModel(name, [
            ("id", models.AutoField(primary_key=True, serialize=False)),
            ("tag", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="shop.tag")),
        ]) for name in ("Note", "Pin", "Sticker", "Badge", "Mark")],
        migrations.CreateModel("Ebook", [
            ("book_ptr", models.OneToOneField(auto_created=True, on_delete=django.db.models.deletion.CASCADE,
                                              parent_link=True, primary_key=True, serialize=False, to="shop.book")),
            ("url", models.URLField()),
        ], bases=("shop.book",)),
    ]
'''

CHANGES = '''
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [("shop", "0002_library")]
    operations = [
        migrations.AlterField("author", "name", models.CharField(max_length=200, unique=True)),
        migrations.RenameModel("Tag", "Label"),
        migrations.AddField("invoice", "ebook", models.ForeignKey(
            null=True, on_delete=django.db.models.deletion.SET_NULL, to="shop.ebook")),
        migrations.RenameField("book", "title", "name"),
        migrations.AlterField("book", "name", models.CharField(max_length=80, db_index=True)),
        migrations.AddIndex("book", models.Index(fields=["name", "author"], name="book_name_author_idx")),
        migrations.AddConstraint("ebook", models.UniqueConstraint(fields=["url"], name="ebook_url_unique")),
        migrations.RemoveField("book", "owner"),
        migrations.AlterModelTable("label", "shop_labels"),
        migrations.AlterField("author", "id", models.AutoField(primary_key=True, serialize=False)),
    ]
'''

SCRIPT = '''
import json, django
django.setup()
from migration_pilot.conf import load_config
from migration_pilot.docgen.migrations import build_docs, render_pages
result = {}
for vendor in ("postgresql", "mariadb", "sqlite"):
    parts = render_pages(build_docs(load_config(), vendor=vendor))
    whole = render_pages(build_docs(load_config(), vendor=vendor, whole=True))
    result[vendor] = {"pages": len(parts), "differ": sorted(k for k in parts if parts[k] != whole.get(k)),
                      "sample": parts["shop/0003_changes.md"]}
print(json.dumps(result))
'''


def test_subsets_render_the_same_pages_as_the_whole_state(tmp_path):
    project = make_project(tmp_path / "site")
    project.migration("0002_library", LIBRARY)
    project.migration("0003_changes", CHANGES)
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(project.root)})

    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=project.root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for vendor, found in result.items():
        assert found["pages"] == 5, vendor
        assert found["differ"] == [], vendor
    sqlite = result["sqlite"]["sample"]
    # The widened to_field target rewrites the referring column too: only rendered with the referrers.
    assert 'ALTER TABLE "new__shop_book" RENAME TO "shop_book"' in sqlite
    assert "- Rename table `shop_tag` to `shop_label`" in sqlite
    assert "- Add column `ebook_id` BIGINT NULL to `shop_invoice` (foreign key to `shop_ebook`.`book_ptr_id`, indexed)" \
        in result["postgresql"]["sample"]


def test_pages_do_not_depend_on_the_hash_seed(tmp_path):
    """Django re-renders related models in set order, which follows PYTHONHASHSEED; pages must not."""
    project = make_project(tmp_path / "site")
    project.migration("0002_library", LIBRARY)
    project.migration("0003_changes", CHANGES)
    pages = []

    for seed in ("1", "2", "3"):
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["PYTHONHASHSEED"] = seed
        done = subprocess.run([sys.executable, "-m", "migration_pilot.cli.main", "--settings", "settings",
                               "--pythonpath", str(project.root), "docs", "--vendor", "sqlite", "--output", seed],
                              cwd=project.root, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        pages.append({p.relative_to(project.root / seed): p.read_bytes() for p in (project.root / seed).rglob("*.md")})

    assert pages[0] == pages[1] == pages[2]
