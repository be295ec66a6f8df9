\restrict dbmate


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: iam; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA iam;


--
-- Name: iam_migrations; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA iam_migrations;


--
-- Name: org_role; Type: TYPE; Schema: iam; Owner: -
--

CREATE TYPE iam.org_role AS ENUM (
    'ORG_ADMIN',
    'ORG_USER',
    'READ_ONLY'
);


--
-- Name: accept_invitation(text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.accept_invitation(p_token text) RETURNS TABLE(organization_id uuid, organization_name text, role iam.org_role)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_org_id uuid;
  v_role iam.org_role;
begin
  update iam.invitations as i
  set accepted_at = pg_catalog.now(), accepted_by_user_id = iam.current_user_id()
  where i.token_hash = iam.invitation_token_hash(p_token)
    and i.accepted_at is null
    and i.expires_at > pg_catalog.now()
    and i.email = (select u.email from iam.users as u
                   where u.id = iam.current_user_id() and u.is_active)
  returning i.organization_id, i.role into v_org_id, v_role;
  if not found then
    return;
  end if;

  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org_id, iam.current_user_id(), v_role)
  on conflict (organization_id, user_id) do nothing;

  return query
    select o.id, o.name, m.role
    from iam.organization_memberships as m
    join iam.organizations as o on o.id = m.organization_id
    where m.organization_id = v_org_id and m.user_id = iam.current_user_id();
end
$$;


--
-- Name: admit_invitation(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.admit_invitation() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  -- The INSERT policy checks the same after this trigger; checked here
  -- first so that nobody else learns anything from the checks below.
  if not exists (
    select 1
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = new.organization_id
      and m.organization_id = iam.current_org_id()
      and m.user_id = iam.current_user_id()
      and m.role = 'ORG_ADMIN'
      and u.is_active
  ) then
    raise exception 'only an ORG_ADMIN may invite' using errcode = 'insufficient_privilege';
  end if;

  perform pg_catalog.pg_advisory_xact_lock(1769107758, iam.organization_lock_key(new.organization_id));

  delete from iam.invitations as i
  where i.organization_id = new.organization_id
    and i.accepted_at is null
    and i.expires_at <= pg_catalog.now();

  if exists (
    select 1
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = new.organization_id and u.email = new.email
  ) then
    raise exception 'already a member of this organization' using errcode = 'unique_violation';
  end if;

  if (select pg_catalog.count(*) from iam.invitations as i
      where i.organization_id = new.organization_id and i.accepted_at is null) >= 100 then
    raise exception 'too many pending invitations' using errcode = 'IAM02';
  end if;
  return new;
end
$$;


--
-- Name: audit_forget_organization(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_forget_organization() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  delete from iam.audit_events as e where e.organization_id = old.id;
  return null;
end
$$;


--
-- Name: audit_invitation_change(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_invitation_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'INSERT' then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'invitation.created', 'invitation',
            new.id,
            iam.audit_pair('email', null::text, new.email)
            || iam.audit_pair('role', null::iam.org_role, new.role)
            || iam.audit_pair('expires_at', null::timestamptz, new.expires_at)
            || iam.audit_pair('invited_by_user_id', null::uuid, new.invited_by_user_id),
            iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    -- The policies let an invitation change only by being accepted.
    if old.accepted_at is not null or new.accepted_at is null then
      return null;
    end if;
    -- Registering with an invitation: nobody is signed in yet, and the new
    -- user is the one accepting.
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, coalesce(iam.current_user_id(), new.accepted_by_user_id),
            'invitation.accepted', 'invitation', new.id,
            iam.audit_pair('accepted_at', old.accepted_at, new.accepted_at)
            || iam.audit_pair('accepted_by_user_id', old.accepted_by_user_id,
                              new.accepted_by_user_id),
            iam.current_request_id());
  elsif (old.accepted_at is not null or old.expires_at > pg_catalog.now())
        and exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (old.organization_id, iam.current_user_id(), 'invitation.revoked', 'invitation',
            old.id,
            iam.audit_pair('email', old.email, null::text)
            || iam.audit_pair('role', old.role, null::iam.org_role)
            || iam.audit_pair('expires_at', old.expires_at, null::timestamptz)
            || iam.audit_pair('invited_by_user_id', old.invited_by_user_id, null::uuid)
            || iam.audit_pair('accepted_at', old.accepted_at, null::timestamptz)
            || iam.audit_pair('accepted_by_user_id', old.accepted_by_user_id, null::uuid),
            iam.current_request_id());
  end if;
  return null;
end
$$;


--
-- Name: audit_membership_change(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_membership_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'INSERT' then
    -- Nobody is signed in at registration: the new member is the actor.
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, coalesce(iam.current_user_id(), new.user_id), 'member.added',
            'member', new.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', null, 'new', new.role)),
            iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    if old.role is not distinct from new.role then
      return null;
    end if;
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'member.role_changed', 'member',
            new.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', old.role, 'new', new.role)),
            iam.current_request_id());
  -- A removal that comes from deleting the organization records nothing:
  -- the organization's events go with it.
  elsif exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (old.organization_id, iam.current_user_id(),
            case when old.user_id = iam.current_user_id() then 'member.left'
                 else 'member.removed' end,
            'member', old.user_id,
            pg_catalog.jsonb_build_object(
              'role', pg_catalog.jsonb_build_object('old', old.role, 'new', null)),
            iam.current_request_id());
  end if;
  return null;
end
$$;


--
-- Name: audit_organization_change(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_organization_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_changes jsonb := iam.audit_pair('name', old.name, new.name);
begin
  if tg_op = 'UPDATE' and v_changes = '{}' then
    return null;
  end if;
  insert into iam.audit_events
    (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
  values (new.id, iam.current_user_id(),
          case tg_op when 'INSERT' then 'organization.created' else 'organization.renamed' end,
          'organization', new.id, v_changes, iam.current_request_id());
  return null;
end
$$;


--
-- Name: audit_pair(text, anyelement, anyelement); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_pair(p_column text, p_old anyelement, p_new anyelement) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
  select case when p_old is distinct from p_new
              then pg_catalog.jsonb_build_object(
                     p_column, pg_catalog.jsonb_build_object('old', p_old, 'new', p_new))
              else '{}'::jsonb end
$$;


--
-- Name: audit_project_change(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.audit_project_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if tg_op = 'INSERT' then
    -- name and created_by_user_id are never null; description may be.
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.created', 'project', new.id,
            case when new.description is null then
              pg_catalog.jsonb_build_object(
                'name', pg_catalog.jsonb_build_object('old', null, 'new', new.name),
                'created_by_user_id',
                pg_catalog.jsonb_build_object('old', null, 'new', new.created_by_user_id))
            else
              pg_catalog.jsonb_build_object(
                'name', pg_catalog.jsonb_build_object('old', null, 'new', new.name),
                'description', pg_catalog.jsonb_build_object('old', null, 'new', new.description),
                'created_by_user_id',
                pg_catalog.jsonb_build_object('old', null, 'new', new.created_by_user_id))
            end,
            iam.current_request_id());
  elsif tg_op = 'UPDATE' then
    if (old.name, old.description, old.created_by_user_id)
       is not distinct from (new.name, new.description, new.created_by_user_id) then
      return null;
    end if;
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (new.organization_id, iam.current_user_id(), 'project.updated', 'project', new.id,
            iam.audit_pair('name', old.name, new.name)
            || iam.audit_pair('description', old.description, new.description)
            || iam.audit_pair('created_by_user_id', old.created_by_user_id,
                              new.created_by_user_id),
            iam.current_request_id());
  elsif exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    insert into iam.audit_events
      (organization_id, actor_user_id, action, target_type, target_id, changes, request_id)
    values (old.organization_id, iam.current_user_id(), 'project.deleted', 'project', old.id,
            iam.audit_pair('name', old.name, null::text)
            || iam.audit_pair('description', old.description, null::text)
            || iam.audit_pair('created_by_user_id', old.created_by_user_id, null::uuid),
            iam.current_request_id());
  end if;
  return null;
end
$$;


--
-- Name: create_organization(text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.create_organization(p_name text) RETURNS TABLE(id uuid, name text, role iam.org_role, created_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: current_org_id(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.current_org_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$
  select nullif(pg_catalog.current_setting('iam.org_id', true), '')::uuid
$$;


--
-- Name: current_request_id(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.current_request_id() RETURNS text
    LANGUAGE sql STABLE
    AS $$
  select pg_catalog.left(nullif(pg_catalog.current_setting('iam.request_id', true), ''), 128)
$$;


--
-- Name: current_session_id(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.current_session_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $_$
  select case when pg_catalog.current_setting('iam.session_id', true)
                   ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then pg_catalog.current_setting('iam.session_id', true)::uuid end
$_$;


--
-- Name: current_user_id(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE
    AS $$
  select nullif(pg_catalog.current_setting('iam.user_id', true), '')::uuid
$$;


--
-- Name: delete_organization(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.delete_organization(p_id uuid, OUT deleted boolean, OUT visible boolean) RETURNS record
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (delete from iam.organizations as o where o.id = p_id returning 1)
  select exists (select 1 from gone),
         exists (select 1 from iam.organizations as o where o.id = p_id)
$$;


--
-- Name: delete_project(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.delete_project(p_id uuid, OUT deleted boolean, OUT visible boolean) RETURNS record
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (delete from iam.projects as p where p.id = p_id returning 1)
  select exists (select 1 from gone), exists (select 1 from iam.projects as p where p.id = p_id)
$$;


--
-- Name: end_other_sessions(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.end_other_sessions() RETURNS bigint
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (
    delete from iam.sessions as s where s.id is distinct from iam.current_session_id() returning 1
  )
  select count(*) from gone
$$;


--
-- Name: end_session(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.end_session(p_id uuid) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (delete from iam.sessions as s where s.id = p_id returning 1)
  select exists (select 1 from gone)
$$;


--
-- Name: invitation_token_hash(text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.invitation_token_hash(p_token text) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
$$;


--
-- Name: keep_last_admin(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.keep_last_admin() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  if old.role <> 'ORG_ADMIN' or (tg_op = 'UPDATE' and new.role = 'ORG_ADMIN') then
    return case when tg_op = 'DELETE' then old else new end;
  end if;

  perform pg_catalog.pg_advisory_xact_lock(1769107757, iam.organization_lock_key(old.organization_id));
  if not exists (select 1 from iam.organizations as o where o.id = old.organization_id) then
    -- The organization itself is being deleted: its memberships go with it.
    return old;
  end if;

  if not exists (
    select 1 from iam.organization_memberships as m
    where m.organization_id = old.organization_id
      and m.role = 'ORG_ADMIN'
      and m.id <> old.id
  ) then
    raise exception 'an organization must keep at least one ORG_ADMIN'
      using errcode = 'IAM01';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;


--
-- Name: lock_membership_change(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.lock_membership_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform pg_catalog.pg_advisory_xact_lock(
    1769107757, iam.membership_lock_key(old.organization_id, old.user_id));
  return case when tg_op = 'DELETE' then old else new end;
end
$$;


--
-- Name: login_attempt(text, text, uuid, integer, integer, integer, integer); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.login_attempt(p_client text, p_email text, p_organization_id uuid, p_client_limit integer, p_client_window integer, p_failure_limit integer, p_failure_window integer) RETURNS TABLE(wait_seconds integer, slow_down boolean, user_id uuid, password_hash text, is_active boolean, organization_id uuid, organization_name text, role iam.org_role)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_wait integer;
  v_slow boolean;
begin
  v_wait := iam.rate_limit_slide(iam.rate_limit_key('client', p_client), p_client_window,
                                 p_client_limit, true);
  if v_wait = 0 then
    v_wait := iam.rate_limit_slide(iam.rate_limit_key('login-pair', p_email || ' ' || p_client),
                                   p_failure_window, p_failure_limit, true);
  end if;
  if v_wait > 0 then
    return query select v_wait, false, null::uuid, null::text, null::boolean, null::uuid,
                        null::text, null::iam.org_role;
    return;
  end if;
  v_slow := iam.rate_limit_slide(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                                 p_failure_limit, false) > 0;
  -- One row even for an unknown email: the caller verifies a dummy hash.
  return query
    select 0, v_slow, l.user_id, l.password_hash, l.is_active, l.organization_id,
           l.organization_name, l.role
    from (select) as one
    left join iam.login_lookup(p_email, p_organization_id) as l on true;
end
$$;


--
-- Name: login_failed(text, integer); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.login_failed(p_email text, p_failure_window integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select iam.rate_limit_slide(iam.rate_limit_key('login-failure', p_email), p_failure_window,
                              2147483647, true);
$$;


--
-- Name: login_lookup(text, uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.login_lookup(p_email text, p_organization_id uuid DEFAULT NULL::uuid) RETURNS TABLE(user_id uuid, password_hash text, is_active boolean, organization_id uuid, organization_name text, role iam.org_role)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_user iam.users;
begin
  select * into v_user from iam.users as u
  where u.email = pg_catalog.lower(pg_catalog.btrim(p_email));
  if not found then
    return;
  end if;

  insert into iam.password_hash_handouts (user_id, hash_digest)
  values (v_user.id, iam.password_hash_digest(v_user.password_hash));
  -- Now and then, forget hand-outs older than the trace is kept for.
  if pg_catalog.random() < 0.01 then
    delete from iam.password_hash_handouts
    where handed_out_at < pg_catalog.now() - interval '30 days';
  end if;

  return query
  select v_user.id, v_user.password_hash, v_user.is_active, o.id, o.name, m.role
  from (select 1) as one
  left join lateral (
    select m.organization_id, m.role
    from iam.organization_memberships as m
    where m.user_id = v_user.id
      and (p_organization_id is null or m.organization_id = p_organization_id)
    order by m.created_at, m.organization_id
    limit 1
  ) as m on true
  left join iam.organizations as o on o.id = m.organization_id;
end
$$;


--
-- Name: login_succeeded(text, text, integer); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.login_succeeded(p_client text, p_email text, p_failure_window integer) RETURNS void
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  delete from iam.rate_limit_buckets
  where bucket = iam.rate_limit_key('login-pair', p_email || ' ' || p_client);
$$;


--
-- Name: may_read_audit_events(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.may_read_audit_events() RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce(iam.member_role() = 'ORG_ADMIN', false)
$$;


--
-- Name: member_role(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.member_role() RETURNS iam.org_role
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  return (
    select m.role
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = iam.current_org_id()
      and m.user_id = iam.current_user_id()
      and u.is_active
  );
end
$$;


--
-- Name: member_role_for_write(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.member_role_for_write() RETURNS iam.org_role
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
begin
  perform pg_catalog.pg_advisory_xact_lock_shared(
    1769107757, iam.membership_lock_key(iam.current_org_id(), iam.current_user_id()));
  return (
    select m.role
    from iam.organization_memberships as m
    join iam.users as u on u.id = m.user_id
    where m.organization_id = iam.current_org_id()
      and m.user_id = iam.current_user_id()
      and u.is_active
  );
end
$$;


--
-- Name: membership_lock_key(uuid, uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.membership_lock_key(p_organization_id uuid, p_user_id uuid) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$
  select pg_catalog.hashtext(p_organization_id::text || '/' || p_user_id::text)
$$;


--
-- Name: my_organizations(integer, timestamp with time zone, uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.my_organizations(p_limit integer, p_before_created_at timestamp with time zone DEFAULT NULL::timestamp with time zone, p_before_id uuid DEFAULT NULL::uuid) RETURNS TABLE(id uuid, name text, role iam.org_role, created_at timestamp with time zone)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select o.id, o.name, m.role, o.created_at
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  join iam.users as u on u.id = m.user_id
  where m.user_id = iam.current_user_id()
    and u.is_active
    and (p_before_created_at is null
         or (o.created_at, o.id) < (p_before_created_at, p_before_id))
  order by o.created_at desc, o.id desc
  limit p_limit
$$;


--
-- Name: organization_lock_key(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.organization_lock_key(p_organization_id uuid) RETURNS integer
    LANGUAGE sql IMMUTABLE
    AS $$
  select pg_catalog.hashtext(p_organization_id::text)
$$;


--
-- Name: password_hash_digest(text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.password_hash_digest(p_hash text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_hash, 'UTF8')), 'hex')
$$;


--
-- Name: rate_limit_key(text, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.rate_limit_key(p_kind text, p_value text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path TO ''
    AS $$
  select p_kind || ':' || pg_catalog.encode(
    pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.lower(pg_catalog.btrim(p_value)), 'UTF8')),
    'hex')
$$;


--
-- Name: rate_limit_slide(text, integer, integer, boolean); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.rate_limit_slide(p_bucket text, p_window_seconds integer, p_limit integer, p_count boolean) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_now double precision := extract(epoch from pg_catalog.now());
  v_from double precision := pg_catalog.floor(v_now / p_window_seconds) * p_window_seconds;
  v_start timestamptz := pg_catalog.to_timestamp(v_from);
  v_elapsed double precision := (v_now - v_from) / p_window_seconds;
  v_hits integer;
  v_previous integer;
  v_rest integer;
begin
  if p_count then
    insert into iam.rate_limit_buckets as b (bucket, window_start, hits)
    values (p_bucket, v_start, 1)
    on conflict (bucket, window_start) do update set hits = b.hits + 1
    returning b.hits into v_hits;
    if pg_catalog.random() < 0.01 then
      delete from iam.rate_limit_buckets
      where window_start < pg_catalog.now() - interval '1 day';
    end if;
  else
    select b.hits into v_hits from iam.rate_limit_buckets as b
    where b.bucket = p_bucket and b.window_start = v_start;
  end if;
  select b.hits into v_previous from iam.rate_limit_buckets as b
  where b.bucket = p_bucket
    and b.window_start = v_start - pg_catalog.make_interval(secs => p_window_seconds);

  v_rest := coalesce(v_hits, 0) + case when p_count then 0 else 1 end;
  v_previous := coalesce(v_previous, 0);
  if v_previous * (1 - v_elapsed) + v_rest <= p_limit then
    return 0;
  end if;
  if v_rest > p_limit or v_previous = 0 then
    -- This window alone is full: wait for the next one, and in it until
    -- enough of this one's hits have slid out to admit one more.
    return greatest(1, pg_catalog.ceil((1 - v_elapsed
      + greatest(0, 1 - (p_limit - 1)::double precision / greatest(coalesce(v_hits, 0), 1)))
      * p_window_seconds))::integer;
  end if;
  -- Until enough of the window before has slid out.
  return greatest(1, pg_catalog.ceil(
    (1 - (p_limit - v_rest)::double precision / v_previous - v_elapsed) * p_window_seconds))::integer;
end
$$;


--
-- Name: refresh_session(text, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.refresh_session(p_refresh_token text, p_new_refresh_token text) RETURNS TABLE(session_id uuid, user_id uuid, organization_id uuid, organization_name text, role iam.org_role, expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: register(text, text, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.register(p_email text, p_password_hash text, p_organization_name text) RETURNS TABLE(user_id uuid, email text, organization_id uuid, organization_name text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_user_id uuid;
  v_email text;
  v_org_id uuid;
  v_org_name text;
begin
  insert into iam.users (email, password_hash)
  values (pg_catalog.lower(pg_catalog.btrim(p_email)), p_password_hash)
  returning id, email into v_user_id, v_email;

  insert into iam.organizations (name)
  values (pg_catalog.btrim(p_organization_name))
  returning id, name into v_org_id, v_org_name;

  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_org_id, v_user_id, 'ORG_ADMIN');

  return query select v_user_id, v_email, v_org_id, v_org_name;
end
$$;


--
-- Name: register_invited(text, text, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.register_invited(p_email text, p_password_hash text, p_token text) RETURNS TABLE(user_id uuid, email text, organization_id uuid, organization_name text, role iam.org_role)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_email text := pg_catalog.lower(pg_catalog.btrim(p_email));
  v_invitation iam.invitations;
  v_user_id uuid;
begin
  select * into v_invitation
  from iam.invitations as i
  where i.token_hash = iam.invitation_token_hash(p_token)
    and i.accepted_at is null
    and i.expires_at > pg_catalog.now()
    and i.email = v_email
  for update;
  if not found then
    raise exception 'no such invitation' using errcode = 'IAM03';
  end if;

  insert into iam.users (email, password_hash) values (v_email, p_password_hash)
  returning id into v_user_id;

  update iam.invitations as i
  set accepted_at = pg_catalog.now(), accepted_by_user_id = v_user_id
  where i.organization_id = v_invitation.organization_id and i.id = v_invitation.id;

  insert into iam.organization_memberships (organization_id, user_id, role)
  values (v_invitation.organization_id, v_user_id, v_invitation.role);

  return query
    select v_user_id, v_email, o.id, o.name, v_invitation.role
    from iam.organizations as o where o.id = v_invitation.organization_id;
end
$$;


--
-- Name: remove_member(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.remove_member(p_user_id uuid, OUT deleted boolean, OUT visible boolean) RETURNS record
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (
    delete from iam.organization_memberships as m where m.user_id = p_user_id returning 1
  )
  select exists (select 1 from gone),
         exists (select 1 from iam.organization_memberships as m where m.user_id = p_user_id)
$$;


--
-- Name: request_caller(uuid, uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.request_caller(p_user_id uuid, p_org_id uuid, OUT role iam.org_role, OUT is_active boolean) RETURNS record
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select case when u.is_active then m.role end, coalesce(u.is_active, false)
  from (values (p_user_id, p_org_id)) as caller (user_id, org_id)
  left join iam.users as u on u.id = caller.user_id
  left join iam.organization_memberships as m
    on m.organization_id = caller.org_id and m.user_id = caller.user_id
$$;


--
-- Name: request_session(uuid, uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.request_session(p_user_id uuid, p_session_id uuid, OUT is_live boolean) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select case when exists (select 1 from iam.sessions as s
                           where s.id = p_session_id
                             and s.user_id = p_user_id
                             and s.expires_at > pg_catalog.now())
              then true else iam.session_ended() end
$$;


--
-- Name: require_org_admin(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.require_org_admin() RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if iam.member_role() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may manage invitations'
      using errcode = 'insufficient_privilege';
  end if;
end
$$;


--
-- Name: revoke_invitation(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.revoke_invitation(p_id uuid) RETURNS boolean
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  with gone as (
    delete from iam.invitations as i where i.id = p_id and i.accepted_at is null returning 1
  )
  select exists (select 1 from gone)
$$;


--
-- Name: session_ended(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.session_ended() RETURNS boolean
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  raise exception 'the session has ended' using errcode = 'IAMSE';
end
$$;


--
-- Name: set_password_hash(uuid, text, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.set_password_hash(p_user_id uuid, p_old_hash text, p_new_hash text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_handout bigint;
begin
  select h.id into v_handout
  from iam.password_hash_handouts as h
  where h.user_id = p_user_id
    and h.hash_digest = iam.password_hash_digest(p_old_hash)
    and h.used_at is null
    and h.handed_out_at > pg_catalog.now() - interval '2 minutes'
  order by h.handed_out_at desc
  limit 1
  for update;
  if v_handout is null then
    return false;
  end if;

  update iam.users set password_hash = p_new_hash
  where id = p_user_id and password_hash = p_old_hash;
  if not found then
    return false;
  end if;
  update iam.password_hash_handouts set used_at = pg_catalog.now() where id = v_handout;
  return true;
end
$$;


--
-- Name: start_session(uuid, uuid, text, integer, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.start_session(p_user_id uuid, p_organization_id uuid, p_refresh_token text, p_ttl_seconds integer, p_user_agent text) RETURNS TABLE(session_id uuid, expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: switch_organization(uuid); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.switch_organization(p_organization_id uuid) RETURNS TABLE(organization_id uuid, organization_name text, role iam.org_role)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select o.id, o.name, m.role
  from iam.organization_memberships as m
  join iam.organizations as o on o.id = m.organization_id
  join iam.users as u on u.id = m.user_id
  where m.user_id = iam.current_user_id()
    and m.organization_id = p_organization_id
    and u.is_active
$$;


--
-- Name: switch_session_organization(uuid, text); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.switch_session_organization(p_organization_id uuid, p_new_refresh_token text) RETURNS TABLE(organization_id uuid, organization_name text, role iam.org_role, expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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


--
-- Name: take_organization_quota(integer); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.take_organization_quota(p_per_hour integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
declare
  v_bucket text;
  v_wait integer;
begin
  if iam.current_user_id() is null then
    raise exception 'no caller' using errcode = 'insufficient_privilege';
  end if;
  v_bucket := iam.rate_limit_key('organization-create', iam.current_user_id()::text);
  v_wait := iam.rate_limit_slide(v_bucket, 3600, p_per_hour, true);
  if v_wait > 0 then
    -- Refused attempts do not push the wait further out.
    update iam.rate_limit_buckets set hits = hits - 1
    where bucket = v_bucket
      and window_start = pg_catalog.to_timestamp(
        pg_catalog.floor(extract(epoch from pg_catalog.now()) / 3600) * 3600);
    return iam.rate_limit_slide(v_bucket, 3600, p_per_hour, false);
  end if;
  return 0;
end
$$;


--
-- Name: throttle_client(text, integer, integer); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.throttle_client(p_client text, p_client_limit integer, p_client_window integer) RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path TO ''
    AS $$
  select iam.rate_limit_slide(iam.rate_limit_key('client', p_client), p_client_window,
                              p_client_limit, true)
$$;


--
-- Name: touch_updated_at(); Type: FUNCTION; Schema: iam; Owner: -
--

CREATE FUNCTION iam.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if new is distinct from old then
    new.updated_at := pg_catalog.now();
  end if;
  return new;
end
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_events; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.audit_events (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    organization_id uuid NOT NULL,
    actor_user_id uuid,
    action text NOT NULL,
    target_type text NOT NULL,
    target_id uuid NOT NULL,
    changes jsonb NOT NULL,
    request_id text,
    occurred_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT audit_events_request_id_check CHECK ((char_length(request_id) <= 128))
);
ALTER TABLE ONLY iam.audit_events ALTER COLUMN request_id SET STATISTICS 0;

ALTER TABLE ONLY iam.audit_events FORCE ROW LEVEL SECURITY;


--
-- Name: invitations; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.invitations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    organization_id uuid DEFAULT iam.current_org_id() NOT NULL,
    email text NOT NULL,
    role iam.org_role NOT NULL,
    token_hash bytea NOT NULL,
    invited_by_user_id uuid DEFAULT iam.current_user_id(),
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    accepted_at timestamp with time zone,
    accepted_by_user_id uuid,
    CONSTRAINT invitations_accepted CHECK (((accepted_by_user_id IS NULL) OR (accepted_at IS NOT NULL))),
    CONSTRAINT invitations_email_length CHECK (((char_length(email) >= 3) AND (char_length(email) <= 254))),
    CONSTRAINT invitations_email_normalized CHECK ((email = lower(btrim(email)))),
    CONSTRAINT invitations_expiry CHECK ((expires_at > created_at)),
    CONSTRAINT invitations_token_hash_length CHECK ((octet_length(token_hash) = 32))
);
ALTER TABLE ONLY iam.invitations ALTER COLUMN email SET STATISTICS 0;

ALTER TABLE ONLY iam.invitations FORCE ROW LEVEL SECURITY;


--
-- Name: organization_memberships; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.organization_memberships (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    organization_id uuid DEFAULT iam.current_org_id() NOT NULL,
    user_id uuid NOT NULL,
    role iam.org_role NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY iam.organization_memberships FORCE ROW LEVEL SECURITY;


--
-- Name: organizations; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.organizations (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT organizations_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200)))
);
ALTER TABLE ONLY iam.organizations ALTER COLUMN name SET STATISTICS 0;

ALTER TABLE ONLY iam.organizations FORCE ROW LEVEL SECURITY;


--
-- Name: password_hash_handouts; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.password_hash_handouts (
    id bigint NOT NULL,
    user_id uuid NOT NULL,
    hash_digest text NOT NULL,
    handed_out_at timestamp with time zone DEFAULT now() NOT NULL,
    used_at timestamp with time zone
);

ALTER TABLE ONLY iam.password_hash_handouts FORCE ROW LEVEL SECURITY;


--
-- Name: password_hash_handouts_id_seq; Type: SEQUENCE; Schema: iam; Owner: -
--

ALTER TABLE iam.password_hash_handouts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME iam.password_hash_handouts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: projects; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.projects (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    organization_id uuid DEFAULT iam.current_org_id() NOT NULL,
    name text NOT NULL,
    description text,
    created_by_user_id uuid DEFAULT iam.current_user_id() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT projects_description_check CHECK ((char_length(description) <= 2000)),
    CONSTRAINT projects_name_check CHECK (((char_length(name) >= 1) AND (char_length(name) <= 200)))
);
ALTER TABLE ONLY iam.projects ALTER COLUMN name SET STATISTICS 0;
ALTER TABLE ONLY iam.projects ALTER COLUMN description SET STATISTICS 0;

ALTER TABLE ONLY iam.projects FORCE ROW LEVEL SECURITY;


--
-- Name: rate_limit_buckets; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.rate_limit_buckets (
    bucket text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    hits integer NOT NULL
);

ALTER TABLE ONLY iam.rate_limit_buckets FORCE ROW LEVEL SECURITY;


--
-- Name: refresh_tokens; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.refresh_tokens (
    token_hash bytea NOT NULL,
    session_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    spent_at timestamp with time zone,
    CONSTRAINT refresh_tokens_token_hash_check CHECK ((octet_length(token_hash) = 32))
);

ALTER TABLE ONLY iam.refresh_tokens FORCE ROW LEVEL SECURITY;


--
-- Name: sessions; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.sessions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    organization_id uuid,
    user_agent text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT sessions_expiry_after_start CHECK ((expires_at > created_at)),
    CONSTRAINT sessions_user_agent_check CHECK ((char_length(user_agent) <= 500))
);

ALTER TABLE ONLY iam.sessions FORCE ROW LEVEL SECURITY;


--
-- Name: users; Type: TABLE; Schema: iam; Owner: -
--

CREATE TABLE iam.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    password_hash text NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT users_email_length CHECK (((char_length(email) >= 3) AND (char_length(email) <= 254))),
    CONSTRAINT users_email_normalized CHECK ((email = lower(btrim(email))))
);
ALTER TABLE ONLY iam.users ALTER COLUMN email SET STATISTICS 0;

ALTER TABLE ONLY iam.users FORCE ROW LEVEL SECURITY;


--
-- Name: policy_files; Type: TABLE; Schema: iam_migrations; Owner: -
--

CREATE TABLE iam_migrations.policy_files (
    table_name text NOT NULL,
    file_sha256 text NOT NULL,
    facts_sha256 text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: iam_migrations; Owner: -
--

CREATE TABLE iam_migrations.schema_migrations (
    version character varying NOT NULL
);


--
-- Name: audit_events audit_events_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (organization_id, occurred_at, id);


--
-- Name: invitations invitations_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.invitations
    ADD CONSTRAINT invitations_pkey PRIMARY KEY (organization_id, id);


--
-- Name: organization_memberships organization_memberships_org_user_key; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.organization_memberships
    ADD CONSTRAINT organization_memberships_org_user_key UNIQUE (organization_id, user_id);


--
-- Name: organization_memberships organization_memberships_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.organization_memberships
    ADD CONSTRAINT organization_memberships_pkey PRIMARY KEY (organization_id, id);


--
-- Name: organizations organizations_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.organizations
    ADD CONSTRAINT organizations_pkey PRIMARY KEY (id);


--
-- Name: password_hash_handouts password_hash_handouts_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.password_hash_handouts
    ADD CONSTRAINT password_hash_handouts_pkey PRIMARY KEY (id);


--
-- Name: projects projects_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (organization_id, id);


--
-- Name: rate_limit_buckets rate_limit_buckets_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.rate_limit_buckets
    ADD CONSTRAINT rate_limit_buckets_pkey PRIMARY KEY (bucket, window_start);


--
-- Name: refresh_tokens refresh_tokens_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.refresh_tokens
    ADD CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash);


--
-- Name: sessions sessions_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);


--
-- Name: users users_email_key; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.users
    ADD CONSTRAINT users_email_key UNIQUE (email);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: policy_files policy_files_pkey; Type: CONSTRAINT; Schema: iam_migrations; Owner: -
--

ALTER TABLE ONLY iam_migrations.policy_files
    ADD CONSTRAINT policy_files_pkey PRIMARY KEY (table_name);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: iam_migrations; Owner: -
--

ALTER TABLE ONLY iam_migrations.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: audit_events_org_actor_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX audit_events_org_actor_idx ON iam.audit_events USING btree (organization_id, actor_user_id, occurred_at, id);


--
-- Name: audit_events_org_target_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX audit_events_org_target_idx ON iam.audit_events USING btree (organization_id, target_id, occurred_at, id);


--
-- Name: invitations_accepted_by_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX invitations_accepted_by_idx ON iam.invitations USING btree (accepted_by_user_id);


--
-- Name: invitations_invited_by_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX invitations_invited_by_idx ON iam.invitations USING btree (invited_by_user_id);


--
-- Name: invitations_org_created_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX invitations_org_created_idx ON iam.invitations USING btree (organization_id, created_at DESC, id DESC);


--
-- Name: invitations_pending_email_key; Type: INDEX; Schema: iam; Owner: -
--

CREATE UNIQUE INDEX invitations_pending_email_key ON iam.invitations USING btree (organization_id, email) WHERE (accepted_at IS NULL);


--
-- Name: invitations_token_hash_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX invitations_token_hash_idx ON iam.invitations USING btree (token_hash);


--
-- Name: organization_memberships_admins_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX organization_memberships_admins_idx ON iam.organization_memberships USING btree (organization_id) WHERE (role = 'ORG_ADMIN'::iam.org_role);


--
-- Name: organization_memberships_user_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX organization_memberships_user_idx ON iam.organization_memberships USING btree (user_id, created_at, organization_id);


--
-- Name: password_hash_handouts_time_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX password_hash_handouts_time_idx ON iam.password_hash_handouts USING btree (handed_out_at);


--
-- Name: password_hash_handouts_user_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX password_hash_handouts_user_idx ON iam.password_hash_handouts USING btree (user_id, handed_out_at DESC);


--
-- Name: projects_created_by_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX projects_created_by_idx ON iam.projects USING btree (created_by_user_id);


--
-- Name: projects_org_created_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX projects_org_created_idx ON iam.projects USING btree (organization_id, created_at DESC, id DESC);


--
-- Name: projects_org_name_key; Type: INDEX; Schema: iam; Owner: -
--

CREATE UNIQUE INDEX projects_org_name_key ON iam.projects USING btree (organization_id, lower(name));


--
-- Name: rate_limit_buckets_window_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX rate_limit_buckets_window_idx ON iam.rate_limit_buckets USING btree (window_start);


--
-- Name: refresh_tokens_session_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX refresh_tokens_session_idx ON iam.refresh_tokens USING btree (session_id);


--
-- Name: sessions_expires_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX sessions_expires_idx ON iam.sessions USING btree (expires_at);


--
-- Name: sessions_organization_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX sessions_organization_idx ON iam.sessions USING btree (organization_id);


--
-- Name: sessions_user_idx; Type: INDEX; Schema: iam; Owner: -
--

CREATE INDEX sessions_user_idx ON iam.sessions USING btree (user_id, created_at DESC, id DESC);


--
-- Name: invitations invitations_admit; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER invitations_admit BEFORE INSERT ON iam.invitations FOR EACH ROW EXECUTE FUNCTION iam.admit_invitation();


--
-- Name: invitations invitations_audit; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER invitations_audit AFTER INSERT OR DELETE OR UPDATE OF accepted_at ON iam.invitations FOR EACH ROW EXECUTE FUNCTION iam.audit_invitation_change();


--
-- Name: organization_memberships organization_memberships_audit; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organization_memberships_audit AFTER INSERT OR DELETE OR UPDATE OF role ON iam.organization_memberships FOR EACH ROW EXECUTE FUNCTION iam.audit_membership_change();


--
-- Name: organization_memberships organization_memberships_keep_last_admin; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organization_memberships_keep_last_admin BEFORE DELETE OR UPDATE OF role ON iam.organization_memberships FOR EACH ROW EXECUTE FUNCTION iam.keep_last_admin();


--
-- Name: organization_memberships organization_memberships_lock_change; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organization_memberships_lock_change BEFORE DELETE OR UPDATE OF role ON iam.organization_memberships FOR EACH ROW EXECUTE FUNCTION iam.lock_membership_change();


--
-- Name: organizations organizations_audit; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organizations_audit AFTER INSERT OR UPDATE OF name ON iam.organizations FOR EACH ROW EXECUTE FUNCTION iam.audit_organization_change();


--
-- Name: organizations organizations_audit_forget; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organizations_audit_forget AFTER DELETE ON iam.organizations FOR EACH ROW EXECUTE FUNCTION iam.audit_forget_organization();


--
-- Name: organizations organizations_touch_updated_at; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER organizations_touch_updated_at BEFORE UPDATE ON iam.organizations FOR EACH ROW EXECUTE FUNCTION iam.touch_updated_at();


--
-- Name: projects projects_audit; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER projects_audit AFTER INSERT OR DELETE OR UPDATE OF name, description, created_by_user_id ON iam.projects FOR EACH ROW EXECUTE FUNCTION iam.audit_project_change();


--
-- Name: projects projects_touch_updated_at; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER projects_touch_updated_at BEFORE UPDATE ON iam.projects FOR EACH ROW EXECUTE FUNCTION iam.touch_updated_at();


--
-- Name: users users_touch_updated_at; Type: TRIGGER; Schema: iam; Owner: -
--

CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON iam.users FOR EACH ROW EXECUTE FUNCTION iam.touch_updated_at();


--
-- Name: invitations invitations_accepted_by_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.invitations
    ADD CONSTRAINT invitations_accepted_by_user_id_fkey FOREIGN KEY (accepted_by_user_id) REFERENCES iam.users(id) ON DELETE SET NULL;


--
-- Name: invitations invitations_invited_by_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.invitations
    ADD CONSTRAINT invitations_invited_by_user_id_fkey FOREIGN KEY (invited_by_user_id) REFERENCES iam.users(id) ON DELETE SET NULL;


--
-- Name: invitations invitations_organization_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.invitations
    ADD CONSTRAINT invitations_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES iam.organizations(id) ON DELETE CASCADE;


--
-- Name: organization_memberships organization_memberships_organization_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.organization_memberships
    ADD CONSTRAINT organization_memberships_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES iam.organizations(id) ON DELETE CASCADE;


--
-- Name: organization_memberships organization_memberships_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.organization_memberships
    ADD CONSTRAINT organization_memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES iam.users(id) ON DELETE CASCADE;


--
-- Name: password_hash_handouts password_hash_handouts_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.password_hash_handouts
    ADD CONSTRAINT password_hash_handouts_user_id_fkey FOREIGN KEY (user_id) REFERENCES iam.users(id) ON DELETE CASCADE;


--
-- Name: projects projects_created_by_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.projects
    ADD CONSTRAINT projects_created_by_user_id_fkey FOREIGN KEY (created_by_user_id) REFERENCES iam.users(id);


--
-- Name: projects projects_organization_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.projects
    ADD CONSTRAINT projects_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES iam.organizations(id) ON DELETE CASCADE;


--
-- Name: refresh_tokens refresh_tokens_session_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.refresh_tokens
    ADD CONSTRAINT refresh_tokens_session_id_fkey FOREIGN KEY (session_id) REFERENCES iam.sessions(id) ON DELETE CASCADE;


--
-- Name: sessions sessions_organization_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.sessions
    ADD CONSTRAINT sessions_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES iam.organizations(id) ON DELETE SET NULL;


--
-- Name: sessions sessions_user_id_fkey; Type: FK CONSTRAINT; Schema: iam; Owner: -
--

ALTER TABLE ONLY iam.sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES iam.users(id) ON DELETE CASCADE;


--
-- Name: projects Admins and users can create projects in their organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins and users can create projects in their organization" ON iam.projects FOR INSERT TO iam_authenticated WITH CHECK (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (created_by_user_id = ( SELECT iam.current_user_id() AS current_user_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = ANY (ARRAY['ORG_ADMIN'::iam.org_role, 'ORG_USER'::iam.org_role]))));


--
-- Name: projects Admins and users can edit their organization's projects; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins and users can edit their organization's projects" ON iam.projects FOR UPDATE TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = ANY (ARRAY['ORG_ADMIN'::iam.org_role, 'ORG_USER'::iam.org_role])))) WITH CHECK (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = ANY (ARRAY['ORG_ADMIN'::iam.org_role, 'ORG_USER'::iam.org_role]))));


--
-- Name: organization_memberships Admins can change roles in their organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can change roles in their organization" ON iam.organization_memberships FOR UPDATE TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role))) WITH CHECK (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: organizations Admins can delete their organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can delete their organization" ON iam.organizations FOR DELETE TO iam_deleter USING (((id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: projects Admins can delete their organization's projects; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can delete their organization's projects" ON iam.projects FOR DELETE TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: invitations Admins can invite into their organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can invite into their organization" ON iam.invitations FOR INSERT TO iam_authenticated WITH CHECK (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (invited_by_user_id = ( SELECT iam.current_user_id() AS current_user_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: audit_events Admins can read their organization's audit events; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can read their organization's audit events" ON iam.audit_events FOR SELECT TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND ( SELECT iam.may_read_audit_events() AS may_read_audit_events)));


--
-- Name: invitations Admins can read their organization's invitations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can read their organization's invitations" ON iam.invitations FOR SELECT TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: organization_memberships Admins can remove members, and members can leave; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can remove members, and members can leave" ON iam.organization_memberships FOR DELETE TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND ((( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role) OR ((user_id = ( SELECT iam.current_user_id() AS current_user_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) IS NOT NULL)))));


--
-- Name: organizations Admins can rename their organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can rename their organization" ON iam.organizations FOR UPDATE TO iam_authenticated USING (((id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role))) WITH CHECK ((id = ( SELECT iam.current_org_id() AS current_org_id)));


--
-- Name: invitations Admins can revoke their organization's invitations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Admins can revoke their organization's invitations" ON iam.invitations FOR DELETE TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role_for_write() AS member_role_for_write) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: audit_events Audit triggers can delete the events of deleted organizations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Audit triggers can delete the events of deleted organizations" ON iam.audit_events FOR DELETE TO iam_definer USING ((NOT (EXISTS ( SELECT 1
   FROM iam.organizations o
  WHERE (o.id = audit_events.organization_id)))));


--
-- Name: audit_events Audit triggers can record events; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Audit triggers can record events" ON iam.audit_events FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: audit_events Audit triggers can see the events of deleted organizations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Audit triggers can see the events of deleted organizations" ON iam.audit_events FOR SELECT TO iam_definer USING ((NOT (EXISTS ( SELECT 1
   FROM iam.organizations o
  WHERE (o.id = audit_events.organization_id)))));


--
-- Name: refresh_tokens Definer functions can add refresh tokens; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can add refresh tokens" ON iam.refresh_tokens FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: rate_limit_buckets Definer functions can add to rate limit buckets; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can add to rate limit buckets" ON iam.rate_limit_buckets FOR UPDATE TO iam_definer USING (true) WITH CHECK (true);


--
-- Name: rate_limit_buckets Definer functions can count in rate limit buckets; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can count in rate limit buckets" ON iam.rate_limit_buckets FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: organization_memberships Definer functions can create memberships; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can create memberships" ON iam.organization_memberships FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: organizations Definer functions can create organizations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can create organizations" ON iam.organizations FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: users Definer functions can create users; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can create users" ON iam.users FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: sessions Definer functions can end sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can end sessions" ON iam.sessions FOR DELETE TO iam_definer USING (true);


--
-- Name: rate_limit_buckets Definer functions can expire rate limit buckets; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can expire rate limit buckets" ON iam.rate_limit_buckets FOR DELETE TO iam_definer USING (true);


--
-- Name: password_hash_handouts Definer functions can forget old hash hand-outs; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can forget old hash hand-outs" ON iam.password_hash_handouts FOR DELETE TO iam_definer USING ((handed_out_at < (now() - '30 days'::interval)));


--
-- Name: invitations Definer functions can mark invitations accepted; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can mark invitations accepted" ON iam.invitations FOR UPDATE TO iam_definer USING ((accepted_at IS NULL)) WITH CHECK ((accepted_at IS NOT NULL));


--
-- Name: sessions Definer functions can move sessions on; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can move sessions on" ON iam.sessions FOR UPDATE TO iam_definer USING (true) WITH CHECK (true);


--
-- Name: invitations Definer functions can purge expired invitations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can purge expired invitations" ON iam.invitations FOR DELETE TO iam_definer USING (((accepted_at IS NULL) AND (expires_at <= now())));


--
-- Name: password_hash_handouts Definer functions can read hash hand-outs; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read hash hand-outs" ON iam.password_hash_handouts FOR SELECT TO iam_definer USING (true);


--
-- Name: invitations Definer functions can read invitations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read invitations" ON iam.invitations FOR SELECT TO iam_definer USING (true);


--
-- Name: organization_memberships Definer functions can read memberships; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read memberships" ON iam.organization_memberships FOR SELECT TO iam_definer USING (true);


--
-- Name: organizations Definer functions can read organizations; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read organizations" ON iam.organizations FOR SELECT TO iam_definer USING (true);


--
-- Name: rate_limit_buckets Definer functions can read rate limit buckets; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read rate limit buckets" ON iam.rate_limit_buckets FOR SELECT TO iam_definer USING (true);


--
-- Name: refresh_tokens Definer functions can read refresh tokens; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read refresh tokens" ON iam.refresh_tokens FOR SELECT TO iam_definer USING (true);


--
-- Name: sessions Definer functions can read sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read sessions" ON iam.sessions FOR SELECT TO iam_definer USING (true);


--
-- Name: users Definer functions can read users; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can read users" ON iam.users FOR SELECT TO iam_definer USING (true);


--
-- Name: password_hash_handouts Definer functions can record hash hand-outs; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can record hash hand-outs" ON iam.password_hash_handouts FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: password_hash_handouts Definer functions can spend hash hand-outs; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can spend hash hand-outs" ON iam.password_hash_handouts FOR UPDATE TO iam_definer USING ((used_at IS NULL)) WITH CHECK ((used_at IS NOT NULL));


--
-- Name: refresh_tokens Definer functions can spend refresh tokens; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can spend refresh tokens" ON iam.refresh_tokens FOR UPDATE TO iam_definer USING (true) WITH CHECK (true);


--
-- Name: sessions Definer functions can start sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can start sessions" ON iam.sessions FOR INSERT TO iam_definer WITH CHECK (true);


--
-- Name: users Definer functions can update password hashes; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Definer functions can update password hashes" ON iam.users FOR UPDATE TO iam_definer USING (true) WITH CHECK (true);


--
-- Name: sessions Deletes find the caller's own sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Deletes find the caller's own sessions" ON iam.sessions FOR SELECT TO iam_deleter USING ((user_id = ( SELECT iam.current_user_id() AS current_user_id)));


--
-- Name: invitations Deletes find the invitations admins can read; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Deletes find the invitations admins can read" ON iam.invitations FOR SELECT TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) = 'ORG_ADMIN'::iam.org_role)));


--
-- Name: organization_memberships Deletes find the memberships members can read; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Deletes find the memberships members can read" ON iam.organization_memberships FOR SELECT TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: organizations Deletes find the organization members can read; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Deletes find the organization members can read" ON iam.organizations FOR SELECT TO iam_deleter USING (((id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: projects Deletes find the projects members can read; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Deletes find the projects members can read" ON iam.projects FOR SELECT TO iam_deleter USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: organizations Members can read their active organization; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Members can read their active organization" ON iam.organizations FOR SELECT TO iam_authenticated USING (((id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: organization_memberships Members can read their organization's memberships; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Members can read their organization's memberships" ON iam.organization_memberships FOR SELECT TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: projects Members can read their organization's projects; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Members can read their organization's projects" ON iam.projects FOR SELECT TO iam_authenticated USING (((organization_id = ( SELECT iam.current_org_id() AS current_org_id)) AND (( SELECT iam.member_role() AS member_role) IS NOT NULL)));


--
-- Name: users Members can read themselves and their organization's members; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Members can read themselves and their organization's members" ON iam.users FOR SELECT TO iam_authenticated USING (((id = ( SELECT iam.current_user_id() AS current_user_id)) OR (EXISTS ( SELECT 1
   FROM iam.organization_memberships m
  WHERE ((m.user_id = users.id) AND (m.organization_id = ( SELECT iam.current_org_id() AS current_org_id)))))));


--
-- Name: sessions Users can end their own sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Users can end their own sessions" ON iam.sessions FOR DELETE TO iam_deleter USING ((user_id = ( SELECT iam.current_user_id() AS current_user_id)));


--
-- Name: sessions Users can read their own sessions; Type: POLICY; Schema: iam; Owner: -
--

CREATE POLICY "Users can read their own sessions" ON iam.sessions FOR SELECT TO iam_authenticated USING ((user_id = ( SELECT iam.current_user_id() AS current_user_id)));


--
-- Name: audit_events; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.audit_events ENABLE ROW LEVEL SECURITY;

--
-- Name: invitations; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.invitations ENABLE ROW LEVEL SECURITY;

--
-- Name: organization_memberships; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.organization_memberships ENABLE ROW LEVEL SECURITY;

--
-- Name: organizations; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.organizations ENABLE ROW LEVEL SECURITY;

--
-- Name: password_hash_handouts; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.password_hash_handouts ENABLE ROW LEVEL SECURITY;

--
-- Name: projects; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.projects ENABLE ROW LEVEL SECURITY;

--
-- Name: rate_limit_buckets; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.rate_limit_buckets ENABLE ROW LEVEL SECURITY;

--
-- Name: refresh_tokens; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.refresh_tokens ENABLE ROW LEVEL SECURITY;

--
-- Name: sessions; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.sessions ENABLE ROW LEVEL SECURITY;

--
-- Name: users; Type: ROW SECURITY; Schema: iam; Owner: -
--

ALTER TABLE iam.users ENABLE ROW LEVEL SECURITY;

--
-- PostgreSQL database dump complete
--

\unrestrict dbmate


--
-- Dbmate schema migrations
--

INSERT INTO iam_migrations.schema_migrations (version) VALUES
    ('20261126100000'),
    ('20261126100100'),
    ('20261126100200'),
    ('20261126100300'),
    ('20261126100400'),
    ('20261126100500'),
    ('20261130100000'),
    ('20261130100100'),
    ('20261130110000'),
    ('20261130110100'),
    ('20261130120000'),
    ('20261130130000'),
    ('20261130130100'),
    ('20261130150000'),
    ('20261130160000'),
    ('20261130160100'),
    ('20261130160200'),
    ('20261130160300'),
    ('20261130170000'),
    ('20261201100000'),
    ('20261201100100'),
    ('20261201110000');
