-- Every SQL statement service.db.queries.organizations sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- LIST_FIRST
with page as (select r.*, row_number() over () as n from (select o.*, o.id as page_key from iam.my_organizations(%(limit)s + 1) as o) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.name, r.role, r.created_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- LIST_AFTER
with page as (select r.*, row_number() over () as n from (select o.*, o.id as page_key from iam.my_organizations(%(limit)s + 1, 'epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) as o) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.name, r.role, r.created_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- CREATE
with quota as materialized (select iam.take_organization_quota(%(per_hour)s) as wait)
select q.wait,
       (select row_to_json((select x from (select o.id, o.name, o.role, o.created_at) as x))::text from iam.create_organization(%(name)s) as o
        where q.wait = 0)
from quota as q;

-- GET
select row_to_json((select x from (select o.id, o.name, o.role, o.created_at) as x))::text
from (select o.id, o.name, iam.member_role() as role, o.created_at
      from iam.organizations as o where o.id = %(id)s) as o;

-- RENAME
with changed as (
    update iam.organizations set name = %(name)s where id = %(id)s returning id, name, created_at
)
select (select row_to_json((select x from (select o.id, o.name, o.role, o.created_at) as x))::text
        from (select c.id, c.name, iam.member_role() as role, c.created_at from changed as c) as o),
       exists (select 1 from iam.organizations where id = %(id)s);

-- DELETE
select d.deleted, d.visible from iam.delete_organization(%(id)s) as d;
