"""The `migration-pilot` console script: `pilot` without manage.py.

    migration-pilot --settings mysite.settings [--pythonpath DIR] lint [...]

It configures Django like django-admin does, then runs the same command class
as `manage.py pilot`, so flags, output and exit codes are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # No abbreviations: a subcommand's --set or --py... flag must not be taken for --settings/--pythonpath.
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--settings")
    pre.add_argument("--pythonpath")
    known, _ = pre.parse_known_args(args)
    # As with manage.py, the project in the current directory is importable without --pythonpath.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if known.pythonpath:
        sys.path.insert(0, os.path.abspath(known.pythonpath))
    if known.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = known.settings
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        if not args or args[0] in {"-h", "--help"}:
            sys.stdout.write(
                "usage: migration-pilot --settings SETTINGS [--pythonpath DIR] SUBCOMMAND ...\n"
                f"subcommands: {', '.join(_subcommand_names())} (run with --settings, then SUBCOMMAND --help)\n"
            )
            return 0
        sys.stderr.write(
            "error: no Django settings. Pass --settings mysite.settings (and --pythonpath DIR"
            " if the project is not importable), or set DJANGO_SETTINGS_MODULE.\n"
        )
        return EXIT_USAGE
    try:
        import django

        django.setup()
    except Exception as exc:  # settings import errors have many types; all are the user's to fix
        if "--traceback" in args:
            raise
        module = os.environ.get("DJANGO_SETTINGS_MODULE")
        sys.stderr.write(
            f"error: cannot load Django settings {module!r}: {type(exc).__name__}: {' '.join(str(exc).split())}."
            " Check --settings and --pythonpath.\n"
        )
        return EXIT_USAGE
    from migration_pilot.management.commands.pilot import Command

    try:
        Command().run_from_argv(["migration-pilot", "", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_USAGE
    return 0


def _subcommand_names() -> list[str]:
    """The subcommand modules' names, without importing them (that needs Django settings)."""
    import pkgutil

    from migration_pilot.cli import subcommands

    return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(subcommands.__path__))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
