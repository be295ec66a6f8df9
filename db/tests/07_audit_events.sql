-- pgTAP: the audit log. Each change made as the runtime role leaves one
-- event naming the caller, the target and the request id; nobody a request
-- can become inserts, changes, deletes or truncates an event; only an
-- ORG_ADMIN reads the active organization's events. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- Seeded by the connecting role (superuser or BYPASSRLS). Rolled back.
--
-- Seed:
--   organization A  aaaaaaaa-aaaa-4aaa-8aaa-000000000000
--     ORG_ADMIN     aaaaaaaa-aaaa-4aaa-8aaa-000000000001
--     ORG_USER      aaaaaaaa-aaaa-4aaa-8aaa-000000000002
--     READ_ONLY     aaaaaaaa-aaaa-4aaa-8aaa-000000000003
--   organization B  bbbbbbbb-bbbb-4bbb-8bbb-000000000000
--     ORG_ADMIN     bbbbbbbb-bbbb-4bbb-8bbb-000000000001
--   newcomer        cccccccc-cccc-4ccc-8ccc-000000000001  (member of nothing)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
-- pgTAP's functions must be callable by the runtime roles (iam_definer
-- included: the triggers' owner is tried below) while the tests act as them (on Supabase pgtap lives in schema extensions).
-- The migrating role's default privileges keep EXECUTE from PUBLIC on the
-- functions it creates, pgTAP's included: grant them, inside this
-- rolled-back transaction.
do $$
declare
  f regprocedure;
begin
  execute pg_catalog.format(
    'grant usage on schema %I to iam_authenticated, iam_anon, iam_definer',
    (select n.nspname from pg_catalog.pg_extension e
     join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = 'pgtap'));
  for f in select d.objid::regprocedure from pg_catalog.pg_depend d
           join pg_catalog.pg_extension e on e.oid = d.refobjid
           where e.extname = 'pgtap' and d.classid = 'pg_catalog.pg_proc'::regclass
             and d.deptype = 'e' loop
    execute pg_catalog.format(
      'grant execute on function %s to iam_authenticated, iam_anon, iam_definer', f);
  end loop;
end
$$;

select plan(38);

-- ================================================================== catalog
select table_privs_are('iam', 'audit_events', 'iam_authenticated', array['SELECT'],
  'requests may only read the audit log');
select table_privs_are('iam', 'audit_events', 'iam_anon', array[]::text[],
  'anonymous requests hold nothing on the audit log');
select table_privs_are('iam', 'audit_events', 'iam_definer',
  array['SELECT', 'INSERT', 'DELETE'],
  'the audit triggers'' owner inserts, and deletes a deleted organization''s events');
select table_privs_are('iam', 'audit_events', 'public', array[]::text[],
  'PUBLIC holds nothing on the audit log');
select ok(not pg_catalog.pg_has_role('iam_authenticated', 'iam_definer', 'MEMBER')
          and not pg_catalog.pg_has_role('iam_anon', 'iam_definer', 'MEMBER'),
  'no request role can become the triggers'' owner');
select trigger_is('iam', 'projects', 'projects_audit', 'iam', 'audit_project_change',
  'projects are audited');
select trigger_is('iam', 'organization_memberships', 'organization_memberships_audit',
  'iam', 'audit_membership_change', 'memberships are audited');
select trigger_is('iam', 'organizations', 'organizations_audit', 'iam',
  'audit_organization_change', 'organizations are audited');
select trigger_is('iam', 'invitations', 'invitations_audit', 'iam',
  'audit_invitation_change', 'invitations are audited');
select function_owner_is('iam', 'audit_invitation_change', array[]::text[], 'iam_definer',
  'iam_definer owns the invitation trigger');
select is_definer('iam', 'audit_project_change', array[]::name[],
  'the project trigger runs as its owner');
select policies_are('iam', 'audit_events', array[
  'Admins can read their organization''s audit events',
  'Audit triggers can record events',
  'Audit triggers can see the events of deleted organizations',
  'Audit triggers can delete the events of deleted organizations'
]);
select function_owner_is('iam', 'audit_membership_change', array[]::text[], 'iam_definer',
  'iam_definer owns the membership trigger');

insert into iam.organizations (id, name) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP A'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'pgTAP B');
insert into iam.users (id, email, password_hash) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'read-only@a.pgtap.invalid', 'x'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'admin@b.pgtap.invalid', 'x'),
  ('cccccccc-cccc-4ccc-8ccc-000000000001', 'newcomer@pgtap.invalid', 'x');
insert into iam.organization_memberships (organization_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'READ_ONLY'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'ORG_ADMIN');
insert into iam.projects (id, organization_id, name, created_by_user_id) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-00000000a001', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'Apollo',
   'aaaaaaaa-aaaa-4aaa-8aaa-000000000001');
-- The seed's own events are no concern of the checks below.
create temporary table seeded on commit drop as select id from iam.audit_events;
grant select on seeded to iam_authenticated, iam_anon;

-- ===================================================== ORG_USER makes changes
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
set local iam.request_id = 'pgtap-1';

insert into iam.projects (name) values ('Gemini');
-- Its id, for the checks below (a client cannot choose it).
select set_config('pgtap.gemini', id::text, true) from iam.projects where name = 'Gemini';
update iam.projects set description = 'orbit' where name = 'Gemini';
update iam.projects set name = name where id = 'aaaaaaaa-aaaa-4aaa-8aaa-00000000a001';
select is_empty($$ select 1 from iam.audit_events $$,
  'ORG_USER reads no audit event');

-- ==================================================== ORG_ADMIN makes changes
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.request_id = 'pgtap-2';
-- Members join by accepting an invitation: the invitee is the actor.
insert into iam.invitations (email, role, token_hash, expires_at)
  values ('newcomer@pgtap.invalid', 'READ_ONLY', iam.invitation_token_hash('pgtap-audit'),
          now() + interval '1 day');
set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
set local iam.org_id = '';
set local iam.request_id = 'pgtap-3';
select organization_id from iam.accept_invitation('pgtap-audit');
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
set local iam.request_id = 'pgtap-2';
update iam.organization_memberships set role = 'ORG_USER'
  where user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
select iam.remove_member('cccccccc-cccc-4ccc-8ccc-000000000001');
select iam.delete_project(p.id) from iam.projects as p where p.name = 'Gemini';
-- An invitation revoked: the ORG_ADMIN deletes it while it is pending.
insert into iam.invitations (email, role, token_hash, expires_at)
  values ('revoked@pgtap.invalid', 'ORG_USER', iam.invitation_token_hash('pgtap-revoked'),
          now() + interval '1 day');
select iam.revoke_invitation(i.id) from iam.invitations as i
  where i.email = 'revoked@pgtap.invalid';

select results_eq(
  $$ select action, actor_user_id::text, request_id,
            coalesce(changes->'email'->>'new', changes->'email'->>'old'),
            (select pg_catalog.array_agg(k order by k) from jsonb_object_keys(changes) as k)
     from iam.audit_events where id not in (select id from seeded)
       and target_type = 'invitation'
     order by occurred_at, id $$,
  $$ values
     ('invitation.created', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'pgtap-2',
      'newcomer@pgtap.invalid', array['email', 'expires_at', 'invited_by_user_id', 'role']),
     ('invitation.accepted', 'cccccccc-cccc-4ccc-8ccc-000000000001', 'pgtap-3',
      null, array['accepted_at', 'accepted_by_user_id']),
     ('invitation.created', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'pgtap-2',
      'revoked@pgtap.invalid', array['email', 'expires_at', 'invited_by_user_id', 'role']),
     ('invitation.revoked', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'pgtap-2',
      'revoked@pgtap.invalid', array['email', 'expires_at', 'invited_by_user_id', 'role'])
  $$,
  'invitations: created, accepted and revoked, one event each, never the token''s digest');

select results_eq(
  $$ select action, actor_user_id::text, target_id::text, request_id, changes
     from iam.audit_events where id not in (select id from seeded)
       and target_type <> 'invitation'
     order by occurred_at, id $$,
  $$ values
     ('project.created', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002',
      current_setting('pgtap.gemini'), 'pgtap-1',
      '{"name": {"old": null, "new": "Gemini"},
        "created_by_user_id": {"old": null, "new": "aaaaaaaa-aaaa-4aaa-8aaa-000000000002"}}'::jsonb),
     ('project.updated', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002',
      current_setting('pgtap.gemini'), 'pgtap-1',
      '{"description": {"old": null, "new": "orbit"}}'),
     ('member.added', 'cccccccc-cccc-4ccc-8ccc-000000000001',
      'cccccccc-cccc-4ccc-8ccc-000000000001', 'pgtap-3', '{"role": {"old": null, "new": "READ_ONLY"}}'),
     ('member.role_changed', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001',
      'cccccccc-cccc-4ccc-8ccc-000000000001', 'pgtap-2',
      '{"role": {"old": "READ_ONLY", "new": "ORG_USER"}}'),
     ('member.removed', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001',
      'cccccccc-cccc-4ccc-8ccc-000000000001', 'pgtap-2', '{"role": {"old": "ORG_USER", "new": null}}'),
     ('project.deleted', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001',
      current_setting('pgtap.gemini'), 'pgtap-2',
      '{"name": {"old": "Gemini", "new": null}, "description": {"old": "orbit", "new": null},
        "created_by_user_id": {"old": "aaaaaaaa-aaaa-4aaa-8aaa-000000000002", "new": null}}')
  $$,
  'one event per change, with actor, target, request id and the changed columns; none for a no-op');
select results_eq(
  $$ select distinct organization_id from iam.audit_events $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'ORG_ADMIN reads the active organization''s events only');

-- ============================================ nobody rewrites or forges events
select throws_ok(
  $$ insert into iam.audit_events (organization_id, actor_user_id, action, target_type,
       target_id, changes)
     values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002',
       'project.deleted', 'project', 'aaaaaaaa-aaaa-4aaa-8aaa-00000000a001', '{}') $$,
  '42501', null, 'ORG_ADMIN cannot forge an event');
select throws_ok($$ update iam.audit_events set actor_user_id = null $$,
  '42501', null, 'ORG_ADMIN cannot change an event');
select throws_ok($$ delete from iam.audit_events $$,
  '42501', null, 'ORG_ADMIN cannot delete an event');
select throws_ok($$ truncate iam.audit_events $$,
  '42501', null, 'ORG_ADMIN cannot truncate the log');
select throws_ok(
  $$ select iam.audit_project_change() $$,
  '42501', null, 'ORG_ADMIN cannot call a trigger function');
select throws_ok($$ alter table iam.projects disable trigger projects_audit $$,
  '42501', null, 'ORG_ADMIN cannot switch the audit trigger off');

-- ======================================================= READ_ONLY and others
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
select is_empty($$ select 1 from iam.audit_events $$, 'READ_ONLY reads no audit event');
select throws_ok($$ delete from iam.audit_events $$,
  '42501', null, 'READ_ONLY cannot delete an event');

set local iam.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001';
select is_empty($$ select 1 from iam.audit_events $$,
  'the ORG_ADMIN of B, claiming A, reads no audit event');
set local iam.org_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000';
select results_eq(
  $$ select distinct organization_id from iam.audit_events $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000'::uuid) $$,
  'the ORG_ADMIN of B reads B''s events only');

set local iam.user_id = '';
set local iam.org_id = '';
select is_empty($$ select 1 from iam.audit_events $$, 'no context, no event');

-- ============================================================ anonymous role
reset role;
set local role iam_anon;
select throws_ok($$ select 1 from iam.audit_events $$,
  '42501', null, 'an anonymous request cannot read the log');
select throws_ok(
  $$ insert into iam.audit_events (organization_id, action, target_type, target_id, changes)
     values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'x', 'x',
             'aaaaaaaa-aaaa-4aaa-8aaa-000000000000', '{}') $$,
  '42501', null, 'an anonymous request cannot forge an event');
select throws_ok($$ delete from iam.audit_events $$,
  '42501', null, 'an anonymous request cannot delete an event');
select throws_ok($$ truncate iam.audit_events $$,
  '42501', null, 'an anonymous request cannot truncate the log');

-- ================================================ the triggers' own role
reset role;
set local role iam_definer;
select is_empty($$ delete from iam.audit_events returning 1 $$,
  'iam_definer cannot delete a live organization''s events');
select throws_ok($$ update iam.audit_events set actor_user_id = null $$,
  '42501', null, 'iam_definer cannot change an event');

-- ======================================================== as the owner again
reset role;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.request_id = 'pgtap-3';
update iam.organizations set name = 'pgTAP A renamed'
  where id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select results_eq(
  $$ select action, actor_user_id::text, request_id, changes from iam.audit_events
     where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000'
       and action = 'organization.renamed' $$,
  $$ values ('organization.renamed', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'pgtap-3',
             '{"name": {"old": "pgTAP A", "new": "pgTAP A renamed"}}'::jsonb) $$,
  'a rename is recorded with the transaction''s caller');

select is_empty(
  $$ select 1 from iam.audit_events as e, iam.invitations as i
     where strpos(e.changes::text, encode(i.token_hash, 'hex')) > 0
        or strpos(e.changes::text, encode(i.token_hash, 'base64')) > 0 $$,
  'no event holds an invitation''s digest');

delete from iam.organizations where id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select is_empty(
  $$ select 1 from iam.audit_events where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000' $$,
  'deleting the organization deletes its events');
select isnt_empty(
  $$ select 1 from iam.audit_events where organization_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000' $$,
  'and only its events');

select * from finish();
rollback;
