"""schemathesis against the published OpenAPI schema of a live server, on
SQLite and PostgreSQL, as staff and as a customer: generated requests, valid
and not, never get a 5xx, and every response matches the schema."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from realtime.testing.processes import Daphne
from tests.integration.conftest import make_server, seed_tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def import_ahead() -> None:
    """pytest rewrites the asserts of schemathesis and hypothesis, so each of
    their lazy imports parses source. Inside a hypothesis run, CPython 3.11.7
    can fail that parse (SystemError: AST constructor recursion depth mismatch),
    so every module they would load lazily is loaded at collection instead."""
    for info in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional reporter whose package is not installed
            continue
    for name in (
        "stateful",
        "internal.conjecture.optimiser",
        "strategies._internal.featureflags",
        "strategies._internal.flatmapped",
        "strategies._internal.random",
    ):
        importlib.import_module(f"{hypothesis.__name__}.{name}")


import_ahead()

# Per test, across every operation of the schema.
EXAMPLES = 150
# Rules JSON Schema cannot state make some schema-valid requests a 422: meta's
# 256-byte bound, no NUL or lone surrogates in text. Everything else is checked.
BEYOND_THE_SCHEMA = [schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daphne, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp(f"openapi-{request.param}")
    with make_server(tmp, request.param, "memory", request) as server:
        yield server, seed_tokens(server)
    assert server.error_lines() == []


def sendable(case: Any) -> bool:
    """requests leaves out a query parameter whose value is None or an empty
    list, so such a case would not send what it claims to test."""
    return all(value is not None and value != [] for value in (case.query or {}).values())


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
@pytest.mark.parametrize("user", ["staff", "alice"])
def test_api_conforms_to_its_schema(
    served: tuple[Daphne, dict[str, str]], user: str, mode: GenerationMode
) -> None:
    """Valid and invalid requests never get a 5xx and every response matches the schema."""
    server, tokens = served
    schema = schemathesis.openapi.from_url(f"{server.http}/api/openapi.json")
    headers = {"Authorization": f"Bearer {tokens[user]}"}

    @given(case=schema.as_strategy(generation_mode=mode).filter(sendable))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: Any) -> None:
        # A case that leaves out the token on purpose must reach the server without one.
        auth = {} if schema.is_security_param_negated(case) else headers
        case.call_and_validate(headers=auth, excluded_checks=BEYOND_THE_SCHEMA)

    conforms()
