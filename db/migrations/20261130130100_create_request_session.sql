-- migrate:up

-- The session check of a tenant request: true when the token's session is
-- still there, the user's own and not expired; otherwise it raises IAMSE
-- through iam.session_ended(). The API calls it in the same statement that
-- sets the request's context and reads the caller (service/db/runner.py),
-- with the values that statement has just set, so the check costs no
-- statement and no round trip of its own. The error aborts the request's
-- implicit transaction before the request's own statement runs, so an
-- ended session's token reads and writes nothing on its way to its 401.
--
-- Like iam.request_caller it runs before that statement has switched to
-- iam_authenticated, hence SECURITY DEFINER: the connecting role executes
-- it through its membership in iam_authenticated, and the probe reads
-- iam.sessions as iam_definer. It names the user itself, so it matches
-- only the given user's session. A NULL user or session matches nothing.
create function iam.request_session(p_user_id uuid, p_session_id uuid,
                                    out is_live boolean)
language sql stable security definer
set search_path = ''
as $$
  select case when exists (select 1 from iam.sessions as s
                           where s.id = p_session_id
                             and s.user_id = p_user_id
                             and s.expires_at > pg_catalog.now())
              then true else iam.session_ended() end
$$;

alter function iam.request_session(uuid, uuid) owner to iam_definer;
revoke execute on function iam.request_session(uuid, uuid) from public;
grant execute on function iam.request_session(uuid, uuid) to iam_authenticated;
grant execute on function iam.session_ended() to iam_definer;

-- migrate:down

revoke execute on function iam.session_ended() from iam_definer;
drop function iam.request_session(uuid, uuid);
