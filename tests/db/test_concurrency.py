"""Races between two real connections, with committed data and an explicit order.

Connection 1 makes a change and holds it uncommitted; connection 2, in a
thread, runs a statement that must wait for it; the test proves the wait
(pg_stat_activity says the backend is waiting on a lock), then ends
connection 1's transaction and reads connection 2's outcome. Every wait is
bounded by lock_timeout / statement_timeout, and the thread is joined with
a timeout, so a missing lock fails the test instead of hanging it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.support.sql import DELETE_PROJECT, REMOVE_MEMBER, Committed, Conn, act_as, connect

JOIN_TIMEOUT = 15.0

Outcome = int | psycopg.Error


def _wait_until_blocked(monitor: Conn, pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = monitor.execute(
            "select wait_event_type from pg_catalog.pg_stat_activity where pid = %s", (pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.02)
    pytest.fail(f"backend {pid} did not wait for a lock within {timeout}s")


def _rowcount_or_error(conn: Conn, statement: str, params: tuple[object, ...]) -> Outcome:
    try:
        return conn.execute(statement, params).rowcount
    except psycopg.Error as error:
        return error


def _race(
    conninfo: str,
    first: Callable[[Conn], None],
    second: Callable[[Conn], Outcome],
    *,
    commit_first: bool = True,
) -> tuple[Outcome, Conn]:
    """Run `first` uncommitted, start `second` (it must block), end `first`; second's outcome.

    Returns the second connection too, still in its transaction, for the caller to end.
    """
    c1 = connect(conninfo)
    c2 = connect(conninfo)
    try:
        with connect(conninfo, autocommit=True) as monitor, ThreadPoolExecutor(1) as pool:
            first(c1)
            future = pool.submit(second, c2)
            try:
                _wait_until_blocked(monitor, c2.info.backend_pid)
            finally:
                c1.commit() if commit_first else c1.rollback()
            outcome = future.result(timeout=JOIN_TIMEOUT)
    except BaseException:
        c2.close()
        raise
    finally:
        c1.close()
    return outcome, c2


def _admins(conninfo: str, org_id: uuid.UUID) -> set[uuid.UUID]:
    with connect(conninfo, autocommit=True) as owner:
        rows = owner.execute(
            "select user_id from iam.organization_memberships"
            " where organization_id = %s and role = 'ORG_ADMIN'",
            (org_id,),
        ).fetchall()
    return {row[0] for row in rows}


def _project_exists(conninfo: str, project: uuid.UUID) -> bool:
    with connect(conninfo, autocommit=True) as owner:
        return (
            owner.execute("select 1 from iam.projects where id = %s", (project,)).fetchone()
            is not None
        )


# --------------------------------------------------------- the last ORG_ADMIN

DEMOTE = "update iam.organization_memberships set role = 'READ_ONLY' where user_id = %s"
REMOVE = REMOVE_MEMBER


@pytest.mark.parametrize(
    ("first_change", "second_change"),
    [
        pytest.param(DEMOTE, DEMOTE, id="both_demote_themselves"),
        pytest.param(REMOVE, REMOVE, id="both_leave"),
        pytest.param(DEMOTE, REMOVE, id="one_demotes_itself_other_leaves"),
    ],
)
def test_last_two_admins_changing_themselves_at_once_leave_one_admin(
    committed_data: Committed, first_change: str, second_change: str
) -> None:
    a = committed_data.tenant("lastadmins", projects=0)
    y = committed_data.member(a.org_id, "ORG_ADMIN", "second-admin")

    def first(conn: Conn) -> None:
        act_as(conn, a.admin, a.org_id)
        assert conn.execute(first_change, (a.admin,)).rowcount == 1

    def second(conn: Conn) -> Outcome:
        act_as(conn, y, a.org_id)
        return _rowcount_or_error(conn, second_change, (y,))

    outcome, c2 = _race(committed_data.conninfo, first, second)
    with c2:
        c2.rollback()
    assert isinstance(outcome, psycopg.Error), f"second change went through: {outcome}"
    assert outcome.sqlstate == "IAM01"
    assert _admins(committed_data.conninfo, a.org_id) == {y}


def test_last_two_admins_demoting_each_other_at_once_leave_one_admin(
    committed_data: Committed,
) -> None:
    a = committed_data.tenant("crossdemote", projects=0)
    y = committed_data.member(a.org_id, "ORG_ADMIN", "second-admin")

    def first(conn: Conn) -> None:
        act_as(conn, a.admin, a.org_id)
        assert conn.execute(DEMOTE, (y,)).rowcount == 1

    def second(conn: Conn) -> Outcome:
        act_as(conn, y, a.org_id)
        return _rowcount_or_error(conn, DEMOTE, (a.admin,))

    outcome, c2 = _race(committed_data.conninfo, first, second)
    with c2:
        c2.commit()
    # Y waited for its own membership row; once X's demotion committed, Y was
    # no longer an admin, so its demotion of X matched nothing.
    assert outcome == 0
    assert _admins(committed_data.conninfo, a.org_id) == {a.admin}


# ------------------------------------------ a write racing the writer's demotion


@pytest.mark.parametrize(
    ("ending", "deleted"),
    [
        pytest.param(True, 0, id="demotion_commits"),
        pytest.param(False, 1, id="demotion_rolls_back"),
    ],
)
def test_delete_racing_the_callers_demotion_waits_and_then_obeys_it(
    committed_data: Committed, ending: bool, deleted: int
) -> None:
    a = committed_data.tenant("deleterace", projects=1)
    y = committed_data.member(a.org_id, "ORG_ADMIN", "y")
    project = a.project_ids[0]

    def demote_y(conn: Conn) -> None:
        act_as(conn, a.admin, a.org_id)
        assert conn.execute(DEMOTE, (y,)).rowcount == 1

    def y_deletes(conn: Conn) -> Outcome:
        act_as(conn, y, a.org_id)
        return _rowcount_or_error(conn, DELETE_PROJECT, (project,))

    outcome, c2 = _race(committed_data.conninfo, demote_y, y_deletes, commit_first=ending)
    with c2:
        c2.commit()
    assert outcome == deleted
    assert _project_exists(committed_data.conninfo, project) is (deleted == 0)


@pytest.mark.parametrize(
    ("change", "ending", "refused"),
    [
        pytest.param(DEMOTE, True, True, id="demotion_commits"),
        pytest.param(DEMOTE, False, False, id="demotion_rolls_back"),
        pytest.param(REMOVE, True, True, id="removal_commits"),
    ],
)
def test_insert_racing_the_callers_demotion_waits_and_then_obeys_it(
    committed_data: Committed, change: str, ending: bool, refused: bool
) -> None:
    a = committed_data.tenant("insertrace", projects=0)
    y = committed_data.member(a.org_id, "ORG_USER", "y")
    name = f"racing {uuid.uuid4().hex[:8]}"

    def change_y(conn: Conn) -> None:
        act_as(conn, a.admin, a.org_id)
        assert conn.execute(change, (y,)).rowcount == 1

    def y_inserts(conn: Conn) -> Outcome:
        act_as(conn, y, a.org_id)
        return _rowcount_or_error(conn, "insert into iam.projects (name) values (%s)", (name,))

    outcome, c2 = _race(committed_data.conninfo, change_y, y_inserts, commit_first=ending)
    with c2:
        if refused:
            assert isinstance(outcome, psycopg.errors.InsufficientPrivilege), outcome
            c2.rollback()
        else:
            assert outcome == 1
            c2.commit()
    with connect(committed_data.conninfo, autocommit=True) as owner:
        count = owner.execute(
            "select count(*) from iam.projects where organization_id = %s and name = %s",
            (a.org_id, name),
        ).fetchone()
    assert count == (0 if refused else 1,)


def test_update_racing_the_callers_demotion_waits_and_changes_nothing(
    committed_data: Committed,
) -> None:
    a = committed_data.tenant("updaterace", projects=1)
    y = committed_data.member(a.org_id, "ORG_USER", "y")
    project = a.project_ids[0]

    def demote_y(conn: Conn) -> None:
        act_as(conn, a.admin, a.org_id)
        assert conn.execute(DEMOTE, (y,)).rowcount == 1

    def y_updates(conn: Conn) -> Outcome:
        act_as(conn, y, a.org_id)
        return _rowcount_or_error(
            conn, "update iam.projects set description = 'raced' where id = %s", (project,)
        )

    outcome, c2 = _race(committed_data.conninfo, demote_y, y_updates)
    with c2:
        c2.commit()
    assert outcome == 0
    with connect(committed_data.conninfo, autocommit=True) as owner:
        row = owner.execute(
            "select description from iam.projects where id = %s", (project,)
        ).fetchone()
    assert row == (None,)


def test_demotion_waits_for_a_write_already_in_progress(committed_data: Committed) -> None:
    a = committed_data.tenant("writefirst", projects=1)
    y = committed_data.member(a.org_id, "ORG_ADMIN", "y")
    project = a.project_ids[0]

    def y_deletes(conn: Conn) -> None:
        act_as(conn, y, a.org_id)
        assert conn.execute(DELETE_PROJECT, (project,)).rowcount == 1

    def demote_y(conn: Conn) -> Outcome:
        act_as(conn, a.admin, a.org_id)
        return _rowcount_or_error(conn, DEMOTE, (y,))

    outcome, c2 = _race(committed_data.conninfo, y_deletes, demote_y)
    with c2:
        c2.commit()
    # The write was made with the role Y held when it ran, then the demotion applied.
    assert outcome == 1
    assert not _project_exists(committed_data.conninfo, project)


def test_admins_demoting_each_other_with_interleaved_locks_still_leave_one_admin(
    committed_data: Committed,
) -> None:
    """The worst interleaving: each holds its own membership lock before updating the other's.

    That is a lock cycle, so PostgreSQL aborts one side with deadlock_detected
    (40P01); the other side's demotion goes through. Either way the
    organization keeps exactly one admin.
    """
    a = committed_data.tenant("deadlock", projects=0)
    y = committed_data.member(a.org_id, "ORG_ADMIN", "second-admin")
    c1 = connect(committed_data.conninfo)
    c2 = connect(committed_data.conninfo)
    try:
        with (
            connect(committed_data.conninfo, autocommit=True) as monitor,
            ThreadPoolExecutor(2) as pool,
        ):
            act_as(c1, a.admin, a.org_id)
            act_as(c2, y, a.org_id)
            # What the write policies do first: lock one's own membership FOR SHARE.
            assert c1.execute("select iam.member_role_for_write()").fetchone() == ("ORG_ADMIN",)
            assert c2.execute("select iam.member_role_for_write()").fetchone() == ("ORG_ADMIN",)
            first = pool.submit(_rowcount_or_error, c1, DEMOTE, (y,))
            _wait_until_blocked(monitor, c1.info.backend_pid)
            second = pool.submit(_rowcount_or_error, c2, DEMOTE, (a.admin,))
            outcomes = [first.result(timeout=JOIN_TIMEOUT), second.result(timeout=JOIN_TIMEOUT)]
        for conn, outcome in zip((c1, c2), outcomes, strict=True):
            conn.rollback() if isinstance(outcome, psycopg.Error) else conn.commit()
    finally:
        c1.close()
        c2.close()

    errors = [o for o in outcomes if isinstance(o, psycopg.Error)]
    assert [e.sqlstate for e in errors] == ["40P01"], outcomes
    assert [o for o in outcomes if not isinstance(o, psycopg.Error)] == [1]
    assert len(_admins(committed_data.conninfo, a.org_id)) == 1
