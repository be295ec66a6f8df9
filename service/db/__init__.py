"""The database layer: where the database is, the pool, the per-request runner, all SQL."""
