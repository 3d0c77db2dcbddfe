"""`pilot rules`: list the rules or write their documentation pages."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from migration_pilot.cli.commands import EXIT_OK, Streams
from migration_pilot.exceptions import ConfigError

NAME = "rules"
HELP = "List every lint rule, or show one rule's documentation: pilot rules RULE."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot rules`."""
    parser.add_argument("rule", nargs="?", metavar="RULE",
                        help="Show this rule's documentation (why it is dangerous, the safe"
                        " alternative, what is not flagged), as shipped with the package.")
    parser.add_argument("--write-docs", metavar="DIR",
                        help="Write one Markdown page per rule into DIR (docs/rules).")


def run(options: dict[str, Any], streams: Streams) -> int:
    """`pilot rules`: list every rule, or write their documentation pages."""
    from migration_pilot.cli.output import render_rules_table
    from migration_pilot.docgen.rules import write_rule_pages

    rule_id = options.get("rule")
    if rule_id:
        from migration_pilot.docgen.rules import render_rule_page
        from migration_pilot.lint.registry import resolve_rule_ids, rules_by_id

        (known,) = resolve_rule_ids([rule_id], source="the RULE argument")
        streams.out.write(render_rule_page(rules_by_id()[known]))
        return EXIT_OK
    target = options.get("write_docs")
    if target:
        directory = Path(target)
        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"{directory} exists and is not a directory", source="--write-docs")
        written = write_rule_pages(directory)
        streams.out.write(f"Wrote {len(written)} rule pages to {directory}.\n")
        return EXIT_OK
    streams.out.write(render_rules_table())
    return EXIT_OK


