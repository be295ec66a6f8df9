-- Every SQL statement service.db.queries.members sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- LIST_FIRST
with page as (select r.*, row_number() over () as n from (select m.user_id, u.email, m.role, m.created_at, m.user_id as page_key from iam.organization_memberships as m join iam.users as u on u.id = m.user_id  order by m.created_at desc, m.user_id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.user_id, r.email, r.role, r.created_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- LIST_AFTER
with page as (select r.*, row_number() over () as n from (select m.user_id, u.email, m.role, m.created_at, m.user_id as page_key from iam.organization_memberships as m join iam.users as u on u.id = m.user_id where (m.created_at, m.user_id) < ('epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) order by m.created_at desc, m.user_id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.user_id, r.email, r.role, r.created_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- CHANGE_ROLE
with changed as (
    update iam.organization_memberships set role = %(role)s::iam.org_role
    where user_id = %(user_id)s
    returning user_id, role, created_at
)
select (select row_to_json((select x from (select m.user_id, m.email, m.role, m.created_at) as x))::text
        from (select c.*, u.email from changed as c join iam.users as u on u.id = c.user_id) as m),
       exists (select 1 from iam.organization_memberships where user_id = %(user_id)s);

-- REMOVE
select r.deleted, r.visible from iam.remove_member(%(user_id)s) as r;
