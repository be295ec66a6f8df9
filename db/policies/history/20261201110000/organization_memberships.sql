-- iam.organization_memberships: who belongs to which organization, and as
-- what. The role column here is the only source of a caller's role.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- Writes call iam.member_role_for_write(), which waits for a concurrent
-- change of the caller's own membership (a shared advisory lock; role
-- changes and removals take it exclusively), so a demotion or removal in
-- flight cannot let a write through. The last ORG_ADMIN is protected by the
-- trigger keep_last_admin.

-- ------------------------------------------------------------ RLS
alter table iam.organization_memberships enable row level security;
alter table iam.organization_memberships force row level security;

-- ----------------------------------------------------------- grants
-- Requests never insert a membership: nobody joins an organization without
-- their own consent. Memberships are created only by the definer functions:
-- the first one of an organization (register, create_organization) and the
-- invitee's own acceptance (accept_invitation, register_invited).
-- Removing and leaving go through iam.remove_member(), which runs as
-- iam_deleter: a table-level DELETE would let a request role LOCK the table
-- in any mode (docs/dba.md, "LOCK TABLE").
grant select on iam.organization_memberships to iam_authenticated;
grant select (user_id), delete on iam.organization_memberships to iam_deleter;
grant update (role) on iam.organization_memberships to iam_authenticated;
grant select, insert on iam.organization_memberships to iam_definer;

-- --------------------------------------------------------- policies
-- Every member, whatever the role, sees the members of the active organization.
create policy "Members can read their organization's memberships"
  on iam.organization_memberships for select to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) is not null
  );

-- iam.remove_member() finds the membership, and tells 403 from 404, through
-- exactly the caller's read policy above (the same USING; the catalog tests
-- compare them).
create policy "Deletes find the memberships members can read"
  on iam.organization_memberships for select to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) is not null
  );

-- Only an ORG_ADMIN changes roles. USING hides the row from anyone else, so
-- their update changes nothing; WITH CHECK refuses (42501) a row moved
-- out of the organization.
create policy "Admins can change roles in their organization"
  on iam.organization_memberships for update to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) = 'ORG_ADMIN'
  )
  with check (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) = 'ORG_ADMIN'
  );

-- An ORG_ADMIN removes anyone; every member may remove themself (leave).
-- Through iam.remove_member(), as iam_deleter with the caller's context.
create policy "Admins can remove members, and members can leave"
  on iam.organization_memberships for delete to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (
      (select iam.member_role_for_write()) = 'ORG_ADMIN'
      or (user_id = (select iam.current_user_id())
          and (select iam.member_role_for_write()) is not null)
    )
  );

-- Role lookups, login, listing one's organizations and the last-admin check.
create policy "Definer functions can read memberships"
  on iam.organization_memberships for select to iam_definer
  using (true);

-- Registration and create_organization make the creator ORG_ADMIN; an
-- accepted invitation makes the invitee a member with the invited role.
create policy "Definer functions can create memberships"
  on iam.organization_memberships for insert to iam_definer
  with check (true);
