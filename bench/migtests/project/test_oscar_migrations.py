"""Migration tests for django-oscar in django-test-migrations' style: the `migrator` fixture, nothing imported.

Data migrations (RunPython) and schema changes, early and late in the plan of 155 migrations.
The same file runs under django-test-migrations and under django-migration-pilot.
"""

from django.db import connection


def columns(table):
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def test_category_slugs_lose_their_ancestors(migrator):
    old = migrator.apply_initial_migration(("catalogue", "0002_auto_20150217_1221"))
    old.apps.get_model("catalogue", "Category").objects.create(
        path="0001", depth=1, numchild=0, name="Fiction", slug="books/fiction")

    new = migrator.apply_tested_migration(("catalogue", "0003_data_migration_slugs"))

    assert new.apps.get_model("catalogue", "Category").objects.get().slug == "fiction"


def test_option_type_required_becomes_a_flag(migrator):
    old = migrator.apply_initial_migration(("catalogue", "0018_auto_20191220_0920"))
    Option = old.apps.get_model("catalogue", "Option")
    Option.objects.create(name="Gift wrap", code="gift-wrap", type="Required")
    Option.objects.create(name="Note", code="note", type="Optional")

    new = migrator.apply_tested_migration(("catalogue", "0019_option_required"))

    options = new.apps.get_model("catalogue", "Option").objects.order_by("code")
    assert [(o.code, o.required, o.type) for o in options] == [("gift-wrap", True, "text"), ("note", False, "text")]


def test_duplicate_voucher_names_are_numbered(migrator):
    old = migrator.apply_initial_migration(("voucher", "0008_auto_20200801_0817"))
    Voucher = old.apps.get_model("voucher", "Voucher")
    for code in ("A1", "B2"):
        Voucher.objects.create(name="Spring", code=code, usage="Single use",
                               start_datetime="2024-01-01T00:00Z", end_datetime="2024-02-01T00:00Z")

    new = migrator.apply_tested_migration(("voucher", "0009_make_voucher_names_unique"))

    names = sorted(new.apps.get_model("voucher", "Voucher").objects.values_list("name", flat=True))
    assert names == ["Spring - 1", "Spring - 2"]


def test_staff_permission_group_is_created(migrator):
    old = migrator.apply_initial_migration(("customer", "0007_auto_20200801_0817"))
    assert not old.apps.get_model("auth", "Group").objects.exists()

    new = migrator.apply_tested_migration(("customer", "0008_assign_permissions_to_staff"))

    assert new.apps.get_model("auth", "Group").objects.filter(name="All Oscar Dashboard Permissions").exists()


def test_offer_benefit_proxy_class_becomes_nullable(migrator):
    migrator.apply_initial_migration(("offer", "0001_initial"))

    new = migrator.apply_tested_migration(("offer", "0002_auto_20151210_1053"))

    field = new.apps.get_model("offer", "Benefit")._meta.get_field("proxy_class")
    assert field.null and field.default is None


def test_notification_category_is_dropped(migrator):
    migrator.apply_initial_migration(("communication", "0002_reset_table_names"))
    assert "category" in columns("communication_notification")

    migrator.apply_tested_migration(("communication", "0003_remove_notification_category_make_code_uppercase"))

    assert "category" not in columns("communication_notification")


def test_product_priority_column(migrator):
    migrator.apply_initial_migration(("catalogue", "0027_attributeoption_code_attributeoptiongroup_code_and_more"))
    assert "priority" not in columns("catalogue_product")

    migrator.apply_tested_migration(("catalogue", "0028_product_priority"))

    assert "priority" in columns("catalogue_product")


def test_category_menu_fields_late_in_the_plan(migrator):
    migrator.apply_initial_migration(("catalogue", "0031_productcategoryhierarchy"))

    new = migrator.apply_tested_migration(
        ("catalogue", "0032_category_exclude_from_menu_category_long_description"))

    assert {"exclude_from_menu", "long_description"} <= columns("catalogue_category")
    assert new.apps.get_model("catalogue", "Category")._meta.get_field("exclude_from_menu").default is False


def test_basket_line_tax_code(migrator):
    migrator.apply_initial_migration(("basket", "0011_json_basket_option"))

    migrator.apply_tested_migration(("basket", "0012_line_code"))

    assert "tax_code" in columns("basket_line")


def test_user_address_code(migrator):
    migrator.apply_initial_migration(("address", "0006_auto_20181115_1953"))
    assert "code" not in columns("address_useraddress")

    migrator.apply_tested_migration(("address", "0007_useraddress_code"))

    assert "code" in columns("address_useraddress")


def test_partner_address_code(migrator):
    migrator.apply_initial_migration(("partner", "0006_auto_20200724_0909"))

    migrator.apply_tested_migration(("partner", "0007_partneraddress_code"))

    assert "code" in columns("partner_partneraddress")


def test_wishlist_migration_early(migrator):
    old = migrator.apply_initial_migration(("wishlists", "0001_initial"))

    new = migrator.apply_tested_migration(("wishlists", "0002_auto_20160111_1108"))

    assert old.apps.get_model("wishlists", "WishList") is not new.apps.get_model("wishlists", "WishList")
