"""Where the database is: DATABASE_URL, or the embedded PostgreSQL when it is unset."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict

from service.db.embedded import EmbeddedPostgres
from service.db.login_role import as_api_role, local_password
from service.settings import Settings


@dataclass(frozen=True)
class DatabaseTarget:
    """Connection strings for psycopg (conninfo) and for dbmate (url)."""

    conninfo: str
    url: str
    embedded: EmbeddedPostgres | None = None
    # What the API connects as: DATABASE_URL as given, or, on the embedded
    # server, its own login role (the owner's conninfo is for migrations).
    api_conninfo: str = ""


def resolve_database(settings: Settings) -> DatabaseTarget:
    """The configured database; starts the embedded server on demand when none is configured."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        return DatabaseTarget(conninfo=url, url=conninfo_to_url(url), api_conninfo=url)
    server = EmbeddedPostgres(settings.rls_iam_data_dir)
    server.start()
    conninfo = server.conninfo()
    api = as_api_role(conninfo, local_password(settings.rls_iam_data_dir))
    return DatabaseTarget(
        conninfo=conninfo, url=conninfo_to_url(conninfo), embedded=server, api_conninfo=api
    )


def conninfo_to_url(conninfo: str) -> str:
    """A postgres:// URL for dbmate from any libpq conninfo (URL or key=value)."""
    params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", "")
    credentials = (
        f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    )
    host = params.pop("host", "")
    port = params.pop("port", "")
    # dbmate's driver would insist on TLS when the URL does not say; keep
    # libpq's own default, so DATABASE_URL means the same to both.
    params.setdefault("sslmode", "prefer")
    dbname = quote(params.pop("dbname", ""), safe="")
    if host.startswith("/"):
        # A Unix socket folder: libpq reads host=, dbmate reads socket=.
        params["host"] = host
        params["socket"] = host
        if port:
            params["port"] = port
        netloc = ""
    else:
        netloc = host + (f":{port}" if port else "")
    query = f"?{urlencode(params)}" if params else ""
    return f"postgres://{credentials}{netloc}/{dbname}{query}"
