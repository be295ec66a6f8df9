"""iam.sessions and iam.refresh_tokens as the runtime roles: a user reads and
ends only their own sessions; no request role reads a refresh token digest;
rotation with reuse detection is decided by the database, also when two
refreshes race with one token."""

from __future__ import annotations

import hashlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from service.db.runner import READ_CALLER, SESSION_ENDED, SET_TENANT_CONTEXT, tenant_context
from tests.support.sql import (
    END_SESSION,
    Committed,
    Conn,
    World,
    act_as,
    act_as_anon,
    act_as_owner,
    connect,
    ids,
)

TTL = 3600


def start(conn: Conn, user_id: uuid.UUID, org_id: uuid.UUID | None = None) -> tuple[uuid.UUID, str]:
    """A session started the way login does (as iam_anon), and its refresh token."""
    token = uuid.uuid4().hex + uuid.uuid4().hex
    act_as_anon(conn)
    row = conn.execute(
        "select session_id from iam.start_session(%s, %s, %s, %s, 'pytest')",
        (user_id, org_id, token, TTL),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0])), token


def refresh(conn: Conn, token: str, new_token: str) -> tuple[object, ...] | None:
    act_as_anon(conn)
    return conn.execute(
        "select session_id, organization_id, role::text from iam.refresh_session(%s, %s)",
        (token, new_token),
    ).fetchone()


def live(conn: Conn, session_id: uuid.UUID) -> bool:
    act_as_owner(conn)
    row = conn.execute("select count(*) from iam.sessions where id = %s", (session_id,)).fetchone()
    return row == (1,)


# ------------------------------------------------------------------ reading and ending


def test_user_reads_only_their_own_sessions(conn: Conn, world: World) -> None:
    mine, _ = start(conn, world.a.user, world.a.org_id)
    theirs, _ = start(conn, world.a.admin, world.a.org_id)
    act_as(conn, world.a.user, world.a.org_id, mine)
    assert ids(conn, "select id from iam.sessions") == {mine}
    # The organization does not matter: an ORG_ADMIN does not see a member's sessions.
    act_as(conn, world.a.admin, world.a.org_id, theirs)
    assert mine not in ids(conn, "select id from iam.sessions")


def test_user_without_organization_reads_their_sessions(conn: Conn, world: World) -> None:
    mine, _ = start(conn, world.outsider)
    act_as(conn, world.outsider, None, mine)
    assert ids(conn, "select id from iam.sessions") == {mine}


def test_empty_context_sees_no_session(conn: Conn, world: World) -> None:
    start(conn, world.a.user, world.a.org_id)
    act_as(conn, None, None)
    assert conn.execute("select count(*) from iam.sessions").fetchone() == (0,)


def test_user_ends_their_own_session_but_not_anothers(conn: Conn, world: World) -> None:
    mine, _ = start(conn, world.a.user, world.a.org_id)
    theirs, _ = start(conn, world.b.user, world.b.org_id)
    act_as(conn, world.a.user, world.a.org_id, mine)
    assert conn.execute(END_SESSION, (theirs,)).rowcount == 0
    assert conn.execute(END_SESSION, (mine,)).rowcount == 1
    assert live(conn, theirs) and not live(conn, mine)


@pytest.mark.parametrize(
    "statement",
    [
        "insert into iam.sessions (user_id, expires_at) values (iam.current_user_id(), now())",
        "update iam.sessions set expires_at = now() + interval '10 years'",
        "select token_hash from iam.refresh_tokens",
        "update iam.refresh_tokens set spent_at = null",
        "delete from iam.refresh_tokens",
        "delete from iam.sessions",
    ],
)
def test_request_roles_cannot_forge_extend_or_read_tokens(
    conn: Conn, world: World, statement: str
) -> None:
    mine, _ = start(conn, world.a.user, world.a.org_id)
    for role in ("authenticated", "anon"):
        if role == "anon":
            act_as_anon(conn)
        else:
            act_as(conn, world.a.user, world.a.org_id, mine)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(statement)


def test_refresh_tokens_are_stored_as_sha256_digests(conn: Conn, world: World) -> None:
    session, token = start(conn, world.a.user, world.a.org_id)
    act_as_owner(conn)
    rows = conn.execute(
        "select token_hash from iam.refresh_tokens where session_id = %s", (session,)
    ).fetchall()
    assert [bytes(r[0]) for r in rows] == [hashlib.sha256(token.encode()).digest()]


# ------------------------------------------------------------------ the liveness check


def check_as_the_api(
    conn: Conn, path: str, user: object, org: object, session: object
) -> tuple[Any, ...]:
    """The caller and the session check as the API sends them: in the context
    statement itself, or (a NOINHERIT login role) in a statement of their own."""
    if path == "context":
        act_as_owner(conn)
        row = conn.execute(SET_TENANT_CONTEXT, tenant_context(user, org, 5000, session)).fetchone()
    else:
        act_as(conn, user, org, None if session is None else str(session))
        row = conn.execute(READ_CALLER).fetchone()
    assert row is not None
    return row


@pytest.mark.parametrize("path", ["context", "fallback"])
def test_the_session_check_passes_for_the_callers_live_session(
    conn: Conn, world: World, path: str
) -> None:
    mine, _ = start(conn, world.a.user, world.a.org_id)
    row = check_as_the_api(conn, path, world.a.user, world.a.org_id, mine)
    assert row == ("ORG_USER", True, True)


@pytest.mark.parametrize("path", ["context", "fallback"])
@pytest.mark.parametrize("case", ["ended", "expired", "another_users", "none", "malformed"])
def test_the_session_check_raises_otherwise(conn: Conn, world: World, case: str, path: str) -> None:
    mine, _ = start(conn, world.a.user, world.a.org_id)
    theirs, _ = start(conn, world.a.admin, world.a.org_id)
    act_as_owner(conn)
    if case == "ended":
        conn.execute("delete from iam.sessions where id = %s", (mine,))
    if case == "expired":
        conn.execute(
            "update iam.sessions set created_at = now() - interval '2 days',"
            " expires_at = now() - interval '1 second' where id = %s",
            (mine,),
        )
    session: object = {"another_users": theirs, "none": None, "malformed": "not-a-uuid"}.get(
        case, mine
    )
    with pytest.raises(psycopg.Error) as raised, conn.transaction():
        check_as_the_api(conn, path, world.a.user, world.a.org_id, session)
    # A malformed setting stops the context statement at its cast (22P02), as a
    # malformed user or organization does; the reader behind the fallback reads
    # it as no session. Both fail closed.
    expected = "22P02" if (case, path) == ("malformed", "context") else SESSION_ENDED
    assert raised.value.sqlstate == expected


# ------------------------------------------------------------------ rotation


def test_refresh_rotates_once_and_reuse_ends_the_session(conn: Conn, world: World) -> None:
    session, first = start(conn, world.a.user, world.a.org_id)
    second = uuid.uuid4().hex * 2
    assert refresh(conn, first, second) == (session, world.a.org_id, "ORG_USER")
    third = uuid.uuid4().hex * 2
    assert refresh(conn, second, third) is not None
    # The first token again: refused, and the session is gone with every token.
    assert refresh(conn, first, uuid.uuid4().hex * 2) is None
    assert not live(conn, session)
    assert refresh(conn, third, uuid.uuid4().hex * 2) is None


def test_refresh_of_an_unknown_token_changes_nothing(conn: Conn, world: World) -> None:
    session, _ = start(conn, world.a.user, world.a.org_id)
    assert refresh(conn, "no such token", "whatever") is None
    assert live(conn, session)


def test_switching_organization_spends_the_sessions_tokens(conn: Conn, world: World) -> None:
    from tests.support.sql import add_member

    add_member(conn, world.b.org_id, world.a.user, "READ_ONLY")
    session, _ = start(conn, world.a.user, world.a.org_id)
    act_as(conn, world.a.user, world.a.org_id, session)
    new = uuid.uuid4().hex * 2
    row = conn.execute(
        "select organization_id, role::text from iam.switch_session_organization(%s, %s)",
        (world.b.org_id, new),
    ).fetchone()
    assert row == (world.b.org_id, "READ_ONLY")
    assert refresh(conn, new, uuid.uuid4().hex * 2) == (session, world.b.org_id, "READ_ONLY")
    # Not a member: no row, nothing moves.
    act_as(conn, world.b.user, world.b.org_id, session)
    assert (
        conn.execute(
            "select * from iam.switch_session_organization(%s, 'x')", (world.a.org_id,)
        ).fetchall()
        == []
    )


def test_racing_refreshes_with_one_token_one_wins_and_nothing_is_left(
    committed_data: Committed,
) -> None:
    """Eight connections present the same token at once: exactly one rotates;
    the others are reuses, so the session ends (every token with it)."""
    tenant = committed_data.tenant("race")
    with connect(committed_data.conninfo) as setup:
        session, token = start(setup, tenant.user, tenant.org_id)
        setup.commit()
    racers = 8
    barrier = threading.Barrier(racers)

    def attempt(index: int) -> tuple[object, ...] | None:
        with connect(committed_data.conninfo) as conn:
            act_as_anon(conn)
            barrier.wait(timeout=10)
            row = conn.execute(
                "select session_id from iam.refresh_session(%s, %s)",
                (token, f"new-{index}-{uuid.uuid4().hex}"),
            ).fetchone()
            conn.commit()
            return row

    with ThreadPoolExecutor(racers) as pool:
        outcomes = list(pool.map(attempt, range(racers), timeout=30))
    winners = [o for o in outcomes if o is not None]
    assert len(winners) == 1, outcomes
    with connect(committed_data.conninfo) as owner:
        assert owner.execute(
            "select count(*) from iam.sessions where id = %s", (session,)
        ).fetchone() == (0,)
        assert owner.execute(
            "select count(*) from iam.refresh_tokens where session_id = %s", (session,)
        ).fetchone() == (0,)


def _race_refresh_and_logout(
    conninfo: str, user_id: uuid.UUID, org_id: uuid.UUID, session: uuid.UUID, token: str
) -> int:
    """A refresh and a logout of one session, released together; the logout's row count."""
    barrier = threading.Barrier(2)

    def do_refresh() -> None:
        with connect(conninfo) as conn:
            act_as_anon(conn)
            barrier.wait(timeout=10)
            conn.execute(
                "select session_id from iam.refresh_session(%s, %s)", (token, uuid.uuid4().hex)
            )
            conn.commit()

    def do_logout() -> int:
        with connect(conninfo) as conn:
            act_as(conn, user_id, org_id, session)
            barrier.wait(timeout=10)
            count = conn.execute(END_SESSION, (session,)).rowcount
            conn.commit()
            return count

    with ThreadPoolExecutor(2) as pool:
        refreshed = pool.submit(do_refresh)
        ended = pool.submit(do_logout)
        refreshed.result(timeout=30)
        return ended.result(timeout=30)


def test_a_refresh_racing_a_logout_never_leaves_a_live_token(committed_data: Committed) -> None:
    """Both lock the session row first, so they never deadlock, and the logout wins
    whatever the order: no token of the session survives."""
    tenant = committed_data.tenant("logout-race")
    for _ in range(5):
        with connect(committed_data.conninfo) as setup:
            session, token = start(setup, tenant.user, tenant.org_id)
            setup.commit()
        ended = _race_refresh_and_logout(
            committed_data.conninfo, tenant.user, tenant.org_id, session, token
        )
        assert ended == 1
        with connect(committed_data.conninfo) as owner:
            assert owner.execute(
                "select count(*) from iam.refresh_tokens where session_id = %s", (session,)
            ).fetchone() == (0,)
