-- migrate:up

-- Context readers as single expressions, so the planner inlines them
-- instead of calling a function. Same answers: malformed reads as NULL.
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

-- Writers and membership changes meet on transaction-level advisory locks
-- instead of row locks: a row lock writes to the membership's page (and
-- WAL) on every write request; an advisory lock lives in memory only.
-- The first key, 1769107757, is this schema's namespace among advisory locks.
create function iam.membership_lock_key(p_organization_id uuid, p_user_id uuid) returns integer
language sql immutable
as $$
  select pg_catalog.hashtext(p_organization_id::text || '/' || p_user_id::text)
$$;

create function iam.organization_lock_key(p_organization_id uuid) returns integer
language sql immutable
as $$
  select pg_catalog.hashtext(p_organization_id::text)
$$;

-- For write policies: a shared lock on the caller's membership, then the
-- role read with a fresh snapshot (READ COMMITTED, volatile function). A
-- demotion or removal in flight holds the exclusive lock until it commits,
-- so the write waits for it and then sees the new role (or none); a later
-- demotion waits for the write.
create or replace function iam.member_role_for_write() returns iam.org_role
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock_shared(
    1769107757, iam.membership_lock_key(iam.current_org_id(), iam.current_user_id()));
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

-- A role change or a removal takes the exclusive lock on that membership:
-- it waits for the member's writes in flight, and their next ones wait
-- for it.
create function iam.lock_membership_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock(
    1769107757, iam.membership_lock_key(old.organization_id, old.user_id));
  return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger organization_memberships_lock_change
  before update of role or delete on iam.organization_memberships
  for each row execute function iam.lock_membership_change();

-- Admin changes of one organization take turns on its advisory lock; the
-- second of two racing ones then sees the first (fresh snapshot) and is
-- refused with IAM01 if it would leave no ORG_ADMIN.
create or replace function iam.keep_last_admin() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if old.role <> 'ORG_ADMIN' or (tg_op = 'UPDATE' and new.role = 'ORG_ADMIN') then
    return case when tg_op = 'DELETE' then old else new end;
  end if;

  perform pg_catalog.pg_advisory_xact_lock(1769107757, iam.organization_lock_key(old.organization_id));
  if not exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
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

revoke execute on function
  iam.membership_lock_key(uuid, uuid),
  iam.organization_lock_key(uuid),
  iam.lock_membership_change()
  from public;
grant execute on function iam.membership_lock_key(uuid, uuid), iam.organization_lock_key(uuid)
  to iam_authenticated, iam_definer;

-- migrate:down

drop trigger organization_memberships_lock_change on iam.organization_memberships;
drop function iam.lock_membership_change();

create or replace function iam.keep_last_admin() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if old.role <> 'ORG_ADMIN' or (tg_op = 'UPDATE' and new.role = 'ORG_ADMIN') then
    return case when tg_op = 'DELETE' then old else new end;
  end if;

  perform 1 from iam.organizations as o where o.id = old.organization_id for no key update;
  if not found then
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

create or replace function iam.member_role_for_write() returns iam.org_role
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

drop function iam.organization_lock_key(uuid);
drop function iam.membership_lock_key(uuid, uuid);

create or replace function iam.current_user_id() returns uuid
language sql stable
as $$
  select case when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then s::uuid end
  from (select pg_catalog.current_setting('iam.user_id', true) as s) as setting
$$;

create or replace function iam.current_org_id() returns uuid
language sql stable
as $$
  select case when s ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then s::uuid end
  from (select pg_catalog.current_setting('iam.org_id', true) as s) as setting
$$;

-- The row locks of the functions above need these again (the policy files
-- of this version no longer carry them).
grant update (role) on iam.organization_memberships to iam_definer;
grant update (updated_at) on iam.organizations to iam_definer;
create policy "Definer functions can lock memberships, never change them"
  on iam.organization_memberships for update to iam_definer
  using (true) with check (false);
create policy "Definer functions can lock organizations, never change them"
  on iam.organizations for update to iam_definer
  using (true) with check (false);
