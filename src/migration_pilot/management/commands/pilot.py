"""`manage.py pilot <subcommand>`: lint, rules, and the later pipeline commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from migration_pilot.cli.commands import EXIT_USAGE, Streams, subcommands
from migration_pilot.exceptions import PilotError


class Command(BaseCommand):
    """Dispatch to a subcommand; PilotError becomes a one-line error and exit 2."""

    help = "Lint, plan, back up and deploy migrations safely. See 'pilot <subcommand> --help'."
    # Our own checks must never stop the command that reports on them, and
    # linting must work while other apps' checks fail.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Name the program 'migration-pilot' when run from the console script."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if not subcommand:
            parser.prog = prog_name
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        """One subparser per subcommand, each with its own flags."""
        subparsers = parser.add_subparsers(dest="subcommand", metavar="subcommand")
        subparsers.required = True
        for name, command in subcommands().items():
            sub = subparsers.add_parser(name, help=command.help, description=command.help)
            command.add_arguments(sub)
            _common_options(sub)

    def execute(self, *args: Any, **options: Any) -> Any:
        """Run, turning PilotError into 'error: <message>' and its exit code."""
        try:
            return super().execute(*args, **options)
        except BrokenPipeError:  # output piped into head & co: not an error of ours
            sys.stderr.close()
            raise SystemExit(0) from None
        except PilotError as exc:
            if options.get("traceback"):
                raise
            self.stderr.write(f"error: {exc}")
            raise SystemExit(exc.exit_code) from None

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        """Run the subcommand and exit with its code when it is not 0."""
        runner = subcommands()[subcommand].run
        colour = bool(getattr(self.stdout, "isatty", lambda: False)()) and not options.get(
            "no_color")
        code = runner(options, Streams(self.stdout, self.stderr, colour=colour))
        self.stdout.flush()
        if code:
            sys.stdout.flush()
            raise SystemExit(code)
        if code is None:  # pragma: no cover - runners always return an int
            raise SystemExit(EXIT_USAGE)


def _common_options(parser: argparse.ArgumentParser) -> None:
    """Django's common options, accepted after the subcommand as `migrate` accepts them.

    `manage.py` reads --settings and --pythonpath wherever they stand before it
    loads the command; here they only need to parse. Defaults are suppressed so
    the values given before the subcommand are kept.
    """
    common: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (("--traceback",), {"action": "store_true", "help": "Show the full traceback on errors."}),
        (("--settings",), {"help": "Django settings module (as for any manage.py command)."}),
        (("--pythonpath",), {"help": "A directory to add to the Python path."}),
        (("-v", "--verbosity"), {"type": int, "choices": [0, 1, 2, 3], "help": "Verbosity level."}),
        (("--no-color",), {"action": "store_true", "help": "Do not colourise the output."}),
        (("--force-color",), {"action": "store_true", "help": "Colourise the output."}),
        (("--skip-checks",), {"action": "store_true", "help": "Skip system checks."}),
    ]
    taken = {option for action in parser._actions for option in action.option_strings}
    for flags, kwargs in common:
        if not taken.intersection(flags):
            parser.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)
