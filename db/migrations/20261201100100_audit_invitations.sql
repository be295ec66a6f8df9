-- migrate:up

-- Invitations are audited like memberships, projects and organizations
-- (docs/audit.md): created, revoked (an ORG_ADMIN deletes one) and accepted
-- (iam.accept_invitation(), iam.register_invited()), one event each, in the
-- change's own transaction. The recorded columns are named below; the
-- token's digest (token_hash) is never one of them.
--
-- What records nothing:
-- * expiry: it is not a change, and the invitation.created event carries
--   expires_at. Deleting an invitation that had expired (the purge that
--   iam.admit_invitation() runs before each new invitation, or a revoke that
--   came too late) changes nobody's access either.
-- * deleting the organization: its invitations and its events go with it.
create function iam.audit_invitation_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
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

-- accepted_at is set only by accepting; the foreign keys' "set null" on a
-- deleted user touches the *_by_user_id columns only, and records nothing.
create trigger invitations_audit
  after insert or update of accepted_at or delete on iam.invitations
  for each row execute function iam.audit_invitation_change();

alter function iam.audit_invitation_change() owner to iam_definer;
revoke execute on function iam.audit_invitation_change() from public;

-- migrate:down

drop trigger invitations_audit on iam.invitations;
drop function iam.audit_invitation_change();
