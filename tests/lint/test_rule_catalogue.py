"""Meta tests: every rule is complete, documented, tested, and its docs example is safe."""

import textwrap
from pathlib import Path

import pytest

from migration_pilot.docgen.rules import expected_pages
from migration_pilot.lint.registry import DOC_SECTIONS, all_rules, rules_by_id
from tests.lint.helpers import lint_operations

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_BY_ISSUE = {
    "add-index-non-concurrent", "drop-index-non-concurrent", "add-unique-non-concurrent",
    "add-foreign-key-validating", "add-check-constraint-validating", "validate-in-same-transaction",
    "add-exclusion-constraint", "set-not-null", "alter-column-type", "add-field-rewrites-table",
    "reindex-non-concurrent", "concurrent-in-atomic", "add-field-not-null", "drop-column",
    "drop-table", "rename-column", "rename-table", "run-python-irreversible", "run-sql-irreversible",
    "run-python-model-import", "unbatched-backfill", "mixed-schema-and-data", "auto-generated-name",
    "non-atomic-partial", "non-transactional-multi-ddl", "migration-conflict", "missing-migration",
    "unknown-operation",
}
RULES = all_rules()


def safe_alternative_block(doc: str) -> str | None:
    """The indented code block under '## Safe alternative', when it is a whole migration."""
    section = doc.split("## Safe alternative", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    block: list[str] = []
    for line in lines:
        if line.startswith("    ") or (block and not line.strip()):
            block.append(line)
        elif block:
            break
    code = textwrap.dedent("\n".join(block)).strip()
    return code + "\n" if "class Migration" in code else None


def test_every_rule_the_issue_names_exists():
    assert REQUIRED_BY_ISSUE - set(rules_by_id()) == set()


def test_rule_ids_are_unique_kebab_case():
    ids = [rule.id for rule in RULES]

    assert len(ids) == len(set(ids))
    assert all(rule_id == rule_id.lower() and "_" not in rule_id for rule_id in ids)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_docstring_has_every_section_in_order(rule):
    positions = [rule.doc.find(section) for section in DOC_SECTIONS]

    assert -1 not in positions, f"{rule.id} lacks {DOC_SECTIONS[positions.index(-1)]}"
    assert positions == sorted(positions)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_has_its_own_test_module(rule):
    module = rule.module_name.rsplit(".", 1)[-1]

    assert (ROOT / "tests" / "lint" / "rules" / f"test_{module}.py").is_file()


PROSE_ONLY = {"invalid-suppression", "migration-conflict", "missing-migration", "sql-not-analysed",
              "unknown-operation", "add-exclusion-constraint", "auto-generated-name"}
WITH_EXAMPLE = [rule for rule in RULES if safe_alternative_block(rule.doc) is not None]


def test_only_meta_rules_document_their_fix_without_a_migration():
    without = {rule.id for rule in RULES if safe_alternative_block(rule.doc) is None}

    assert without <= PROSE_ONLY


@pytest.mark.parametrize("rule", WITH_EXAMPLE, ids=lambda r: r.id)
def test_docs_example_is_linted_clean(rule):
    code = safe_alternative_block(rule.doc)
    assert code is not None

    vendors = sorted(rule.vendors)
    for vendor in vendors:
        found = [d for d in lint_operations(source=code, vendor=vendor) if d.rule == rule.id]
        assert not found, f"{rule.id}'s own safe alternative is flagged on {vendor}: {found[0].message}"


def test_docs_pages_match_the_rules():
    docs = ROOT / "docs" / "rules"

    for name, content in expected_pages().items():
        path = docs / name
        assert path.is_file(), f"{path} is missing: run 'make docs'"
        assert path.read_text() == content, f"{path} is stale: run 'make docs'"
    stale = {p.name for p in docs.glob("*.md")} - set(expected_pages())
    assert not stale, f"pages for removed rules: {sorted(stale)}"
