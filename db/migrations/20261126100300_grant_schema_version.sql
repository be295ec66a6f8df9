-- migrate:up

-- /readyz compares the applied version with the newest migration the API
-- ships. It asks as iam_anon, so that role may read the version list (and
-- nothing else in this schema).
grant usage on schema iam_migrations to iam_anon;
grant select on iam_migrations.schema_migrations to iam_anon;

-- migrate:down

revoke select on iam_migrations.schema_migrations from iam_anon;
revoke usage on schema iam_migrations from iam_anon;
