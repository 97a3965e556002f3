"""schemathesis against a live simulator: every operation of /openapi.json, bounded examples, zero failures.

Two operations are left out on purpose, because generated data would reach outside loopback or stop
the server answering normally: ``POST /_sim/clients`` (a generated client can name any
user_detail_url, which the next exchange would call) and ``POST /_sim/faults`` (a generated rule
could break connections on purpose). Both have their own tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from spotnana_sim.core.errors import RFC6749, SPOTNANA
from spotnana_sim.core.protocol import TOKEN_ENDPOINT_PATH
from spotnana_sim.core.settings import Settings
from spotnana_sim.server.openapi import openapi_document

from ..servers import ServerThread, running_simulator

pytestmark = pytest.mark.e2e

EXCLUDED = {("/_sim/clients", "POST"), ("/_sim/faults", "POST")}
# {"advance": x} is valid or not depending on where the clock already is (the result must stay in
# 1970..9999), which no schema can say: a 400 there is right, so positive-data acceptance is not checked.
# Likewise which client_id and secret are valid is state, not schema: a generated, schema-valid token
# request is refused as invalid_client (400 in the rfc6749 dialect), rightly.
STATE_DEPENDENT = {("/_sim/clock", "POST"): [positive_data_acceptance],
                   (TOKEN_ENDPOINT_PATH, "POST"): [positive_data_acceptance]}
MAX_EXAMPLES = 15  # per operation, mode and dialect: keeps the whole module well inside a minute
TOKEN_EXAMPLES = 80  # the endpoint integrators use gets the most


# A schema-violating request may also be rejected as too large (413) or not allowed (405).
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "413", "422"]}}}
)


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every operation in positive mode; those that take input also in negative mode."""
    document = openapi_document()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or (path, method.upper()) in EXCLUDED:
                continue
            found.append((path, method.upper(), GenerationMode.POSITIVE))
            if "requestBody" in operation or "parameters" in operation:  # a path id alone cannot be made invalid
                found.append((path, method.upper(), GenerationMode.NEGATIVE))
    return found


@pytest.fixture(scope="module", params=[SPOTNANA, RFC6749])
def live(request: pytest.FixtureRequest) -> Iterator[tuple[ServerThread, schemathesis.schemas.BaseSchema]]:
    with running_simulator(Settings(errors=request.param)) as (server, _):
        served = requests.get(server.url + "/openapi.json", timeout=5).json()
        yield server, schemathesis.openapi.from_dict(served, config=CONFIG)


@pytest.mark.parametrize(("path", "method", "mode"), _operations(), ids=lambda v: getattr(v, "value", v))
def test_operation_keeps_its_contract(
    live: tuple[ServerThread, schemathesis.schemas.BaseSchema], path: str, method: str, mode: GenerationMode
) -> None:
    server, schema = live
    operation = schema[path][method]
    session = requests.Session()
    examples = TOKEN_EXAMPLES if path == TOKEN_ENDPOINT_PATH else MAX_EXAMPLES

    @settings(max_examples=examples, deadline=None, database=None,
              # the strategy comes from the served document, known only once the server runs
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.url, session=session,
                               excluded_checks=STATE_DEPENDENT.get((path, method)))

    try:
        check()
    finally:
        session.close()
