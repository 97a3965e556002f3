"""Redaction without gaps: a secret-named form field's value never shows whole, whatever the names.

The rule (spotnana_sim.core.redaction): ``client_secret``, ``subject_token``, ``actor_token``,
``client_assertion``, ``assertion``, ``refresh_token``, ``password``, ``code``, ``access_token``, and
any field whose name ends in ``_token``, ``_secret`` or ``_password`` is secret. Hypothesis mixes those
names with ordinary ones and gives the secret ones distinctive values (an alphabet and length that
cannot turn up by chance in tokens or messages); none may appear whole in the answer, the journal
entry, the client list or any log line. Ordinary fields are the control: they are allowed to show.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotnana_sim.core.protocol import (
    FORM_CONTENT_TYPE,
    TOKEN_ENDPOINT_PATH,
)
from spotnana_sim.core.settings import DEMO_CLIENT_SECRET
from spotnana_sim.server.inprocess import InProcessSimulator

from .helpers import exchange_form

NAMED_SECRETS = ("actor_token", "client_assertion", "assertion", "password", "code", "refresh_token",
                 "access_token", "foo_token", "bar_secret", "x_password")
BASE_FORM = exchange_form()
# Secret values: 12+ characters from letters rare in English and base64 alike at that length.
SECRET_ALPHABET = "QXZJKVW"
# Ordinary names avoid every secret-ish word, so no ordinary field is a borderline case.
SECRETISH_WORDS = ("token", "secret", "password", "assertion", "code", "auth", "key", "credential")

secret_values = st.text(alphabet=SECRET_ALPHABET, min_size=12, max_size=40)
suffix_names = st.from_regex(r"[a-z]{1,10}_(token|secret|password)", fullmatch=True)
secret_names = st.one_of(st.sampled_from(NAMED_SECRETS), suffix_names).filter(lambda n: n not in BASE_FORM)
ordinary_names = st.from_regex(r"[a-z]{2,8}(_[a-z]{2,8})?", fullmatch=True).filter(
    lambda n: n not in BASE_FORM and not any(word in n for word in SECRETISH_WORDS))
ordinary_values = st.text(alphabet="abcdefghm0123456789-", max_size=20)


@st.composite
def requests(draw: st.DrawFn) -> tuple[dict[str, str], set[str], bool]:
    """A token request's form, the secret values in it, and whether the extras also go in the query."""
    secret_fields = draw(st.dictionaries(secret_names, secret_values, min_size=1, max_size=8))
    ordinary_fields = draw(st.dictionaries(ordinary_names, ordinary_values, max_size=6))
    form = {**BASE_FORM, **ordinary_fields, **secret_fields}
    if draw(st.booleans()):
        form["subject_token"] = draw(secret_values)  # an unknown user: the embedded API answers 401
    if draw(st.booleans()):
        form["client_secret"] = draw(secret_values)  # a wrong secret: 403
    secrets = set(secret_fields.values()) | {form["subject_token"], form["client_secret"]}
    secrets -= {"demo-token-ada", DEMO_CLIENT_SECRET}  # public demo values, printed by `make run`
    return form, secrets, draw(st.booleans())


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
async def test_no_secret_field_value_ever_shows_whole(
    in_process: InProcessSimulator, caplog: pytest.LogCaptureFixture, request: tuple[dict[str, str], set[str], bool]
) -> None:
    form, secrets, also_in_query = request
    caplog.set_level(logging.DEBUG)
    path = TOKEN_ENDPOINT_PATH
    if also_in_query:
        path += "?" + urlencode({k: v for k, v in form.items() if k not in BASE_FORM})
    async with in_process.client() as http:
        response = await http.post(path, content=urlencode(form), headers={"content-type": FORM_CONTENT_TYPE})
        clients = await http.get("/_sim/clients")
    assert clients.status_code == 200, clients.text
    entry: Any = in_process.simulator.journal.entries()[-1]
    places = {
        "the response": response.text,
        "the journal entry": json.dumps(entry.to_json(), ensure_ascii=False),
        "GET /_sim/clients": clients.text,
        # httpx's own lines are this test's client logging the URL it was asked to call, not the simulator.
        "the logs": "\n".join(caplog.handler.format(r) for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))),
    }
    for where, text in places.items():
        shown = sorted(name for name, value in form.items() if value in secrets and value in text)
        assert not shown, f"whole in {where}: {shown}"
