"""Walks /openapi.json: every operation is documented the way docs/api.md promises.

A new endpoint that forgets an operationId, a description naming its role,
an example, a declared problem response or a header fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.http.problem_types import CATALOGUE

PROBLEM_JSON = "application/problem+json"
ROLES = ("ORG_ADMIN", "ORG_USER", "READ_ONLY", "No token", "Any valid access token")


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = doc["components"][section][name]
    return node


def has_example(doc: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    return bool(resolve(doc, media.get("schema", {})).get("examples"))


def test_every_operation_has_an_id_summary_tag_and_a_description_naming_its_role(
    doc: dict[str, Any],
) -> None:
    seen: set[str] = set()
    for label, op in operations(doc):
        op_id = op.get("operationId", "")
        assert re.fullmatch(r"[a-z][A-Za-z]+", op_id), (label, op_id)
        assert op_id not in seen, (label, op_id)
        seen.add(op_id)
        assert op.get("summary"), label
        assert op.get("tags"), label
        description = op.get("description", "")
        assert "**Role needed:**" in description, label
        assert any(role in description for role in ROLES), label
    tags = {tag["name"]: tag for tag in doc["tags"]}
    for label, op in operations(doc):
        for tag in op["tags"]:
            assert tags[tag].get("description"), (label, tag)


def test_every_body_has_an_example(doc: dict[str, Any]) -> None:
    missing = []
    for label, op in operations(doc):
        body = op.get("requestBody")
        if body:
            for media_type, media in body["content"].items():
                if not has_example(doc, media):
                    missing.append(f"{label} request {media_type}")
        for status, response in op["responses"].items():
            for media_type, media in resolve(doc, response).get("content", {}).items():
                if not has_example(doc, media):
                    missing.append(f"{label} {status} {media_type}")
    assert not missing, missing


def test_error_responses_are_problem_json_only_with_typed_examples(doc: dict[str, Any]) -> None:
    for label, op in operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = resolve(doc, response)["content"]
            assert list(content) == [PROBLEM_JSON], (label, status, list(content))
            media = content[PROBLEM_JSON]
            assert media["schema"] == {"$ref": "#/components/schemas/ProblemOut"}, (label, status)
            for example in media.get("examples", {}).values():
                value = example["value"]
                assert value["status"] == int(status), (label, status)
                kind = value["type"].removeprefix("/problems/")
                assert kind in CATALOGUE, (label, value["type"])
                assert CATALOGUE[kind].meaning in response["description"], (label, status)


# The probes take no input. Liveness never touches the database, but the
# server in front of it may be overloaded (503).
CANNOT_SEND = {"GET /healthz": {"422"}, "GET /readyz": {"422"}}


def test_every_operation_declares_the_problems_it_can_send(doc: dict[str, Any]) -> None:
    for label, op in operations(doc):
        statuses = set(op["responses"])
        exempt = CANNOT_SEND.get(label, set())
        # Every operation that reads the database can find it away; every
        # parameter or body can be refused; every body can be too large.
        for status in {"422", "503"} - exempt:
            assert status in statuses, (label, status)
        if "requestBody" in op:
            assert "413" in statuses, label
        if op.get("security"):
            assert "401" in statuses, label


def test_every_operation_declares_what_the_server_itself_answers(doc: dict[str, Any]) -> None:
    # Before the request reaches a route: headers too large, too many connections.
    for label, op in operations(doc):
        for status, slug in (("431", "headers-too-large"), ("503", "overloaded")):
            response = op["responses"].get(status)
            assert response is not None, (label, status)
            examples = response["content"][PROBLEM_JSON]["examples"]
            assert slug in examples, (label, status, list(examples))
            assert CATALOGUE[slug].meaning in response["description"], (label, status)


def test_headers_the_server_sends_are_declared(doc: dict[str, Any]) -> None:
    for label, op in operations(doc):
        for status, response in op["responses"].items():
            headers = resolve(doc, response).get("headers", {})
            assert "X-Request-ID" in headers, (label, status)
            expected = {"201": "Location", "401": "WWW-Authenticate", "429": "Retry-After"}
            if status in expected:
                assert expected[status] in headers, (label, status)
    allowed = doc["components"]["responses"]["MethodNotAllowed"]
    assert "Allow" in allowed["headers"]


def test_one_role_schema_is_shared_by_every_use(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["Role"]["enum"] == ["ORG_ADMIN", "ORG_USER", "READ_ONLY"]

    def enums(node: object) -> Iterator[list[Any]]:
        if isinstance(node, dict):
            if "enum" in node:
                yield node["enum"]
            for key, value in node.items():
                if key not in ("examples", "example"):
                    yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    # The roles are enumerated once, in Role itself: generators make one type.
    role_enums = [enum for enum in enums(doc) if "ORG_USER" in enum]
    assert role_enums == [schemas["Role"]["enum"]], role_enums
    role = {"$ref": "#/components/schemas/Role"}
    for name in ("InvitationIn", "MemberPatch", "MemberOut", "OrganizationOut"):
        assert schemas[name]["properties"]["role"] == role, name
    # A token without an organization has no role: the same Role, or null.
    for name in ("TokenOut", "MeOut"):
        assert schemas[name]["properties"]["role"]["anyOf"] == [role, {"type": "null"}], name


def test_problem_errors_are_typed(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    errors = schemas["ProblemOut"]["properties"]["errors"]
    assert {"$ref": "#/components/schemas/FieldError"} in [
        branch.get("items") for branch in errors["anyOf"]
    ]
    field_error = schemas["FieldError"]
    assert set(field_error["required"]) == {"loc", "msg"}
    assert field_error["properties"]["loc"]["items"] == {"type": "string"}


def test_bearer_scheme_says_jwt(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme["scheme"] == "bearer" and scheme["bearerFormat"] == "JWT"


def test_created_resources_link_to_their_operations(doc: dict[str, Any]) -> None:
    ids = {op["operationId"] for _, op in operations(doc)}
    links = doc["paths"]["/projects"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "getProject",
        "updateProject",
        "deleteProject",
    }
    for _, op in operations(doc):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in ids


def test_readyz_declares_its_503_problem(doc: dict[str, Any]) -> None:
    response = doc["paths"]["/readyz"]["get"]["responses"]["503"]
    assert list(response["content"]) == [PROBLEM_JSON]


def test_the_patch_name_is_optional_but_not_nullable(doc: dict[str, Any]) -> None:
    name = doc["components"]["schemas"]["ProjectPatch"]["properties"]["name"]
    assert name["type"] == "string" and "anyOf" not in name and "default" not in name
