-- pgTAP: organizations, users and the SECURITY DEFINER entry points, actor
-- by actor. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- Seeded by the connecting role (superuser or BYPASSRLS); each actor runs as
-- iam_authenticated (or iam_anon before authentication) with its identity
-- set, as the API does. Rolled back.
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

select plan(40);

insert into iam.organizations (id, name, created_at) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP A', now() - interval '1 day'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'pgTAP B', now() - interval '1 day');
insert into iam.users (id, email, password_hash) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.pgtap.invalid', 'hash-a1'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.pgtap.invalid', 'hash-a2'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'read-only@a.pgtap.invalid', 'hash-a3'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'admin@b.pgtap.invalid', 'hash-b1'),
  ('cccccccc-cccc-4ccc-8ccc-000000000001', 'newcomer@pgtap.invalid', 'hash-c1');
-- Joined a day ago, so they come before anything created during the tests.
insert into iam.organization_memberships (organization_id, user_id, role, created_at)
select o, u, r::iam.org_role, now() - interval '1 day' from (values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001'::uuid, 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'READ_ONLY'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'ORG_ADMIN')
) as seed (o, u, r);

-- =================================================================== ORG_ADMIN
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select id from iam.organizations $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'ORG_ADMIN reads the active organization, and no other');
select throws_ok($$ update iam.organizations set created_at = now() $$, '42501', null,
  'only an organization''s name can be changed through the table');
select is_empty(
  $$ select 1 from iam.delete_organization('bbbbbbbb-bbbb-4bbb-8bbb-000000000000') where deleted $$,
  'ORG_ADMIN cannot delete another organization');
select throws_ok($$ insert into iam.organizations (name) values ('Direct') $$, '42501', null,
  'organizations are created only through iam.create_organization()');
select results_eq(
  $$ select email from iam.users order by email $$,
  $$ values ('admin@a.pgtap.invalid'), ('read-only@a.pgtap.invalid'), ('user@a.pgtap.invalid') $$,
  'ORG_ADMIN sees the emails of the active organization''s members, and nobody else''s');
select throws_ok($$ select password_hash from iam.users $$, '42501', null,
  'password hashes cannot be read by a request');
select throws_ok($$ update iam.users set email = 'taken@pgtap.invalid' $$, '42501', null,
  'users cannot be changed through the tables');
select results_eq(
  $$ select role from iam.create_organization('pgTAP new') $$,
  $$ values ('ORG_ADMIN'::iam.org_role) $$,
  'ORG_ADMIN creates an organization and becomes its ORG_ADMIN');
select throws_ok($$ select iam.user_id_for_invite('newcomer@pgtap.invalid') $$, '42883', null,
  'no function resolves an email to a user (no probing who is registered)');
select results_eq(
  $$ select count(*)::int from iam.my_organizations(100) $$, array[2],
  'my_organizations lists the admin''s two organizations');

-- ==================================================================== ORG_USER
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select id from iam.organizations $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'ORG_USER reads the active organization, and no other');
select results_eq($$ select count(*)::int from iam.users $$, array[3],
  'ORG_USER sees the active organization''s members');
select throws_ok($$ select * from iam.create_organization('pgTAP user org') $$, '42501', null,
  'ORG_USER cannot create an organization');
select is_empty($$ update iam.organizations set name = 'Renamed' returning id $$,
  'ORG_USER cannot rename the organization');
select results_eq(
  $$ select organization_id, role from iam.switch_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000') $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'ORG_USER'::iam.org_role) $$,
  'switch_organization to an organization of one''s own gives the role there');
select is_empty(
  $$ select * from iam.switch_organization('bbbbbbbb-bbbb-4bbb-8bbb-000000000000') $$,
  'switch_organization to a foreign organization gives nothing');

-- =================================================================== READ_ONLY
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select id from iam.organizations $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'READ_ONLY reads the active organization');
select results_eq($$ select count(*)::int from iam.users $$, array[3],
  'READ_ONLY sees the active organization''s members');
select throws_ok($$ select * from iam.create_organization('pgTAP read-only org') $$, '42501',
  null, 'READ_ONLY cannot create an organization');
select results_eq(
  $$ select id from iam.my_organizations(100) $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'my_organizations lists only the caller''s own organizations');

-- ================================================ another organization's member
reset role;
set local role iam_authenticated;
set local iam.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select is_empty($$ select id from iam.organizations $$,
  'a non-member claiming organization A cannot read it');
select results_eq(
  $$ select id from iam.users $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001'::uuid) $$,
  'a non-member claiming organization A sees only themself among users');
select throws_ok($$ select * from iam.create_organization('pgTAP intruder org') $$, '42501',
  null, 'an ORG_ADMIN elsewhere cannot create organizations while claiming A');
select is_empty(
  $$ select 1 from iam.delete_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000') where deleted $$,
  'an ORG_ADMIN elsewhere cannot delete A while claiming it');

set local iam.org_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000';
select results_eq(
  $$ select id from iam.organizations $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000'::uuid) $$,
  'B''s admin reads only B');
select is_empty(
  $$ select 1 from iam.users where email like '%@a.pgtap.invalid' $$,
  'B''s admin sees none of A''s users');

-- ======================================================= no or broken context
reset role;
set local role iam_authenticated;
set local iam.user_id = '';
set local iam.org_id = '';

select is_empty($$ select id from iam.organizations $$,
  'without a context no organization is visible');
select is_empty($$ select id from iam.users $$, 'without a context no user is visible');
select throws_ok($$ select * from iam.create_organization('pgTAP nobody org') $$, '42501', null,
  'without a context no organization can be created');
select is_empty($$ select * from iam.my_organizations(100) $$,
  'without a context my_organizations is empty');

-- ===================================================== before authentication
reset role;
set local role iam_anon;
set local iam.user_id = '';
set local iam.org_id = '';

select throws_ok($$ select id from iam.organizations $$, '42501', null,
  'iam_anon cannot query organizations');
select throws_ok($$ select id from iam.users $$, '42501', null,
  'iam_anon cannot query users');
select results_eq(
  $$ select email, organization_name from iam.register(' New@PGTAP.invalid ', 'hash-new', 'pgTAP registered') $$,
  $$ values ('new@pgtap.invalid', 'pgTAP registered') $$,
  'iam_anon registers a user with a normalized email and a new organization');
select throws_ok(
  $$ select * from iam.register('admin@a.pgtap.invalid', 'hash', 'pgTAP again') $$,
  '23505', null, 'a taken email is refused');
select results_eq(
  $$ select password_hash, organization_id, role
     from iam.login_attempt('192.0.2.7', 'ADMIN@a.pgtap.invalid', null, 100, 60, 10, 900) $$,
  $$ values ('hash-a1', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'ORG_ADMIN'::iam.org_role) $$,
  'login_attempt finds the hash and the first organization, case-insensitively');
select results_eq(
  $$ select organization_id from iam.login_attempt('192.0.2.7', 'admin@a.pgtap.invalid',
       'bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 100, 60, 10, 900) $$,
  $$ values (null::uuid) $$,
  'login_attempt gives no organization the user is not a member of');
select results_eq(
  $$ select wait_seconds, user_id, password_hash
     from iam.login_attempt('192.0.2.7', 'nobody@pgtap.invalid', null, 100, 60, 10, 900) $$,
  $$ values (0, null::uuid, null::text) $$,
  'login_attempt gives no hash for an unknown email');
select throws_ok($$ select * from iam.create_organization('pgTAP anon org') $$, '42501', null,
  'iam_anon cannot create organizations');
select throws_ok($$ select * from iam.my_organizations(10) $$, '42501', null,
  'iam_anon cannot list organizations');

-- ========================================================== as the owner again
reset role;
select results_eq(
  $$ select m.role from iam.organization_memberships m
     join iam.organizations o on o.id = m.organization_id
     where o.name = 'pgTAP new' $$,
  $$ values ('ORG_ADMIN'::iam.org_role) $$,
  'the organization created by A''s admin has exactly one member, its ORG_ADMIN');

select * from finish();
rollback;
