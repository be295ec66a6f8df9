"""The plugins that give every test its fixtures; shared helpers live in tests/support/."""

pytest_plugins = ["tests.support.database", "tests.support.api", "tests.support.sql_snapshots"]
