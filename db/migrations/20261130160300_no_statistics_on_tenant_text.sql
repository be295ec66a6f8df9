-- migrate:up

-- The planner's statistics are gathered over every tenant's rows, and a
-- leakproof comparison (text =, <) lets it use them under the policies:
-- the row estimate of EXPLAIN ... where name = 'x' tells a tenant how many
-- rows of other tenants hold 'x', and a range tells their prefixes. No
-- statement of the API filters or sorts by these columns (emails are found
-- through their unique index, which estimates one row either way), so they
-- keep no statistics: ANALYZE skips them, and estimates fall back to
-- defaults that say nothing about the data.
alter table iam.projects alter column name set statistics 0;
alter table iam.projects alter column description set statistics 0;
alter table iam.organizations alter column name set statistics 0;
alter table iam.users alter column email set statistics 0;

-- migrate:down

alter table iam.users alter column email set statistics -1;
alter table iam.organizations alter column name set statistics -1;
alter table iam.projects alter column description set statistics -1;
alter table iam.projects alter column name set statistics -1;
