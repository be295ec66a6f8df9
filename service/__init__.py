"""rls-iam: a multi-tenant identity and access API isolated by PostgreSQL row-level security."""
