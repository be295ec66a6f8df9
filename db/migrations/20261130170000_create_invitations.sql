-- migrate:up

-- Members join an organization by accepting an invitation, never by being
-- added: the invitee's consent is the acceptance. The token is shown once to
-- the inviting admin and stored only as its SHA-256 digest (core sha256(),
-- no extension needed).

-- ------------------------------------------------------------------ invitations
create table iam.invitations (
  id                   uuid not null default gen_random_uuid(),
  organization_id      uuid not null default iam.current_org_id()
                       references iam.organizations (id) on delete cascade,
  email                text not null
                       constraint invitations_email_normalized check (email = lower(btrim(email)))
                       constraint invitations_email_length check (char_length(email) between 3 and 254),
  role                 iam.org_role not null,
  token_hash           bytea not null
                       constraint invitations_token_hash_length check (octet_length(token_hash) = 32),
  invited_by_user_id   uuid default iam.current_user_id()
                       references iam.users (id) on delete set null,
  created_at           timestamptz not null default now(),
  expires_at           timestamptz not null,
  accepted_at          timestamptz,
  accepted_by_user_id  uuid references iam.users (id) on delete set null,
  constraint invitations_pkey primary key (organization_id, id),
  constraint invitations_expiry check (expires_at > created_at),
  -- The acceptor may later be deleted (set null); an acceptance never is.
  constraint invitations_accepted check (accepted_by_user_id is null or accepted_at is not null)
);
-- One pending invitation per email and organization: a second one is a
-- unique violation (409). Expired ones are purged before an insert
-- (iam.admit_invitation), so they never block a new invitation.
create unique index invitations_pending_email_key
  on iam.invitations (organization_id, email) where accepted_at is null;
-- Accepting looks the invitation up by its token's digest. Not unique: a
-- unique key would have to lead with organization_id; 256 random bits make
-- a collision a non-event.
create index invitations_token_hash_idx on iam.invitations (token_hash);
-- Invitee emails are other tenants' text: no planner statistics, which
-- leakproof comparisons would let a tenant read through row estimates
-- (docs/dba.md, "Planner statistics").
alter table iam.invitations alter column email set statistics 0;
-- Newest-first keyset pagination within one organization.
create index invitations_org_created_idx
  on iam.invitations (organization_id, created_at desc, id desc);
create index invitations_invited_by_idx on iam.invitations (invited_by_user_id);
create index invitations_accepted_by_idx on iam.invitations (accepted_by_user_id);

alter table iam.invitations enable row level security;
alter table iam.invitations force row level security;

-- The digest of a token, as stored. Immutable and plain SQL: the API's
-- insert and the definer functions hash the same way.
create function iam.invitation_token_hash(p_token text) returns bytea
language sql immutable
set search_path = ''
as $$
  select pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
$$;

-- For statements that only an ORG_ADMIN of the active organization may run
-- and whose rows everyone else simply cannot see (the invitation list):
-- refuse with 42501 (403) instead of answering with nothing.
create function iam.require_org_admin() returns void
language plpgsql stable
set search_path = ''
as $$
begin
  if iam.member_role() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may manage invitations'
      using errcode = 'insufficient_privilege';
  end if;
end
$$;

-- Before an invitation is stored, whoever stores it (the API or plain SQL
-- as the runtime role): only an ORG_ADMIN of the active organization gets
-- past the first check (42501); then invitations of one organization take turns on an
-- advisory lock (namespace 1769107758, the invitations' own), expired
-- pending ones of that organization are purged, a current member's email
-- is a conflict (23505, as a duplicate), and at most 100 invitations may be
-- pending at once (IAM02). Only emails of the organization's own members
-- are compared, which its admins already see: nothing says whether an
-- email belongs to a registered user.
create function iam.admit_invitation() returns trigger
language plpgsql security definer
set search_path = ''
as $$
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

create trigger invitations_admit before insert on iam.invitations
  for each row execute function iam.admit_invitation();

-- Accepting: the signed-in user's email must be the invitation's, which is
-- pending and not expired. The UPDATE marks it used; of two racing accepts
-- the second waits for the first's row lock, then re-checks accepted_at and
-- finds nothing. No row: unknown, expired, revoked, used or someone else's,
-- all alike. An accepted invitation of someone already a member keeps
-- their membership as it is.
create function iam.accept_invitation(p_token text)
returns table (organization_id uuid, organization_name text, role iam.org_role)
language plpgsql volatile security definer
set search_path = ''
as $$
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

-- Registering with an invitation: the new user joins the inviting
-- organization with the invited role instead of creating one. The
-- invitation is checked (and locked) first: an unusable one is IAM03 (404)
-- and nothing is created; a taken email is 23505 (409), as for any
-- registration.
create function iam.register_invited(p_email text, p_password_hash text, p_token text)
returns table (user_id uuid, email text, organization_id uuid, organization_name text,
               role iam.org_role)
language plpgsql volatile security definer
set search_path = ''
as $$
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

-- Members no longer resolve emails to users: that told any admin whether
-- an email is registered.
drop function iam.user_id_for_invite(text);

alter function iam.admit_invitation() owner to iam_definer;
alter function iam.accept_invitation(text) owner to iam_definer;
alter function iam.register_invited(text, text, text) owner to iam_definer;

revoke execute on function
  iam.invitation_token_hash(text),
  iam.require_org_admin(),
  iam.admit_invitation(),
  iam.accept_invitation(text),
  iam.register_invited(text, text, text)
  from public;
grant execute on function iam.invitation_token_hash(text) to iam_authenticated, iam_definer;
grant execute on function iam.require_org_admin() to iam_authenticated;
grant execute on function iam.accept_invitation(text) to iam_authenticated;
grant execute on function iam.register_invited(text, text, text) to iam_anon;

-- migrate:down

create function iam.user_id_for_invite(p_email text)
returns uuid
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if iam.member_role() is distinct from 'ORG_ADMIN' then
    raise exception 'only an ORG_ADMIN may add members'
      using errcode = 'insufficient_privilege';
  end if;
  return (
    select u.id from iam.users as u
    where u.email = pg_catalog.lower(pg_catalog.btrim(p_email)) and u.is_active
  );
end
$$;
alter function iam.user_id_for_invite(text) owner to iam_definer;
revoke execute on function iam.user_id_for_invite(text) from public;
grant execute on function iam.user_id_for_invite(text) to iam_authenticated;

drop function iam.register_invited(text, text, text);
drop function iam.accept_invitation(text);
drop table iam.invitations;
drop function iam.admit_invitation();
drop function iam.require_org_admin();
drop function iam.invitation_token_hash(text);
