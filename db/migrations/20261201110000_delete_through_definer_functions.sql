-- migrate:up

-- Requests delete through functions, not with a DELETE grant of their own.
--
-- PostgreSQL lets any role with table-level UPDATE, DELETE or TRUNCATE take
-- every LOCK TABLE mode, ACCESS EXCLUSIVE included: a request role holding
-- DELETE on iam.projects could lock it in an open transaction and stall
-- every tenant's requests, and no setting a request role cannot change
-- bounds that (docs/dba.md, "Denial of service and side channels").
-- Column grants do not count, so UPDATE stays a column grant; DELETE has no
-- column form, so the request roles lose it (db/policies/) and each delete
-- the API performs is one of the functions below. They run as iam_deleter:
--   - NOLOGIN, no BYPASSRLS, owns no relation; no request role or API login
--     role is a member of it (`rls-iam policies check` and `lint` say so);
--   - subject to the policies like any role (every iam table forces RLS):
--     its DELETE policies and the SELECT policies it reads through are in
--     db/policies/, with the same predicates the request roles had, read
--     with the caller's context (iam.user_id, iam.org_id). So a row hidden
--     from the caller is hidden from the function, a refused delete deletes
--     nothing, and the audit triggers record the caller as the actor.
-- Not iam_definer: its policies let the sign-in functions end any session
-- and purge any expired invitation, broader than a request may.
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'iam_deleter') then
    create role iam_deleter nologin noinherit;
  end if;
  -- The migrating role hands the functions to it, as it does to iam_definer
  -- (db/migrations/*_create_roles.sql); on 16+ that needs SET on the role.
  if not pg_catalog.pg_has_role(current_user, 'iam_deleter',
       case when pg_catalog.current_setting('server_version_num')::int >= 160000
            then 'SET' else 'MEMBER' end) then
    begin
      grant iam_deleter to current_user;
    exception when insufficient_privilege then
      raise exception 'role % cannot grant itself role iam_deleter: as a superuser or the role''s creator, run: grant iam_deleter to % with admin option',
        current_user, current_user;
    end;
  end if;
end
$$;

grant usage on schema iam to iam_deleter;
-- The policies it reads through call the context helpers.
grant execute on function iam.current_user_id(), iam.current_org_id(), iam.current_session_id(),
  iam.member_role(), iam.member_role_for_write() to iam_deleter;

-- Each function returns whether it deleted, and where a refusal must tell
-- 403 from 404, whether the row is visible to the caller (read under the
-- SELECT policy, from the snapshot before the delete): not deleted but
-- visible means the caller's role may not.
create function iam.delete_project(p_id uuid, out deleted boolean, out visible boolean)
language sql security definer
set search_path = ''
as $$
  with gone as (delete from iam.projects as p where p.id = p_id returning 1)
  select exists (select 1 from gone), exists (select 1 from iam.projects as p where p.id = p_id)
$$;

-- Its memberships, projects and invitations go with it (on delete cascade).
create function iam.delete_organization(p_id uuid, out deleted boolean, out visible boolean)
language sql security definer
set search_path = ''
as $$
  with gone as (delete from iam.organizations as o where o.id = p_id returning 1)
  select exists (select 1 from gone),
         exists (select 1 from iam.organizations as o where o.id = p_id)
$$;

-- A member of the active organization, by an ORG_ADMIN, or oneself (leaving).
create function iam.remove_member(p_user_id uuid, out deleted boolean, out visible boolean)
language sql security definer
set search_path = ''
as $$
  with gone as (
    delete from iam.organization_memberships as m where m.user_id = p_user_id returning 1
  )
  select exists (select 1 from gone),
         exists (select 1 from iam.organization_memberships as m where m.user_id = p_user_id)
$$;

-- A pending invitation of the active organization.
create function iam.revoke_invitation(p_id uuid) returns boolean
language sql security definer
set search_path = ''
as $$
  with gone as (
    delete from iam.invitations as i where i.id = p_id and i.accepted_at is null returning 1
  )
  select exists (select 1 from gone)
$$;

-- One of the caller's own sessions (logout, revoking a device).
create function iam.end_session(p_id uuid) returns boolean
language sql security definer
set search_path = ''
as $$
  with gone as (delete from iam.sessions as s where s.id = p_id returning 1)
  select exists (select 1 from gone)
$$;

-- Every session of the caller but the current one (after a password change).
create function iam.end_other_sessions() returns bigint
language sql security definer
set search_path = ''
as $$
  with gone as (
    delete from iam.sessions as s where s.id is distinct from iam.current_session_id() returning 1
  )
  select count(*) from gone
$$;

-- Handing a function to a role needs that role to hold CREATE on the schema
-- at that moment, and no longer: iam_deleter creates nothing.
grant create on schema iam to iam_deleter;
alter function iam.delete_project(uuid) owner to iam_deleter;
alter function iam.delete_organization(uuid) owner to iam_deleter;
alter function iam.remove_member(uuid) owner to iam_deleter;
alter function iam.revoke_invitation(uuid) owner to iam_deleter;
alter function iam.end_session(uuid) owner to iam_deleter;
alter function iam.end_other_sessions() owner to iam_deleter;
revoke create on schema iam from iam_deleter;

revoke execute on function iam.delete_project(uuid), iam.delete_organization(uuid),
  iam.remove_member(uuid), iam.revoke_invitation(uuid), iam.end_session(uuid),
  iam.end_other_sessions()
  from public;
grant execute on function iam.delete_project(uuid), iam.delete_organization(uuid),
  iam.remove_member(uuid), iam.revoke_invitation(uuid), iam.end_session(uuid),
  iam.end_other_sessions()
  to iam_authenticated;

-- migrate:down

drop function iam.end_other_sessions();
drop function iam.end_session(uuid);
drop function iam.revoke_invitation(uuid);
drop function iam.remove_member(uuid);
drop function iam.delete_organization(uuid);
drop function iam.delete_project(uuid);
revoke execute on function iam.current_user_id(), iam.current_org_id(),
  iam.current_session_id(), iam.member_role(), iam.member_role_for_write() from iam_deleter;
revoke usage on schema iam from iam_deleter;
-- The role is cluster-wide, and the policy files of this version name it
-- until `rls-iam db rollback` applies the previous set; keep it then (it
-- can do nothing: no function, no grant is left to it once that set is
-- applied).
do $$
begin
  drop role if exists iam_deleter;
exception when dependent_objects_still_exist then
  raise notice 'role iam_deleter is still named by policies or grants; kept';
end
$$;
