-- Every SQL statement service.db.queries.health sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- applied_migration()
select max(version) from iam_migrations.schema_migrations;
