-- pgTAP: invitations actor by actor, accepting them, and the organization's
-- lifecycle (rename, delete with everything it owns). Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- Seeded by the connecting role (superuser or BYPASSRLS); each actor runs as
-- iam_authenticated with its identity set, as the API does. Rolled back.
--
-- Seed:
--   organization A  aaaaaaaa-aaaa-4aaa-8aaa-000000000000
--     ORG_ADMIN     aaaaaaaa-aaaa-4aaa-8aaa-000000000001
--     ORG_USER      aaaaaaaa-aaaa-4aaa-8aaa-000000000002
--     READ_ONLY     aaaaaaaa-aaaa-4aaa-8aaa-000000000003
--   organization B  bbbbbbbb-bbbb-4bbb-8bbb-000000000000
--     ORG_ADMIN     bbbbbbbb-bbbb-4bbb-8bbb-000000000001
--   invitee         cccccccc-cccc-4ccc-8ccc-000000000001  (member of nothing)
--   bystander       cccccccc-cccc-4ccc-8ccc-000000000002  (member of nothing)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
-- pgTAP's functions must be callable by the runtime roles while the tests
-- act as them (on Supabase pgtap lives in schema extensions).
-- The migrating role's default privileges keep EXECUTE from PUBLIC on the
-- functions it creates, pgTAP's included: grant them, inside this
-- rolled-back transaction.
do $$
declare
  f regprocedure;
begin
  execute pg_catalog.format('grant usage on schema %I to iam_authenticated, iam_anon',
    (select n.nspname from pg_catalog.pg_extension e
     join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = 'pgtap'));
  for f in select d.objid::regprocedure from pg_catalog.pg_depend d
           join pg_catalog.pg_extension e on e.oid = d.refobjid
           where e.extname = 'pgtap' and d.classid = 'pg_catalog.pg_proc'::regclass
             and d.deptype = 'e' loop
    execute pg_catalog.format('grant execute on function %s to iam_authenticated, iam_anon', f);
  end loop;
end
$$;

select plan(30);

insert into iam.organizations (id, name) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP A'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'pgTAP B');
insert into iam.users (id, email, password_hash) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'read-only@a.pgtap.invalid', 'x'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'admin@b.pgtap.invalid', 'x'),
  ('cccccccc-cccc-4ccc-8ccc-000000000001', 'invitee@pgtap.invalid', 'x'),
  ('cccccccc-cccc-4ccc-8ccc-000000000002', 'bystander@pgtap.invalid', 'x');
insert into iam.organization_memberships (organization_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'READ_ONLY'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'ORG_ADMIN');

-- =================================================================== ORG_ADMIN
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select lives_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('invitee@pgtap.invalid', 'ORG_USER', iam.invitation_token_hash('pgtap-a'),
             now() + interval '1 day') $$,
  'ORG_ADMIN invites a registered email');
select lives_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('nobody@pgtap.invalid', 'READ_ONLY', iam.invitation_token_hash('pgtap-nobody'),
             now() + interval '1 day') $$,
  'ORG_ADMIN invites an unregistered email alike');
select results_eq(
  $$ select organization_id, invited_by_user_id from iam.invitations
     where email = 'invitee@pgtap.invalid' $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid,
             'aaaaaaaa-aaaa-4aaa-8aaa-000000000001'::uuid) $$,
  'the database names the organization and the inviter');
select throws_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('invitee@pgtap.invalid', 'ORG_ADMIN', iam.invitation_token_hash('pgtap-again'),
             now() + interval '1 day') $$,
  '23505', null, 'a second pending invitation for one email is a conflict');
select throws_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('user@a.pgtap.invalid', 'ORG_ADMIN', iam.invitation_token_hash('pgtap-member'),
             now() + interval '1 day') $$,
  '23505', null, 'inviting a current member is a conflict');
select throws_ok(
  $$ select token_hash from iam.invitations $$,
  '42501', null, 'not even an ORG_ADMIN reads a token''s digest back');
select results_eq(
  $$ select count(*)::int from iam.invitations $$, array[2],
  'ORG_ADMIN lists the organization''s two invitations');
select set_config('iam.invited', (select id::text from iam.invitations
                                  where email = 'nobody@pgtap.invalid'), true);
select throws_ok(
  $$ update iam.invitations set accepted_at = now() $$,
  '42501', null, 'ORG_ADMIN cannot mark an invitation accepted');

-- ======================================================= ORG_USER, READ_ONLY
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';

select is_empty($$ select id from iam.invitations $$, 'ORG_USER sees no invitation');
select throws_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('friend@pgtap.invalid', 'ORG_ADMIN', iam.invitation_token_hash('pgtap-u'),
             now() + interval '1 day') $$,
  '42501', null, 'ORG_USER cannot invite');
select is(iam.revoke_invitation(current_setting('iam.invited')::uuid), false,
  'ORG_USER revokes nothing');
select throws_ok($$ select iam.require_org_admin() $$, '42501', null,
  'ORG_USER is refused the invitation list');

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
select is_empty($$ select id from iam.invitations $$, 'READ_ONLY sees no invitation');
select throws_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('friend@pgtap.invalid', 'ORG_ADMIN', iam.invitation_token_hash('pgtap-r'),
             now() + interval '1 day') $$,
  '42501', null, 'READ_ONLY cannot invite');

-- ================================================ another organization's admin
set local iam.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001';
select is_empty($$ select id from iam.invitations $$,
  'B''s admin claiming organization A sees none of its invitations');
select is(iam.revoke_invitation(current_setting('iam.invited')::uuid), false,
  'B''s admin claiming organization A revokes nothing');
set local iam.org_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000';
select is_empty($$ select id from iam.invitations $$,
  'B''s admin in B sees none of A''s invitations');

-- ======================================================= no context, anonymous
set local iam.user_id = '';
set local iam.org_id = '';
select is_empty($$ select id from iam.invitations $$, 'without a context no invitation');
reset role;
set local role iam_anon;
select throws_ok($$ select id from iam.invitations $$, '42501', null,
  'before authentication (iam_anon) invitations cannot even be queried');

-- ================================================================== accepting
reset role;
set local role iam_authenticated;
set local iam.org_id = '';

set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000002';
select is_empty($$ select * from iam.accept_invitation('pgtap-a') $$,
  'someone else''s invitation cannot be accepted');
set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
select is_empty($$ select * from iam.accept_invitation('pgtap-unknown') $$,
  'an unknown token is no invitation');
select results_eq(
  $$ select organization_id, role from iam.accept_invitation('pgtap-a') $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'ORG_USER'::iam.org_role) $$,
  'the invitee accepts and joins with the invited role');
select is_empty($$ select * from iam.accept_invitation('pgtap-a') $$,
  'an invitation is used once');

reset role;
set local role iam_anon;
select throws_ok(
  $$ select * from iam.register_invited('someone@pgtap.invalid', 'x', 'pgtap-nobody') $$,
  'IAM03', null, 'registering with another email''s invitation is refused');
select results_eq(
  $$ select organization_id, role from iam.register_invited('Nobody@pgtap.invalid', 'x',
                                                            'pgtap-nobody') $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'READ_ONLY'::iam.org_role) $$,
  'an unregistered invitee registers into the inviting organization');

-- ======================================================= the organization itself
reset role;
set local role iam_authenticated;
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
select is_empty(
  $$ update iam.organizations set name = 'renamed' returning id $$,
  'ORG_USER cannot rename the organization');
select is_empty(
  $$ select 1 from iam.delete_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000') where deleted $$,
  'ORG_USER cannot delete the organization');

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
select results_eq(
  $$ update iam.organizations set name = 'pgTAP A renamed' returning name $$,
  $$ values ('pgTAP A renamed') $$,
  'ORG_ADMIN renames the active organization');
select results_eq(
  $$ select deleted, visible from iam.delete_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000') $$,
  $$ values (true, true) $$,
  'ORG_ADMIN deletes the active organization');

reset role;
select results_eq(
  $$ select (select count(*) from iam.organization_memberships
             where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000')::int,
            (select count(*) from iam.invitations
             where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000')::int $$,
  $$ values (0, 0) $$,
  'its memberships and invitations went with it');

select * from finish();
rollback;
