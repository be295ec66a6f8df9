-- pgTAP: the catalog facts isolation rests on. Run with
--   pg_prove -d "$DATABASE_URL" db/tests/*.sql
-- against a migrated database (rls-iam db migrate). Everything below runs
-- in one transaction that is rolled back: the database is left as it was.
begin;
set local client_min_messages = warning;
create extension if not exists pgtap;

select plan(64);

-- ------------------------------------------------------------- tables
select has_schema('iam');
select tables_are(
  'iam',
  array['organizations', 'users', 'organization_memberships', 'projects', 'invitations',
        'rate_limit_buckets', 'password_hash_handouts', 'sessions', 'refresh_tokens',
        'audit_events'],
  'schema iam holds exactly the known tables'
);

-- RLS enabled and forced: the owner (the migrating role) is subject to the
-- policies too; only a superuser or BYPASSRLS role is not.
select results_eq(
  $$ select relname::text collate "default", relrowsecurity, relforcerowsecurity
     from pg_catalog.pg_class
     where relnamespace = 'iam'::regnamespace and relkind in ('r', 'p')
     order by relname $$,
  $$ values ('audit_events', true, true),
            ('invitations', true, true),
            ('organization_memberships', true, true),
            ('organizations', true, true),
            ('password_hash_handouts', true, true),
            ('projects', true, true),
            ('rate_limit_buckets', true, true),
            ('refresh_tokens', true, true),
            ('sessions', true, true),
            ('users', true, true) $$,
  'every table in iam has row level security enabled and forced'
);

select has_index('iam', 'projects', 'projects_pkey', array['organization_id', 'id'],
  'projects are keyed by (organization_id, id)');
select has_index('iam', 'projects', 'projects_org_created_idx',
  array['organization_id', 'created_at', 'id'],
  'projects are listed newest first within an organization by an index');
select has_index('iam', 'organization_memberships', 'organization_memberships_org_user_key',
  array['organization_id', 'user_id'], 'one membership per user and organization');
select index_is_unique('iam', 'organization_memberships',
  'organization_memberships_org_user_key');

-- ----------------------------------------------------------- policies
select policies_are('iam', 'organizations', array[
  'Members can read their active organization',
  'Admins can rename their organization',
  'Admins can delete their organization',
  'Deletes find the organization members can read',
  'Definer functions can read organizations',
  'Definer functions can create organizations'
]);
select policies_are('iam', 'users', array[
  'Members can read themselves and their organization''s members',
  'Definer functions can read users',
  'Definer functions can create users',
  'Definer functions can update password hashes'
]);
select policies_are('iam', 'organization_memberships', array[
  'Members can read their organization''s memberships',
  'Admins can change roles in their organization',
  'Admins can remove members, and members can leave',
  'Deletes find the memberships members can read',
  'Definer functions can read memberships',
  'Definer functions can create memberships'
]);
select policies_are('iam', 'invitations', array[
  'Admins can read their organization''s invitations',
  'Admins can invite into their organization',
  'Admins can revoke their organization''s invitations',
  'Deletes find the invitations admins can read',
  'Definer functions can read invitations',
  'Definer functions can mark invitations accepted',
  'Definer functions can purge expired invitations'
]);
select policies_are('iam', 'projects', array[
  'Members can read their organization''s projects',
  'Admins and users can create projects in their organization',
  'Admins and users can edit their organization''s projects',
  'Admins can delete their organization''s projects',
  'Deletes find the projects members can read'
]);

-- Each policy covers one command for one named role.
select results_eq(
  $$ select tablename::text collate "default", cmd, roles::text[] collate "default"
     from pg_catalog.pg_policies
     where schemaname = 'iam'
       and tablename not in ('rate_limit_buckets', 'password_hash_handouts')
     order by tablename, cmd, roles::text $$,
  $$ values ('audit_events', 'DELETE', array['iam_definer']),
            ('audit_events', 'INSERT', array['iam_definer']),
            ('audit_events', 'SELECT', array['iam_authenticated']),
            ('audit_events', 'SELECT', array['iam_definer']),
            ('invitations', 'DELETE', array['iam_definer']),
            ('invitations', 'DELETE', array['iam_deleter']),
            ('invitations', 'INSERT', array['iam_authenticated']),
            ('invitations', 'SELECT', array['iam_authenticated']),
            ('invitations', 'SELECT', array['iam_definer']),
            ('invitations', 'SELECT', array['iam_deleter']),
            ('invitations', 'UPDATE', array['iam_definer']),
            ('organization_memberships', 'DELETE', array['iam_deleter']),
            ('organization_memberships', 'INSERT', array['iam_definer']),
            ('organization_memberships', 'SELECT', array['iam_authenticated']),
            ('organization_memberships', 'SELECT', array['iam_definer']),
            ('organization_memberships', 'SELECT', array['iam_deleter']),
            ('organization_memberships', 'UPDATE', array['iam_authenticated']),
            ('organizations', 'DELETE', array['iam_deleter']),
            ('organizations', 'INSERT', array['iam_definer']),
            ('organizations', 'SELECT', array['iam_authenticated']),
            ('organizations', 'SELECT', array['iam_definer']),
            ('organizations', 'SELECT', array['iam_deleter']),
            ('organizations', 'UPDATE', array['iam_authenticated']),
            ('projects', 'DELETE', array['iam_deleter']),
            ('projects', 'INSERT', array['iam_authenticated']),
            ('projects', 'SELECT', array['iam_authenticated']),
            ('projects', 'SELECT', array['iam_deleter']),
            ('projects', 'UPDATE', array['iam_authenticated']),
            ('refresh_tokens', 'INSERT', array['iam_definer']),
            ('refresh_tokens', 'SELECT', array['iam_definer']),
            ('refresh_tokens', 'UPDATE', array['iam_definer']),
            ('sessions', 'DELETE', array['iam_definer']),
            ('sessions', 'DELETE', array['iam_deleter']),
            ('sessions', 'INSERT', array['iam_definer']),
            ('sessions', 'SELECT', array['iam_authenticated']),
            ('sessions', 'SELECT', array['iam_definer']),
            ('sessions', 'SELECT', array['iam_deleter']),
            ('sessions', 'UPDATE', array['iam_definer']),
            ('users', 'INSERT', array['iam_definer']),
            ('users', 'SELECT', array['iam_authenticated']),
            ('users', 'SELECT', array['iam_definer']),
            ('users', 'UPDATE', array['iam_definer']) $$,
  'each policy names its command and its role'
);
-- The delete functions find rows through exactly what the caller may read:
-- iam_deleter's SELECT policy of a table reads as the request's.
select is_empty(
  $$ select d.polrelid::regclass from pg_catalog.pg_policy d
     where d.polcmd = 'r' and d.polroles = array['iam_deleter'::regrole::oid]
       and pg_catalog.pg_get_expr(d.polqual, d.polrelid) is distinct from
           (select pg_catalog.pg_get_expr(a.polqual, a.polrelid) from pg_catalog.pg_policy a
            where a.polrelid = d.polrelid and a.polcmd = 'r'
              and a.polroles = array['iam_authenticated'::regrole::oid]) $$,
  'iam_deleter reads each table through the same USING as a request'
);
select is_empty(
  $$ select p.polname from pg_catalog.pg_policy p
     join pg_catalog.pg_class c on c.oid = p.polrelid
     where c.relnamespace = 'iam'::regnamespace and 0 = any(p.polroles) $$,
  'no policy applies to PUBLIC'
);
select is_empty(
  $$ select p.polname from pg_catalog.pg_policy p
     join pg_catalog.pg_class c on c.oid = p.polrelid
     where c.relnamespace = 'iam'::regnamespace and not p.polpermissive $$,
  'no restrictive policies: every grant of access is a permissive policy in db/policies/'
);

-- -------------------------------------------------------------- roles
select results_eq(
  $$ select rolname::text collate "default", rolsuper, rolbypassrls, rolcanlogin
     from pg_catalog.pg_roles
     where rolname in ('iam_anon', 'iam_authenticated', 'iam_definer', 'iam_deleter')
     order by rolname $$,
  $$ values ('iam_anon', false, false, false),
            ('iam_authenticated', false, false, false),
            ('iam_definer', false, false, false),
            ('iam_deleter', false, false, false) $$,
  'runtime roles: no superuser, no BYPASSRLS, no login'
);
select is_empty(
  $$ select c.relname from pg_catalog.pg_class c
     join pg_catalog.pg_roles r on r.oid = c.relowner
     where c.relnamespace = 'iam'::regnamespace
       and r.rolname in ('iam_anon', 'iam_authenticated', 'iam_definer', 'iam_deleter') $$,
  'runtime roles own no relation in iam (an owner could turn RLS off)'
);

-- ------------------------------------------------------- table grants
select is_empty(
  $$ select c.relname from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     where c.relnamespace = 'iam'::regnamespace and a.grantee = 0 $$,
  'PUBLIC holds no privilege on any relation in iam'
);
select is_empty(
  $$ select n.nspname from pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     where n.nspname = 'iam' and a.grantee = 0 $$,
  'PUBLIC holds no privilege on schema iam'
);
select is_empty(
  $$ select relname from pg_catalog.pg_class
     where relnamespace = 'iam'::regnamespace and relkind in ('r', 'p')
       and pg_catalog.has_table_privilege('iam_anon', oid,
             'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') $$,
  'iam_anon holds no privilege on any table (it works only through definer functions)'
);
-- No table-level UPDATE, DELETE or TRUNCATE for a request role: any of them
-- lets it LOCK the table in every mode and stall every tenant. Requests
-- delete through the functions iam_deleter owns.
select table_privs_are('iam', 'organizations', 'iam_authenticated', array['SELECT']);
select table_privs_are('iam', 'invitations', 'iam_authenticated', array[]::text[],
  'iam_authenticated reads invitations only through column grants');
select table_privs_are('iam', 'projects', 'iam_authenticated', array['SELECT']);
select table_privs_are('iam', 'organization_memberships', 'iam_authenticated',
  array['SELECT']);
select table_privs_are('iam', 'users', 'iam_authenticated', array[]::text[],
  'iam_authenticated reads users only through column grants');
select table_privs_are('iam', 'rate_limit_buckets', 'iam_authenticated', array[]::text[]);
select table_privs_are('iam', 'sessions', 'iam_authenticated', array['SELECT'],
  'a request reads sessions (its own, the policies say), and ends them only through functions');
select table_privs_are('iam', 'refresh_tokens', 'iam_authenticated', array[]::text[],
  'a request never touches refresh token digests');
select table_privs_are('iam', 'password_hash_handouts', 'iam_authenticated', array[]::text[],
  'no request role reads the trace of password hash hand-outs');
select is_empty(
  $$ select c.relname, a.privilege_type
     from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     where c.relnamespace = 'iam'::regnamespace
       and (a.grantee = 0 or pg_catalog.pg_get_userbyid(a.grantee)
                             in ('iam_anon', 'iam_authenticated'))
       and a.privilege_type in ('UPDATE', 'DELETE', 'TRUNCATE', 'MAINTAIN') $$,
  'no request role holds a table-level privilege that allows every LOCK TABLE mode');
-- iam_deleter deletes what the policies let the caller delete, and reads
-- only the columns its functions filter by.
select table_privs_are('iam', 'projects', 'iam_deleter', array['DELETE']);
select table_privs_are('iam', 'organizations', 'iam_deleter', array['DELETE']);
select table_privs_are('iam', 'organization_memberships', 'iam_deleter', array['DELETE']);
select table_privs_are('iam', 'invitations', 'iam_deleter', array['DELETE']);
select table_privs_are('iam', 'sessions', 'iam_deleter', array['DELETE']);
select is_empty(
  $$ select c.relname from pg_catalog.pg_class c
     where c.relnamespace = 'iam'::regnamespace and c.relkind in ('r', 'p')
       and c.relname not in ('projects', 'organizations', 'organization_memberships',
                             'invitations', 'sessions')
       and pg_catalog.has_table_privilege('iam_deleter', c.oid,
             'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') $$,
  'iam_deleter holds nothing on the other tables');

-- Column grants keep the tenant key and the creator out of client hands.
select column_privs_are('iam', 'projects', 'organization_id', 'iam_authenticated',
  array['SELECT'], 'clients cannot write projects.organization_id');
select column_privs_are('iam', 'projects', 'created_by_user_id', 'iam_authenticated',
  array['SELECT'], 'clients cannot write projects.created_by_user_id');
select column_privs_are('iam', 'projects', 'name', 'iam_authenticated',
  array['SELECT', 'INSERT', 'UPDATE']);
select column_privs_are('iam', 'organization_memberships', 'organization_id',
  'iam_authenticated', array['SELECT'], 'clients cannot write memberships.organization_id');
select column_privs_are('iam', 'organization_memberships', 'role', 'iam_authenticated',
  array['SELECT', 'UPDATE'], 'no request inserts a membership: members join by accepting');
select column_privs_are('iam', 'organization_memberships', 'user_id', 'iam_authenticated',
  array['SELECT']);
select column_privs_are('iam', 'invitations', 'token_hash', 'iam_authenticated',
  array['INSERT'], 'nobody reads an invitation token''s digest back');
select column_privs_are('iam', 'invitations', 'organization_id', 'iam_authenticated',
  array['SELECT'], 'clients cannot write invitations.organization_id');
select column_privs_are('iam', 'invitations', 'accepted_at', 'iam_authenticated',
  array['SELECT'], 'only iam.accept_invitation() marks an invitation used');
select column_privs_are('iam', 'users', 'password_hash', 'iam_authenticated', array[]::text[],
  'password hashes are never readable by requests');

-- ------------------------------------------------ definer functions
select is_empty(
  $$ select p.oid::regprocedure from pg_catalog.pg_proc p
     where p.pronamespace = 'iam'::regnamespace and p.prosecdef
       and p.proconfig is distinct from array['search_path=""'] $$,
  'every SECURITY DEFINER function pins search_path to an empty one'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_catalog.pg_proc p
     where p.pronamespace = 'iam'::regnamespace and p.prosecdef
       and p.proowner not in ('iam_definer'::regrole, 'iam_deleter'::regrole) $$,
  'every SECURITY DEFINER function is owned by iam_definer or iam_deleter'
);
select results_eq(
  $$ select p.oid::regprocedure::text collate "default" from pg_catalog.pg_proc p
     where p.pronamespace = 'iam'::regnamespace and p.proowner = 'iam_deleter'::regrole
     order by 1 $$,
  $$ values ('iam.delete_organization(uuid)'), ('iam.delete_project(uuid)'),
            ('iam.end_other_sessions()'), ('iam.end_session(uuid)'),
            ('iam.remove_member(uuid)'), ('iam.revoke_invitation(uuid)') $$,
  'iam_deleter owns exactly the deletes requests make'
);
select is_empty(
  $$ select p.oid::regprocedure from pg_catalog.pg_proc p,
       pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
     where p.pronamespace = 'iam'::regnamespace and a.grantee = 0 $$,
  'PUBLIC may execute no function in iam'
);
select function_privs_are('iam', 'register', array['text', 'text', 'text'], 'iam_anon',
  array['EXECUTE']);
select function_privs_are('iam', 'register', array['text', 'text', 'text'],
  'iam_authenticated', array[]::text[]);
select function_privs_are('iam', 'login_lookup', array['text', 'uuid'], 'iam_authenticated',
  array[]::text[], 'iam_authenticated looks up no password hashes');
select function_privs_are('iam', 'create_organization', array['text'], 'iam_authenticated',
  array['EXECUTE']);
select function_privs_are('iam', 'create_organization', array['text'], 'iam_anon',
  array[]::text[]);
select function_privs_are('iam', 'accept_invitation', array['text'], 'iam_authenticated',
  array['EXECUTE']);
select function_privs_are('iam', 'register_invited', array['text', 'text', 'text'], 'iam_anon',
  array['EXECUTE']);
select function_privs_are('iam', 'register_invited', array['text', 'text', 'text'],
  'iam_authenticated', array[]::text[]);
select hasnt_function('iam', 'user_id_for_invite', array['text'],
  'no function resolves an email to a user for a member');
select function_privs_are('iam', 'delete_project', array['uuid'], 'iam_authenticated',
  array['EXECUTE']);
select function_privs_are('iam', 'delete_project', array['uuid'], 'iam_anon', array[]::text[]);
select function_privs_are('iam', 'remove_member', array['uuid'], 'iam_authenticated',
  array['EXECUTE']);
select function_privs_are('iam', 'end_other_sessions', array[]::text[], 'iam_anon',
  array[]::text[]);

select * from finish();
rollback;
