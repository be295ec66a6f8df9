-- pgTAP: who may do what with iam.projects, actor by actor. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- The seed is inserted by the connecting role, which must bypass RLS (a
-- superuser, or BYPASSRLS as Supabase's postgres role has); each actor then
-- runs as iam_authenticated with its identity in iam.user_id / iam.org_id,
-- exactly as the API does. Everything is rolled back at the end.
--
-- Seed (fixed ids, so the statements below can be read and rerun by hand):
--   organization A  aaaaaaaa-aaaa-4aaa-8aaa-000000000000
--     ORG_ADMIN     aaaaaaaa-aaaa-4aaa-8aaa-000000000001
--     ORG_USER      aaaaaaaa-aaaa-4aaa-8aaa-000000000002
--     READ_ONLY     aaaaaaaa-aaaa-4aaa-8aaa-000000000003
--     project Apollo aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1
--     project Gemini aaaaaaaa-aaaa-4aaa-8aaa-0000000000f2
--   organization B  bbbbbbbb-bbbb-4bbb-8bbb-000000000000
--     ORG_ADMIN     bbbbbbbb-bbbb-4bbb-8bbb-000000000001
--     project Vostok bbbbbbbb-bbbb-4bbb-8bbb-0000000000f1
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

select plan(39);

insert into iam.organizations (id, name) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP A'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'pgTAP B');
insert into iam.users (id, email, password_hash) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.pgtap.invalid', 'x'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'read-only@a.pgtap.invalid', 'x'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'admin@b.pgtap.invalid', 'x');
insert into iam.organization_memberships (organization_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003', 'READ_ONLY'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001', 'ORG_ADMIN');
insert into iam.projects (id, organization_id, name, created_by_user_id) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'Apollo',
   'aaaaaaaa-aaaa-4aaa-8aaa-000000000001'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f2', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'Gemini',
   'aaaaaaaa-aaaa-4aaa-8aaa-000000000001'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-0000000000f1', 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'Vostok',
   'bbbbbbbb-bbbb-4bbb-8bbb-000000000001');

-- =================================================================== ORG_ADMIN
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select id from iam.projects order by name $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1'::uuid), ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f2') $$,
  'ORG_ADMIN lists exactly the active organization''s projects');
select lives_ok(
  $$ insert into iam.projects (name) values ('Admin made') $$,
  'ORG_ADMIN creates a project');
select results_eq(
  $$ select organization_id, created_by_user_id from iam.projects where name = 'Admin made' $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001'::uuid) $$,
  'the database fills in the active organization and the creator');
select results_eq(
  $$ update iam.projects set description = 'by the admin'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1'::uuid) $$,
  'ORG_ADMIN updates a project');
select results_eq(
  $$ select deleted from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f2') $$,
  $$ values (true) $$,
  'ORG_ADMIN deletes a project');
select throws_ok(
  $$ insert into iam.projects (organization_id, name)
     values ('bbbbbbbb-bbbb-4bbb-8bbb-000000000000', 'Planted') $$,
  '42501', null, 'no client chooses the organization of a new project');
select throws_ok(
  $$ update iam.projects set created_by_user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' $$,
  '42501', null, 'no client rewrites the creator of a project');
select is_empty(
  $$ update iam.projects set name = 'Hijacked'
     where id = 'bbbbbbbb-bbbb-4bbb-8bbb-0000000000f1' returning id $$,
  'ORG_ADMIN cannot update another organization''s project');
select is_empty(
  $$ select 1 from iam.delete_project('bbbbbbbb-bbbb-4bbb-8bbb-0000000000f1') where deleted $$,
  'ORG_ADMIN cannot delete another organization''s project');

-- ==================================================================== ORG_USER
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select distinct organization_id from iam.projects $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'ORG_USER sees only the active organization''s projects');
select isnt_empty(
  $$ select 1 from iam.projects where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' $$,
  'ORG_USER reads a project');
select lives_ok(
  $$ insert into iam.projects (name) values ('User made') $$,
  'ORG_USER creates a project');
select results_eq(
  $$ select created_by_user_id from iam.projects where name = 'User made' $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002'::uuid) $$,
  'a project created by ORG_USER names them as its creator');
select results_eq(
  $$ update iam.projects set description = 'by the user'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1'::uuid) $$,
  'ORG_USER updates a project');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'ORG_USER cannot delete a project');
select isnt_empty(
  $$ select 1 from iam.projects where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' $$,
  'the project ORG_USER tried to delete is still there');

-- =================================================================== READ_ONLY
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000003';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select results_eq(
  $$ select distinct organization_id from iam.projects $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid) $$,
  'READ_ONLY sees only the active organization''s projects');
select isnt_empty(
  $$ select 1 from iam.projects where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' $$,
  'READ_ONLY reads a project');
select throws_ok(
  $$ insert into iam.projects (name) values ('Read-only made') $$,
  '42501', null, 'READ_ONLY cannot create a project');
select is_empty(
  $$ update iam.projects set description = 'by the read-only member'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  'READ_ONLY cannot update a project');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'READ_ONLY cannot delete a project');

-- ================================================ another organization's member
-- B's admin, first claiming organization A (a forged or stale token) ...
reset role;
set local role iam_authenticated;
set local iam.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';

select is_empty($$ select id from iam.projects $$,
  'a non-member claiming organization A sees none of its projects');
select throws_ok(
  $$ insert into iam.projects (name) values ('Intruder made') $$,
  '42501', null, 'a non-member claiming organization A cannot create a project in it');
select is_empty(
  $$ update iam.projects set name = 'Hijacked'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  'a non-member claiming organization A cannot update its projects');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'a non-member claiming organization A cannot delete its projects');

-- ... then acting in their own organization B and naming A's rows.
set local iam.org_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000';

select results_eq(
  $$ select id from iam.projects $$,
  $$ values ('bbbbbbbb-bbbb-4bbb-8bbb-0000000000f1'::uuid) $$,
  'B''s admin sees only B''s projects');
select is_empty(
  $$ select 1 from iam.projects where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' $$,
  'B''s admin cannot read A''s project by its id');
select is_empty(
  $$ update iam.projects set name = 'Hijacked'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  'B''s admin cannot update A''s project by its id');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'B''s admin cannot delete A''s project by its id');

-- ======================================================= no or broken context
reset role;
set local role iam_authenticated;
set local iam.user_id = '';
set local iam.org_id = '';

select is_empty($$ select id from iam.projects $$, 'without a context no project is visible');
select throws_ok(
  $$ insert into iam.projects (name) values ('Nobody made') $$,
  '42501', null, 'without a context no project can be created');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'without a context no project can be deleted');

set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'not a uuid';
select throws_ok($$ select id from iam.projects $$, '22P02', null,
  'a malformed organization id fails closed, with an error (no row read)');

reset role;
set local role iam_anon;
select throws_ok($$ select id from iam.projects $$, '42501', null,
  'before authentication (iam_anon) projects cannot even be queried');

-- ================================================= a demotion takes effect at once
reset role;
update iam.organization_memberships set role = 'READ_ONLY'
where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000'
  and user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';

set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select throws_ok(
  $$ insert into iam.projects (name) values ('After demotion') $$,
  '42501', null, 'a member demoted to READ_ONLY can no longer create projects');
select is_empty(
  $$ update iam.projects set description = 'after demotion'
     where id = 'aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1' returning id $$,
  'a member demoted to READ_ONLY can no longer update projects');

reset role;
delete from iam.organization_memberships
where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000'
  and user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';

set local role iam_authenticated;
select is_empty($$ select id from iam.projects $$,
  'a removed member sees no project on the very next statement');

-- ========================================================== as the owner again
reset role;
select results_eq(
  $$ select name, description from iam.projects
     where organization_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000' order by name $$,
  $$ values ('Admin made', null), ('Apollo', 'by the user'), ('User made', null) $$,
  'organization A holds exactly what its admin and user did');
select results_eq(
  $$ select name from iam.projects where organization_id = 'bbbbbbbb-bbbb-4bbb-8bbb-000000000000' $$,
  $$ values ('Vostok') $$,
  'organization B''s project is untouched');

select * from finish();
rollback;
