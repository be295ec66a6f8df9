-- migrate:up

-- The context readers in the form PostgREST's and Supabase's auth.uid()
-- use: a cast of the setting, with no pattern check first. The check cost
-- about 5 us a call, several times per statement; the cast about 0.6 us.
-- Fail closed either way:
--   missing or empty setting   -> NULL, which matches no row;
--   any text uuid_in accepts   -> that uuid (upper case, braces and
--                                 missing hyphens name the same uuid as
--                                 its canonical form, so nothing widens);
--   anything else (whitespace,
--   a wrong length, SQL)       -> error 22P02: the statement fails and
--                                 its transaction reads and writes nothing.
-- Single SELECTs, so the planner inlines them into the statement.
create or replace function iam.current_user_id() returns uuid
language sql stable
as $$
  select nullif(pg_catalog.current_setting('iam.user_id', true), '')::uuid
$$;

create or replace function iam.current_org_id() returns uuid
language sql stable
as $$
  select nullif(pg_catalog.current_setting('iam.org_id', true), '')::uuid
$$;

-- migrate:down

create or replace function iam.current_user_id() returns uuid
language sql stable
as $$
  select case when pg_catalog.current_setting('iam.user_id', true)
                   ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then pg_catalog.current_setting('iam.user_id', true)::uuid end
$$;

create or replace function iam.current_org_id() returns uuid
language sql stable
as $$
  select case when pg_catalog.current_setting('iam.org_id', true)
                   ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then pg_catalog.current_setting('iam.org_id', true)::uuid end
$$;
