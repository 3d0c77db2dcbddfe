#!/usr/bin/env python3
"""Does `pilot lint --static` find what import mode finds? wagtail 8.0.1 and django-oscar 4.2.1.

    python3 bench/realapps/static_vs_import.py [--apps wagtail,oscar] [--venv DIR] [--show N]

Import mode is run.py's lint (the application installed in a minimal project,
`lint --all-apps --vendor postgresql`, findings on the application's own apps).
Static mode is `migration-pilot lint --static <package directory> --vendor
postgresql` with no settings: nothing of the application is imported. Findings
are compared by (rule, app, migration, operation index); `missing-migration` is
left out (static mode does not run it: it needs the models). Printed per
application: identical, missing in static mode, extra in static mode (false
alarms unless the rule says it could not judge), and up to --show examples of
each. Exit 1 when static mode has an extra finding that is not an
`unknown-operation` (a placeholder it could not judge, said as such).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as realapps  # noqa: E402

PACKAGES = {"wagtail": "wagtail", "oscar": "oscar"}
NOT_STATIC = {"missing-migration"}


def key(finding: dict[str, Any]) -> tuple[str, str, str, int | None]:
    return finding["rule"], finding["app"], finding["migration"], finding.get("operation")


def static_findings(app: str, labels: list[str]) -> list[dict[str, Any]]:
    """`lint --static` on the application's package directory, through the console script, no settings."""
    package = realapps.run([str(realapps.PY), "-c", f"import importlib.util as u; print(u.find_spec("
                            f"{PACKAGES[app]!r}).submodule_search_locations[0])"], {}).stdout.strip()
    script = realapps.PY.parent / "migration-pilot"
    env = {k: v for k, v in realapps.environment(app).items()
           if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    out = realapps.run([str(script), "lint", "--static", package, "--vendor", "postgresql",
                        "--format", "json", "--fail-on", "never"], env).stdout
    return [f for f in json.loads(out)["findings"] if f.get("app") in labels]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", default="wagtail,oscar")
    parser.add_argument("--venv", type=Path, default=realapps.DEFAULT_VENV)
    parser.add_argument("--show", type=int, default=10, help="examples of each difference to print")
    args = parser.parse_args()
    realapps.VENV, realapps.PY = args.venv.resolve(), args.venv.resolve() / "bin" / "python"
    realapps.ensure_venv()
    realapps.write_projects()
    failed = False
    for app in args.apps.split(","):
        imported, labels, _ = realapps.lint(app)
        imported = [f for f in imported if f["rule"] not in NOT_STATIC]
        static = static_findings(app, labels)
        by_import = {key(f): f for f in imported}
        by_static = {key(f): f for f in static}
        same = set(by_import) & set(by_static)
        missing = sorted(set(by_import) - same, key=str)
        extra = sorted(set(by_static) - same, key=str)
        print(f"\n== {app}: import {len(by_import)}, static {len(by_static)}: identical {len(same)},"
              f" missing in static {len(missing)}, extra in static {len(extra)}")
        reworded = sorted((k for k in same if by_import[k]["message"] != by_static[k]["message"]), key=str)
        print(f"   identical findings with a different message: {len(reworded)}")
        for k in reworded[:args.show]:
            print(f"   reworded: {k[1]}.{k[2]}#{k[3]} {k[0]}:\n     import: {by_import[k]['message'][:160]}"
                  f"\n     static: {by_static[k]['message'][:160]}")
        print("   missing by rule:", dict(Counter(k[0] for k in missing).most_common()))
        print("   extra by rule:  ", dict(Counter(k[0] for k in extra).most_common()))
        for title, keys, source in (("missing", missing, by_import), ("extra", extra, by_static)):
            for k in keys[:args.show]:
                print(f"   {title}: {k[1]}.{k[2]}#{k[3]} {k[0]}: {source[k]['message'][:160]}")
        failed = failed or any(k[0] != "unknown-operation" for k in extra)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
