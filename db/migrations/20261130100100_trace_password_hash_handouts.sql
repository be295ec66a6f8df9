-- migrate:up

-- Whoever holds the API's database password may act as iam_anon, and
-- iam_anon may ask for a user's password hash (login verifies it in Python)
-- and replace it (rehash after a successful login). This migration makes
-- both leave a trace, and makes a replacement depend on a hash this
-- database handed out moments before for that very user: a hash cannot be
-- overwritten blindly, only in the login flow, and every hand-out is a row
-- a DBA can count (docs/dba.md, "Trust model").

-- One row per hash handed out. No hash is stored: only a digest of it, so
-- that iam.set_password_hash() can recognise the hash it handed out.
create table iam.password_hash_handouts (
  id              bigint generated always as identity primary key,
  user_id         uuid not null references iam.users (id) on delete cascade,
  hash_digest     text not null,
  handed_out_at   timestamptz not null default pg_catalog.now(),
  used_at         timestamptz
);
-- set_password_hash() finds the latest unused hand-out of one user.
create index password_hash_handouts_user_idx
  on iam.password_hash_handouts (user_id, handed_out_at desc);
create index password_hash_handouts_time_idx on iam.password_hash_handouts (handed_out_at);

alter table iam.password_hash_handouts enable row level security;
alter table iam.password_hash_handouts force row level security;

create function iam.password_hash_digest(p_hash text) returns text
language sql immutable
set search_path = ''
as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_hash, 'UTF8')), 'hex')
$$;

-- Login: the stored hash (Python verifies it) and one membership: the
-- requested organization, or the one joined first. No row for an unknown
-- email; NULL organization when the user is not a member of the one asked.
-- Every hash handed out is recorded in iam.password_hash_handouts.
-- Signature unchanged; now volatile plpgsql, because it writes that row.
create or replace function iam.login_lookup(p_email text, p_organization_id uuid default null)
returns table (user_id uuid, password_hash text, is_active boolean,
               organization_id uuid, organization_name text, role iam.org_role)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_user iam.users;
begin
  select * into v_user from iam.users as u
  where u.email = pg_catalog.lower(pg_catalog.btrim(p_email));
  if not found then
    return;
  end if;

  insert into iam.password_hash_handouts (user_id, hash_digest)
  values (v_user.id, iam.password_hash_digest(v_user.password_hash));
  -- Now and then, forget hand-outs older than the trace is kept for.
  if pg_catalog.random() < 0.01 then
    delete from iam.password_hash_handouts
    where handed_out_at < pg_catalog.now() - interval '30 days';
  end if;

  return query
  select v_user.id, v_user.password_hash, v_user.is_active, o.id, o.name, m.role
  from (select 1) as one
  left join lateral (
    select m.organization_id, m.role
    from iam.organization_memberships as m
    where m.user_id = v_user.id
      and (p_organization_id is null or m.organization_id = p_organization_id)
    order by m.created_at, m.organization_id
    limit 1
  ) as m on true
  left join iam.organizations as o on o.id = m.organization_id;
end
$$;

-- Replace a user's hash (rehash after a verified login). Accepted only
-- when this database handed out p_old_hash for this user in the last two
-- minutes (iam.login_lookup), that hand-out was not used yet, and the hash
-- is still the stored one; the hand-out is then spent. Signature unchanged.
create or replace function iam.set_password_hash(p_user_id uuid, p_old_hash text, p_new_hash text)
returns boolean
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_handout bigint;
begin
  select h.id into v_handout
  from iam.password_hash_handouts as h
  where h.user_id = p_user_id
    and h.hash_digest = iam.password_hash_digest(p_old_hash)
    and h.used_at is null
    and h.handed_out_at > pg_catalog.now() - interval '2 minutes'
  order by h.handed_out_at desc
  limit 1
  for update;
  if v_handout is null then
    return false;
  end if;

  update iam.users set password_hash = p_new_hash
  where id = p_user_id and password_hash = p_old_hash;
  if not found then
    return false;
  end if;
  update iam.password_hash_handouts set used_at = pg_catalog.now() where id = v_handout;
  return true;
end
$$;

alter function iam.password_hash_digest(text) owner to iam_definer;
revoke execute on function iam.password_hash_digest(text) from public;

-- migrate:down

create or replace function iam.set_password_hash(p_user_id uuid, p_old_hash text, p_new_hash text)
returns boolean
language sql volatile security definer
set search_path = ''
as $$
  with changed as (
    update iam.users set password_hash = p_new_hash
    where id = p_user_id and password_hash = p_old_hash
    returning 1
  )
  select exists (select 1 from changed)
$$;

-- Return type and arguments are unchanged, so CREATE OR REPLACE keeps the
-- owner and the EXECUTE grants.
create or replace function iam.login_lookup(p_email text, p_organization_id uuid default null)
returns table (user_id uuid, password_hash text, is_active boolean,
               organization_id uuid, organization_name text, role iam.org_role)
language sql stable security definer
set search_path = ''
as $$
  select u.id, u.password_hash, u.is_active, o.id, o.name, m.role
  from iam.users as u
  left join lateral (
    select m.organization_id, m.role
    from iam.organization_memberships as m
    where m.user_id = u.id
      and (p_organization_id is null or m.organization_id = p_organization_id)
    order by m.created_at, m.organization_id
    limit 1
  ) as m on true
  left join iam.organizations as o on o.id = m.organization_id
  where u.email = pg_catalog.lower(pg_catalog.btrim(p_email))
$$;

drop function iam.password_hash_digest(text);
drop table iam.password_hash_handouts;
