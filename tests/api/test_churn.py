"""No 500 from a race: /auth/me while an admin removes and re-invites the caller, who accepts.

The caller's role lookup and the query are separate statements of one
round trip; a membership change between them must give 200 or 403, never
a state the code does not expect. Bounded: a few seconds, 127.0.0.1 only
(in-process).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from fastapi.testclient import TestClient

from tests.support.api import Org, accept, invite

SECONDS = 3.0
READERS = 3


def test_me_under_membership_churn_never_answers_500(client: TestClient, org: Org) -> None:
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def read() -> None:
        while not stop.is_set():
            status = client.get("/auth/me", headers=org.user.headers).status_code
            with lock:
                statuses[status] += 1

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    for reader in readers:
        reader.start()
    cycles = 0
    deadline = time.monotonic() + SECONDS
    try:
        while time.monotonic() < deadline:
            removed = client.delete(f"/members/{org.user.user_id}", headers=org.admin.headers)
            assert removed.status_code == 204, removed.text
            invitation = invite(client, org.admin, org.user.email, "ORG_USER")
            accept(client, org.user, invitation["token"])
            cycles += 1
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    print(f"\n[churn] {cycles} remove/re-join cycles, /auth/me: {dict(statuses)}")
    assert set(statuses) <= {200, 403}, statuses
    assert statuses[200] > 0 and statuses[403] > 0
