"""`pilot ci init github|gitlab`: write the runbook's CI jobs for this project."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams

NAME = "ci"
HELP = ("Write a CI workflow with the runbook's jobs: lint with SARIF / code quality upload, migration tests,"
        " 'verify --prepare' as an artifact, 'docs --check', and the deploy with its exit codes named.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot ci`."""
    parser.add_argument("action", choices=["init"], help="init: write the workflow file.")
    parser.add_argument("provider", choices=["github", "gitlab"],
                        help="github: .github/workflows/migrations.yml; gitlab: .gitlab-ci.yml.")
    parser.add_argument("--output", metavar="PATH", help="Write here instead (relative to the working directory).")
    parser.add_argument("--force", action="store_true", help="Replace an existing file.")


def run(options: dict[str, Any], streams: Streams) -> int:
    """Write the file and say what to set up next."""
    from migration_pilot.ci import write_workflow

    output = Path(options["output"]) if options.get("output") else None
    written = write_workflow(options["provider"], start=Path.cwd(), output=output, force=bool(options.get("force")))
    ctx = written.context
    shown = os.path.relpath(written.path) if written.path.is_relative_to(Path.cwd()) else str(written.path)
    jobs = "lint, docs, " + ("migration-tests, " if ctx.with_tests else "") + "verify-reference, deploy"
    streams.out.write(
        f"{'Replaced' if written.replaced else 'Wrote'} {shown} (jobs: {jobs}; settings {ctx.settings_module},"
        f" Python {ctx.python_version}, {ctx.database}).\n"
        "Next: give the deploy job the production DATABASE_URL as a secret"
        + (" of the 'production' environment" if options["provider"] == "github" else
           " (a protected, masked CI/CD variable)")
        + ", and make your settings read the database from DATABASE_URL (see docs/ci.md).\n")
    return EXIT_OK
