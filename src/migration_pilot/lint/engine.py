"""The lint engine: one walk of the graph, every selected rule, suppressions applied."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import migrations as dj_migrations

from migration_pilot.analysis.emits import emits_sql
from migration_pilot.analysis.phases import POST, phase_of
from migration_pilot.analysis.walk import MigrationVisit, OperationVisit, walk
from migration_pilot.backends import BackendProfile
from migration_pilot.conf import Config
from migration_pilot.diagnostics import Diagnostic, Severity
from migration_pilot.exceptions import ConfigError, UnknownAppError
from migration_pilot.lint import ignores, render, sql, vendors
from migration_pilot.lint.context import (
    MigrationContext,
    OperationContext,
    OperationSummary,
    ProjectContext,
    Scope,
    SqlContext,
)
from migration_pilot.lint.registry import Finding, Rule, all_rules
from migration_pilot.loader import LoadedGraph, app_path
from migration_pilot.types import MigrationKey

META_RULES = {"unknown-operation", "invalid-suppression", "sql-not-analysed"}


@dataclass(slots=True)
class LintResult:
    """Findings plus the counts the summary line needs."""

    diagnostics: list[Diagnostic]
    migrations_checked: int
    migrations_with_findings: int
    vendor: str
    apps: tuple[str, ...] = ()
    skipped_apps: tuple[str, ...] = ()

    def count(self, severity: Severity) -> int:
        """Number of findings at exactly `severity`."""
        return sum(1 for d in self.diagnostics if d.severity == severity)

    def worst(self) -> Severity | None:
        """Highest severity found, or None when clean."""
        return max((d.severity for d in self.diagnostics), default=None)


@dataclass(slots=True)
class Selection:
    """Which migrations the user asked to lint."""

    apps: frozenset[str]
    baseline_skip: frozenset[MigrationKey] = frozenset()
    paths: frozenset[str] | None = None
    keys: frozenset[MigrationKey] | None = None

    def wants(self, key: MigrationKey, path: str | None) -> bool:
        """Whether `key` is linted (its state is followed either way)."""
        if key[0] not in self.apps or key in self.baseline_skip:
            return False
        if self.keys is not None:
            return key in self.keys
        return self.paths is None or (path is not None and path in self.paths)


def select_rules(config: Config, vendor: str) -> list[Rule]:
    """Rules that run: for this vendor, selected, not ignored (ignore wins over select)."""
    chosen = []
    for rule in all_rules():
        if not rule.applies_to(vendor) and rule.id not in META_RULES:
            continue
        if config.select is not None and rule.id not in config.select and rule.id not in META_RULES:
            continue
        if rule.id in config.ignore:
            continue
        chosen.append(rule)
    return chosen


def build_selection(
    loaded: LoadedGraph,
    config: Config,
    *,
    app_labels: Collection[str] = (),
    all_apps: bool = False,
    paths: Collection[str] | None = None,
) -> tuple[Selection, tuple[str, ...]]:
    """Resolve app arguments, third-party skipping, exclusions and the baseline."""
    with_migrations = loaded.apps_with_migrations()
    for label in app_labels:
        if label not in with_migrations:
            raise UnknownAppError(label, known=with_migrations)
    skipped: list[str] = []
    if app_labels:
        apps = set(app_labels)
    elif all_apps:
        apps = set(with_migrations)
    else:
        apps = set()
        root = config.project_root or Path.cwd()
        for label in with_migrations:
            if _is_project_app(label, root):
                apps.add(label)
            else:
                skipped.append(label)
    apps -= set(config.exclude_apps) - set(app_labels)
    baseline: set[MigrationKey] = set()
    for app, name in config.baseline.items():
        if (app, name) not in loaded.graph.nodes:
            raise ConfigError(
                f"Baseline names migration {app}.{name}, which does not exist;"
                " use the name of a migration file without .py",
                source="baseline",
            )
        baseline.update(k for k in loaded.graph.forwards_plan((app, name)) if k[0] == app)
    selection = Selection(
        frozenset(apps), frozenset(baseline), frozenset(paths) if paths is not None else None
    )
    return selection, tuple(sorted(skipped))


def _is_project_app(label: str, root: Path) -> bool:
    path = app_path(label)
    if path is None:
        return False
    parts = set(path.parts)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return path == root or root in path.parents


class LintVisitor:
    """Runs operation, SQL and migration checks as the walk reaches each migration."""

    def __init__(self, rules: Iterable[Rule], profile: BackendProfile, config: Config,
                 scope: Scope, *, settings_vendor: str | None = None,
                 load_vendor: str | None = None) -> None:
        self.settings_vendor = settings_vendor if settings_vendor != profile.vendor else None
        self.load_vendor = load_vendor if load_vendor != profile.vendor else None
        self.profile = profile
        self.config = config
        self.scope = scope
        self._targeted: frozenset[str] | None = None
        self.rules = list(rules)
        self.rule_ids = {rule.id for rule in all_rules()}
        self.by_id = {rule.id: rule for rule in self.rules}
        self.operation_checks: dict[type, list[tuple[Rule, object]]] = {}
        self.sql_checks: dict[type, list[tuple[Rule, object]]] = {}
        for rule in self.rules:
            for kind, checks in rule.operation_checks.items():
                self.operation_checks.setdefault(kind, []).extend((rule, c) for c in checks)
            for kind, sql_checks in rule.sql_checks.items():
                self.sql_checks.setdefault(kind, []).extend((rule, c) for c in sql_checks)
        self.diagnostics: list[Diagnostic] = []
        self.migrations_checked = 0
        self.migrations_with_findings = 0
        self._pending: list[tuple[Rule, Finding, int | None]] = []
        self._summaries: list[OperationSummary] = []

    # Visitor protocol -------------------------------------------------------------
    def start_migration(self, visit: MigrationVisit) -> None:
        """Reset per-migration state."""
        self._pending = []
        self._summaries = []
        self.migrations_checked += 1

    def visit_operation(self, visit: OperationVisit) -> None:
        """Run every check registered for this operation's type."""
        operation = visit.operation
        ctx = OperationContext(visit, self.profile, self.scope,
                               settings_vendor=self.settings_vendor)
        if visit.kind is None:
            # lint --static's placeholders say themselves why they were not evaluated.
            static_reason = getattr(operation, "static_reason", None)
            self._emit_meta("unknown-operation", Finding(
                static_reason or f"{type(operation).__name__} is not a Django operation"
                " migration_pilot knows, so its database effect was not checked.",
                "Review its SQL by hand ('manage.py sqlmigrate'), or suppress with a reason.",
            ), visit.index)
            self._summaries.append(OperationSummary(visit.index, type(operation).__name__,
                                                    True, False))
            return
        for rule, op_check in self.operation_checks.get(visit.kind, ()):
            for finding in op_check(ctx, operation):  # type: ignore[operator]
                self._pending.append((rule, finding, visit.index))
        schema, data = True, False
        if visit.kind is dj_migrations.RunSQL:
            schema, data = self._visit_sql(visit)
        elif visit.kind is dj_migrations.RunPython:
            schema, data = False, True
        else:
            schema = emits_sql(operation, visit.kind, visit.migration.app_label, visit.state,
                               self.profile.max_name_length(), self.profile.vendor)
        self._summaries.append(OperationSummary(visit.index, visit.kind.__name__, schema, data))

    def end_migration(self, visit: MigrationVisit) -> None:
        """Run migration-level checks, apply suppressions and record diagnostics."""
        ctx = MigrationContext(visit, self.profile, list(self._summaries),
                               settings_vendor=self.settings_vendor,
                               load_vendor=self.load_vendor)
        for rule in self.rules:
            for check in rule.migration_checks:
                for finding in check(ctx):
                    self._pending.append((rule, finding, finding.operation))
        produced = self._finish(visit)
        if produced:
            self.migrations_with_findings += 1
        self.diagnostics.extend(produced)

    # Helpers ---------------------------------------------------------------------
    def _visit_sql(self, visit: OperationVisit) -> tuple[bool, bool]:
        schema = data = False
        operation = visit.operation
        for text in sql.sql_strings(operation.sql):  # type: ignore[attr-defined]
            parsed = sql.parse(text)
            if parsed.error is not None:
                self._emit_meta("sql-not-analysed", Finding(
                    f"RunSQL could not be parsed as PostgreSQL ({parsed.error}), so"
                    " migration_pilot cannot tell what it locks or changes.",
                    "Check the SQL by hand, split it into plain statements, or suppress"
                    " with a reason.",
                ), visit.index)
                schema = True
                continue
            for number, statement in enumerate(parsed.statements):
                if isinstance(statement, sql.DML_NODES):
                    data = True
                elif not isinstance(statement, sql.NEUTRAL_NODES):
                    schema = True
                checks = self.sql_checks.get(type(statement), ())
                ctx = SqlContext(visit, self.profile, self.scope, statement=statement,
                                 statement_index=number, statements_in_call=len(parsed.statements))
                for rule, check in checks:
                    for finding in check(ctx, statement):  # type: ignore[operator]
                        self._pending.append((rule, finding, visit.index))
                _track_created_tables(visit.migration, statement)
                if statement.__class__.__name__ == "DoStmt":
                    self._emit_meta("sql-not-analysed", Finding(
                        "RunSQL runs a DO block; migration_pilot cannot tell what the"
                        " procedural code locks or changes.",
                        "Check the block by hand, or suppress with a reason.",
                    ), visit.index)
        return schema, data

    def _emit_meta(self, rule_id: str, finding: Finding, index: int | None) -> None:
        rule = self.by_id.get(rule_id)
        if rule is not None:
            self._pending.append((rule, finding, index))

    def _finish(self, visit: MigrationVisit) -> list[Diagnostic]:
        source = visit.source()
        suppressions = ignores.file_suppressions(source) if source is not None else []
        if not self._pending and not suppressions:
            return []
        results: list[Diagnostic] = []
        honoured = [s for s in suppressions if ignores.valid(s, self.rule_ids)]
        file_wide = {r for s in honoured if s.whole_file for r in s.rule_ids}
        kept: list[tuple[Rule, Finding, int | None, int | None]] = []
        # A post-deploy migration runs once no old code is left: what would break that code is its point.
        after_release = phase_of(visit.migration) == POST
        for rule, finding, index in self._pending:
            line = source.line_of(index) if source is not None else None
            if after_release and rule.category == "breaks-code":
                continue
            if rule.id != "invalid-suppression":
                if rule.id in file_wide:
                    continue
                if line is not None and source is not None and _suppressed_above(
                    source, line, rule.id, honoured
                ):
                    continue
            kept.append((rule, finding, index, line))
        covered = {(rule_id, index) for _, finding, index, _ in kept if index is not None
                   for rule_id in finding.covers}
        seen: set[tuple[str, int | None, str]] = set()
        for rule, finding, index, line in kept:
            said = (rule.id, index, finding.message)
            if (rule.id, index) in covered or said in seen:
                continue  # covered by another rule's finding, or the same words twice
            seen.add(said)
            results.append(self._diagnostic(rule, finding, visit, index, line))
        invalid = self.by_id.get("invalid-suppression")
        if invalid is not None:
            for problem in ignores.problems(suppressions, self.rule_ids):
                finding = Finding(problem.message, problem.hint)
                diagnostic = self._diagnostic(invalid, finding, visit, None, problem.line)
                results.append(diagnostic)
        return results

    def targeted_vendors(self) -> frozenset[str]:
        """Every vendor the project targets (--vendor's, `vendors`, DATABASES engines), read once."""
        if self._targeted is None:
            from types import SimpleNamespace

            from migration_pilot.lint.rules.vendor_specific_operation import targeted_vendors

            seen = SimpleNamespace(vendor=self.profile.vendor, settings_vendor=self.settings_vendor)
            self._targeted = frozenset(targeted_vendors(seen))  # type: ignore[arg-type]
        return self._targeted

    def _diagnostic(self, rule: Rule, finding: Finding, visit: MigrationVisit,
                    index: int | None, line: int | None) -> Diagnostic:
        description = _describe(visit, index)
        fix, withheld = vendors.for_vendors(finding.safe_alternative, self.targeted_vendors())
        if fix is not None and index is not None and set(finding.replaces) - {index}:
            replaced = sorted({index, *finding.replaces})
            fix = render.replaces_comment(f"{visit.app_label}.{visit.name}",
                                          [(i, _describe(visit, i) or "?") for i in replaced]) + fix
        return Diagnostic(
            rule=rule.id,
            severity=self.config.severity.get(rule.id, rule.severity),
            message=finding.message,
            hint=finding.hint if withheld is None else f"{finding.hint} {withheld}",
            vendor=self.profile.vendor,
            app=visit.app_label,
            migration=visit.name,
            operation=index,
            path=visit.path,
            line=line,
            lock=finding.lock,
            safe_alternative=fix,
            operation_description=description,
        )


def _describe(visit: MigrationVisit, index: int | None) -> str | None:
    """Operation `index`'s describe(), or its class name when a custom describe() fails."""
    if index is None or not 0 <= index < len(visit.migration.operations):
        return None
    try:
        return str(visit.migration.operations[index].describe())
    except Exception:  # a custom operation's describe() must not break linting
        return type(visit.migration.operations[index]).__name__


def _suppressed_above(source: object, line: int, rule_id: str,
                      honoured: list[ignores.Suppression]) -> bool:
    above = {number for number, _ in source.comments_above(line)}  # type: ignore[attr-defined]
    return any(s.line in above and rule_id in s.rule_ids for s in honoured if not s.whole_file)


def _track_created_tables(visit: MigrationVisit, statement: object) -> None:
    from pglast import ast

    if isinstance(statement, ast.CreateStmt) and statement.relation is not None:
        visit.created_tables.add(str(statement.relation.relname))


def run_lint(
    loaded: LoadedGraph,
    config: Config,
    profile: BackendProfile,
    selection: Selection,
    *,
    scope: Scope | None = None,
    skipped_apps: tuple[str, ...] = (),
    settings_vendor: str | None = None,
    load_vendor: str | None = None,
) -> LintResult:
    """Lint the selected migrations of `loaded` for `profile`'s database.

    `settings_vendor`: the vendor of the database in the settings, when it is not
    the one linted for (`--vendor`); rules warn where the code may take another path.
    `load_vendor`: the vendor of the default alias, which migration modules that pick
    their operations at import time saw.
    """
    rules = select_rules(config, profile.vendor)
    visitor = LintVisitor(rules, profile, config, scope or Scope(),
                          settings_vendor=settings_vendor, load_vendor=load_vendor)
    final_state = walk(
        loaded,
        visitor,
        max_name_length=profile.max_name_length(),
        should_visit=lambda key: selection.wants(key, _path_of(loaded, key)),
    )
    project = ProjectContext(loaded.loader, final_state, selection.apps, profile)
    project_findings: list[Diagnostic] = []
    if selection.paths is None and selection.keys is None:
        for rule in rules:
            for check in rule.project_checks:
                for finding in check(project):
                    project_findings.append(Diagnostic(
                        rule=rule.id,
                        severity=config.severity.get(rule.id, rule.severity),
                        message=finding.message,
                        hint=finding.hint,
                        vendor=profile.vendor,
                        app=finding.app,
                        migration=finding.migration,
                        path=_path_of(loaded, (finding.app, finding.migration))
                        if finding.app and finding.migration else None,
                        safe_alternative=finding.safe_alternative,
                    ))
    return LintResult(
        diagnostics=project_findings + visitor.diagnostics,
        migrations_checked=visitor.migrations_checked,
        migrations_with_findings=visitor.migrations_with_findings,
        vendor=profile.vendor,
        apps=tuple(sorted(selection.apps)),
        skipped_apps=skipped_apps,
    )


def _path_of(loaded: LoadedGraph, key: MigrationKey) -> str | None:
    from migration_pilot.loader import migration_path

    return migration_path(loaded.graph.nodes[key])
