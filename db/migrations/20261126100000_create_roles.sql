-- migrate:up

-- Roles are cluster-wide: several databases on one server (test databases,
-- staging and production side by side) share them, so create them only when
-- they are missing.
--   iam_anon           requests before authentication (register, login)
--   iam_authenticated  requests that carry a verified token
--   iam_definer        owns the SECURITY DEFINER functions; NOLOGIN. The
--                      migrating role is granted it below (to hand functions
--                      to it); no request role or API login role may be
--                      (`rls-iam policies lint` and `check` flag it).
do $$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'iam_anon') then
    create role iam_anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'iam_authenticated') then
    create role iam_authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'iam_definer') then
    create role iam_definer nologin noinherit;
  end if;
end
$$;

-- The migrating role switches to the runtime roles per transaction
-- (SET LOCAL ROLE), and hands ownership of definer functions to iam_definer.
-- From PostgreSQL 16 on, granting a role (even to oneself) needs ADMIN
-- OPTION on it, which the role that created it has. When another role
-- created them (a second database on the same server), an existing
-- membership that allows SET ROLE is enough; without one, stop with the
-- grant a DBA must run.
do $$
declare
  r text;
begin
  foreach r in array array['iam_anon', 'iam_authenticated', 'iam_definer'] loop
    -- On 16+ a creator holds ADMIN OPTION without being able to SET ROLE.
    if not pg_catalog.pg_has_role(current_user, r,
         case when pg_catalog.current_setting('server_version_num')::int >= 160000
              then 'SET' else 'MEMBER' end) then
      begin
        execute format('grant %I to %I', r, current_user);
      exception when insufficient_privilege then
        -- The remedy goes in the message itself: migration tools print
        -- the message, not the hint.
        raise exception 'role % cannot grant itself role %: as a superuser or the role''s creator, run: grant % to % with admin option',
          current_user, r, r, current_user;
      end;
    end if;
  end loop;
end
$$;

-- migrate:down

-- Another database on this server may still use the roles; keep them then.
do $$
declare
  r text;
begin
  foreach r in array array['iam_definer', 'iam_authenticated', 'iam_anon'] loop
    begin
      execute format('drop role if exists %I', r);
    exception when dependent_objects_still_exist then
      raise notice 'role % is still used elsewhere on this server; kept', r;
    end;
  end loop;
end
$$;
