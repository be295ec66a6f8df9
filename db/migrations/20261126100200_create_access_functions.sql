-- migrate:up

grant usage on schema iam to iam_anon, iam_authenticated, iam_definer;
-- ALTER FUNCTION ... OWNER TO requires the new owner to be able to create in
-- the schema. iam_definer is reachable only through its own functions, none
-- of which runs DDL.
grant create on schema iam to iam_definer;

-- ============================================================ request context
-- The API sets iam.user_id and iam.org_id with set_config(..., true) at the
-- start of every transaction. Missing, empty or malformed values read as
-- NULL, and NULL never equals anything, so every policy fails closed.
-- Plain SQL functions without SET clauses. As written here (with a FROM
-- clause) the planner cannot inline them; 20261126100500 rewrote them as
-- single expressions, which it can.

create function iam.current_user_id() returns uuid
language sql stable
as $$
  select case when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then s::uuid end
  from (select pg_catalog.current_setting('iam.user_id', true) as s) as setting
$$;

create function iam.current_org_id() returns uuid
language sql stable
as $$
  select case when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then s::uuid end
  from (select pg_catalog.current_setting('iam.org_id', true) as s) as setting
$$;

-- ======================================================== role from membership
-- The caller's role in the active organization, read from the membership
-- table on every statement: never from the token, never from a setting the
-- client controls. NULL when the caller is not an active member.
-- SECURITY DEFINER so that the policies of organization_memberships, which
-- call it, do not recurse into themselves. plpgsql, so its plan is cached.
create function iam.member_role() returns iam.org_role
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return (
    select m.role
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = iam.current_org_id()
      and m.user_id = iam.current_user_id()
      and u.is_active
  );
end
$$;

-- The same, for write policies. (20261126100500 replaced the row lock
-- below with advisory locks; this is the first version.) It takes a FOR
-- SHARE lock on the caller's membership row. Under READ COMMITTED a policy would otherwise read the
-- role from the statement's snapshot while another transaction demotes or
-- removes the caller; with the lock, the write waits for that change to
-- commit and then sees the new role (or no row), and a later demotion waits
-- for the write.
create function iam.member_role_for_write() returns iam.org_role
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  return (
    select m.role
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = iam.current_org_id()
      and m.user_id = iam.current_user_id()
      and u.is_active
    for share of m
  );
end
$$;

-- ============================================================= triggers
create function iam.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := pg_catalog.now();
  return new;
end
$$;

create trigger organizations_touch_updated_at before update on iam.organizations
  for each row execute function iam.touch_updated_at();
create trigger users_touch_updated_at before update on iam.users
  for each row execute function iam.touch_updated_at();
create trigger projects_touch_updated_at before update on iam.projects
  for each row execute function iam.touch_updated_at();

-- An organization never loses its last ORG_ADMIN. (20261126100500 replaced
-- the row lock below with an advisory lock per organization.) The lock on
-- the organization row serializes admin changes within one organization: of two
-- racing demotions of the last two admins, the second waits here, then (READ
-- COMMITTED takes a fresh snapshot per statement) sees the first one and is
-- refused with SQLSTATE IAM01.
create function iam.keep_last_admin() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if old.role <> 'ORG_ADMIN' or (tg_op = 'UPDATE' and new.role = 'ORG_ADMIN') then
    return case when tg_op = 'DELETE' then old else new end;
  end if;

  perform 1 from iam.organizations as o where o.id = old.organization_id for no key update;
  if not found then
    -- The organization itself is being deleted: its memberships go with it.
    return old;
  end if;

  if not exists (
    select 1 from iam.organization_memberships as m
    where m.organization_id = old.organization_id
      and m.role = 'ORG_ADMIN'
      and m.id <> old.id
  ) then
    raise exception 'an organization must keep at least one ORG_ADMIN'
      using errcode = 'IAM01';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger organization_memberships_keep_last_admin
  before update of role or delete on iam.organization_memberships
  for each row execute function iam.keep_last_admin();

-- ================================================ pre-tenant operations
-- Each runs before there is a tenant context, or across organizations, so
-- it is SECURITY DEFINER with a pinned, empty search_path, and only the role
-- that needs it may execute it.

-- Registration: user, organization and ORG_ADMIN membership in one go. A
-- taken email raises unique_violation (23505).
create function iam.register(p_email text, p_password_hash text, p_organization_name text)
returns table (user_id uuid, email text, organization_id uuid, organization_name text)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_user_id uuid;
  v_email text;
  v_org_id uuid;
  v_org_name text;
begin
  insert into iam.users (email, password_hash)
  values (pg_catalog.lower(pg_catalog.btrim(p_email)), p_password_hash)
  returning id, email into v_user_id, v_email;

  insert into iam.organizations (name)
  values (pg_catalog.btrim(p_organization_name))
  returning id, name into v_org_id, v_org_name;

  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org_id, v_user_id, 'ORG_ADMIN');

  return query select v_user_id, v_email, v_org_id, v_org_name;
end
$$;

-- (20261130100100 replaced login_lookup and set_password_hash: every hash
-- handed out is traced, and a hash is replaced only against one handed out.)
-- Login: the stored hash (Python verifies it) and one membership: the
-- requested organization, or the one joined first. No row for an unknown
-- email; NULL organization when the user is not a member of the one asked.
create function iam.login_lookup(p_email text, p_organization_id uuid default null)
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

-- Upgrade a hash after a successful login when the hashing parameters have
-- changed. The expected old hash makes it a compare-and-set.
create function iam.set_password_hash(p_user_id uuid, p_old_hash text, p_new_hash text)
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

-- The caller's organizations, newest first, keyset-paginated on
-- (created_at, id) of the organization.
create function iam.my_organizations(
  p_limit integer,
  p_before_created_at timestamptz default null,
  p_before_id uuid default null
)
returns table (id uuid, name text, role iam.org_role, created_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
  select o.id, o.name, m.role, o.created_at
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  join iam.users as u on u.id = m.user_id
  where m.user_id = iam.current_user_id()
    and u.is_active
    and (p_before_created_at is null
         or (o.created_at, o.id) < (p_before_created_at, p_before_id))
  order by o.created_at desc, o.id desc
  limit p_limit
$$;

-- Switching organization: the target's name and the caller's role in it,
-- or no row when the caller is not an active member.
create function iam.switch_organization(p_organization_id uuid)
returns table (organization_id uuid, organization_name text, role iam.org_role)
language sql stable security definer
set search_path = ''
as $$
  select o.id, o.name, m.role
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  join iam.users as u on u.id = m.user_id
  where m.user_id = iam.current_user_id()
    and m.organization_id = p_organization_id
    and u.is_active
$$;

-- A new organization, created by an ORG_ADMIN of the active one (README,
-- roles); the creator becomes its ORG_ADMIN. Anyone else: 42501.
create function iam.create_organization(p_name text)
returns table (id uuid, name text, role iam.org_role, created_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_org iam.organizations;
begin
  if iam.member_role_for_write() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may create an organization'
      using errcode = 'insufficient_privilege';
  end if;

  insert into iam.organizations (name) values (pg_catalog.btrim(p_name))
  returning * into v_org;
  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org.id, iam.current_user_id(), 'ORG_ADMIN');

  return query select v_org.id, v_org.name, 'ORG_ADMIN'::iam.org_role, v_org.created_at;
end
$$;

-- Adding a member starts from an email the caller's tenant cannot see yet.
-- Only an ORG_ADMIN of the active organization may resolve it (anyone else:
-- 42501), so members cannot probe which emails are registered.
create function iam.user_id_for_invite(p_email text)
returns uuid
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if iam.member_role() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may add members'
      using errcode = 'insufficient_privilege';
  end if;
  return (
    select u.id from iam.users as u
    where u.email = pg_catalog.lower(pg_catalog.btrim(p_email)) and u.is_active
  );
end
$$;

-- iam_definer owns every SECURITY DEFINER function: it is not a superuser,
-- has no BYPASSRLS, and the policies name exactly what it may touch.
alter function iam.member_role() owner to iam_definer;
alter function iam.member_role_for_write() owner to iam_definer;
alter function iam.keep_last_admin() owner to iam_definer;
alter function iam.register(text, text, text) owner to iam_definer;
alter function iam.login_lookup(text, uuid) owner to iam_definer;
alter function iam.set_password_hash(uuid, text, text) owner to iam_definer;
alter function iam.my_organizations(integer, timestamptz, uuid) owner to iam_definer;
alter function iam.switch_organization(uuid) owner to iam_definer;
alter function iam.create_organization(text) owner to iam_definer;
alter function iam.user_id_for_invite(text) owner to iam_definer;

-- ============================================================ EXECUTE grants
revoke execute on all functions in schema iam from public;

grant execute on function iam.current_user_id(), iam.current_org_id()
  to iam_authenticated, iam_definer;
grant execute on function iam.member_role(), iam.member_role_for_write()
  to iam_authenticated;
grant execute on function
  iam.register(text, text, text),
  iam.login_lookup(text, uuid),
  iam.set_password_hash(uuid, text, text)
  to iam_anon;
grant execute on function
  iam.my_organizations(integer, timestamptz, uuid),
  iam.switch_organization(uuid),
  iam.create_organization(text),
  iam.user_id_for_invite(text)
  to iam_authenticated;

-- ================================================ tenant defaults and RLS
-- A tenant row belongs to the active organization and names its creator;
-- the database fills both in, the client does not.
alter table iam.organization_memberships
  alter column organization_id set default iam.current_org_id();
alter table iam.projects
  alter column organization_id set default iam.current_org_id(),
  alter column created_by_user_id set default iam.current_user_id();

-- Fail closed from here on: with RLS forced and no policy yet, nobody but a
-- superuser sees a row. db/policies/*.sql then opens exactly what is allowed.
alter table iam.organizations enable row level security;
alter table iam.organizations force row level security;
alter table iam.users enable row level security;
alter table iam.users force row level security;
alter table iam.organization_memberships enable row level security;
alter table iam.organization_memberships force row level security;
alter table iam.projects enable row level security;
alter table iam.projects force row level security;

-- migrate:down

alter table iam.projects no force row level security;
alter table iam.projects disable row level security;
alter table iam.organization_memberships no force row level security;
alter table iam.organization_memberships disable row level security;
alter table iam.users no force row level security;
alter table iam.users disable row level security;
alter table iam.organizations no force row level security;
alter table iam.organizations disable row level security;

do $$
declare
  p record;
begin
  -- Policies come from db/policies/ and may call the functions dropped below.
  for p in select schemaname, tablename, policyname from pg_catalog.pg_policies
           where schemaname = 'iam' loop
    execute format('drop policy %I on %I.%I', p.policyname, p.schemaname, p.tablename);
  end loop;
end
$$;

alter table iam.projects
  alter column organization_id drop default,
  alter column created_by_user_id drop default;
alter table iam.organization_memberships
  alter column organization_id drop default;

drop trigger organization_memberships_keep_last_admin on iam.organization_memberships;
drop trigger projects_touch_updated_at on iam.projects;
drop trigger users_touch_updated_at on iam.users;
drop trigger organizations_touch_updated_at on iam.organizations;

drop function iam.user_id_for_invite(text);
drop function iam.create_organization(text);
drop function iam.switch_organization(uuid);
drop function iam.my_organizations(integer, timestamptz, uuid);
drop function iam.set_password_hash(uuid, text, text);
drop function iam.login_lookup(text, uuid);
drop function iam.register(text, text, text);
drop function iam.keep_last_admin();
drop function iam.touch_updated_at();
drop function iam.member_role_for_write();
drop function iam.member_role();
drop function iam.current_org_id();
drop function iam.current_user_id();

-- Table grants are owned by db/policies/; remove them with the policies.
revoke all on all tables in schema iam from iam_anon, iam_authenticated, iam_definer;
revoke create on schema iam from iam_definer;
revoke usage on schema iam from iam_anon, iam_authenticated, iam_definer;
