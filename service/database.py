"""Where the database is: DATABASE_URL, or the embedded PostgreSQL when it is unset."""

from __future__ import annotations

from dataclasses import dataclass

from service.embedded import EmbeddedPostgres
from service.settings import Settings


@dataclass(frozen=True)
class DatabaseTarget:
    """Connection strings for psycopg (conninfo) and for dbmate (url)."""

    conninfo: str
    url: str
    embedded: EmbeddedPostgres | None = None


def resolve_database(settings: Settings) -> DatabaseTarget:
    """The configured database; starts the embedded server on demand when none is configured."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        return DatabaseTarget(conninfo=url, url=url)
    server = EmbeddedPostgres(settings.rls_iam_data_dir)
    server.start()
    return DatabaseTarget(conninfo=server.conninfo(), url=server.url(), embedded=server)
