-- pgTAP: what the actor-by-actor files cannot see. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- A column added to a table is readable by every role that holds SELECT on
-- the table; a view reads with its owner's rights; a membership hands a
-- role everything the other role may do; a deactivated user still has
-- memberships; LOCK TABLE is decided by table privileges, not by policies.
-- Each section pins one of these down. Everything is rolled back at the end.
--
-- Seed: organization A aaaaaaaa-aaaa-4aaa-8aaa-000000000000 with its
-- ORG_ADMIN ...0001 (deactivated below) and ORG_USER ...0002, one project.
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

select plan(28);

-- ============================================================ column additions
-- Every column of every table, exactly: a new column must be reviewed here
-- (and in the grants below) before it ships.
select columns_are('iam', 'organizations', array['id', 'name', 'created_at', 'updated_at']);
select columns_are('iam', 'users',
  array['id', 'email', 'password_hash', 'is_active', 'created_at', 'updated_at']);
select columns_are('iam', 'organization_memberships',
  array['id', 'organization_id', 'user_id', 'role', 'created_at']);
select columns_are('iam', 'projects', array['id', 'organization_id', 'name', 'description',
  'created_by_user_id', 'created_at', 'updated_at']);
select columns_are('iam', 'invitations', array['id', 'organization_id', 'email', 'role',
  'token_hash', 'invited_by_user_id', 'created_at', 'expires_at', 'accepted_at',
  'accepted_by_user_id']);
select columns_are('iam', 'rate_limit_buckets', array['bucket', 'window_start', 'hits']);
select columns_are('iam', 'password_hash_handouts',
  array['id', 'user_id', 'hash_digest', 'handed_out_at', 'used_at']);
select columns_are('iam', 'audit_events', array['id', 'organization_id', 'actor_user_id',
  'action', 'target_type', 'target_id', 'changes', 'request_id', 'occurred_at']);

-- ============================================================== column grants
-- What iam_authenticated may do with each column, whether it comes from a
-- table grant or a column grant: has_column_privilege sees both.
select results_eq(
  $$ select c.relname::text collate "default", a.attname::text collate "default",
            string_agg(p, ',' order by p) collate "default"
     from pg_catalog.pg_class c
     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) as p
     where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p')
       and pg_catalog.has_column_privilege('iam_authenticated', c.oid, a.attnum, p)
     group by 1, 2 order by 1, 2 $$,
  $$ values ('audit_events', 'action', 'SELECT'),
            ('audit_events', 'actor_user_id', 'SELECT'),
            ('audit_events', 'changes', 'SELECT'),
            ('audit_events', 'id', 'SELECT'),
            ('audit_events', 'occurred_at', 'SELECT'),
            ('audit_events', 'organization_id', 'SELECT'),
            ('audit_events', 'request_id', 'SELECT'),
            ('audit_events', 'target_id', 'SELECT'),
            ('audit_events', 'target_type', 'SELECT'),
            ('invitations', 'accepted_at', 'SELECT'),
            ('invitations', 'accepted_by_user_id', 'SELECT'),
            ('invitations', 'created_at', 'SELECT'),
            ('invitations', 'email', 'INSERT,SELECT'),
            ('invitations', 'expires_at', 'INSERT,SELECT'),
            ('invitations', 'id', 'SELECT'),
            ('invitations', 'invited_by_user_id', 'SELECT'),
            ('invitations', 'organization_id', 'SELECT'),
            ('invitations', 'role', 'INSERT,SELECT'),
            ('invitations', 'token_hash', 'INSERT'),
            ('organization_memberships', 'created_at', 'SELECT'),
            ('organization_memberships', 'id', 'SELECT'),
            ('organization_memberships', 'organization_id', 'SELECT'),
            ('organization_memberships', 'role', 'SELECT,UPDATE'),
            ('organization_memberships', 'user_id', 'SELECT'),
            ('organizations', 'created_at', 'SELECT'),
            ('organizations', 'id', 'SELECT'),
            ('organizations', 'name', 'SELECT,UPDATE'),
            ('organizations', 'updated_at', 'SELECT'),
            ('projects', 'created_at', 'SELECT'),
            ('projects', 'created_by_user_id', 'SELECT'),
            ('projects', 'description', 'INSERT,SELECT,UPDATE'),
            ('projects', 'id', 'SELECT'),
            ('projects', 'name', 'INSERT,SELECT,UPDATE'),
            ('projects', 'organization_id', 'SELECT'),
            ('projects', 'updated_at', 'SELECT'),
            ('sessions', 'created_at', 'SELECT'),
            ('sessions', 'expires_at', 'SELECT'),
            ('sessions', 'id', 'SELECT'),
            ('sessions', 'last_used_at', 'SELECT'),
            ('sessions', 'organization_id', 'SELECT'),
            ('sessions', 'user_agent', 'SELECT'),
            ('sessions', 'user_id', 'SELECT'),
            ('users', 'created_at', 'SELECT'),
            ('users', 'email', 'SELECT'),
            ('users', 'id', 'SELECT'),
            ('users', 'is_active', 'SELECT'),
            ('users', 'updated_at', 'SELECT') $$,
  'iam_authenticated holds exactly these column privileges: never password_hash, token_hash only written'
);
select is_empty(
  $$ select c.relname, a.attname from pg_catalog.pg_class c
     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where c.relnamespace = 'iam'::regnamespace
       and pg_catalog.has_column_privilege('iam_anon', c.oid, a.attnum,
             'SELECT, INSERT, UPDATE, REFERENCES') $$,
  'iam_anon holds no column privilege'
);

-- ====================================================================== views
select views_are('iam', array[]::name[], 'schema iam has no view');
select materialized_views_are('iam', array[]::name[], 'schema iam has no materialized view');
select is_empty(
  $$ select v.oid::regclass from pg_catalog.pg_class v
     join pg_catalog.pg_rewrite r on r.ev_class = v.oid
     join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass
                                and d.objid = r.oid
     join pg_catalog.pg_class t on t.oid = d.refobjid and t.relnamespace = 'iam'::regnamespace
     where v.relkind in ('v', 'm') and t.oid <> v.oid $$,
  'no view in any schema reads an iam table'
);

-- ========================================================== role memberships
select is_empty(
  $$ select pg_catalog.pg_get_userbyid(m.roleid) from pg_catalog.pg_auth_members m
     where pg_catalog.pg_get_userbyid(m.member)
           in ('iam_anon', 'iam_authenticated', 'iam_definer', 'iam_deleter') $$,
  'the iam_* roles are members of no role'
);
select is_empty(
  $$ select pg_catalog.pg_get_userbyid(m.member) from pg_catalog.pg_auth_members m
     where m.roleid = 'iam_definer'::regrole
       and m.member <> (select nspowner from pg_catalog.pg_namespace where nspname = 'iam') $$,
  'only the role that owns schema iam may become iam_definer'
);
select is_empty(
  $$ select pg_catalog.pg_get_userbyid(m.member) from pg_catalog.pg_auth_members m
     where m.roleid = 'iam_deleter'::regrole
       and m.member <> (select nspowner from pg_catalog.pg_namespace where nspname = 'iam') $$,
  'only the role that owns schema iam may become iam_deleter'
);
select is_empty(
  $$ select r.rolname from pg_catalog.pg_roles r
     where r.rolname in ('iam_anon', 'iam_authenticated', 'iam_definer', 'iam_deleter')
       and (r.rolcanlogin or r.rolsuper or r.rolbypassrls or r.rolinherit) $$,
  'the iam_* roles cannot log in, are not superusers, do not bypass RLS, inherit nothing'
);

-- ========================================================= deactivated users
insert into iam.organizations (id, name) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP A');
insert into iam.users (id, email, password_hash, is_active) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.pgtap.invalid', 'x', false),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.pgtap.invalid', 'x', true);
insert into iam.organization_memberships (organization_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER');
insert into iam.projects (id, organization_id, name, created_by_user_id) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'Apollo',
   'aaaaaaaa-aaaa-4aaa-8aaa-000000000002');

-- The ORG_ADMIN of A, deactivated, with a token that still names A.
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select is(iam.member_role(), null, 'a deactivated user has no role in their organization');
select is_empty($$ select id from iam.projects $$, 'a deactivated user reads no project');
select throws_ok(
  $$ insert into iam.projects (name) values ('Gemini') $$, '42501', null,
  'a deactivated user cannot create a project');
select is_empty(
  $$ select 1 from iam.delete_project('aaaaaaaa-aaaa-4aaa-8aaa-0000000000f1') where deleted $$,
  'a deactivated ORG_ADMIN deletes nothing');
select is_empty($$ select * from iam.my_organizations(10) $$,
  'a deactivated user lists no organization');
select is_empty(
  $$ select * from iam.switch_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000') $$,
  'a deactivated user cannot switch into their organization');

-- ================================================================= LOCK TABLE
-- Any role with table-level UPDATE, DELETE or TRUNCATE may take every lock
-- mode; ACCESS EXCLUSIVE in an open transaction would stall every tenant.
-- Requests delete through functions instead, so even an active member is
-- refused (42501) before any lock is taken.
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
select throws_ok($$ lock table iam.projects in access exclusive mode nowait $$, '42501', null,
  'a member cannot lock iam.projects against every tenant');
select throws_ok($$ lock table iam.organizations in access exclusive mode nowait $$, '42501',
  null, 'a member cannot lock iam.organizations against every tenant');
select throws_ok(
  $$ lock table iam.organization_memberships in share row exclusive mode nowait $$, '42501',
  null, 'a member cannot lock iam.organization_memberships against every tenant''s writes');
select throws_ok($$ lock table iam.invitations in exclusive mode nowait $$, '42501', null,
  'a member cannot lock iam.invitations against every tenant');
select throws_ok($$ lock table iam.sessions in share mode nowait $$, '42501', null,
  'a member cannot lock iam.sessions against every sign-in');

select * from finish();
rollback;
