-- iam.audit_events: the organization's audit log, append-only.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- Rows are written only by the audit triggers on organizations,
-- organization_memberships and projects (functions owned by iam_definer,
-- db/migrations/*_create_audit_events.sql), in the transaction of the
-- change they record. No request role holds INSERT, UPDATE, DELETE or
-- TRUNCATE here: history cannot be rewritten, and an event cannot be
-- forged. iam_definer inserts, and deletes only the events of an
-- organization that no longer exists (the trigger organizations_audit_forget
-- runs when an organization is deleted).

-- ------------------------------------------------------------ RLS
alter table iam.audit_events enable row level security;
alter table iam.audit_events force row level security;

-- ----------------------------------------------------------- grants
grant select on iam.audit_events to iam_authenticated;
-- The audit triggers run as iam_definer. DELETE needs SELECT to find rows.
grant select, insert, delete on iam.audit_events to iam_definer;

-- --------------------------------------------------------- policies
-- Only an ORG_ADMIN reads the active organization's events; other members
-- see none (and the API answers them 403, from the same function).
create policy "Admins can read their organization's audit events"
  on iam.audit_events for select to iam_authenticated
  using (
    organization_id = (select iam.current_org_id())
    and (select iam.may_read_audit_events())
  );

-- The triggers record each change in the changed row's organization.
create policy "Audit triggers can record events"
  on iam.audit_events for insert to iam_definer
  with check (true);

-- iam_definer sees, and so may delete, only the events of a deleted
-- organization: deleting the organization is the only way out of the log.
create policy "Audit triggers can see the events of deleted organizations"
  on iam.audit_events for select to iam_definer
  using (not exists (select 1 from iam.organizations as o where o.id = organization_id));

create policy "Audit triggers can delete the events of deleted organizations"
  on iam.audit_events for delete to iam_definer
  using (not exists (select 1 from iam.organizations as o where o.id = organization_id));
