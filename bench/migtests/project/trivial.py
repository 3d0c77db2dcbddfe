"""The baseline: create the test database (all 155 migrations) and run one trivial test."""


def test_trivial(db):
    pass
