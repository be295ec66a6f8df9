-- Every SQL statement service.db.queries.sessions sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- END_CURRENT
select iam.end_session(iam.current_session_id());

-- END
select iam.end_session(%s);

-- END_OTHERS
select iam.end_other_sessions();

-- LIST_FIRST
with page as (select r.*, row_number() over () as n from (select s.id, s.created_at, s.last_used_at, s.expires_at, s.user_agent, s.id = iam.current_session_id() as current, s.id as page_key from iam.sessions as s where s.expires_at > now()  order by s.created_at desc, s.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.created_at, r.last_used_at, r.expires_at, r.user_agent, r.current) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- LIST_AFTER
with page as (select r.*, row_number() over () as n from (select s.id, s.created_at, s.last_used_at, s.expires_at, s.user_agent, s.id = iam.current_session_id() as current, s.id as page_key from iam.sessions as s where s.expires_at > now() and (s.created_at, s.id) < ('epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) order by s.created_at desc, s.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.created_at, r.last_used_at, r.expires_at, r.user_agent, r.current) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r;

-- start()
select session_id, expires_at from iam.start_session(%s, %s, %s, %s, %s);

-- refresh()
select session_id, user_id, organization_id, organization_name, role, expires_at from iam.refresh_session(%s, %s);

-- switch_organization()
select organization_id, organization_name, role, expires_at from iam.switch_session_organization(%s, %s);
