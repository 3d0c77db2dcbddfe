"""`pilot deploy`: validate, back up, apply under a lock with timeouts, verify, recover on failure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from migration_pilot.cli import fleet_output
from migration_pilot.cli.commands import Streams
from migration_pilot.conf import FAIL_NEVER, load_config, parse_fail_on
from migration_pilot.exceptions import ConfigError

NAME = "deploy"
HELP = ("Apply migrations safely: lint gate, backup, deploy lock, timeouts and retries, verification,"
        " and rollback or restore on failure. Use instead of 'manage.py migrate'.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pilot deploy`."""
    parser.add_argument("--database", default="default", help="Database alias to deploy to.")
    parser.add_argument("--target", nargs=2, metavar=("APP", "MIGRATION"),
                        help="Deploy to this migration (or 'zero'), backwards if needed.")
    parser.add_argument("--dry-run", action="store_true", help="Validate and plan only; change nothing.")
    parser.add_argument("--fail-on", help="Lint severity that refuses the deploy: error (default), warning,"
                        " info or never.")
    parser.add_argument("--no-backup", action="store_true", help="Skip the pre-deploy backup.")
    parser.add_argument("--backup-dir", help="Where the pre-deploy backup goes.")
    parser.add_argument("--lock-timeout", help="Per statement, e.g. 2s (default: PostgreSQL 100ms, MySQL 1s,"
                        " SQLite 5s; 0 = no limit). The longest the application queues behind one attempt.")
    parser.add_argument("--statement-timeout", help="Per statement, e.g. 5min (default: no limit).")
    parser.add_argument("--lock-wait-budget", help="How long to keep retrying lock timeouts, with backoff and"
                        " jitter, before giving up (default 5min; 0 = no limit).")
    parser.add_argument("--retries", type=int, help="At most this many retries after a lock timeout (default:"
                        " as many as the lock-wait budget allows).")
    parser.add_argument("--retry-delay", help="First backoff delay, doubled each retry up to 10s (default 1s).")
    parser.add_argument("--phase", choices=["pre", "post"],
                        help="pre: apply all but the post-deploy migrations (deploy_phase = 'post', django-"
                        "safemigrate's Safe.after_deploy, django-syzygy's Stage.POST_DEPLOY). post: once the new"
                        " code runs everywhere, apply those and drop the defaults kept for the old code."
                        " Default: everything at once.")
    parser.add_argument("--max-blocked", help="Circuit breaker: cancel (and retry) the migration's statement when"
                        " another session has waited on it longer than this, e.g. 500ms (default: off).")
    parser.add_argument("--no-monitor", dest="monitor", action="store_false",
                        help="Do not sample what other sessions wait on while migrations run.")
    parser.add_argument("--no-online", dest="online", action="store_false",
                        help="Run every statement as Django writes it (PostgreSQL: no online form for index"
                        " builds, constraints and NOT NULL).")
    parser.add_argument("--wait", help="How long to wait for another deploy's lock (default 30s).")
    parser.add_argument("--blocker-wait", help="How long to wait for sessions holding locks on planned"
                        " tables before going on under the lock timeout (default 10s).")
    parser.add_argument("--on-failure", choices=["rollback", "restore", "stop"], default="rollback")
    parser.add_argument("--discard-writes", action="store_true",
                        help="With --on-failure restore: restore even if other sessions wrote since the apply started"
                        " (those writes are lost). Without it such a restore is refused (exit 4).")
    parser.add_argument("--no-verify", action="store_true", help="Skip the post-apply schema verification.")
    parser.add_argument("--accept-data-loss", action="store_true",
                        help="With a --target below what is applied: unapply even when a reverse loses data"
                        " (as 'pilot rollback --accept-data-loss').")
    parser.add_argument("--check", action="append", default=[], metavar="CMD", dest="checks",
                        help="Post-deploy check (repeatable; split like a shell, no shell), e.g. 'python manage.py"
                        " check --deploy'. It runs last, after the phase's own changes, also when there was"
                        " nothing to apply: after apply and verify (default, --phase pre), after the post-deploy"
                        " migrations and the dropped defaults (--phase post). A non-zero exit or timeout fails the"
                        " deploy: --on-failure undoes what the default and pre phases applied; after --phase post,"
                        " restore puts back the backup the phase took and rollback undoes its migrations when every"
                        " reverse is exact and no default was dropped; otherwise the changes stay and the exit is 4,"
                        " naming them and why.")
    parser.add_argument("--maintain", action=argparse.BooleanOptionalAction, default=None,
                        help="After a successful deploy, ANALYZE the existing tables it changed (non-blocking;"
                        " skipped on MySQL before 8.0.24), reported and recorded in the run history; VACUUM and"
                        " REINDEX are left to 'pilot maintain'. Default on (setting 'maintain').")
    parser.add_argument("--check-timeout", help="Time limit per --check command (default 120s; 0 = no limit).")
    parser.add_argument("--metrics-file", help="Write the run in Prometheus text format to this file.")
    parser.add_argument("--format", choices=["text", "json"], default="text", dest="output_format")
    fleet_output.add_deploy_arguments(parser)


def build_options(options: dict[str, Any], *, kind: str = "deploy") -> Any:
    """DeployOptions from parsed flags and configuration; bad values are usage errors."""
    from migration_pilot.pipeline.apply import Retry
    from migration_pilot.pipeline.checks import parse_check
    from migration_pilot.pipeline.deploy import DeployOptions
    from migration_pilot.pipeline.durations import parse_duration
    from migration_pilot.pipeline.timeouts import Timeouts

    config = load_config()
    settings_values = _pilot_settings()
    lock = options.get("lock_timeout") or settings_values.get("lock_timeout")
    budget = options.get("lock_wait_budget") or settings_values.get("lock_wait_budget", "5min")
    statement = options.get("statement_timeout") or settings_values.get("statement_timeout", "0")
    retries = options.get("retries")
    if retries is not None and retries < 0:
        raise ConfigError(f"Bad --retries {retries}: give 0 or more", source="--retries")
    fail_on = config.fail_on
    if options.get("fail_on"):
        fail_on = parse_fail_on(options["fail_on"], source="--fail-on")
    backup_dir = options.get("backup_dir") or settings_values.get("backup_dir")
    return DeployOptions(
        alias=options.get("database") or "default",
        target=options.get("target") or options.get("to"),
        dry_run=bool(options.get("dry_run")),
        fail_on=fail_on if fail_on != FAIL_NEVER else FAIL_NEVER,
        backup=not options.get("no_backup"),
        backup_dir=Path(backup_dir) if backup_dir else None,
        timeouts=Timeouts(lock=None if lock is None else parse_duration(lock, source="--lock-timeout"),
                          statement=parse_duration(statement, source="--statement-timeout")),
        retry=Retry(attempts=retries,
                    base_delay=parse_duration(options.get("retry_delay") or "1s", source="--retry-delay"),
                    budget=parse_duration(budget, source="--lock-wait-budget")),
        online=bool(options.get("online", True)) and settings_values.get("online", True) is not False,
        monitor=bool(options.get("monitor", True)) and settings_values.get("monitor", True) is not False,
        max_blocked=_positive_duration(options.get("max_blocked") or settings_values.get("max_blocked"),
                                       "--max-blocked"),
        wait=parse_duration(options.get("wait") or "30s", source="--wait"),
        blocker_wait=parse_duration(options.get("blocker_wait") or "10s", source="--blocker-wait"),
        on_failure=options.get("on_failure") or "rollback",
        discard_writes=bool(options.get("discard_writes")),
        verify=not options.get("no_verify"),
        checks=[command for command in options.get("checks") or [] if parse_check(command)],
        check_timeout=parse_duration(options.get("check_timeout") or "120s", source="--check-timeout"),
        kind=kind,
        phase=options.get("phase") or "all",
        maintain=_maintain(options.get("maintain"), settings_values),
    )


def _maintain(flag: bool | None, settings_values: dict[str, Any]) -> bool:
    """--maintain/--no-maintain, else the 'maintain' setting (default on); a non-boolean setting is a usage error."""
    value = settings_values.get("maintain", True) if flag is None else flag
    if not isinstance(value, bool):
        raise ConfigError(f"Bad value for 'maintain': {value!r}; give True or False", source="settings.MIGRATION_PILOT")
    return value


def _positive_duration(value: Any, source: str) -> float | None:
    """A duration that must be more than zero, or None when not given."""
    from migration_pilot.pipeline.durations import parse_duration

    if value is None:
        return None
    seconds = parse_duration(value, source=source)
    if seconds <= 0:
        raise ConfigError(f"Bad {source} {value!r}: give a duration above zero, such as 500ms", source=source)
    return seconds


def _pilot_settings() -> dict[str, Any]:
    from django.conf import settings

    value = getattr(settings, "MIGRATION_PILOT", None)
    return dict(value) if isinstance(value, dict) else {}


def run(options: dict[str, Any], streams: Streams) -> int:
    """Run the pipeline and print what it did; the exit code is the pipeline's."""
    if options.get("fleet"):
        return fleet_output.run_deploy(options, streams)
    from migration_pilot.pipeline.contract import run_post_deploy
    from migration_pilot.pipeline.deploy import run_deploy

    runner = run_post_deploy if options.get("phase") == "post" else run_deploy
    deploy_options = build_options(options)
    deploy_options.before_apply = _backwards_consent(options, deploy_options, streams)
    return execute(deploy_options, options, streams, runner)


def _backwards_consent(options: dict[str, Any], deploy_options: Any, streams: Streams) -> Any:
    """A --target below what is applied unapplies migrations: a data-losing reverse needs consent, as for rollback."""
    from migration_pilot.cli.subcommands.backup import stdin_is_tty
    from migration_pilot.pipeline.events import ignore
    from migration_pilot.pipeline.rollback import consent_gate

    def confirm(question: str) -> bool:
        streams.err.write(f"{question}\nType 'yes' to unapply anyway: ")
        streams.err.flush()
        try:
            return input().strip().lower() == "yes"
        except EOFError:
            return False

    target = " ".join(options.get("target") or ()) or "the target"
    gate = consent_gate(f"to {target}", accept=bool(options.get("accept_data_loss")),
                        confirm=confirm if stdin_is_tty() else None, dry_run=deploy_options.dry_run,
                        backup_id=None, emit=ignore)
    return lambda plan: gate(plan) if plan.backwards else None


def execute(deploy_options: Any, options: dict[str, Any], streams: Streams, runner: Any) -> int:
    """Shared by deploy and rollback: run, print events and the one-line result, write metrics."""
    from migration_pilot.pipeline.metrics import write_metrics

    as_json = options.get("output_format") == "json"
    events: list[dict[str, Any]] = []

    def emit(event: Any) -> None:
        events.append({"kind": event.kind, "message": event.message, **event.data})
        if not as_json:
            streams.out.write(event.message + "\n")
            streams.out.flush()

    result = runner(deploy_options, emit=emit)
    if options.get("metrics_file"):
        write_metrics(Path(options["metrics_file"]), alias=deploy_options.alias, outcome=result.outcome,
                      exit_code=result.exit_code, duration_s=result.duration_s, migrations=result.applied)
    if as_json:
        streams.out.write(json.dumps({
            "exit_code": result.exit_code, "outcome": result.outcome, "message": result.message,
            "run_id": result.run_id, "backup_id": result.backup_id,
            "applied": [{"app": r.key[0], "name": r.key[1], "duration_s": r.duration_s,
                         "retries": r.retries, "lock_wait_s": r.lock_wait_s} for r in result.applied],
            "events": events,
        }, indent=2, default=str) + "\n")
    else:
        streams.out.write(result.message + "\n")
    return int(result.exit_code)
