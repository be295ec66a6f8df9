"""The app as a serverless function (Vercel): small lazy pool, pooler-safe, never migrates.

Defaults suit a database behind a transaction-mode pooler (Supabase's
Supavisor on port 6543): no server-side prepared statements, at most two
connections per instance, opened on first use, and a short connect timeout.
Each can be overridden by its environment variable. Migrations run from CI
or a release step (`rls-iam db migrate`), never at cold start.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from service.http.app import create_app
from service.settings import ConfigurationError, load_settings

SERVERLESS_DEFAULTS = {
    "APP_ENV": "production",
    "DATABASE_POOLER": "transaction",
    "DATABASE_POOL_MIN_SIZE": "0",
    "DATABASE_POOL_MAX_SIZE": "2",
    "DATABASE_CONNECT_TIMEOUT_SECONDS": "3",
    "DATABASE_POOL_TIMEOUT_SECONDS": "3",
}


def create_serverless_app() -> FastAPI:
    for name, value in SERVERLESS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    settings = load_settings()
    if settings.database_url is None:
        # A function instance cannot host the embedded PostgreSQL.
        raise ConfigurationError("configuration error: DATABASE_URL: required on serverless")
    return create_app(settings)
