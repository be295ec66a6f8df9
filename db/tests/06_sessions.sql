-- pgTAP: sign-in sessions and refresh tokens, actor by actor. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- Seeded by the connecting role (superuser or BYPASSRLS); each actor runs as
-- iam_authenticated (or iam_anon before authentication) with its identity
-- set, as the API does. Rolled back.
--
-- Seed:
--   organization A  aaaaaaaa-aaaa-4aaa-8aaa-000000000000
--     ORG_ADMIN     aaaaaaaa-aaaa-4aaa-8aaa-000000000001  session s1 (refresh token 'token-a1')
--     ORG_USER      aaaaaaaa-aaaa-4aaa-8aaa-000000000002  session s2 (refresh token 'token-a2')
--   newcomer        cccccccc-cccc-4ccc-8ccc-000000000001  (member of nothing) session s3
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;
-- pgTAP's functions must be callable by the runtime roles while the tests
-- act as them; the migrating role's default privileges keep EXECUTE from
-- PUBLIC on the functions it creates, pgTAP's included: grant them, inside
-- this rolled-back transaction.
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

select plan(24);

insert into iam.organizations (id, name) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'pgTAP sessions A');
insert into iam.users (id, email, password_hash) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'admin@a.sessions.pgtap.invalid', 'hash-a1'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'user@a.sessions.pgtap.invalid', 'hash-a2'),
  ('cccccccc-cccc-4ccc-8ccc-000000000001', 'newcomer@sessions.pgtap.invalid', 'hash-c1');
insert into iam.organization_memberships (organization_id, user_id, role) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'ORG_ADMIN'),
  ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'ORG_USER');

-- ================================================================ anonymous
set local role iam_anon;
select set_config('iam.s1', (select session_id::text from iam.start_session(
  'aaaaaaaa-aaaa-4aaa-8aaa-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000',
  'token-a1', 3600, 'pgTAP')), true);
select set_config('iam.s2', (select session_id::text from iam.start_session(
  'aaaaaaaa-aaaa-4aaa-8aaa-000000000002', 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000',
  'token-a2', 3600, 'pgTAP')), true);
select set_config('iam.s3', (select session_id::text from iam.start_session(
  'cccccccc-cccc-4ccc-8ccc-000000000001', null, 'token-c1', 3600, 'pgTAP')), true);

select throws_ok($$ select * from iam.sessions $$, '42501', null,
  'anonymous requests cannot read sessions');
select throws_ok($$ select * from iam.refresh_tokens $$, '42501', null,
  'anonymous requests cannot read refresh token digests');
select throws_ok(
  $$ insert into iam.sessions (user_id, expires_at)
     values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000001', now() + interval '1 day') $$,
  '42501', null, 'sessions are created only through iam.start_session()');
select results_eq(
  $$ select organization_id, role from iam.refresh_session('token-a2', 'token-a2-next') $$,
  $$ values ('aaaaaaaa-aaaa-4aaa-8aaa-000000000000'::uuid, 'ORG_USER'::iam.org_role) $$,
  'a live refresh token rotates, for the session''s organization and current role');
select is_empty($$ select * from iam.refresh_session('token-a2', 'token-a2-again') $$,
  'the spent token is refused');
select is_empty($$ select * from iam.refresh_session('token-a2-next', 'token-a2-third') $$,
  'after a reuse, the session''s newest token is refused too: the session ended');
select is_empty($$ select * from iam.refresh_session('no such token', 'whatever') $$,
  'an unknown token is refused');

reset role;
select is(
  (select count(*)::int from iam.sessions where id = current_setting('iam.s2')::uuid), 0,
  'the reused token''s session is gone');
select is(
  (select count(*)::int from iam.refresh_tokens
   where token_hash = sha256(convert_to('token-a1', 'UTF8'))), 1,
  'refresh tokens are stored as their SHA-256 digest');
select is(
  (select count(*)::int from iam.refresh_tokens
   where token_hash = convert_to('token-a1', 'UTF8')), 0,
  'and never in clear');

-- =================================================================== ORG_ADMIN
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000001';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select set_config('iam.session_id', current_setting('iam.s1'), true);

select results_eq($$ select id from iam.sessions $$,
  $$ select current_setting('iam.s1')::uuid $$,
  'ORG_ADMIN reads their own session, not their members''');
select results_eq($$ select is_live from iam.request_session(iam.current_user_id(), iam.current_session_id()) $$,
  $$ values (true) $$, 'the admin''s own live session passes the request''s check');
select throws_ok($$ select * from iam.refresh_tokens $$, '42501', null,
  'a signed-in request cannot read refresh token digests');
select throws_ok($$ update iam.sessions set expires_at = now() + interval '10 years' $$,
  '42501', null, 'nobody extends a session through the table');
select is_empty(
  $$ select 1 where iam.end_session(current_setting('iam.s3')::uuid) $$,
  'ORG_ADMIN cannot end another user''s session');

-- ================================================================== newcomer
reset role;
set local role iam_authenticated;
set local iam.user_id = 'cccccccc-cccc-4ccc-8ccc-000000000001';
set local iam.org_id = '';
select set_config('iam.session_id', current_setting('iam.s3'), true);

select results_eq($$ select id from iam.sessions $$,
  $$ select current_setting('iam.s3')::uuid $$,
  'a user without organization reads their own session');
select results_eq($$ select role from iam.create_organization('pgTAP fresh start') $$,
  $$ values ('ORG_ADMIN'::iam.org_role) $$,
  'a user without organization creates one and becomes its ORG_ADMIN');
select is_empty(
  $$ select * from iam.switch_session_organization('aaaaaaaa-aaaa-4aaa-8aaa-000000000000', 'x') $$,
  'switching the session into a foreign organization gives nothing');
select isnt_empty(
  $$ select 1 where iam.end_session(current_setting('iam.s3')::uuid) $$,
  'a user ends their own session (logout)');
select throws_ok(
  $$ select is_live from iam.request_session(iam.current_user_id(), iam.current_session_id()) $$,
  'IAMSE', null,
  'an ended session fails the check');

-- ======================================================== another user's session
reset role;
set local role iam_authenticated;
set local iam.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000002';
set local iam.org_id = 'aaaaaaaa-aaaa-4aaa-8aaa-000000000000';
select set_config('iam.session_id', current_setting('iam.s1'), true);

select throws_ok(
  $$ select is_live from iam.request_session(iam.current_user_id(), iam.current_session_id()) $$,
  'IAMSE', null,
  'a token naming another user''s session fails the check');
select is_empty($$ select * from iam.sessions $$,
  'ORG_USER whose session ended sees no session at all');

-- ============================================================ empty context
reset role;
set local role iam_authenticated;
set local iam.user_id = '';
set local iam.org_id = '';
set local iam.session_id = '';

select is_empty($$ select * from iam.sessions $$, 'no context, no session');
select throws_ok(
  $$ select is_live from iam.request_session(iam.current_user_id(), iam.current_session_id()) $$,
  'IAMSE', null,
  'no context fails the check');

select * from finish();
rollback;
