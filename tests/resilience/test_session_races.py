"""Races on sessions through `rls-iam serve --workers 2`: the database decides.

Every request of a race is released at the same instant from its own thread,
so the transactions overlap in PostgreSQL, from two processes.
"""

from __future__ import annotations

from collections import Counter

import httpx
import jwt

from tests.support.api import PASSWORD, register
from tests.support.concurrency import run_concurrently

RACERS = 10


def sign_in(http: httpx.Client, email: str) -> dict[str, str]:
    response = http.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_racing_refreshes_of_one_token_one_wins_and_the_session_ends(http: httpx.Client) -> None:
    actor = register(http, "refresh-race")
    signed = sign_in(http, actor.email)

    def attempt(_: int) -> httpx.Response:
        return http.post("/auth/refresh", json={"refresh_token": signed["refresh_token"]})

    responses = run_concurrently(attempt, list(range(RACERS)))
    counts = Counter(r.status_code for r in responses)
    print(f"statuses: {dict(counts)}")
    assert counts == {200: 1, 401: RACERS - 1}
    # The losers presented a token that was spent by then: reuse, so the
    # session ended, with the winner's new tokens. Nothing is left in between.
    winner = next(r for r in responses if r.status_code == 200).json()
    again = http.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 401
    me = http.get("/auth/me", headers={"Authorization": f"Bearer {winner['access_token']}"})
    assert me.status_code == 401
    # The user's other session is untouched.
    assert http.get("/auth/me", headers=actor.headers).status_code == 200


def test_a_logout_racing_requests_of_its_session_leaves_no_request_after_it(
    http: httpx.Client,
) -> None:
    actor = register(http, "logout-race")
    signed = sign_in(http, actor.email)
    headers = {"Authorization": f"Bearer {signed['access_token']}"}
    sid = jwt.decode(signed["access_token"], options={"verify_signature": False})["sid"]

    def attempt(index: int) -> httpx.Response:
        if index == 0:
            return http.post("/auth/logout", headers=headers)
        return http.get("/projects", headers=headers)

    responses = run_concurrently(attempt, list(range(RACERS)))
    assert responses[0].status_code == 204
    assert {r.status_code for r in responses[1:]} <= {200, 401}
    # Whatever the order was, from now on the session is over everywhere.
    for _ in range(4):  # both workers, whichever takes the request
        assert http.get("/projects", headers=headers).status_code == 401
    sessions = http.get("/auth/sessions", headers=actor.headers).json()["items"]
    assert sid not in {s["id"] for s in sessions}
