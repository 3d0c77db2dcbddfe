"""`migration-pilot --help` without settings lists every subcommand there is."""

from __future__ import annotations

import os
import subprocess
import sys

from migration_pilot.cli.commands import subcommands


def test_help_without_settings_lists_every_subcommand():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    done = subprocess.run([sys.executable, "-m", "migration_pilot.cli.main", "--help"], env=env,
                          capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("subcommands: ", 1)[1].split(" (", 1)[0].split(", ")
    assert listed == sorted(subcommands())
