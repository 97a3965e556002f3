"""The Python example that docs/clients/authlib.md includes, run as the page shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from authlib.integrations.httpx_client import OAuthError

from .conftest import LiveSimulator
from .examples import authlib_exchange

pytestmark = pytest.mark.e2e

EXAMPLE = Path(authlib_exchange.__file__)


def _credentials(monkeypatch: pytest.MonkeyPatch, sim: LiveSimulator, secret: str | None = None) -> None:
    monkeypatch.setenv("SPOTNANA_CLIENT_ID", sim.client_id)
    monkeypatch.setenv("SPOTNANA_CLIENT_SECRET", sim.client_secret if secret is None else secret)


@pytest.mark.parametrize("dialect", ["spotnana", "rfc6749"])
def test_script_exchanges_a_user_token(dialect: str, request: pytest.FixtureRequest) -> None:
    sim: LiveSimulator = request.getfixturevalue(f"{dialect}_simulator")
    env = {
        **os.environ,
        "SPOTNANA_BASE_URL": sim.url,
        "SPOTNANA_CLIENT_ID": sim.client_id,
        "SPOTNANA_CLIENT_SECRET": sim.client_secret,
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), sim.subject_token], env=env, check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["token_type"] == "Bearer"
    assert summary["expires_in"] == 3600
    assert summary["scope"] == "openid"
    assert summary["access_token_length"] > 0
    assert summary["refresh_token_present"] is True
    assert sim.client_secret not in result.stdout + result.stderr


@pytest.mark.parametrize("dialect", ["spotnana", "rfc6749"])
def test_client_credentials(dialect: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    sim: LiveSimulator = request.getfixturevalue(f"{dialect}_simulator")
    _credentials(monkeypatch, sim)
    token = authlib_exchange.client_credentials_token(sim.url)
    assert token["expires_in"] == 3600
    assert "refresh_token" not in token


@pytest.mark.parametrize(
    ("dialect", "code"), [("spotnana", "INVALID_CLIENT_CREDENTIALS"), ("rfc6749", "invalid_client")]
)
def test_wrong_secret_raises_oauth_error_with_the_code(
    dialect: str, code: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's compliance hook makes Spotnana's envelope an OAuthError, like an RFC 6749 body."""
    sim: LiveSimulator = request.getfixturevalue(f"{dialect}_simulator")
    _credentials(monkeypatch, sim, secret="not-the-secret")
    with pytest.raises(OAuthError) as caught:
        authlib_exchange.exchange_user_token(sim.subject_token, sim.url)
    assert caught.value.error == code


def test_unknown_user_raises_with_spotnana_code(spotnana_simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = spotnana_simulator
    _credentials(monkeypatch, sim)
    with pytest.raises(OAuthError) as caught:
        authlib_exchange.exchange_user_token("a-token-nobody-issued", sim.url)
    assert caught.value.error == "USER_NOT_AUTHENTICATED"
