"""SPOTNANA_SIM_* variables: containers and CI services configure the simulator through them.

Precedence is flags > environment > file, and a bad value is refused at start naming the variable.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from spotnana_sim.cli.common import settings_from_args
from spotnana_sim.cli.main import build_parser, main
from spotnana_sim.core.overrides import overrides_from_environment
from spotnana_sim.core.settings import ConfigError

from .servers import running_simulator


def settings(argv: list[str], environ: dict[str, str]):  # type: ignore[no-untyped-def]
    return settings_from_args(build_parser().parse_args(["serve", *argv]), environ)


def test_every_documented_variable_sets_its_value(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text('[journal]\nsize = 7\n', encoding="utf-8")
    loaded = settings([], {
        "SPOTNANA_SIM_HOST": "0.0.0.0", "SPOTNANA_SIM_PORT": "9099", "SPOTNANA_SIM_CONFIG": str(config),
        "SPOTNANA_SIM_CLIENTS": "acme:s3cret, beta:other", "SPOTNANA_SIM_PROFILES": "a@x.com,b@x.com",
        "SPOTNANA_SIM_USER_DETAIL_URL": "http://partner:9000/v1/user-detail", "SPOTNANA_SIM_ISSUER": "http://sim:8080",
        "SPOTNANA_SIM_ERRORS": "rfc6749", "SPOTNANA_SIM_ADMIN_TOKEN": "admin-t0ken",
    })
    assert (loaded.host, loaded.port, loaded.journal_size, loaded.errors) == ("0.0.0.0", 9099, 7, "rfc6749")
    assert [(c.client_id, c.client_secret, c.user_detail_url) for c in loaded.clients] == [
        ("acme", "s3cret", "http://partner:9000/v1/user-detail"), ("beta", "other", "http://partner:9000/v1/user-detail")]
    assert loaded.profiles == ("a@x.com", "b@x.com")
    assert (loaded.tokens.issuer, loaded.admin_token) == ("http://sim:8080", "admin-t0ken")


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text('[server]\nport = 7000\nhost = "127.0.0.2"\n[errors]\ndialect = "rfc6749"\n', encoding="utf-8")
    environ = {"SPOTNANA_SIM_CONFIG": str(config), "SPOTNANA_SIM_PORT": "7001", "SPOTNANA_SIM_ERRORS": "spotnana"}
    loaded = settings(["--port", "7002"], environ)
    assert (loaded.port, loaded.errors, loaded.host) == (7002, "spotnana", "127.0.0.2")


@pytest.mark.parametrize(("environ", "variable"), [
    ({"SPOTNANA_SIM_PORT": "eighty"}, "SPOTNANA_SIM_PORT"),
    ({"SPOTNANA_SIM_PORT": "70000"}, "SPOTNANA_SIM_PORT"),
    ({"SPOTNANA_SIM_ERRORS": "xml"}, "SPOTNANA_SIM_ERRORS"),
    ({"SPOTNANA_SIM_CLIENTS": "no-colon"}, "SPOTNANA_SIM_CLIENTS"),
    ({"SPOTNANA_SIM_USER_DETAIL_URL": "ftp://x"}, "SPOTNANA_SIM_USER_DETAIL_URL"),
    ({"SPOTNANA_SIM_PORTT": "1"}, "SPOTNANA_SIM_PORTT"),
])
def test_a_bad_value_names_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings([], environ)
    assert caught.value.key == variable


def test_a_typo_in_a_variable_name_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'SPOTNANA_SIM_PORT'"):
        overrides_from_environment({"SPOTNANA_SIM_PORTT": "1"})


def test_a_secret_from_the_environment_is_never_echoed_in_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        settings([], {"SPOTNANA_SIM_CLIENTS": "acme-with-secret-but-no-colon"})
    assert "acme-with-secret-but-no-colon" not in str(caught.value)


def test_serve_refuses_a_public_bind_without_a_token_and_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTNANA_SIM_HOST", "0.0.0.0")
    assert main(["serve", "--port", "0"]) == 2
    assert "SPOTNANA_SIM_ADMIN_TOKEN" in capsys.readouterr().err


@pytest.mark.e2e
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_without_issuer_the_simulator_agrees_with_itself_at_whatever_address_it_is_reached(host: str) -> None:
    import jwt

    with running_simulator() as (server, _):
        base = server.url.replace("127.0.0.1", host)
        for document in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
            metadata = httpx.get(base + document).json()
            assert metadata["issuer"] == base
            assert metadata["token_endpoint"].startswith(base) and metadata["jwks_uri"].startswith(base)
        token = httpx.post(metadata["token_endpoint"], data={
            "grant_type": "client_credentials", "client_id": "demo-client", "client_secret": "demo-secret",
        }).json()["access_token"]
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == base


@pytest.mark.e2e
def test_a_configured_issuer_is_used_everywhere() -> None:
    from spotnana_sim.core.overrides import apply_overrides
    from spotnana_sim.core.settings import Settings

    with running_simulator(apply_overrides(Settings(), issuer="https://sim.example")) as (server, _):
        metadata = httpx.get(server.url + "/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == "https://sim.example"
        assert metadata["token_endpoint"] == "https://sim.example/v2/auth/oauth2-token"
        assert metadata["response_types_supported"] == []  # no authorization endpoint exists


def test_the_admin_and_client_safety_flags_reach_the_running_simulator(tmp_path: Path) -> None:
    from spotnana_sim.server.served import build_served_simulator
    from spotnana_sim.server.user_detail_client import UserDetailClient

    config = tmp_path / "sim.toml"
    config.write_text("[user_detail]\nconnection_limit = 7\n", encoding="utf-8")
    loaded = settings(["--config", str(config), "--admin-host", "Sim.Internal", "--admin-host", "ci-sim",
                       "--forwarded-allow-ips", "10.0.0.1", "--user-detail-insecure"], {})
    assert loaded.admin_hosts == ("ci-sim", "sim.internal") and loaded.forwarded_allow_ips == "10.0.0.1"
    client = build_served_simulator(loaded, base_url="http://127.0.0.1:1").http_client
    assert isinstance(client, UserDetailClient)
    assert (client.connection_limit, client.verify_tls) == (7, False)
