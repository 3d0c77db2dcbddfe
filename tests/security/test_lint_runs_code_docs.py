"""S8: the generated CI lints pull requests with `lint --static`, and says why next to the job.

Import mode imports every migration module, as Django's loader does, so a
pull request's migration code would run in the lint job; the generated lint
job of both providers runs `--static`, which never imports them, and its
comment points at docs/ci.md. The GitHub lint job never runs on
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

        assert "never imports them" in head, head
        assert 'docs/ci.md, "Security: lint runs your migration modules"' in head, head
        assert "migration-pilot lint --static --vendor mysql --format" in job, job
    github = render("github", _context())
    assert "never `pull_request_target`" in github
    assert "pull_request_target" not in yaml.safe_load(github)[True]  # 'on:' parses as True
    assert "## Security: lint runs your migration modules (S8)" in DOCS.read_text()
    assert "--import" in DOCS.read_text() and "executes" in DOCS.read_text()
