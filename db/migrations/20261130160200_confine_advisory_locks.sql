-- migrate:up

-- Advisory locks are one namespace for the whole database: a request role
-- that could take them could hold another tenant's membership key and stall
-- that member's writes. Only iam_definer takes them, inside the functions
-- that need them, for the length of a transaction.

-- The membership-change trigger takes its lock as iam_definer.
alter function iam.lock_membership_change() security definer;
alter function iam.lock_membership_change() owner to iam_definer;

-- Only the owner of pg_catalog's functions (a superuser) may change who
-- runs them. Elsewhere (a managed service's administrator role) the
-- revocation is left to the DBA: docs/dba.md, "Advisory locks".
do $$
declare
  v_function regprocedure;
begin
  if not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
    raise notice 'advisory lock functions left executable by PUBLIC: see docs/dba.md';
    return;
  end if;
  for v_function in
    select p.oid::regprocedure from pg_catalog.pg_proc as p
    where p.pronamespace = 'pg_catalog'::regnamespace
      and p.proname like 'pg\_%advisory\_%'
  loop
    execute pg_catalog.format('revoke execute on function %s from public', v_function);
  end loop;
  grant execute on function
    pg_catalog.pg_advisory_xact_lock(integer, integer),
    pg_catalog.pg_advisory_xact_lock_shared(integer, integer)
    to iam_definer;
end
$$;

-- migrate:down

do $$
declare
  v_function regprocedure;
begin
  if not (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user) then
    return;
  end if;
  for v_function in
    select p.oid::regprocedure from pg_catalog.pg_proc as p
    where p.pronamespace = 'pg_catalog'::regnamespace
      and p.proname like 'pg\_%advisory\_%'
  loop
    execute pg_catalog.format('grant execute on function %s to public', v_function);
  end loop;
  revoke execute on function
    pg_catalog.pg_advisory_xact_lock(integer, integer),
    pg_catalog.pg_advisory_xact_lock_shared(integer, integer)
    from iam_definer;
end
$$;

alter function iam.lock_membership_change() owner to current_user;
alter function iam.lock_membership_change() security invoker;
