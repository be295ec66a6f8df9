-- iam.users: global identities.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.

-- ------------------------------------------------------------ RLS
alter table iam.users enable row level security;
alter table iam.users force row level security;

-- ----------------------------------------------------------- grants
-- Requests never read password_hash: the column grant leaves it out.
grant select (id, email, is_active, created_at, updated_at) on iam.users to iam_authenticated;
-- Registration creates users; login reads the hash and upgrades it.
grant select, insert on iam.users to iam_definer;
grant update (password_hash) on iam.users to iam_definer;

-- --------------------------------------------------------- policies
-- A member sees themself and the people of the active organization (the
-- member list shows their emails). Everyone else is invisible: the
-- membership subquery is itself limited by the memberships policies.
create policy "Members can read themselves and their organization's members"
  on iam.users for select to iam_authenticated
  using (
    id = (select iam.current_user_id())
    or exists (
      select 1 from iam.organization_memberships as m
      where m.user_id = users.id
        and m.organization_id = (select iam.current_org_id())
    )
  );

-- Login looks a user up by email before there is any context.
create policy "Definer functions can read users"
  on iam.users for select to iam_definer
  using (true);

-- Registration inserts the user.
create policy "Definer functions can create users"
  on iam.users for insert to iam_definer
  with check (true);

-- Login upgrades an outdated password hash (compare-and-set on the old one).
create policy "Definer functions can update password hashes"
  on iam.users for update to iam_definer
  using (true)
  with check (true);
