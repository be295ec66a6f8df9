-- Every SQL statement service.db.queries.projects sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- LIST_FIRST
with page as (select r.*, row_number() over () as n from (select p.*, p.id as page_key from iam.projects as p  order by p.created_at desc, p.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.organization_id, r.name, r.description, r.created_by_user_id, r.created_at, r.updated_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- LIST_AFTER
with page as (select r.*, row_number() over () as n from (select p.*, p.id as page_key from iam.projects as p where (p.created_at, p.id) < ('epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) order by p.created_at desc, p.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.organization_id, r.name, r.description, r.created_by_user_id, r.created_at, r.updated_at) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- GET
select row_to_json((select x from (select p.id, p.organization_id, p.name, p.description, p.created_by_user_id, p.created_at, p.updated_at) as x))::text from iam.projects as p where p.id = %(id)s;

-- CREATE
insert into iam.projects as p (name, description) values (%(name)s, %(description)s)
returning row_to_json((select x from (select p.id, p.organization_id, p.name, p.description, p.created_by_user_id, p.created_at, p.updated_at) as x))::text;

-- UPDATE
with changed as (
    update iam.projects as p
    set name = coalesce(%(name)s, p.name),
        description = case when %(set_description)s then %(description)s else p.description end
    where p.id = %(id)s
    returning p.*
)
select (select row_to_json((select x from (select p.id, p.organization_id, p.name, p.description, p.created_by_user_id, p.created_at, p.updated_at) as x))::text from changed as p),
       exists (select 1 from iam.projects where id = %(id)s);

-- DELETE
select d.deleted, d.visible from iam.delete_project(%(id)s) as d;
