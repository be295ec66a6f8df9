-- Every SQL statement service.db.runner sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- SET_TENANT_CONTEXT
select caller.role, caller.is_active, session.is_live from (select set_config('role', 'iam_authenticated', true), set_config('statement_timeout', %(statement_timeout)s, true), set_config('iam.user_id', %(user_id)s, true) as user_id, set_config('iam.org_id', %(org_id)s, true) as org_id, set_config('iam.session_id', %(session_id)s, true) as session_id, set_config('iam.request_id', %(request_id)s, true) offset 0) as context cross join lateral iam.request_caller(nullif(context.user_id, '')::uuid, nullif(context.org_id, '')::uuid) as caller cross join lateral iam.request_session(nullif(context.user_id, '')::uuid, nullif(context.session_id, '')::uuid) as session;

-- SET_TENANT_CONTEXT_ONLY
select 1 from (select set_config('role', 'iam_authenticated', true), set_config('statement_timeout', %(statement_timeout)s, true), set_config('iam.user_id', %(user_id)s, true) as user_id, set_config('iam.org_id', %(org_id)s, true) as org_id, set_config('iam.session_id', %(session_id)s, true) as session_id, set_config('iam.request_id', %(request_id)s, true) offset 0) as context;

-- READ_CALLER
select caller.role, caller.is_active, session.is_live from iam.request_caller(iam.current_user_id(), iam.current_org_id()) as caller cross join iam.request_session(iam.current_user_id(), iam.current_session_id()) as session;

-- MAY_READ_CALLER_IN_CONTEXT
select pg_catalog.has_schema_privilege('iam', 'USAGE') and pg_catalog.has_function_privilege('iam.request_caller(uuid, uuid)', 'EXECUTE') and pg_catalog.has_function_privilege('iam.request_session(uuid, uuid)', 'EXECUTE');

-- SET_ANON_CONTEXT
select set_config('role', 'iam_anon', true), set_config('iam.user_id', '', true), set_config('iam.org_id', '', true), set_config('statement_timeout', %s, true), set_config('iam.session_id', '', true), set_config('iam.request_id', %s, true);

-- _rollback()
rollback;

-- anon_transaction()
begin;

-- anon_transaction() #2
commit;
