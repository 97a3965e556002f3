"""Wiring from settings: shared key files, default profiles, reset."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from spotnana_sim.core.settings import ClientConfig, Settings, TokenConfig
from spotnana_sim.harness.journal_entry import JournalEntry
from spotnana_sim.harness.simulator import default_profiles
from spotnana_sim.server.served import build_served_simulator


def test_two_simulators_with_one_key_file_verify_each_others_tokens(tmp_path: Path) -> None:
    settings = Settings(tokens=TokenConfig(key_file=tmp_path / "key.pem"))
    first = build_served_simulator(settings, base_url="http://127.0.0.1:1")
    second = build_served_simulator(settings, base_url="http://127.0.0.1:1")  # a restart, or another worker
    token = first.issuer.issue_access_token(client_id="c", subject="s").token
    assert second.issuer.verify_access_token(token)["sub"] == "s"
    refresh = first.issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope="openid")
    assert second.issuer.read_refresh_token(refresh, client_id="c").subject == "s"


def test_es256_setting_signs_with_es256() -> None:
    simulator = build_served_simulator(Settings(tokens=TokenConfig(algorithm="ES256")), base_url="http://x")
    assert simulator.keys.jwks()["keys"][0]["kty"] == "EC"


def test_profiles_default_to_the_demo_users_only_when_the_embedded_api_serves() -> None:
    assert default_profiles(Settings()) == ("ada@example.com", "grace@example.com", "linus@example.com")
    own = Settings(clients=(ClientConfig("acme", "s", user_detail_url="http://127.0.0.1:9/u"),))
    assert default_profiles(own) is None
    assert default_profiles(replace(own, profiles=("a@b.c",))) == ("a@b.c",)


def test_issuer_defaults_to_the_base_url_and_can_be_set() -> None:
    assert build_served_simulator(Settings(), base_url="http://127.0.0.1:5").issuer.issuer == "http://127.0.0.1:5"
    fixed = Settings(tokens=TokenConfig(issuer="https://sim.example"))
    assert build_served_simulator(fixed, base_url="http://127.0.0.1:5").issuer.issuer == "https://sim.example"


def test_reset_restores_the_start_state() -> None:
    simulator = build_served_simulator(Settings(), base_url="http://x")
    kid = simulator.keys.active.kid
    simulator.clients.put(ClientConfig("extra", "s"))
    simulator.profiles.add("new@example.com")
    simulator.clock.advance(100)
    simulator.keys.rotate()
    simulator.journal.record(JournalEntry(status=200))
    simulator.reset()
    assert [c.client_id for c in simulator.clients.all()] == ["demo-client"]
    assert "new@example.com" not in (simulator.profiles.emails() or [])
    assert simulator.clock.offset == 0 and simulator.keys.active.kid == kid and len(simulator.journal) == 0
