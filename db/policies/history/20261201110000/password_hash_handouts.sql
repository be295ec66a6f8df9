-- iam.password_hash_handouts: one row per password hash that
-- iam.login_lookup() handed out (a digest, never the hash), spent by
-- iam.set_password_hash(). The trace of who asked for which user's hash,
-- and the proof a hash replacement needs.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- No request role touches this table: iam_anon calls the two functions,
-- which run as iam_definer.

-- ------------------------------------------------------------ RLS
alter table iam.password_hash_handouts enable row level security;
alter table iam.password_hash_handouts force row level security;

-- ----------------------------------------------------------- grants
grant select, insert, delete on iam.password_hash_handouts to iam_definer;
grant update (used_at) on iam.password_hash_handouts to iam_definer;

-- --------------------------------------------------------- policies
-- login_lookup() records each hand-out and forgets those past retention;
-- set_password_hash() finds and spends the one it is shown.
create policy "Definer functions can read hash hand-outs"
  on iam.password_hash_handouts for select to iam_definer
  using (true);

create policy "Definer functions can record hash hand-outs"
  on iam.password_hash_handouts for insert to iam_definer
  with check (true);

create policy "Definer functions can spend hash hand-outs"
  on iam.password_hash_handouts for update to iam_definer
  using (used_at is null)
  with check (used_at is not null);

create policy "Definer functions can forget old hash hand-outs"
  on iam.password_hash_handouts for delete to iam_definer
  using (handed_out_at < pg_catalog.now() - interval '30 days');
