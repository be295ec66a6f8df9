-- iam.refresh_tokens: SHA-256 digests of the refresh tokens of each
-- session, the current one unspent, the rotated ones spent.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- No request role touches this table, not even to read its own digests:
-- iam_anon calls iam.start_session() and iam.refresh_session(),
-- iam_authenticated calls iam.switch_session_organization(); all three run
-- as iam_definer. Rows go when their session is deleted (ON DELETE CASCADE).

-- ------------------------------------------------------------ RLS
alter table iam.refresh_tokens enable row level security;
alter table iam.refresh_tokens force row level security;

-- ----------------------------------------------------------- grants
grant select, insert on iam.refresh_tokens to iam_definer;
grant update (spent_at) on iam.refresh_tokens to iam_definer;

-- --------------------------------------------------------- policies
-- Refresh finds the session of a digest.
create policy "Definer functions can read refresh tokens"
  on iam.refresh_tokens for select to iam_definer
  using (true);

-- Sign-in, refresh and switching organization hand out a new token.
create policy "Definer functions can add refresh tokens"
  on iam.refresh_tokens for insert to iam_definer
  with check (true);

-- Rotation spends a token (only spent_at may change).
create policy "Definer functions can spend refresh tokens"
  on iam.refresh_tokens for update to iam_definer
  using (true)
  with check (true);
