-- migrate:up

-- Sign-in sessions and their refresh tokens. A session lives from sign-in
-- (login, registration) until its absolute expiry, a logout, a revocation,
-- a password change or the reuse of a spent refresh token, whichever comes
-- first; ending it is deleting its row. Every access token names its
-- session (claim sid), and every request checks that the session is still
-- there in the statement that already reads the caller's role.

-- --------------------------------------------------------------------- sessions
create table iam.sessions (
  id               uuid primary key default gen_random_uuid(),
  user_id          uuid not null references iam.users (id) on delete cascade,
  -- The organization the session's access tokens are issued for (NULL: none).
  organization_id  uuid references iam.organizations (id) on delete set null,
  user_agent       text check (char_length(user_agent) <= 500),
  created_at       timestamptz not null default now(),
  last_used_at     timestamptz not null default now(),
  expires_at       timestamptz not null,
  constraint sessions_expiry_after_start check (expires_at > created_at)
);
-- A user's sessions, newest first (the session list, ending the others).
create index sessions_user_idx on iam.sessions (user_id, created_at desc, id desc);
create index sessions_expires_idx on iam.sessions (expires_at);
create index sessions_organization_idx on iam.sessions (organization_id);

-- --------------------------------------------------------------- refresh_tokens
-- Only SHA-256 digests of the tokens: a copy of this table signs nobody in.
-- A rotated token stays, spent, until its session ends: presenting it again
-- is how a stolen token is recognized.
create table iam.refresh_tokens (
  token_hash  bytea primary key check (octet_length(token_hash) = 32),
  session_id  uuid not null references iam.sessions (id) on delete cascade,
  created_at  timestamptz not null default now(),
  spent_at    timestamptz
);
create index refresh_tokens_session_idx on iam.refresh_tokens (session_id);

alter table iam.sessions enable row level security;
alter table iam.sessions force row level security;
alter table iam.refresh_tokens enable row level security;
alter table iam.refresh_tokens force row level security;

-- ------------------------------------------------------------ request context
-- The session of the request's access token, set with the user and the
-- organization. Malformed or missing reads as NULL, which matches no session.
create function iam.current_session_id() returns uuid
language sql stable
as $$
  select case when pg_catalog.current_setting('iam.session_id', true)
                   ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then pg_catalog.current_setting('iam.session_id', true)::uuid end
$$;

-- Raises IAMSE. The request's session check (iam.request_session, created by
-- a later migration and called in the request's context statement, see
-- service/db/runner.py) probes iam.sessions for the context's session and
-- calls this only when the session is not there, expired or another user's.
-- The error aborts the request's implicit transaction before the request's
-- own statement runs, so an ended session's token changes nothing.
create function iam.session_ended() returns boolean
language plpgsql volatile
set search_path = ''
as $$
begin
  raise exception 'the session has ended' using errcode = 'IAMSE';
end
$$;

-- ---------------------------------------------------------------- sign-in
-- A new session with its first refresh token, after the API verified the
-- password (login) or created the user (registration). Expired sessions of
-- the same user are cleared on the way.
create function iam.start_session(p_user_id uuid, p_organization_id uuid,
                                  p_refresh_token text, p_ttl_seconds integer,
                                  p_user_agent text)
returns table (session_id uuid, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_id uuid;
  v_expires timestamptz;
begin
  if p_ttl_seconds is null or p_ttl_seconds < 1 then
    raise exception 'a session needs a positive lifetime' using errcode = 'check_violation';
  end if;
  delete from iam.sessions as s where s.user_id = p_user_id and s.expires_at <= pg_catalog.now();

  insert into iam.sessions (user_id, organization_id, user_agent, expires_at)
  values (p_user_id, p_organization_id, pg_catalog.left(p_user_agent, 500),
          pg_catalog.now() + pg_catalog.make_interval(secs => p_ttl_seconds))
  returning id, expires_at into v_id, v_expires;

  insert into iam.refresh_tokens (token_hash, session_id)
  values (pg_catalog.sha256(pg_catalog.convert_to(p_refresh_token, 'UTF8')), v_id);

  return query select v_id, v_expires;
end
$$;

-- ---------------------------------------------------------------- refresh
-- Rotation with reuse detection. The session row is locked first (as
-- ending a session does, by deleting it, so the two never deadlock); then
-- one UPDATE spends the presented token only if it is still unspent. Of two
-- refreshes racing with one token, the second waits for the first's lock,
-- then finds the token spent: that is a reuse, and the whole session ends.
-- A reused, expired or unknown token, or an inactive user: no row.
-- The access token is issued for the session's organization while the user
-- is still a member of it, else without an organization.
create function iam.refresh_session(p_refresh_token text, p_new_refresh_token text)
returns table (session_id uuid, user_id uuid, organization_id uuid, organization_name text,
               role iam.org_role, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_hash bytea := pg_catalog.sha256(pg_catalog.convert_to(p_refresh_token, 'UTF8'));
  v_session iam.sessions;
  v_org_id uuid;
  v_org_name text;
  v_role iam.org_role;
begin
  select s.* into v_session from iam.sessions as s
  where s.id = (select t.session_id from iam.refresh_tokens as t where t.token_hash = v_hash)
  for update;
  if not found then
    return;
  end if;

  update iam.refresh_tokens as t set spent_at = pg_catalog.now()
  where t.token_hash = v_hash and t.spent_at is null;
  if not found
     or v_session.expires_at <= pg_catalog.now()
     or not exists (select 1 from iam.users as u where u.id = v_session.user_id and u.is_active)
  then
    delete from iam.sessions as s where s.id = v_session.id;
    return;
  end if;

  select o.id, o.name, m.role into v_org_id, v_org_name, v_role
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  where m.organization_id = v_session.organization_id and m.user_id = v_session.user_id;

  insert into iam.refresh_tokens (token_hash, session_id)
  values (pg_catalog.sha256(pg_catalog.convert_to(p_new_refresh_token, 'UTF8')), v_session.id);
  update iam.sessions as s
  set last_used_at = pg_catalog.now(), organization_id = v_org_id
  where s.id = v_session.id;

  return query select v_session.id, v_session.user_id, v_org_id, v_org_name, v_role,
                      v_session.expires_at;
end
$$;

-- --------------------------------------------------------- switching organization
-- The caller's session moves to another organization the caller belongs
-- to, and gets a new refresh token; the session's earlier ones are spent
-- (presenting one again ends the session). No row when the caller is not
-- an active member of that organization.
create function iam.switch_session_organization(p_organization_id uuid,
                                                p_new_refresh_token text)
returns table (organization_id uuid, organization_name text, role iam.org_role,
               expires_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_org_id uuid;
  v_org_name text;
  v_role iam.org_role;
  v_expires timestamptz;
begin
  select o.id, o.name, m.role into v_org_id, v_org_name, v_role
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  join iam.users as u on u.id = m.user_id
  where m.user_id = iam.current_user_id()
    and m.organization_id = p_organization_id
    and u.is_active;
  if not found then
    return;
  end if;

  update iam.sessions as s
  set organization_id = v_org_id, last_used_at = pg_catalog.now()
  where s.id = iam.current_session_id()
    and s.user_id = iam.current_user_id()
    and s.expires_at > pg_catalog.now()
  returning s.expires_at into v_expires;
  if not found then
    return;
  end if;

  update iam.refresh_tokens as t set spent_at = pg_catalog.now()
  where t.session_id = iam.current_session_id() and t.spent_at is null;
  insert into iam.refresh_tokens (token_hash, session_id)
  values (pg_catalog.sha256(pg_catalog.convert_to(p_new_refresh_token, 'UTF8')),
          iam.current_session_id());

  return query select v_org_id, v_org_name, v_role, v_expires;
end
$$;

-- ------------------------------------------------- organization-less callers
-- A caller without an active organization (a user who belongs to none) may
-- create one and becomes its ORG_ADMIN; with an active organization, only
-- its ORG_ADMIN may (anyone else: 42501).
create or replace function iam.create_organization(p_name text)
returns table (id uuid, name text, role iam.org_role, created_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_org iam.organizations;
begin
  if iam.current_user_id() is null
     or (iam.current_org_id() is not null
         and iam.member_role_for_write() is distinct from 'ORG_ADMIN')
     or not exists (select 1 from iam.users as u
                    where u.id = iam.current_user_id() and u.is_active) then
    raise exception 'only an ORG_ADMIN may create an organization'
      using errcode = 'insufficient_privilege';
  end if;

  insert into iam.organizations (name) values (pg_catalog.btrim(p_name))
  returning * into v_org;
  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org.id, iam.current_user_id(), 'ORG_ADMIN');

  return query select v_org.id, v_org.name, 'ORG_ADMIN'::iam.org_role, v_org.created_at;
end
$$;

alter function iam.start_session(uuid, uuid, text, integer, text) owner to iam_definer;
alter function iam.refresh_session(text, text) owner to iam_definer;
alter function iam.switch_session_organization(uuid, text) owner to iam_definer;

revoke execute on function
  iam.current_session_id(),
  iam.session_ended(),
  iam.start_session(uuid, uuid, text, integer, text),
  iam.refresh_session(text, text),
  iam.switch_session_organization(uuid, text)
  from public;
grant execute on function iam.current_session_id() to iam_authenticated, iam_definer;
grant execute on function iam.session_ended() to iam_authenticated;
grant execute on function
  iam.start_session(uuid, uuid, text, integer, text),
  iam.refresh_session(text, text)
  to iam_anon;
grant execute on function iam.switch_session_organization(uuid, text) to iam_authenticated;

-- migrate:down

create or replace function iam.create_organization(p_name text)
returns table (id uuid, name text, role iam.org_role, created_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_org iam.organizations;
begin
  if iam.member_role_for_write() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may create an organization'
      using errcode = 'insufficient_privilege';
  end if;

  insert into iam.organizations (name) values (pg_catalog.btrim(p_name))
  returning * into v_org;
  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org.id, iam.current_user_id(), 'ORG_ADMIN');

  return query select v_org.id, v_org.name, 'ORG_ADMIN'::iam.org_role, v_org.created_at;
end
$$;

drop function iam.switch_session_organization(uuid, text);
drop function iam.refresh_session(text, text);
drop function iam.start_session(uuid, uuid, text, integer, text);
drop function iam.session_ended();
drop function iam.current_session_id();
drop table iam.refresh_tokens;
drop table iam.sessions;
