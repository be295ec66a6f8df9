"""The JWT signing secret: required in production, generated and kept locally in development."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from service.settings import MIN_SECRET_BYTES, AppEnv, ConfigurationError, Settings


def signing_secret(settings: Settings) -> str:
    """JWT_ACCESS_SECRET; outside production, a generated one kept in the data folder."""
    if settings.jwt_access_secret is not None:
        secret = settings.jwt_access_secret.get_secret_value()
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"configuration error: JWT_ACCESS_SECRET: must be at least {MIN_SECRET_BYTES} bytes"
            )
        return secret
    if settings.app_env is AppEnv.PRODUCTION:
        raise ConfigurationError("configuration error: JWT_ACCESS_SECRET: required in production")
    return _local_secret(settings.rls_iam_data_dir / "jwt_access_secret")


def previous_secrets(settings: Settings) -> tuple[str, ...]:
    if settings.jwt_access_secret_previous is None:
        return ()
    secret = settings.jwt_access_secret_previous.get_secret_value()
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            "configuration error: JWT_ACCESS_SECRET_PREVIOUS: "
            f"must be at least {MIN_SECRET_BYTES} bytes"
        )
    return (secret,)


def _local_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of several workers starting at once, one writes and all read.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    for _ in range(50):
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.02)  # another worker is still writing it
    raise ConfigurationError(f"configuration error: JWT_ACCESS_SECRET: cannot read {path}")
