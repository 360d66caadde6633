"""The OpenAPI document: true to the routes, and the served API true to it (schemathesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.testclient import TestClient

from rosetta_core.kernel import Kernel
from rosetta_web.api import ENDPOINTS, routes
from rosetta_web.app import create_app
from rosetta_web.openapi import document

API = "/api/v1"
# per operation and generation mode: enough to reach every branch of the input checks while the
# whole run stays within seconds
EXAMPLES = 12


def documented() -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = document()["paths"]
    return {(method.upper(), path) for path, operations in paths.items() for method in operations}


def test_every_route_is_documented_and_every_documented_operation_routed() -> None:
    routed = {
        (method, getattr(route, "path", ""))
        for route in routes()
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert routed == {(method, path) for method, path, _ in ENDPOINTS}
    assert documented() == routed


def test_the_served_document_is_the_module_one(client: TestClient) -> None:
    assert client.get(f"{API}/openapi.json").json() == document()


def test_every_reference_resolves() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    names = {ref.removeprefix("#/components/schemas/") for ref in refs(doc)}
    assert names <= set(schemas)


def test_errors_and_the_bearer_scheme_are_described() -> None:
    doc = document()
    assert doc["openapi"].startswith("3.0")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API token, rst_...",
    }
    for (method, path), operation in _operations(doc):
        public = operation.get("security") == []
        assert public or "401" in operation["responses"], (method, path)
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def _operations(doc: dict[str, Any]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    return [((m.upper(), p), op) for p, ops in doc["paths"].items() for m, op in ops.items()]


@pytest.fixture
def fuzzed(kernel: Kernel, api_client: Callable[[str], TestClient]) -> tuple[Any, dict[str, str]]:
    """The schema schemathesis loads from the served document, and an admin's auth header (an
    admin reaches every endpoint's success path, adding computing resources included)."""
    admin = api_client("root")
    schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", create_app(kernel))
    return schema, {"Authorization": str(admin.headers["Authorization"])}


def test_the_api_keeps_to_its_document_under_generated_input(fuzzed: tuple[Any, dict[str, str]]) -> None:
    schema, headers = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the document's own path
    assert {op.label for op in operations} == {f"{m} {p}" for m, p, _ in ENDPOINTS if p != "/openapi.json"}
    for operation in operations:
        raw = operation.definition.raw
        # an operation without parameters or body has no input to make invalid
        has_input = "parameters" in raw or "requestBody" in raw
        for mode in (
            (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_input else (GenerationMode.POSITIVE,)
        ):
            _fuzz(operation, mode, headers)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=dict(headers), checks=[not_a_server_error, response_schema_conformance]
        )

    run()
