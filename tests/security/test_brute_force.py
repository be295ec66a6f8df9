"""Brute-force protection on /auth/login and /auth/register (README, "Abuse limits").

The apps here set low limits: 5 auth requests a minute per client, 3 failed
logins per (email, client). Counters live in PostgreSQL and outlive each
test, so every test uses addresses and emails of its own. The windows slide;
a test that needs N requests in one window still waits out a window about to
end, so that the count of the window before weighs in fully.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from service.settings import Settings
from tests.support.api import PASSWORD, make_settings, owner_sql, unique_email
from tests.support.attacks import app_client, unique_ip, wait_for_fresh_window
from tests.support.database import TestDatabase

IP_LIMIT = 5
EMAIL_LIMIT = 3


@pytest.fixture(scope="module")
def limited(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(
        database,
        rate_limit_ip_per_minute=IP_LIMIT,
        rate_limit_failed_logins_per_email=EMAIL_LIMIT,
    )
    with app_client(settings, peer_header=True) as test_client:
        yield test_client


def register_body(email: str | None = None) -> dict[str, str]:
    return {
        "email": email or unique_email("bf"),
        "password": PASSWORD,
        "organization_name": "Brute force",
    }


def login_body(email: str, password: str = PASSWORD) -> dict[str, str]:
    return {"email": email, "password": password}


def assert_throttled(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/rate-limited"
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit(), retry_after
    # A sliding window weighs the window before as if its hits were spread
    # evenly: the wait can reach past one window, never past two.
    assert 1 <= int(retry_after) <= 2 * 900
    return int(retry_after)


def test_register_is_limited_per_client_ip(limited: TestClient) -> None:
    wait_for_fresh_window(60)
    ip = unique_ip()
    statuses = [
        limited.post(
            "/auth/register", json=register_body(), headers={"X-Test-Peer": ip}
        ).status_code
        for _ in range(IP_LIMIT)
    ]
    assert statuses == [201] * IP_LIMIT
    retry_after = assert_throttled(
        limited.post("/auth/register", json=register_body(), headers={"X-Test-Peer": ip})
    )
    assert retry_after <= 2 * 60
    # Another address is not affected.
    response = limited.post(
        "/auth/register", json=register_body(), headers={"X-Test-Peer": unique_ip()}
    )
    assert response.status_code == 201
    print(f"\n[brute force] register: {IP_LIMIT} accepted, then 429 Retry-After {retry_after}")


def test_login_is_limited_per_client_ip_and_the_refused_attempt_writes_nothing(
    limited: TestClient, database: TestDatabase
) -> None:
    account = unique_email("bf-login")
    setup_ip = unique_ip()
    assert (
        limited.post(
            "/auth/register", json=register_body(account), headers={"X-Test-Peer": setup_ip}
        ).status_code
        == 201
    )
    wait_for_fresh_window(60)
    ip = unique_ip()
    for _ in range(IP_LIMIT):
        response = limited.post(
            "/auth/login", json=login_body(account), headers={"X-Test-Peer": ip}
        )
        assert response.status_code == 200, response.text
    # Even the right password is refused now, from that address only.
    assert_throttled(
        limited.post("/auth/login", json=login_body(account), headers={"X-Test-Peer": ip})
    )
    users_before = owner_sql(database, "select count(*) from iam.users")
    assert_throttled(
        limited.post("/auth/register", json=register_body(), headers={"X-Test-Peer": ip})
    )
    assert owner_sql(database, "select count(*) from iam.users") == users_before
    response = limited.post(
        "/auth/login", json=login_body(account), headers={"X-Test-Peer": unique_ip()}
    )
    assert response.status_code == 200


def test_failed_logins_refuse_that_email_from_that_client_only(limited: TestClient) -> None:
    """An attacker's failures refuse the attacker, for that email; nobody else."""
    wait_for_fresh_window(900, needed_seconds=10)
    victim, bystander = unique_email("victim"), unique_email("bystander")
    for email in (victim, bystander):
        response = limited.post(
            "/auth/register", json=register_body(email), headers={"X-Test-Peer": unique_ip()}
        )
        assert response.status_code == 201
    attacker = unique_ip()
    statuses = []
    for _ in range(IP_LIMIT - 1):
        response = limited.post(
            "/auth/login",
            json=login_body(victim, "wrong password " + uuid.uuid4().hex),
            headers={"X-Test-Peer": attacker},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * EMAIL_LIMIT + [429] * (IP_LIMIT - 1 - EMAIL_LIMIT)
    # The lock is per email, whatever its case or padding; the right password too.
    retry_after = assert_throttled(
        limited.post(
            "/auth/login",
            json=login_body(f"  {victim.upper()} "),
            headers={"X-Test-Peer": attacker},
        )
    )
    # The owner, from another client, gets in; so does another user.
    for email in (victim, bystander):
        response = limited.post(
            "/auth/login", json=login_body(email), headers={"X-Test-Peer": unique_ip()}
        )
        assert response.status_code == 200, response.text
    print(
        f"\n[brute force] (email, client): {EMAIL_LIMIT} x 401 then 429 "
        f"(Retry-After {retry_after}); the owner from another client: 200"
    )


def test_successful_logins_do_not_count_against_the_email(limited: TestClient) -> None:
    wait_for_fresh_window(60)
    email = unique_email("regular")
    limited.post("/auth/register", json=register_body(email), headers={"X-Test-Peer": unique_ip()})
    for _ in range(EMAIL_LIMIT + 3):
        response = limited.post(
            "/auth/login", json=login_body(email), headers={"X-Test-Peer": unique_ip()}
        )
        assert response.status_code == 200


def test_two_app_instances_share_the_counters(database: TestDatabase) -> None:
    """Two instances (two pools, as two workers or two serverless invocations) count together."""
    settings = make_settings(
        database, rate_limit_ip_per_minute=IP_LIMIT, rate_limit_failed_logins_per_email=EMAIL_LIMIT
    )
    wait_for_fresh_window(60, needed_seconds=8)
    ip = unique_ip()
    email = unique_email("shared")
    with (
        app_client(settings, peer_header=True) as first,
        app_client(settings, peer_header=True) as second,
    ):
        assert first.app is not second.app
        statuses = []
        for i in range(IP_LIMIT):
            instance = first if i % 2 == 0 else second
            response = instance.post(
                "/auth/register", json=register_body(), headers={"X-Test-Peer": ip}
            )
            statuses.append(response.status_code)
        assert statuses == [201] * IP_LIMIT
        assert_throttled(
            second.post("/auth/register", json=register_body(), headers={"X-Test-Peer": ip})
        )
        assert_throttled(
            first.post("/auth/register", json=register_body(), headers={"X-Test-Peer": ip})
        )

        # Failed logins on one instance refuse the pair on the other.
        first.post(
            "/auth/register", json=register_body(email), headers={"X-Test-Peer": unique_ip()}
        )
        guesser = unique_ip()
        for i in range(EMAIL_LIMIT):
            instance = second if i % 2 == 0 else first
            response = instance.post(
                "/auth/login",
                json=login_body(email, "not the password"),
                headers={"X-Test-Peer": guesser},
            )
            assert response.status_code == 401
        assert_throttled(
            second.post("/auth/login", json=login_body(email), headers={"X-Test-Peer": guesser})
        )
    assert owner_sql(database, "select count(*) > 0 from iam.rate_limit_buckets") == [(True,)]


def test_limits_are_configurable(database: TestDatabase) -> None:
    wait_for_fresh_window(60)
    with app_client(
        make_settings(database, rate_limit_ip_per_minute=2), peer_header=True
    ) as strict:
        ip = unique_ip()
        statuses = [
            strict.post(
                "/auth/register", json=register_body(), headers={"X-Test-Peer": ip}
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [201, 201, 429]


@pytest.fixture(scope="module")
def behind_proxy(database: TestDatabase) -> Iterator[TestClient]:
    settings = make_settings(
        database,
        rate_limit_ip_per_minute=IP_LIMIT,
        rate_limit_failed_logins_per_email=1_000_000,
        trusted_proxies="10.0.0.0/8",
    )
    with app_client(settings, peer_header=True) as test_client:
        yield test_client


def test_x_forwarded_for_from_a_trusted_proxy_names_the_client(behind_proxy: TestClient) -> None:
    wait_for_fresh_window(60)
    proxy = unique_ip("10")
    client_one, client_two = unique_ip("198"), unique_ip("203")

    def via_proxy(forwarded: str) -> int:
        return behind_proxy.post(
            "/auth/register",
            json=register_body(),
            headers={"X-Test-Peer": proxy, "X-Forwarded-For": forwarded},
        ).status_code

    assert [via_proxy(client_one) for _ in range(IP_LIMIT)] == [201] * IP_LIMIT
    assert via_proxy(client_one) == 429
    # Same proxy, another client: its own bucket.
    assert via_proxy(client_two) == 201
    # A client's own claim left of the real one is ignored: still client_one's bucket.
    assert via_proxy(f"6.6.6.6, {client_one}") == 429
    # Chained trusted proxies are skipped: the first untrusted hop from the right is the client.
    assert via_proxy(f"{client_one}, {unique_ip('10')}") == 429


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(limited: TestClient) -> None:
    """Without TRUSTED_PROXIES, rotating X-Forwarded-For does not escape the peer's bucket."""
    wait_for_fresh_window(60)
    peer = unique_ip("172")
    statuses = [
        limited.post(
            "/auth/register",
            json=register_body(),
            headers={"X-Test-Peer": peer, "X-Forwarded-For": unique_ip("198")},
        ).status_code
        for _ in range(IP_LIMIT + 2)
    ]
    assert statuses == [201] * IP_LIMIT + [429, 429]


def test_x_forwarded_for_from_a_peer_outside_trusted_proxies_is_ignored(
    behind_proxy: TestClient,
) -> None:
    wait_for_fresh_window(60)
    peer = unique_ip("172")  # not in 10.0.0.0/8
    statuses = [
        behind_proxy.post(
            "/auth/register",
            json=register_body(),
            headers={"X-Test-Peer": peer, "X-Forwarded-For": unique_ip("198")},
        ).status_code
        for _ in range(IP_LIMIT + 1)
    ]
    assert statuses == [201] * IP_LIMIT + [429]


def test_default_limits_leave_ordinary_use_alone(database: TestDatabase) -> None:
    """README §16: by default, at least 100 auth requests a minute from one address and at
    least 10 failed logins for one email before a 429."""
    fields = Settings.model_fields
    ip_default = fields["rate_limit_ip_per_minute"].default
    email_default = fields["rate_limit_failed_logins_per_email"].default
    assert ip_default >= 100
    assert email_default >= 10
    settings = make_settings(
        database,
        rate_limit_ip_per_minute=ip_default,
        rate_limit_failed_logins_per_email=email_default,
    )
    wait_for_fresh_window(900, needed_seconds=10)
    wait_for_fresh_window(60, needed_seconds=10)
    with app_client(settings, peer_header=True) as app:
        ip = unique_ip()
        email = unique_email("ordinary")
        response = app.post(
            "/auth/register", json=register_body(email), headers={"X-Test-Peer": ip}
        )
        assert response.status_code == 201
        statuses = [
            app.post(
                "/auth/login",
                json=login_body(email, "typo in password"),
                headers={"X-Test-Peer": ip},
            ).status_code
            for _ in range(10)
        ]
        assert statuses == [401] * 10
