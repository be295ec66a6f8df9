-- migrate:up

-- The audit log: one row per change of an organization's access or data,
-- written by triggers in the change's own transaction, so a change made by
-- plain SQL as the runtime role is recorded exactly like one made through
-- the API. Nobody that a request can become may insert, update, delete or
-- truncate a row (db/policies/audit_events.sql grants them SELECT only); the
-- trigger functions below, owned by iam_definer, are the only writers, and
-- deleting the organization is the only way a row goes.
create table iam.audit_events (
  id               uuid not null default gen_random_uuid(),
  -- No foreign key: its check would lock the organization's row on every
  -- audited write. The organization exists (the change's own row refers to
  -- it), and iam.audit_forget_organization() deletes its events with it.
  organization_id  uuid not null,
  -- No foreign key either: history keeps naming a user after the user is deleted.
  actor_user_id    uuid,
  action           text not null,
  target_type      text not null,
  target_id        uuid not null,
  -- {"<column>": {"old": ..., "new": ...}} for the changed columns only.
  changes          jsonb not null,
  -- The request's X-Request-ID, from the setting iam.request_id.
  request_id       text check (char_length(request_id) <= 128),
  occurred_at      timestamptz not null default pg_catalog.clock_timestamp(),
  -- Also the index of newest-first pages of one organization and of the
  -- ?since= / ?until= ranges (read backwards). occurred_at is part of the
  -- key so that the table can be partitioned by time (docs/audit.md).
  constraint audit_events_pkey primary key (organization_id, occurred_at, id)
);
-- Request ids are text a client chose (X-Request-ID) and no statement filters
-- by them: no planner statistics, which leakproof text comparisons would let
-- a tenant read through row estimates (docs/dba.md, "Planner statistics").
-- changes is jsonb, whose comparisons are not leakproof: its statistics are
-- never applied under the policies.
alter table iam.audit_events alter column request_id set statistics 0;

-- The filters ?actor_user_id= and ?target_id=, each in page order so a
-- filtered page stops after `limit` rows. ?action= (a handful of values)
-- walks the primary key and keeps the matching rows: one index fewer on
-- every audited write.
create index audit_events_org_actor_idx
  on iam.audit_events (organization_id, actor_user_id, occurred_at, id);
create index audit_events_org_target_idx
  on iam.audit_events (organization_id, target_id, occurred_at, id);

alter table iam.audit_events enable row level security;
alter table iam.audit_events force row level security;

-- ============================================================ the recorder
-- One column's old and new values, keyed by its name, or nothing when they
-- are equal; so an insert lists its non-null columns, a delete its old
-- non-null values, and an update the columns it changed. Each trigger names
-- the columns it records: a column added later (or a secret) is never
-- recorded by accident. A plain SQL expression, so the planner inlines it.
create function iam.audit_pair(p_column text, p_old anyelement, p_new anyelement)
returns jsonb
language sql immutable
as $$
  select case when p_old is distinct from p_new
              then pg_catalog.jsonb_build_object(
                     p_column, pg_catalog.jsonb_build_object('old', p_old, 'new', p_new))
              else '{}'::jsonb end
$$;

-- The request id of the transaction's context, as the API set it.
create function iam.current_request_id() returns text
language sql stable
as $$
  select pg_catalog.left(nullif(pg_catalog.current_setting('iam.request_id', true), ''), 128)
$$;

-- Every event names the changed row's organization: the write policies
-- make it the active organization for every request role, and the definer
-- functions that create an organization record the event in the new one.
-- The actor is the transaction's caller (iam.user_id). A delete that comes
-- from deleting the organization records nothing: its events go with it.

-- Members: added, role changed, removed (by an admin) or left (oneself).
-- A membership created with nobody signed in (registration) names its
-- user as the actor.
create function iam.audit_membership_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_changes jsonb := iam.audit_pair('role', old.role, new.role);
  v_action text;
begin
  if tg_op = 'INSERT' then
    v_action := 'member.added';
  elsif tg_op = 'UPDATE' then
    if v_changes = '{}' then
      return null;
    end if;
    v_action := 'member.role_changed';
  else
    if not exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
      return null;
    end if;
    v_action := case when old.user_id = iam.current_user_id() then 'member.left'
                     else 'member.removed' end;
  end if;
  insert into iam.audit_events
    (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
  values (coalesce(new.organization_id, old.organization_id),
          coalesce(iam.current_user_id(), case when tg_op = 'INSERT' then new.user_id end),
          v_action, 'member', coalesce(new.user_id, old.user_id), v_changes,
          iam.current_request_id());
  return null;
end
$$;

-- Projects: created, updated (only when a recorded column changed), deleted.
create function iam.audit_project_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_changes jsonb := iam.audit_pair('name', old.name, new.name)
                  || iam.audit_pair('description', old.description, new.description)
                  || iam.audit_pair('created_by_user_id', old.created_by_user_id,
                                    new.created_by_user_id);
begin
  if tg_op = 'UPDATE' and v_changes = '{}' then
    return null;
  end if;
  if tg_op = 'DELETE'
     and not exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    return null;
  end if;
  insert into iam.audit_events
    (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
  values (coalesce(new.organization_id, old.organization_id), iam.current_user_id(),
          case tg_op when 'INSERT' then 'project.created' when 'UPDATE' then 'project.updated'
                     else 'project.deleted' end,
          'project', coalesce(new.id, old.id), v_changes, iam.current_request_id());
  return null;
end
$$;

-- Organizations: created, renamed. (Deleting one deletes its events.)
create function iam.audit_organization_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_changes jsonb := iam.audit_pair('name', old.name, new.name);
begin
  if tg_op = 'UPDATE' and v_changes = '{}' then
    return null;
  end if;
  insert into iam.audit_events
    (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
  values (new.id, iam.current_user_id(),
          case tg_op when 'INSERT' then 'organization.created' else 'organization.renamed' end,
          'organization', new.id, v_changes, iam.current_request_id());
  return null;
end
$$;

-- Deleting an organization deletes its events, in the same transaction.
-- iam_definer may delete only the events of an organization that no longer
-- exists (db/policies/audit_events.sql), so no other history can go.
create function iam.audit_forget_organization() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from iam.audit_events as e where e.organization_id = old.id;
  return null;
end
$$;

create trigger organization_memberships_audit
  after insert or update of role or delete on iam.organization_memberships
  for each row execute function iam.audit_membership_change();
create trigger projects_audit
  after insert or update or delete on iam.projects
  for each row execute function iam.audit_project_change();
create trigger organizations_audit
  after insert or update of name on iam.organizations
  for each row execute function iam.audit_organization_change();
create trigger organizations_audit_forget
  after delete on iam.organizations
  for each row execute function iam.audit_forget_organization();

alter function iam.audit_membership_change() owner to iam_definer;
alter function iam.audit_project_change() owner to iam_definer;
alter function iam.audit_organization_change() owner to iam_definer;
alter function iam.audit_forget_organization() owner to iam_definer;

-- No request role can call the trigger functions (nor could it: trigger
-- functions run only as triggers), so none can record an event that did
-- not happen. The helpers compute values and write nothing.
revoke execute on function
  iam.audit_pair(text, anyelement, anyelement),
  iam.current_request_id(),
  iam.audit_membership_change(),
  iam.audit_project_change(),
  iam.audit_organization_change(),
  iam.audit_forget_organization()
  from public;
grant execute on function iam.audit_pair(text, anyelement, anyelement), iam.current_request_id()
  to iam_definer;

-- Who may read the log, in one place: the policy on iam.audit_events and
-- GET /audit-events (which answers 403 when it says no) both ask it.
create function iam.may_read_audit_events() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(iam.member_role() = 'ORG_ADMIN', false)
$$;
revoke execute on function iam.may_read_audit_events() from public;
grant execute on function iam.may_read_audit_events() to iam_authenticated;

-- migrate:down

drop trigger organizations_audit_forget on iam.organizations;
drop trigger organizations_audit on iam.organizations;
drop trigger projects_audit on iam.projects;
drop trigger organization_memberships_audit on iam.organization_memberships;
-- Its policies (db/policies/audit_events.sql) go with the table.
drop table iam.audit_events;
drop function iam.may_read_audit_events();
drop function iam.audit_forget_organization();
drop function iam.audit_organization_change();
drop function iam.audit_project_change();
drop function iam.audit_membership_change();
drop function iam.current_request_id();
drop function iam.audit_pair(text, anyelement, anyelement);
