-- iam.projects: the protected business data of an organization.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- organization_id and created_by_user_id default to the request context and
-- are not in the grants, so a client can neither point a project at another
-- organization nor name another creator.

-- ------------------------------------------------------------ RLS
alter table iam.projects enable row level security;
alter table iam.projects force row level security;

-- ----------------------------------------------------------- grants
grant select on iam.projects to iam_authenticated;
-- Requests delete through iam.delete_project(), which runs as iam_deleter:
-- a table-level DELETE would let a request role LOCK the table in any mode
-- and stall every tenant (docs/dba.md, "LOCK TABLE").
grant select (id), delete on iam.projects to iam_deleter;
grant insert (name, description) on iam.projects to iam_authenticated;
grant update (name, description) on iam.projects to iam_authenticated;

-- --------------------------------------------------------- policies
-- Every member, whatever the role, reads the active organization's projects.
create policy "Members can read their organization's projects"
  on iam.projects for select to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) is not null
  );

-- iam.delete_project() finds the project to delete, and tells a refused
-- delete (403) from a hidden project (404), through exactly the caller's
-- read policy above (the same USING; the catalog tests compare them).
create policy "Deletes find the projects members can read"
  on iam.projects for select to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role()) is not null
  );

-- ORG_ADMIN and ORG_USER create projects in the active organization, as
-- themselves. READ_ONLY and outsiders are refused with 42501.
create policy "Admins and users can create projects in their organization"
  on iam.projects for insert to iam_authenticated
  with check (
    organization_id = (select iam.current_org_id())
    and created_by_user_id = (select iam.current_user_id())
    and (select iam.member_role_for_write()) in ('ORG_ADMIN', 'ORG_USER')
  );

-- ORG_ADMIN and ORG_USER edit the active organization's projects. For
-- anyone else USING hides the rows, so the update changes nothing.
create policy "Admins and users can edit their organization's projects"
  on iam.projects for update to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) in ('ORG_ADMIN', 'ORG_USER')
  )
  with check (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) in ('ORG_ADMIN', 'ORG_USER')
  );

-- Only an ORG_ADMIN deletes projects, through iam.delete_project() (run as
-- iam_deleter with the caller's context).
create policy "Admins can delete their organization's projects"
  on iam.projects for delete to iam_deleter
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.member_role_for_write()) = 'ORG_ADMIN'
  );
