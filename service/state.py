"""What the app holds for its lifetime: settings, the pool, token and password services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from service.security.passwords import Passwords
from service.security.tokens import TokenService
from service.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[AsyncConnection[Any]]
    tokens: TokenService
    passwords: Passwords
    latest_migration: str | None
