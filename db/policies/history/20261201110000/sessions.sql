-- iam.sessions: sign-in sessions, one per login or registration, each with
-- an absolute expiry. Ending a session is deleting its row (its refresh
-- tokens go with it); every request's context statement probes this table
-- for the token's session (iam.request_session, which raises through
-- iam.session_ended() when it is gone), so the session's access tokens stop
-- working on their next request.
--
-- Applied by `rls-iam db migrate` after the migrations, in one transaction.
-- The runner first drops every policy on this table and revokes every grant
-- from PUBLIC and the iam_* roles, so this file is the table's complete set
-- of access rules.
--
-- Sessions are per user, not per organization: a user sees and ends their
-- own sessions, whatever the active organization, and nobody else's (not
-- even an ORG_ADMIN's view of a member). Sessions are created, rotated and
-- moved between organizations only by the definer functions start_session,
-- refresh_session and switch_session_organization.

-- ------------------------------------------------------------ RLS
alter table iam.sessions enable row level security;
alter table iam.sessions force row level security;

-- ----------------------------------------------------------- grants
-- The session list, the liveness check.
grant select on iam.sessions to iam_authenticated;
-- Logout, revocation and the end of the other sessions after a password
-- change are deletes, through iam.end_session() and iam.end_other_sessions(),
-- which run as iam_deleter: a table-level DELETE would let a request role
-- LOCK the table in any mode (docs/dba.md, "LOCK TABLE").
grant select (id), delete on iam.sessions to iam_deleter;
-- Sign-in inserts; refresh and switching organization move the session on;
-- sign-in clears the user's expired sessions, reuse of a spent token ends one.
grant select, insert, delete on iam.sessions to iam_definer;
grant update (organization_id, last_used_at) on iam.sessions to iam_definer;

-- --------------------------------------------------------- policies
-- A user reads their own sessions, and no one else's.
create policy "Users can read their own sessions"
  on iam.sessions for select to iam_authenticated
  using (user_id = (select iam.current_user_id()));

-- iam.end_session() and iam.end_other_sessions() find the sessions to end
-- through exactly the caller's read policy above (the same USING; the
-- catalog tests compare them).
create policy "Deletes find the caller's own sessions"
  on iam.sessions for select to iam_deleter
  using (user_id = (select iam.current_user_id()));

-- A user ends their own sessions (logout, revoking a device, the other
-- sessions after a password change), through iam.end_session() and
-- iam.end_other_sessions() (run as iam_deleter with the caller's context);
-- another user's session is invisible, so deleting it deletes nothing.
create policy "Users can end their own sessions"
  on iam.sessions for delete to iam_deleter
  using (user_id = (select iam.current_user_id()));

-- The definer functions find a session by its refresh token's digest,
-- before there is any context.
create policy "Definer functions can read sessions"
  on iam.sessions for select to iam_definer
  using (true);

-- Sign-in (start_session) creates the session of a user the API has just
-- verified.
create policy "Definer functions can start sessions"
  on iam.sessions for insert to iam_definer
  with check (true);

-- Refresh and switching organization record the use and the organization.
create policy "Definer functions can move sessions on"
  on iam.sessions for update to iam_definer
  using (true)
  with check (true);

-- A reused refresh token ends its session; sign-in clears expired ones.
create policy "Definer functions can end sessions"
  on iam.sessions for delete to iam_definer
  using (true);
