-- iam.invitations: the only way into an organization. An ORG_ADMIN invites
-- an email with a role; the person behind that email joins by accepting
-- (POST /invitations/accept, or registering with the token).
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- Nobody reads a token back: the table holds only its SHA-256 digest, and
-- no request role may select token_hash. Accepting goes through
-- iam.accept_invitation() / iam.register_invited(), which compare the
-- signed-in (or registering) user's email with the invitation's in the
-- database. The trigger iam.admit_invitation() purges expired invitations,
-- refuses current members' emails and caps pending invitations at 100 per
-- organization, whoever inserts: also the owner, who (to seed or repair
-- data by hand) sets iam.user_id and iam.org_id to an ORG_ADMIN's first,
-- as a request would.

-- ------------------------------------------------------------ RLS
alter table iam.invitations enable row level security;
alter table iam.invitations force row level security;

-- ----------------------------------------------------------- grants
-- organization_id and invited_by_user_id are filled in by the database (the
-- active organization, the caller). token_hash may be written, never read.
grant select (id, organization_id, email, role, invited_by_user_id, created_at, expires_at,
              accepted_at, accepted_by_user_id)
  on iam.invitations to iam_authenticated;
grant insert (email, role, token_hash, expires_at) on iam.invitations to iam_authenticated;
-- Revoking goes through iam.revoke_invitation(), which runs as iam_deleter:
-- a table-level DELETE would let a request role LOCK the table in any mode
-- (docs/dba.md, "LOCK TABLE").
grant select (id, accepted_at), delete on iam.invitations to iam_deleter;
-- Accepting finds an invitation by digest and marks it used; the insert
-- trigger purges expired ones and counts pending ones.
grant select, delete on iam.invitations to iam_definer;
grant update (accepted_at, accepted_by_user_id) on iam.invitations to iam_definer;

-- --------------------------------------------------------- policies
-- Only an ORG_ADMIN of the active organization sees its invitations (never
-- their tokens: see the grants). Other members see none.
create policy "Admins can read their organization's invitations"
  on iam.invitations for select to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) = 'ORG_ADMIN'
  );

-- iam.revoke_invitation() finds the invitation through exactly the caller's
-- read policy above (the same USING; the catalog tests compare them).
create policy "Deletes find the invitations admins can read"
  on iam.invitations for select to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) = 'ORG_ADMIN'
  );

-- Only an ORG_ADMIN invites, only into the active organization, and only in
-- their own name.
create policy "Admins can invite into their organization"
  on iam.invitations for insert to iam_authenticated
  with check (
    organization_id = (select iam.current_org_id())
    and invited_by_user_id = (select iam.current_user_id())
    and (select iam.member_role_for_write()) = 'ORG_ADMIN'
  );

-- Only an ORG_ADMIN revokes (deletes) an invitation of the active
-- organization, through iam.revoke_invitation() (run as iam_deleter with the
-- caller's context).
create policy "Admins can revoke their organization's invitations"
  on iam.invitations for delete to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) = 'ORG_ADMIN'
  );

-- accept_invitation and register_invited look an invitation up by the
-- digest of the token the caller presents, and filter by the caller's email
-- themselves.
create policy "Definer functions can read invitations"
  on iam.invitations for select to iam_definer
  using (true);

-- Accepting marks the invitation used (accepted_at, accepted_by_user_id).
create policy "Definer functions can mark invitations accepted"
  on iam.invitations for update to iam_definer
  using (accepted_at is null)
  with check (accepted_at is not null);

-- The insert trigger purges expired, never accepted invitations.
create policy "Definer functions can purge expired invitations"
  on iam.invitations for delete to iam_definer
  using (accepted_at is null and expires_at <= now());
