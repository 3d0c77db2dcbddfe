"""S8: where lint runs, the generated CI says that it runs the branch's migration code.

Lint imports every migration module, as Django's loader does, so a pull
request's migration code runs in the lint job. The warning stands in the
template next to the lint job of both providers and points at docs/ci.md,
which says what to do; the GitHub lint job never runs on
`pull_request_target` (where fork pull requests get the secrets).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from migration_pilot.ci import CiContext, render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _context() -> CiContext:
    return CiContext(settings_module="example.settings", pythonpath=".", python_version="3.12",
                     database="mysql", install="pip install -r requirements.txt", with_tests=True)


def test_lint_jobs_say_they_run_pull_request_code_where_they_are_defined():
    for provider, start, end in (("github", "\n  lint:\n", "steps:"), ("gitlab", "\nlint:\n", "script:")):
        text = render(provider, _context())
        job = text[text.index(start):]
        head = job[:job.index(end)]

        assert "imports every migration module (runs its code)" in head, head
        assert 'docs/ci.md, "Security: lint runs your migration modules"' in head, head
    github = render("github", _context())
    assert "never `pull_request_target`" in github
    assert "pull_request_target" not in yaml.safe_load(github)[True]  # 'on:' parses as True
    assert "## Security: lint runs your migration modules (S8)" in DOCS.read_text()
