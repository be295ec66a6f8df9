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
-- Requests read their active organization. Creating one goes through
-- iam.create_organization(); nothing in the API renames or deletes one.
grant select on iam.organizations to iam_authenticated;
-- The definer functions create organizations.
grant select, insert on iam.organizations to iam_definer;

-- --------------------------------------------------------- policies
-- Members see the organization they act in, and no other: listing one's
-- other organizations goes through iam.my_organizations().
create policy "Members can read their active organization"
  on iam.organizations for select to iam_authenticated
  using (id = (select iam.current_org_id()) and (select iam.member_role()) is not null);

-- The definer functions (register, create_organization, switch_organization,
-- my_organizations, login_lookup) each filter by the caller themselves.
create policy "Definer functions can read organizations"
  on iam.organizations for select to iam_definer
  using (true);

create policy "Definer functions can create organizations"
  on iam.organizations for insert to iam_definer
  with check (true);
