-- iam.rate_limit_buckets: counters of auth requests per client address and
-- of failed logins per email and per (email, client) (all as SHA-256
-- digests), per fixed window; the functions slide across two of them.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- No request role touches this table: iam_anon calls iam.throttle_client(),
-- iam.login_attempt() and iam.login_succeeded(), which run as iam_definer.

-- ------------------------------------------------------------ RLS
alter table iam.rate_limit_buckets enable row level security;
alter table iam.rate_limit_buckets force row level security;

-- ----------------------------------------------------------- grants
grant select, insert, update, delete on iam.rate_limit_buckets to iam_definer;

-- --------------------------------------------------------- policies
-- The throttling functions count, read and expire every bucket: the keys
-- are digests, and the functions are the only way in.
create policy "Definer functions can read rate limit buckets"
  on iam.rate_limit_buckets for select to iam_definer
  using (true);

create policy "Definer functions can count in rate limit buckets"
  on iam.rate_limit_buckets for insert to iam_definer
  with check (true);

create policy "Definer functions can add to rate limit buckets"
  on iam.rate_limit_buckets for update to iam_definer
  using (true)
  with check (true);

create policy "Definer functions can expire rate limit buckets"
  on iam.rate_limit_buckets for delete to iam_definer
  using (true);
