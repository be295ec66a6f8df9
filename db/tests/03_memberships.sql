-- pgTAP: nobody adds members; who may invite, change and remove them, actor
-- by actor; a member joins by accepting. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- Seeded by the connecting role (superuser or BYPASSRLS); each actor runs as
-- iam_authenticated with its identity set, as the API does. Rolled back.
--
-- Seed:
--   organization A  aaaaaaaa-aaaa-4aaa-8aaa-000000000000
--     ORG_ADMIN     aaaaaaaa-aaaa-4aaa-8aaa-000000000001  (the only admin)
--     ORG_USER      aaaaaaaa-aaaa-4aaa-8aaa-000000000002
--     READ_ONLY     aaaaaaaa-aaaa-4aaa-8aaa-000000000003
--   organization B  bbbbbbbb-bbbb-4bbb-8bbb-000000000000
--     ORG_ADMIN     bbbbbbbb-bbbb-4bbb-8bbb-000000000001
--   newcomer        cccccccc-cccc-4ccc-8ccc-000000000001  (member of nothing)
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
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

select plan(41);

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

-- =================================================================== ORG_ADMIN
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select user_id, role from iam.organization_memberships order by user_id $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001'::uuid, 'ORG_ADMIN'::iam.org_role),
            ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER'),
            ('aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'READ_ONLY') $$,
  'ORG_ADMIN lists exactly the active organization''s members');
select throws_ok(
  $$ update iam.organization_memberships set role = 'ORG_USER'
     where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001' $$,
  'IAM01', null, 'the last ORG_ADMIN cannot demote themself');
select throws_ok(
  $$ select iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000001') $$,
  'IAM01', null, 'the last ORG_ADMIN cannot leave');
select throws_ok(
  $$ insert into iam.organization_memberships (user_id, role)
     values ('cccccccc-cccc-4ccc-8ccc-000000000001', 'READ_ONLY') $$,
  '42501', null, 'not even an ORG_ADMIN adds a member without their consent');
select lives_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('newcomer@pgtap.invalid', 'READ_ONLY', iam.invitation_token_hash('pgtap-newcomer'),
             now() + interval '1 day') $$,
  'ORG_ADMIN invites the newcomer');
set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
select results_eq(
  $$ select organization_id, role from iam.accept_invitation('pgtap-newcomer') $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'READ_ONLY'::iam.org_role) $$,
  'the newcomer accepts and joins the inviting organization');
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
select results_eq(
  $$ update iam.organization_memberships set role = 'ORG_ADMIN'
     where user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001' returning role $$,
  $$ values ('ORG_ADMIN'::iam.org_role) $$,
  'ORG_ADMIN changes a member''s role');
select results_eq(
  $$ select deleted from iam.remove_member('cccccccc-cccc-4ccc-8ccc-000000000001') $$,
  $$ values (true) $$,
  'ORG_ADMIN removes a member');
select throws_ok(
  $$ insert into iam.organization_memberships (organization_id, user_id, role)
     values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'cccccccc-cccc-4ccc-8ccc-000000000001',
             'ORG_ADMIN') $$,
  '42501', null, 'no client chooses the organization of a membership');
select is_empty(
  $$ select 1 from iam.organization_memberships
     where organization_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000' $$,
  'ORG_ADMIN cannot see another organization''s members');
select is_empty(
  $$ update iam.organization_memberships set role = 'READ_ONLY'
     where user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001' returning user_id $$,
  'ORG_ADMIN cannot change roles in another organization');
select is_empty(
  $$ select 1 from iam.remove_member('bbbbbbbb-bbbb-4bbb-8bbb-000000000001') where deleted $$,
  'ORG_ADMIN cannot remove another organization''s members');

-- ==================================================================== ORG_USER
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select count(*)::int from iam.organization_memberships $$, array[3],
  'ORG_USER lists the active organization''s members');
select throws_ok(
  $$ insert into iam.organization_memberships (user_id, role)
     values ('cccccccc-cccc-4ccc-8ccc-000000000001', 'READ_ONLY') $$,
  '42501', null, 'ORG_USER cannot add a member');
select is_empty(
  $$ update iam.organization_memberships set role = 'ORG_USER'
     where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003' returning user_id $$,
  'ORG_USER cannot change another member''s role');
select is_empty(
  $$ update iam.organization_memberships set role = 'ORG_ADMIN'
     where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002' returning user_id $$,
  'ORG_USER cannot promote themself');
select is_empty(
  $$ select 1 from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000003') where deleted $$,
  'ORG_USER cannot remove another member');

-- =================================================================== READ_ONLY
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select count(*)::int from iam.organization_memberships $$, array[3],
  'READ_ONLY lists the active organization''s members');
select throws_ok(
  $$ insert into iam.organization_memberships (user_id, role)
     values ('cccccccc-cccc-4ccc-8ccc-000000000001', 'READ_ONLY') $$,
  '42501', null, 'READ_ONLY cannot add a member');
select is_empty(
  $$ update iam.organization_memberships set role = 'ORG_ADMIN'
     where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003' returning user_id $$,
  'READ_ONLY cannot promote themself');
select is_empty(
  $$ select 1 from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000002') where deleted $$,
  'READ_ONLY cannot remove another member');

-- ================================================ another organization's member
reset role;
set local role iam_authenticated;
set local iam.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select is_empty($$ select 1 from iam.organization_memberships $$,
  'a non-member claiming organization A sees none of its members');
select throws_ok(
  $$ insert into iam.organization_memberships (user_id, role)
     values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'ORG_ADMIN') $$,
  '42501', null, 'a non-member cannot add themself to organization A');
select is_empty(
  $$ update iam.organization_memberships set role = 'READ_ONLY'
     where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001' returning user_id $$,
  'a non-member cannot change roles in organization A');
select is_empty(
  $$ select 1 from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000002') where deleted $$,
  'a non-member cannot remove members of organization A');

set local iam.org_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000';
select results_eq(
  $$ select user_id from iam.organization_memberships $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001'::uuid) $$,
  'B''s admin sees only B''s members');
select is_empty(
  $$ select 1 from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000002') where deleted $$,
  'B''s admin cannot remove A''s members by their ids');

-- ======================================================= no or broken context
reset role;
set local role iam_authenticated;
set local iam.user_id = '';
set local iam.org_id = '';

select is_empty($$ select 1 from iam.organization_memberships $$,
  'without a context no membership is visible');
select throws_ok(
  $$ insert into iam.organization_memberships (user_id, role)
     values ('cccccccc-cccc-4ccc-8ccc-000000000001', 'ORG_ADMIN') $$,
  '42501', null, 'without a context no member can be added');
select is_empty(
  $$ select 1 from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000002') where deleted $$,
  'without a context no member can be removed');
select throws_ok($$ delete from iam.organization_memberships $$, '42501', null,
  'no request deletes from the table itself (it goes through iam.remove_member)');

reset role;
set local role iam_anon;
select throws_ok($$ select 1 from iam.organization_memberships $$, '42501', null,
  'before authentication (iam_anon) memberships cannot even be queried');

-- ============================================================ leaving (every role)
reset role;
set local role iam_authenticated;
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
select results_eq(
  $$ select deleted from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000003') $$,
  $$ values (true) $$,
  'READ_ONLY may leave');
select is_empty($$ select 1 from iam.organization_memberships $$,
  'a member who left sees the organization''s members no more');

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
select results_eq(
  $$ select deleted from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000002') $$,
  $$ values (true) $$,
  'ORG_USER may leave');

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
select lives_ok(
  $$ insert into iam.invitations (email, role, token_hash, expires_at)
     values ('newcomer@pgtap.invalid', 'ORG_ADMIN', iam.invitation_token_hash('pgtap-successor'),
             now() + interval '1 day') $$,
  'ORG_ADMIN invites a successor');
set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
select results_eq(
  $$ select role from iam.accept_invitation('pgtap-successor') $$,
  $$ values ('ORG_ADMIN'::iam.org_role) $$,
  'the successor accepts');
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
select results_eq(
  $$ select deleted from iam.remove_member('aaaaaaaa-aaaa-4aaa-8aaa-000000000001') $$,
  $$ values (true) $$,
  'ORG_ADMIN may leave while another ORG_ADMIN remains');

set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
select throws_ok(
  $$ select iam.remove_member('cccccccc-cccc-4ccc-8ccc-000000000001') $$,
  'IAM01', null, 'the successor, now the last ORG_ADMIN, cannot leave');

-- ========================================================== as the owner again
reset role;
select results_eq(
  $$ select user_id, role from iam.organization_memberships
     where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000' $$,
  $$ values ('cccccccc-cccc-4ccc-8ccc-000000000001'::uuid, 'ORG_ADMIN'::iam.org_role) $$,
  'organization A is left with its successor as sole ORG_ADMIN');
select results_eq(
  $$ select user_id, role from iam.organization_memberships
     where organization_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000' $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001'::uuid, 'ORG_ADMIN'::iam.org_role) $$,
  'organization B''s membership is untouched');

select * from finish();
rollback;
