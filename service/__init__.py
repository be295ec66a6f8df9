"""rls-iam: a multi-tenant identity and access API isolated by PostgreSQL row-level security."""

# The release: pyproject.toml reads it, the OpenAPI document and /healthz
# report it. Bump it with a CHANGELOG.md section of the same number.
__version__ = "0.1.0"
