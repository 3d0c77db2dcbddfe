"""Render lint results: text (default), json, sarif, github annotations and codeclimate (GitLab).

Every renderer takes the same LintResult and returns a string; the caller
writes it. Text gets colour only when the output is a terminal.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from migration_pilot import __version__
from migration_pilot.diagnostics import Severity
from migration_pilot.docgen.rules import render_rule_page
from migration_pilot.lint.engine import LintResult
from migration_pilot.lint.registry import rules_by_id

DOCS_COMMAND = "manage.py pilot rules"
"""Every install has the rule documentation: it ships in the package, as each rule's docstring."""
_COLOURS = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def display_path(path: str | None) -> str:
    """`path` relative to the working directory when it is below it."""
    if not path:
        return "<project>"
    try:
        return os.path.relpath(path) if Path(path).is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def summary_line(result: LintResult) -> str:
    """'Found 3 problems (2 errors, 1 warning) in 2 of 41 migrations.'"""
    total = len(result.diagnostics)
    if total == 0:
        return f"No problems found in {result.migrations_checked} migrations ({result.vendor})."
    parts = []
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        count = result.count(severity)
        if count:
            plural = "s" if count != 1 else ""
            parts.append(f"{count} {severity.label}{plural}")
    noun = "problem" if total == 1 else "problems"
    return (
        f"Found {total} {noun} ({', '.join(parts)}) in {result.migrations_with_findings} of"
        f" {result.migrations_checked} migrations ({result.vendor})."
    )


def render_text(result: LintResult, *, colour: bool = False, verbose: bool = True) -> str:
    """Findings grouped by migration, each with lock, help and safe code."""
    # rich is imported here: JSON, SARIF and GitHub output do not pay for it.
    from rich.console import Console
    from rich.markup import escape

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=colour, no_color=not colour,
                      width=100, soft_wrap=True, highlight=False)
    current: tuple[str | None, str | None] | None = None
    for d in result.diagnostics:
        group = (d.app, d.migration)
        if group != current:
            if current is not None:
                console.print()
            current = group
        where = f"{display_path(d.path)}:{d.line}" if d.line else display_path(d.path)
        style = _COLOURS[d.severity]
        console.print(
            f"[bold]{escape(where)}[/bold]: [{style}]{d.rule}[/{style}] {escape(f'[{d.severity.label}]')}"
            + (f" {escape(d.app or '')}.{escape(d.migration)}" if d.migration else "")
        )
        console.print(f"  {escape(d.message)}")
        if d.lock is not None:
            console.print(f"  lock: {escape(d.lock.describe())}")
        console.print(f"  help: {escape(d.hint)}")
        if verbose and d.safe_alternative:
            console.print()
            for line in d.safe_alternative.rstrip().splitlines():
                console.print(f"      {escape(line)}" if line else "")
            console.print()
        console.print(f"  docs: {DOCS_COMMAND} {d.rule}")
    if result.diagnostics:
        console.print()
    console.print(summary_line(result))
    if result.skipped_apps:
        console.print(
            f"Skipped {len(result.skipped_apps)} third-party apps"
            " (name them, or pass --all-apps, to lint them)."
        )
    return buffer.getvalue()


def render_json(result: LintResult) -> str:
    """The documented JSON contract."""
    summary = {
        "total": len(result.diagnostics),
        "errors": result.count(Severity.ERROR),
        "warnings": result.count(Severity.WARNING),
        "infos": result.count(Severity.INFO),
        "migrations_checked": result.migrations_checked,
        "migrations_with_findings": result.migrations_with_findings,
        "vendor": result.vendor,
        "apps": list(result.apps),
        "skipped_apps": list(result.skipped_apps),
    }
    payload = {"findings": [d.to_json() for d in result.diagnostics], "summary": summary}
    return json.dumps(payload, indent=2) + "\n"


def render_github(result: LintResult) -> str:
    """GitHub Actions workflow commands: one annotation per finding."""
    lines = []
    for d in result.diagnostics:
        level = {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(d.severity, "notice")
        props = [f"title={_gh_escape_prop(d.rule)}"]
        if d.path:
            props.insert(0, f"file={_gh_escape_prop(display_path(d.path))}")
            if d.line:
                props.insert(1, f"line={d.line}")
        text = f"{d.message} {d.hint}"
        lines.append(f"::{level} {','.join(props)}::{_gh_escape_data(text)}")
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def render_sarif(result: LintResult) -> str:
    """SARIF 2.1.0 for GitHub code scanning."""
    rules = rules_by_id()
    used = sorted({d.rule for d in result.diagnostics})
    sarif_rules = [
        {
            "id": rule_id,
            "name": rule_id,
            "shortDescription": {"text": rules[rule_id].summary},
            # The documentation itself, not a link: an installed package has no docs/ tree.
            "help": {"text": f"{rules[rule_id].doc}\n\n(also: {DOCS_COMMAND} {rule_id})",
                     "markdown": render_rule_page(rules[rule_id])},
            "defaultConfiguration": {"level": _sarif_level(rules[rule_id].severity)},
        }
        for rule_id in used
    ]
    results: list[dict[str, Any]] = []
    for d in result.diagnostics:
        entry: dict[str, Any] = {
            "ruleId": d.rule,
            "level": _sarif_level(d.severity),
            "message": {"text": f"{d.message} {d.hint}"},
        }
        place: dict[str, Any] = {}
        if d.path:
            location: dict[str, Any] = {"artifactLocation": {"uri": display_path(d.path)}}
            if d.line:
                location["region"] = {"startLine": d.line}
            place["physicalLocation"] = location
        if d.app:
            name = f"{d.app}.{d.migration}" if d.migration else d.app
            place["logicalLocations"] = [{"name": name, "kind": "module"}]
        if place:
            entry["locations"] = [place]
        results.append(entry)
    payload = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "django-migration-pilot", "version": __version__,
                                "rules": sarif_rules}},
            "results": results,
        }],
    }
    return json.dumps(payload, indent=2) + "\n"


def render_codeclimate(result: LintResult) -> str:
    """GitLab code quality report (a Code Climate issue list): one issue per finding, stable fingerprints."""
    import hashlib

    issues = []
    for d in result.diagnostics:
        path = display_path(d.path)
        identity = "\0".join(str(part) for part in (d.rule, path, d.app, d.migration, d.operation, d.message))
        issues.append({
            "type": "issue",
            "check_name": d.rule,
            "description": f"{d.message} {d.hint}".strip(),
            "categories": ["Bug Risk"],
            "severity": {Severity.ERROR: "major", Severity.WARNING: "minor"}.get(d.severity, "info"),
            "fingerprint": hashlib.sha256(identity.encode()).hexdigest(),
            "location": {"path": path, "lines": {"begin": d.line or 1}},
        })
    return json.dumps(issues, indent=2) + "\n"


def _sarif_level(severity: Severity) -> str:
    return {Severity.ERROR: "error", Severity.WARNING: "warning"}.get(severity, "note")


def _gh_escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_escape_prop(text: str) -> str:
    return _gh_escape_data(text).replace(":", "%3A").replace(",", "%2C")


RENDERERS: dict[str, Callable[[LintResult], str]] = {
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "codeclimate": render_codeclimate,
}


def render(result: LintResult, fmt: str, *, colour: bool = False) -> str:
    """Render in format `fmt` (text, json, sarif, github, codeclimate)."""
    if fmt == "text":
        return render_text(result, colour=colour)
    return RENDERERS[fmt](result)


def render_rules_table() -> str:
    """`pilot rules`: id, category, severity, databases, summary."""
    rules = rules_by_id()
    width = max(len(r) for r in rules)
    lines = [f"{'id'.ljust(width)}  {'category':<11} {'severity':<8} {'databases':<26} summary"]
    for rule_id, rule in rules.items():
        vendors = ", ".join(sorted(rule.vendors))
        lines.append(
            f"{rule_id.ljust(width)}  {rule.category:<11} {rule.severity.label:<8}"
            f" {vendors:<26} {rule.summary}"
        )
    return "\n".join(lines) + "\n"

