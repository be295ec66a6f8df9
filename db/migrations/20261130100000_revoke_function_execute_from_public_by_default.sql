-- migrate:up

-- Functions the migrating role creates from here on are not executable by
-- PUBLIC until a migration grants them to the role that needs them.
-- Default privileges exist per creating role (not per schema): a
-- per-schema REVOKE (IN SCHEMA ...) can only take back a per-schema GRANT,
-- so it has to be the global form, for the role running the migrations.
alter default privileges revoke execute on functions from public;

-- migrate:down

alter default privileges grant execute on functions to public;
