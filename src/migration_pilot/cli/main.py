"""The `migration-pilot` console script: `pilot` without manage.py.

    migration-pilot --settings mysite.settings [--pythonpath DIR] lint [...]
    migration-pilot lint --static [PATH ...]     (no settings: nothing of the project is imported)

It configures Django like django-admin does, then runs the same command class
as `manage.py pilot`, so flags, output and exit codes are identical.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (also used by tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # No abbreviations: a subcommand's --set or --py... flag must not be taken for --settings/--pythonpath.
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--settings")
    pre.add_argument("--pythonpath")
    known, rest = pre.parse_known_args(args)
    static = _is_static_lint(rest)
    # As with manage.py, the project in the current directory is importable without --pythonpath;
    # not for `lint --static`, where a module in the linted checkout could shadow a library.
    if not static and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if known.pythonpath:
        sys.path.insert(0, os.path.abspath(known.pythonpath))
    if known.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = known.settings
    elif static:
        # Only an explicit --settings is imported in static mode, never one from the environment.
        return _run(args, configure=_configure_static)
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        if not args or args[0] in {"-h", "--help"}:
            sys.stdout.write(
                "usage: migration-pilot --settings SETTINGS [--pythonpath DIR] SUBCOMMAND ...\n"
                f"subcommands: {', '.join(_subcommand_names())} (run with --settings, then SUBCOMMAND --help)\n"
            )
            return 0
        sys.stderr.write(
            "error: no Django settings. Pass --settings mysite.settings (and --pythonpath DIR"
            " if the project is not importable), or set DJANGO_SETTINGS_MODULE; 'lint --static'"
            " needs neither.\n"
        )
        return EXIT_USAGE
    return _run(args, configure=_setup_django)


def _run(args: list[str], *, configure: Callable[[list[str]], int | None]) -> int:
    """Configure Django, then run `pilot` with `args`; returns the exit code."""
    failed = configure(args)
    if failed is not None:
        return failed
    from migration_pilot.management.commands.pilot import Command

    try:
        Command().run_from_argv(["migration-pilot", "", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_USAGE
    return 0


def _is_static_lint(rest: list[str]) -> bool:
    """Whether the command line is `lint ... --static ...` (the subcommand is the first positional)."""
    positionals = [a for a in rest if not a.startswith("-")]
    return bool(positionals) and positionals[0] == "lint" and "--static" in rest[rest.index("lint"):]


def _configure_static(args: list[str]) -> int | None:
    """Django settings for `lint --static` without --settings: nothing of the project, no database.

    No INSTALLED_APPS (so no models are imported) and no DATABASES (lint
    never connects; the vendor comes from --vendor, default PostgreSQL).
    """
    import django
    from django.conf import settings

    if not settings.configured:  # already configured in-process (tests, an embedding program)
        settings.configure(INSTALLED_APPS=[], DATABASES={}, USE_TZ=True, LOGGING_CONFIG=None)
    django.setup()
    return None


def _setup_django(args: list[str]) -> int | None:
    """django.setup() from DJANGO_SETTINGS_MODULE; a one-line error when the settings do not load."""
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
    return None


def _subcommand_names() -> list[str]:
    """The subcommand modules' names, without importing them (that needs Django settings)."""
    import pkgutil

    from migration_pilot.cli import subcommands

    return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(subcommands.__path__))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
