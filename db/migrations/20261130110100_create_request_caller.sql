-- migrate:up

-- The caller of a tenant request as the database sees it now: the role of
-- the (user, organization) membership, NULL when there is none or the user
-- is inactive, and whether the user exists and is active. The API calls it
-- in the same statement that sets the request's context (service/db/runner.py),
-- with the values that statement has just set, so a request is two
-- statements: the context with this lookup, then the route's statement.
-- It only tells the API which status to answer (401 or 403); the policies
-- read the role themselves, from the membership table, in every statement.
--
-- It is called before that statement has switched to iam_authenticated, so
-- the connecting role executes it through its membership in
-- iam_authenticated (INHERIT, the default for a granted role).
create function iam.request_caller(p_user_id uuid, p_org_id uuid,
                                   out role iam.org_role, out is_active boolean)
language sql stable security definer
set search_path = ''
as $$
  select case when u.is_active then m.role end, coalesce(u.is_active, false)
  from (values (p_user_id, p_org_id)) as caller (user_id, org_id)
  left join iam.users as u on u.id = caller.user_id
  left join iam.organization_memberships as m
    on m.organization_id = caller.org_id and m.user_id = caller.user_id
$$;

alter function iam.request_caller(uuid, uuid) owner to iam_definer;
revoke execute on function iam.request_caller(uuid, uuid) from public;
grant execute on function iam.request_caller(uuid, uuid) to iam_authenticated;

-- migrate:down

drop function iam.request_caller(uuid, uuid);
