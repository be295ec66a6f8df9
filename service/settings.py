"""Configuration from environment variables, validated at start-up."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AppEnv(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Pooler(StrEnum):
    NONE = "none"
    TRANSACTION = "transaction"


MIN_SECRET_BYTES = 32
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    app_env: AppEnv = AppEnv.DEVELOPMENT
    port: int = Field(3000, ge=1, le=65535)
    host: str = "127.0.0.1"
    workers: int = Field(1, ge=1, le=64)
    log_level: str = Field("info", pattern="^(?i)(debug|info|warning|error|critical)$")

    # Unset: the embedded PostgreSQL in data_dir.
    database_url: SecretStr | None = None
    database_pooler: Pooler = Pooler.NONE
    database_pool_min_size: int = Field(1, ge=0, le=100)
    database_pool_max_size: int = Field(10, ge=1, le=200)
    database_pool_timeout_seconds: float = Field(2.0, gt=0, le=60)
    database_connect_timeout_seconds: int = Field(5, ge=1, le=60)
    database_statement_timeout_ms: int = Field(5000, ge=100, le=600_000)
    # The client's side: a request's work with a borrowed connection,
    # whatever the database or a pooler in between does.
    database_deadline_seconds: float = Field(1.5, gt=0, le=600)

    # Where the embedded PostgreSQL and the development JWT secret live.
    rls_iam_data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".rls-iam")
    # Set: `db migrate` creates the API's login role rls_iam_api with it.
    rls_iam_api_password: SecretStr | None = Field(None, min_length=16)

    jwt_access_secret: SecretStr | None = None
    jwt_access_secret_previous: SecretStr | None = None
    jwt_access_ttl_seconds: int = Field(900, ge=60, le=86_400)
    jwt_issuer: str = Field("rls-iam", min_length=1)
    jwt_audience: str = Field("rls-iam-api", min_length=1)
    jwt_leeway_seconds: int = Field(10, ge=0, le=30)
    # A session's absolute lifetime: refreshing never extends it.
    jwt_refresh_ttl_seconds: int = Field(2_592_000, ge=300, le=31_536_000)

    rate_limit_ip_per_minute: int = Field(120, ge=1)
    rate_limit_failed_logins_per_email: int = Field(10, ge=1)
    rate_limit_failed_login_window_seconds: int = Field(900, ge=1)
    # How long a login waits before its password check while its email has
    # failed too often from every client together.
    login_slowdown_ms: int = Field(1000, ge=0, le=10_000)
    organization_create_per_hour: int = Field(10, ge=1)
    trusted_proxies: str = ""
    # Comma-separated origins (https://app.example.com) a browser may call
    # the API from; empty: no CORS headers at all.
    cors_allow_origins: str = ""

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
        return value

    @property
    def cors_origins(self) -> list[str]:
        return _split(self.cors_allow_origins)

    # `rls-iam serve` exposed directly: what a front proxy would enforce.
    server_max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    server_header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    server_body_timeout_seconds: float = Field(30.0, gt=0, le=600)
    server_max_connections: int = Field(1000, ge=1, le=100_000)
    server_keep_alive_seconds: int = Field(5, ge=1, le=300)
    server_keep_alive_max_requests: int = Field(1000, ge=1, le=1_000_000)

    # How long an invitation's token may be accepted (7 days).
    invitation_ttl_seconds: int = Field(604_800, ge=60, le=90 * 86_400)

    @property
    def prepare_threshold(self) -> int | None:
        """Transaction-mode poolers cannot keep server-side prepared statements."""
        return None if self.database_pooler is Pooler.TRANSACTION else 5


class ConfigurationError(SystemExit):
    """Stops the process with one line that names the variable."""


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
    return f"configuration error: {name}: {first['msg']}"


def load_settings() -> Settings:
    """Settings from the environment; a bad value stops with one line naming it."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
