"""Inline suppressions: `# pilot: ignore <rule-id> -- <reason>`.

Put the comment on the line(s) directly above an operation to silence rules
for that operation, or `# pilot: ignore-file <rule-id> -- <reason>` anywhere
in the file for the whole migration. A reason is required: a suppression is a
decision someone must be able to review. A suppression without a reason, or
naming an unknown rule, does not suppress and is itself reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from migration_pilot.analysis.source import MigrationSource

_PATTERN = re.compile(r"^#\s*pilot:\s*(?P<kind>ignore-file|ignore)\b(?P<rest>.*)$")


@dataclass(frozen=True, slots=True)
class Suppression:
    """One parsed suppression comment."""

    line: int
    whole_file: bool
    rule_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class SuppressionProblem:
    """A suppression comment that cannot be honoured, and why."""

    line: int
    message: str
    hint: str


def parse_comment(line: int, text: str) -> Suppression | None:
    """The suppression in comment `text`, or None when it is not one."""
    match = _PATTERN.match(text.strip())
    if match is None:
        return None
    rest = match["rest"]
    ids_part, _, reason = rest.partition("--")
    rule_ids = tuple(part for part in re.split(r"[\s,]+", ids_part.strip()) if part)
    return Suppression(line, match["kind"] == "ignore-file", rule_ids, reason.strip())


def file_suppressions(source: MigrationSource) -> list[Suppression]:
    """Every suppression comment in the file."""
    if "pilot:" not in source.text:
        return []
    found = []
    for number, text in source.comments():
        parsed = parse_comment(number, text)
        if parsed is not None:
            found.append(parsed)
    return found


def problems(suppressions: Iterable[Suppression], known_ids: set[str]) -> list[SuppressionProblem]:
    """Suppressions that are malformed: no rule, unknown rule, or no reason."""
    found = []
    for item in suppressions:
        if not item.rule_ids:
            found.append(SuppressionProblem(
                item.line,
                "Suppression comment names no rule, so it silences nothing.",
                "Write '# pilot: ignore <rule-id> -- <reason>'; 'pilot rules' lists rule ids.",
            ))
            continue
        unknown = [rule_id for rule_id in item.rule_ids if rule_id not in known_ids]
        for rule_id in unknown:
            found.append(SuppressionProblem(
                item.line,
                f"Suppression comment names unknown rule {rule_id!r}, so it silences nothing.",
                "Fix the rule id; 'manage.py pilot rules' lists them.",
            ))
        if not item.reason:
            found.append(SuppressionProblem(
                item.line,
                "Suppression comment has no reason, so it silences nothing.",
                "Add why the finding is safe here after '--', e.g."
                " '# pilot: ignore add-index-non-concurrent -- table has 2k rows'.",
            ))
    return found


def valid(item: Suppression, known_ids: set[str]) -> bool:
    """Whether a suppression is honoured: it names only known rules and gives a reason."""
    return bool(item.rule_ids) and bool(item.reason) and all(r in known_ids for r in item.rule_ids)
