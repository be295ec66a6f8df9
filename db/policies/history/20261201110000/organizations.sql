-- iam.organizations: the tenants.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- Helpers (db/migrations/*_create_access_functions.sql):
--   iam.current_org_id()  the active organization of the request
--   iam.member_role()     the caller's role in it, read from memberships

-- ------------------------------------------------------------ RLS
alter table iam.organizations enable row level security;
alter table iam.organizations force row level security;

-- ----------------------------------------------------------- grants
-- Requests read their active organization; its ORG_ADMINs rename it, and
-- delete it through iam.delete_organization(), which runs as iam_deleter (a
-- table-level DELETE would let a request role LOCK the table in any mode:
-- docs/dba.md, "LOCK TABLE"). Creating one goes through
-- iam.create_organization().
grant select on iam.organizations to iam_authenticated;
grant select (id), delete on iam.organizations to iam_deleter;
grant update (name) on iam.organizations to iam_authenticated;
-- The definer functions create organizations.
grant select, insert on iam.organizations to iam_definer;

-- --------------------------------------------------------- policies
-- Members see the organization they act in, and no other: listing one's
-- other organizations goes through iam.my_organizations().
create policy "Members can read their active organization"
  on iam.organizations for select to iam_authenticated
  using (id = (select iam.current_org_id()) and (select iam.member_role()) is not null);

-- iam.delete_organization() finds the organization, and tells 403 from 404,
-- through exactly the caller's read policy above (the same USING; the
-- catalog tests compare them).
create policy "Deletes find the organization members can read"
  on iam.organizations for select to iam_deleter
  using (id = (select iam.current_org_id()) and (select iam.member_role()) is not null);

-- Only an ORG_ADMIN renames the active organization. USING hides it from
-- anyone else, so their update changes nothing (403 for a member, who can
-- read it; 404 otherwise).
create policy "Admins can rename their organization"
  on iam.organizations for update to iam_authenticated
  using (id = (select iam.current_org_id()) and (select iam.member_role_for_write()) = 'ORG_ADMIN')
  with check (id = (select iam.current_org_id()));

-- Only an ORG_ADMIN deletes the active organization. Its memberships,
-- projects and invitations go with it (foreign keys on delete cascade) in
-- the same statement, so every token for it fails on its next request.
-- Through iam.delete_organization(), as iam_deleter with the caller's context.
create policy "Admins can delete their organization"
  on iam.organizations for delete to iam_deleter
  using (id = (select iam.current_org_id()) and (select iam.member_role_for_write()) = 'ORG_ADMIN');

-- The definer functions (register, create_organization, switch_organization,
-- my_organizations, login_lookup) each filter by the caller themselves.
create policy "Definer functions can read organizations"
  on iam.organizations for select to iam_definer
  using (true);

create policy "Definer functions can create organizations"
  on iam.organizations for insert to iam_definer
  with check (true);
