"""schemathesis against the live OpenAPI document, with valid tokens of each role.

Each documented operation gets schema-driven requests, valid and invalid
ones, sent with the token of an ORG_ADMIN, an ORG_USER, a READ_ONLY member or
none. Path ids are sometimes swapped for ids that exist, so that answers other
than 404 are checked against their schema too. Every response must be below
500, carry a documented status and match its documented schema and content
type. scripts/schemathesis_long.sh runs a longer campaign against a server.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.http.app import create_app
from tests.support.api import Actor, add_member, make_settings, register
from tests.support.database import TestDatabase

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# One app per test: schemathesis ends the lifespans its calls started when a
# test ends, and a closed pool does not open again.
@pytest.fixture
def schema(database: TestDatabase) -> Iterator[Any]:
    app = create_app(make_settings(database))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()  # closes this app's pool


@pytest.fixture(scope="module")
def tenant(client: TestClient) -> dict[str, Any]:
    admin = register(client, "st-admin")
    extra: list[Actor] = [add_member(client, admin, "ORG_USER", "st-target") for _ in range(3)]
    projects = [
        client.post("/projects", json={"name": f"st-{i}"}, headers=admin.headers).json()["id"]
        for i in range(3)
    ]
    user, read_only = add_member(client, admin, "ORG_USER"), add_member(client, admin, "READ_ONLY")
    return {
        "roles": {
            "ORG_ADMIN": admin.headers,
            "ORG_USER": user.headers,
            "READ_ONLY": read_only.headers,
            "anonymous": {},
        },
        # Logout ends a role's session: it is put back after every case.
        "sessions": [(a.session_id, a.user_id) for a in (admin, user, read_only)],
        # Ids that exist, to swap in for generated path ids now and then.
        "project_id": projects,
        "user_id": [member.user_id for member in extra],
    }


RESTORE_SESSION = (
    "insert into iam.sessions (id, user_id, expires_at)"
    " values (%s, %s, now() + interval '1 day') on conflict (id) do nothing"
)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    schema: Any, tenant: dict[str, Any], database: TestDatabase
) -> None:
    owner = psycopg.connect(database.conninfo, autocommit=True)
    per_operation: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 17

    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        strategy = st.one_of(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        )

        @given(case=strategy, role=st.sampled_from(sorted(tenant["roles"])), data=st.data())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any, role: str, data: st.DataObject) -> None:
            for name in case.path_parameters or {}:
                known = tenant.get(name)
                if known and data.draw(st.booleans(), label=f"existing {name}"):
                    case.path_parameters[name] = data.draw(st.sampled_from(known))
            headers = tenant["roles"][role]
            response = case.call(headers=headers)
            per_operation[label] += 1  # noqa: B023 - run before the loop moves on
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
            for session in tenant["sessions"]:
                owner.execute(RESTORE_SESSION, session)

        exercise()

    owner.close()
    total = sum(per_operation.values())
    print(
        f"\n[schemathesis] {len(operations)} operations, {total} cases,"
        f" statuses {dict(sorted(statuses.items()))}"
    )
    for label, count in sorted(per_operation.items()):
        print(f"  {count:4d}  {label}")
    assert all(status < 500 for status in statuses)
    assert total >= len(operations) * 5


def test_unparseable_body_statuses_are_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    undocumented = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            concrete = path.replace("{user_id}", str(uuid.uuid4())).replace(
                "{project_id}", str(uuid.uuid4())
            )
            response = client.request(
                method,
                concrete,
                content=b"\xff\xfe not json",
                headers={"Content-Type": "application/json"},
            )
            assert response.status_code < 500
            if str(response.status_code) not in operation["responses"]:
                undocumented.append(f"{method.upper()} {path}: {response.status_code}")
    assert not undocumented, undocumented


# ------------------------------------------------------------------ examples phase

EXAMPLE_CASES_PER_STRATEGY = 3


def test_examples_of_every_operation_are_sent_and_answered_as_documented(
    schema: Any, tenant: dict[str, Any]
) -> None:
    """Each operation's documented examples, sent as an ORG_ADMIN, answer as documented."""
    without_examples = []
    sent: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        strategies = schema.get_strategies_from_examples(operation)
        if not strategies and (operation.body or operation.query):
            without_examples.append(label)

        for strategy in strategies:

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLE_CASES_PER_STRATEGY,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def send(case: Any) -> None:
                headers = tenant["roles"]["ORG_ADMIN"]
                response = case.call(headers=headers)
                sent[label] += 1  # noqa: B023 - run before the loop moves on
                assert response.status_code < 500, response.text
                case.validate_response(response, checks=CHECKS, headers=headers)

            send()

    assert not without_examples, without_examples
    assert len(sent) >= 10, sent


# ------------------------------------------------------------------ stateful links

STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 8


def test_stateful_links_find_no_server_error_and_no_schema_violation(
    schema: Any, client: TestClient, database: TestDatabase
) -> None:
    """Sequences that follow the document's links (create a project, then get, update and
    delete it; add a member, then change or remove them) as an ORG_ADMIN."""
    # Deleting the organization would leave every later call a 403 and no
    # link to follow (tests/api and the stateful tenancy test delete it).
    base = schema.exclude(operation_id="deleteOrganization").as_state_machine()
    # An organization of its own: the sequences may demote or remove its members.
    actor = register(client, "st-stateful")
    headers = actor.headers
    calls: Counter[str] = Counter()
    owner = psycopg.connect(database.conninfo, autocommit=True)

    class Workflow(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            calls[f"{case.method} {case.path} {response.status_code}"] += 1
            # A sequence may log out or end its own session: put it back, or
            # every later call would be a 401 and no link would be followed.
            owner.execute(RESTORE_SESSION, (actor.session_id, actor.user_id))

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                assert response.status_code < 500, response.text
                case.validate_response(response, checks=CHECKS, headers=headers)
            except Exception as exc:
                failures.append(f"{case.method} {case.path} -> {response.status_code}: {exc}")
                raise

    failures: list[str] = []
    # A Flaky is hypothesis failing to replay a sequence against a database
    # that had moved on; what the API answered is judged by `failures` below.
    with contextlib.suppress(Flaky):
        Workflow.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=STATEFUL_STEPS,
                # Generation only, as schemathesis runs its stateful phase: the
                # database moves on, so a sequence replayed for shrinking (or
                # for hypothesis's own consistency checks) can draw differently.
                phases=[Phase.generate],
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
    owner.close()
    print(f"\n[stateful] {sum(calls.values())} calls: {dict(sorted(calls.items()))}")
    assert not failures, failures
    followed = [call for call in calls if "{project_id}" in call or "{user_id}" in call]
    assert followed, calls
