from django.contrib.postgres.operations import AddConstraintNotValid, ValidateConstraint
from django.db import migrations, models

from tests.lint.helpers import assert_allows, assert_flags, lint_files, lint_one, migration_source

RULE = "validate-in-same-transaction"
CHECK = models.CheckConstraint(condition=models.Q(amount__gte=0), name="invoice_amount_gte_0")
ADD = AddConstraintNotValid("invoice", CHECK)
VALIDATE = ValidateConstraint("invoice", "invoice_amount_gte_0")
ADD_FK_SQL = (
    "ALTER TABLE testapp_order ADD CONSTRAINT order_customer_fk FOREIGN KEY (customer_id)"
    " REFERENCES testapp_customer (id) NOT VALID"
)
VALIDATE_FK_SQL = "ALTER TABLE testapp_order VALIDATE CONSTRAINT order_customer_fk"


def test_flags_validate_after_add_not_valid_in_one_migration():
    assert_flags(RULE, [ADD, VALIDATE])


def test_message():
    (diagnostic,) = lint_one(RULE, [ADD, VALIDATE])

    assert diagnostic.message == (
        "Validating constraint invoice_amount_gte_0 in the transaction that added it NOT VALID"
        " keeps ACCESS EXCLUSIVE on testapp_invoice while every row is checked, blocking reads"
        " and writes."
    )
    assert diagnostic.hint == "Validate in the next migration, so the scan runs in its own transaction."
    assert diagnostic.lock is not None
    assert diagnostic.lock.describe() == (
        "ACCESS EXCLUSIVE lock on testapp_invoice (blocks reads and writes; scans the table)"
    )
    assert diagnostic.operation == 1


def test_safe_alternative_is_the_next_migration():
    (diagnostic,) = lint_one(RULE, [ADD, VALIDATE])
    code = diagnostic.safe_alternative or ""

    assert "ValidateConstraint('invoice', 'invoice_amount_gte_0')" in code
    assert "dependencies = [('testapp', '0002_change')]" in code


def test_allows_validation_in_a_later_migration():
    found = lint_files({"0002_add": migration_source([ADD], name="0002_add"),
                        "0003_validate": migration_source([VALIDATE], name="0003_validate")
                        .replace("0001_initial", "0002_add")})

    assert [d for d in found if d.rule == RULE] == []


def test_allows_non_atomic_migration():
    assert_allows(RULE, [ADD, VALIDATE], atomic=False)


def test_allows_validating_a_constraint_added_elsewhere():
    assert_allows(RULE, [VALIDATE])


def test_allows_on_mysql_and_sqlite():
    ops = [migrations.RunSQL(ADD_FK_SQL, migrations.RunSQL.noop),
           migrations.RunSQL(VALIDATE_FK_SQL, migrations.RunSQL.noop)]

    assert_allows(RULE, ops, vendor="mysql")
    assert_allows(RULE, ops, vendor="sqlite")


def test_flags_run_sql_foreign_key_with_its_lock():
    op = migrations.RunSQL(f"{ADD_FK_SQL}; {VALIDATE_FK_SQL};", migrations.RunSQL.noop)

    (diagnostic,) = lint_one(RULE, [op])

    assert diagnostic.message == (
        "Validating constraint order_customer_fk in the transaction that added it NOT VALID keeps"
        " SHARE ROW EXCLUSIVE on testapp_order while every row is checked, blocking writes."
    )
    assert ('migrations.RunSQL(\'ALTER TABLE "testapp_order" VALIDATE CONSTRAINT'
            ' "order_customer_fk"\', reverse_sql=migrations.RunSQL.noop)') in (
        diagnostic.safe_alternative or "")


def test_flags_sql_validation_of_a_django_not_valid_constraint():
    op = migrations.RunSQL("ALTER TABLE testapp_invoice VALIDATE CONSTRAINT invoice_amount_gte_0")

    assert_flags(RULE, [ADD, op])


def test_allows_run_sql_statements_of_a_non_atomic_migration():
    op = migrations.RunSQL(f"{ADD_FK_SQL}; {VALIDATE_FK_SQL};", migrations.RunSQL.noop)

    assert_allows(RULE, [op], atomic=False)


def test_allows_validated_inside_separate_migrations_of_sql():
    found = lint_files({
        "0002_add": migration_source([migrations.RunSQL(ADD_FK_SQL)], name="0002_add"),
        "0003_validate": migration_source([migrations.RunSQL(VALIDATE_FK_SQL)],
                                          name="0003_validate").replace("0001_initial", "0002_add"),
    })

    assert [d for d in found if d.rule == RULE] == []


def test_ignore_comment_suppresses():
    source = migration_source([ADD, VALIDATE]).replace(
        "        django.contrib.postgres.operations.ValidateConstraint(",
        "        # pilot: ignore validate-in-same-transaction -- table has 12 rows\n"
        "        django.contrib.postgres.operations.ValidateConstraint(",
    )
    assert "pilot: ignore" in source

    assert_allows(RULE, source=source)


def test_postgresql_holds_the_claimed_lock_through_the_validation(postgresql_server, tmp_path):
    from tests.databases import scratch_connection
    from tests.lint.test_claims_on_real_databases import observe_locks

    (diagnostic,) = lint_one(RULE, [ADD, VALIDATE])
    with scratch_connection("postgresql", postgresql_server, tmp_path) as connection:
        together = observe_locks(connection, [ADD, VALIDATE], ["testapp_invoice"])

    assert diagnostic.lock is not None
    assert together == {"testapp_invoice": diagnostic.lock.mode.value}
