-- Every SQL statement service.db.queries.invitations sends, as PostgreSQL receives it.
-- Generated; do not edit. Rewrite with: make snapshots  (or: pytest tests/snapshots --snapshot-update)

-- LIST_FIRST
select p.*, iam.require_org_admin() from (
with page as (select r.*, row_number() over () as n from (select i.id, i.email, i.role, i.created_at, i.expires_at, i.invited_by_user_id, i.id as page_key from iam.invitations as i where i.accepted_at is null and i.expires_at > now()  order by i.created_at desc, i.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.email, r.role, r.created_at, r.expires_at, r.invited_by_user_id) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r
) as p;

-- LIST_AFTER
select p.*, iam.require_org_admin() from (
with page as (select r.*, row_number() over () as n from (select i.id, i.email, i.role, i.created_at, i.expires_at, i.invited_by_user_id, i.id as page_key from iam.invitations as i where i.accepted_at is null and i.expires_at > now() and (i.created_at, i.id) < ('epoch'::timestamptz + %(after_micros)s * interval '1 microsecond', %(after_id)s::uuid) order by i.created_at desc, i.id desc limit %(limit)s + 1) as r)
select coalesce('[' || string_agg(row_to_json((select x from (select r.id, r.email, r.role, r.created_at, r.expires_at, r.invited_by_user_id) as x))::text, ',' order by r.n)
                      filter (where r.n <= %(limit)s) || ']', '[]'),
       count(*) > %(limit)s,
       max((extract(epoch from r.created_at) * 1000000)::bigint) filter (where r.n = %(limit)s),
       (array_agg(r.page_key) filter (where r.n = %(limit)s))[1]
from page as r
) as p;

-- GET_PENDING
select iam.require_org_admin(),
       (select row_to_json((select x from (select i.id, i.email, i.role, i.created_at, i.expires_at, i.invited_by_user_id) as x))::text from iam.invitations as i
        where i.id = %(id)s and i.accepted_at is null and i.expires_at > now());

-- CREATE
insert into iam.invitations as i (email, role, token_hash, expires_at)
values (lower(btrim(%(email)s)), %(role)s::iam.org_role, iam.invitation_token_hash(%(token)s),
        now() + %(ttl)s * interval '1 second')
returning row_to_json((select x from (select i.id, i.email, i.role, i.created_at, i.expires_at, i.invited_by_user_id) as x))::text;

-- REVOKE
select iam.require_org_admin(), iam.revoke_invitation(%(id)s);

-- ACCEPT
select a.organization_id, a.organization_name, a.role, s.expires_at
from iam.accept_invitation(%(token)s) as a
cross join lateral iam.switch_session_organization(a.organization_id, %(refresh)s) as s;
