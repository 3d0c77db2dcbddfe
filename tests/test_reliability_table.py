"""docs/reliability.md cannot go stale: every catalogue id once, every test it names exists.

The catalogue is `failure-scenarios.md` (scenarios A1…J1, security requirements S1…S13). Its ids are
listed here so the check runs anywhere; when the reference file itself is at hand (beside the checkout,
or named by MIGRATION_PILOT_FAILURE_SCENARIOS), the list is checked against it too.
"""

from __future__ import annotations

import ast
import os
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "reliability.md"

SCENARIOS = [f"{letter}{n}" for letter, count in
             (("A", 9), ("B", 6), ("C", 4), ("D", 10), ("E", 5), ("F", 5), ("G", 5), ("H", 3), ("I", 1), ("J", 1))
             for n in range(1, count + 1)]
SECURITY = [f"S{n}" for n in range(1, 14)]
STATUSES = {"covered", "partial", "absent", "out of scope"}

ID_CELL = re.compile(r"^(?:[A-J]\d+|S\d+)$")
NODE = re.compile(r"`(tests/[\w/]+\.py)::([\w]+(?:::[\w]+)?)(\[[^\]`]*\])?`")


def reference_file() -> Path | None:
    named = os.environ.get("MIGRATION_PILOT_FAILURE_SCENARIOS")
    candidates = [Path(named)] if named else []
    candidates += [ROOT.parent / "shared" / "reference" / "failure-scenarios.md"]
    return next((path for path in candidates if path.is_file()), None)


def split_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def rows() -> list[dict[str, str]]:
    """The table rows whose first cell is a catalogue id: id, status, vendors, tests, notes."""
    found = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = split_row(line)
        if not ID_CELL.match(cells[0]):
            continue
        assert len(cells) == 6, f"row {cells[0]} needs 6 cells (id, what, status, vendors, tests, notes): {line}"
        found.append(dict(zip(("id", "what", "status", "vendors", "tests", "notes"), cells, strict=True)))
    return found


@cache
def defined_tests(path: str) -> set[str]:
    """Names of test functions in `path`, top level and Class::method."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(f"{node.name}::{item.name}" for item in node.body
                         if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)))
    return names


def test_the_id_list_matches_the_reference_file():
    path = reference_file()
    if path is None:
        pytest.skip("failure-scenarios.md is not beside this checkout; the ids listed in this test are used")
    text = path.read_text(encoding="utf-8")
    scenarios = re.findall(r"^\| ([A-J]\d+) \|", text, flags=re.MULTILINE)
    security = re.findall(r"^\*\*(S\d+)\. ", text, flags=re.MULTILINE)
    assert scenarios == SCENARIOS
    assert security == SECURITY


def test_every_id_appears_exactly_once():
    listed = [row["id"] for row in rows()]
    duplicates = sorted({i for i in listed if listed.count(i) > 1})
    missing = [i for i in SCENARIOS + SECURITY if i not in listed]
    unknown = [i for i in listed if i not in SCENARIOS + SECURITY]
    assert (duplicates, missing, unknown) == ([], [], [])


def test_every_status_is_known_and_justified():
    for row in rows():
        assert row["status"] in STATUSES, row
        if row["status"] in {"covered", "partial"}:
            assert NODE.search(row["tests"]), f"{row['id']} is {row['status']} but names no test"
        if row["status"] != "covered":
            assert row["notes"] not in {"", "-", "—"}, f"{row['id']} is {row['status']}: say why in the notes"


def test_every_named_test_exists():
    text = TABLE.read_text(encoding="utf-8")
    named = NODE.findall(text)
    assert named, "the table names no tests"
    missing = []
    for path, name, _params in named:
        if not (ROOT / path).is_file():
            missing.append(f"{path} (no such file)")
        elif name not in defined_tests(path):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_the_checks_would_catch_a_stale_table(tmp_path):
    """Not vacuous: a table naming a test that is gone, or missing an id, fails the checks."""
    good = TABLE.read_text(encoding="utf-8")
    stale = good.replace("`tests/pipeline/test_deploy.py::test_", "`tests/pipeline/test_deploy.py::test_gone_", 1)
    assert stale != good
    (tmp_path / "reliability.md").write_text(stale, encoding="utf-8")
    globals()["TABLE"] = tmp_path / "reliability.md"
    rows.cache_clear()
    try:
        with pytest.raises(AssertionError):
            test_every_named_test_exists()
        without_a1 = "\n".join(line for line in good.splitlines() if not line.startswith("| A1 |"))
        (tmp_path / "reliability.md").write_text(without_a1, encoding="utf-8")
        rows.cache_clear()
        with pytest.raises(AssertionError):
            test_every_id_appears_exactly_once()
    finally:
        globals()["TABLE"] = ROOT / "docs" / "reliability.md"
        rows.cache_clear()


def test_the_summary_counts_match_the_rows():
    """The counts at the top of the page are the rows' statuses, so the summary cannot go stale either."""
    text = TABLE.read_text(encoding="utf-8")
    order = ["covered", "partial", "absent", "out of scope"]
    for label, ids in (("Failure scenarios", SCENARIOS), ("Security requirements", SECURITY)):
        statuses = [row["status"] for row in rows() if row["id"] in ids]
        expected = [str(statuses.count(status)) for status in order] + [str(len(ids))]
        line = next(line for line in text.splitlines() if line.startswith(f"| {label} "))
        assert split_row(line)[1:] == expected, f"the summary row for {label} should read {expected}"
