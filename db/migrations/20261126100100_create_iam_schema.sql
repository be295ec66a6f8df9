-- migrate:up

create schema iam;
revoke all on schema iam from public;

-- Meant to keep new functions in iam from PUBLIC, but a per-schema REVOKE
-- only takes back a per-schema GRANT: this line changes nothing.
-- 20261130100000 sets the global default that does.
alter default privileges in schema iam revoke execute on functions from public;

create type iam.org_role as enum ('ORG_ADMIN', 'ORG_USER', 'READ_ONLY');

-- ---------------------------------------------------------------- organizations
-- The tenant. Names are not unique: a global check would tell one tenant
-- that another exists.
create table iam.organizations (
  id          uuid primary key default gen_random_uuid(),
  name        text not null check (char_length(name) between 1 and 200),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

-- ------------------------------------------------------------------------ users
-- A global identity. Emails are stored trimmed and lower-cased, so a plain
-- unique constraint is a case-insensitive one.
create table iam.users (
  id             uuid primary key default gen_random_uuid(),
  email          text not null
                 constraint users_email_normalized check (email = lower(btrim(email)))
                 constraint users_email_length check (char_length(email) between 3 and 254),
  password_hash  text not null,
  is_active      boolean not null default true,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now(),
  constraint users_email_key unique (email)
);

-- ----------------------------------------------------- organization_memberships
-- Keys lead with organization_id so the table can be distributed by tenant.
create table iam.organization_memberships (
  id               uuid not null default gen_random_uuid(),
  organization_id  uuid not null references iam.organizations (id) on delete cascade,
  user_id          uuid not null references iam.users (id) on delete cascade,
  role             iam.org_role not null,
  created_at       timestamptz not null default now(),
  constraint organization_memberships_pkey primary key (organization_id, id),
  constraint organization_memberships_org_user_key unique (organization_id, user_id)
);
-- "My organizations" and the login lookup go from a user to its memberships.
create index organization_memberships_user_idx
  on iam.organization_memberships (user_id, created_at, organization_id);
-- The last-admin check counts admins of one organization.
create index organization_memberships_admins_idx
  on iam.organization_memberships (organization_id) where role = 'ORG_ADMIN';

-- --------------------------------------------------------------------- projects
create table iam.projects (
  id                  uuid not null default gen_random_uuid(),
  organization_id     uuid not null references iam.organizations (id) on delete cascade,
  name                text not null check (char_length(name) between 1 and 200),
  description         text check (char_length(description) <= 2000),
  created_by_user_id  uuid not null references iam.users (id),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  constraint projects_pkey primary key (organization_id, id)
);
-- Names are unique per organization, case-insensitively; the key leads with
-- organization_id, so a clash can only ever name the caller's own project.
create unique index projects_org_name_key on iam.projects (organization_id, lower(name));
-- Newest-first keyset pagination within one organization.
create index projects_org_created_idx on iam.projects (organization_id, created_at desc, id desc);
create index projects_created_by_idx on iam.projects (created_by_user_id);

-- migrate:down

drop schema iam cascade;
