-- migrate:up

-- The audit triggers, cheaper per write (docs/performance.md, "Audit log:
-- the cost of the triggers"). Each request is its own transaction, so what
-- a trigger costs is mostly what it sets up per call, not what it computes:
--
-- * iam.audit_pair() was declared immutable around jsonb_build_object(),
--   which is only stable: the planner refused to inline it, and each pair
--   was a SQL function call of its own. Declared stable, it inlines into
--   the statement that uses it.
-- * Each event is one INSERT whose values are computed in it, and the
--   check whether the organization still exists runs for deletes only
--   (before, plpgsql set up that query for every insert and update too).
-- * A created project's or member's changes are built as one object, not
--   as pairs concatenated.
-- * The projects trigger fires only for updates that set a recorded column.
--
-- What is recorded does not change: the same events, actions, columns and
-- context, in the change's own transaction.
alter function iam.audit_pair(text, anyelement, anyelement) stable;

create or replace function iam.audit_membership_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    -- Nobody is signed in at registration: the new member is the actor.
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, coalesce(iam.current_user_id(), new.user_id), 'member.added',
            'member', new.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', null, 'new', new.role)),
            iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    if old.role is not distinct from new.role then
      return null;
    end if;
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'member.role_changed', 'member',
            new.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', old.role, 'new', new.role)),
            iam.current_request_id());
  -- A removal that comes from deleting the organization records nothing:
  -- the organization's events go with it.
  elsif exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (old.organization_id, iam.current_user_id(),
            case when old.user_id = iam.current_user_id() then 'member.left'
                 else 'member.removed' end,
            'member', old.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', old.role, 'new', null)),
            iam.current_request_id());
  end if;
  return null;
end
$$;

create or replace function iam.audit_project_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    -- name and created_by_user_id are never null; description may be.
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.created', 'project', new.id,
            case when new.description is null then
              pg_catalog.jsonb_build_object(
                'name', pg_catalog.jsonb_build_object('old', null, 'new', new.name),
                'created_by_user_id',
                pg_catalog.jsonb_build_object('old', null, 'new', new.created_by_user_id))
            else
              pg_catalog.jsonb_build_object(
                'name', pg_catalog.jsonb_build_object('old', null, 'new', new.name),
                'description', pg_catalog.jsonb_build_object('old', null, 'new', new.description),
                'created_by_user_id',
                pg_catalog.jsonb_build_object('old', null, 'new', new.created_by_user_id))
            end,
            iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    if (old.name, old.description, old.created_by_user_id)
       is not distinct from (new.name, new.description, new.created_by_user_id) then
      return null;
    end if;
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.updated', 'project', new.id,
            iam.audit_pair('name', old.name, new.name)
            || iam.audit_pair('description', old.description, new.description)
            || iam.audit_pair('created_by_user_id', old.created_by_user_id,
                              new.created_by_user_id),
            iam.current_request_id());
  elsif exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (old.organization_id, iam.current_user_id(), 'project.deleted', 'project', old.id,
            iam.audit_pair('name', old.name, null::text)
            || iam.audit_pair('description', old.description, null::text)
            || iam.audit_pair('created_by_user_id', old.created_by_user_id, null::uuid),
            iam.current_request_id());
  end if;
  return null;
end
$$;

-- Updates that set none of the recorded columns (none today; a future
-- column's) do not call the function at all.
drop trigger projects_audit on iam.projects;
create trigger projects_audit
  after insert or update of name, description, created_by_user_id or delete on iam.projects
  for each row execute function iam.audit_project_change();

-- migrate:down

drop trigger projects_audit on iam.projects;
create trigger projects_audit
  after insert or update or delete on iam.projects
  for each row execute function iam.audit_project_change();

create or replace function iam.audit_project_change() returns trigger
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

create or replace function iam.audit_membership_change() returns trigger
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

alter function iam.audit_pair(text, anyelement, anyelement) immutable;
