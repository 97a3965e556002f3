"""The served simulator's user-detail client over HTTPS: real TLS on loopback with a throwaway CA."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.cli.serve import banner
from spotnana_sim.core.config_file import load_settings
from spotnana_sim.core.overrides import apply_overrides
from spotnana_sim.core.protocol import ACCESS_TOKEN_TYPE, OPENID_SCOPE, TOKEN_ENDPOINT_PATH, TOKEN_EXCHANGE_GRANT
from spotnana_sim.core.settings import ConfigError, Settings
from spotnana_sim.core.user_detail import CallbackFailed
from spotnana_sim.server.user_detail_client import UserDetailClient

from .servers import ServerThread, running_simulator

pytestmark = pytest.mark.e2e  # TLS servers on loopback


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def _detail(request: Request) -> Response:
    return JSONResponse({"user": {"email": "tls@example.com"}, "auth": request.headers.get("authorization")})


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"))
    server = ServerThread(Starlette(routes=[Route("/v1/user-detail", _detail)]),
                          ssl_certfile=str(cert), ssl_keyfile=str(key))
    assert server.url.startswith("https://")
    with server:
        yield server, cert


async def test_https_call_with_a_trusted_certificate(tls_server: tuple[ServerThread, Path]) -> None:
    server, cert = tls_server
    http = UserDetailClient()
    try:
        first = await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t1"}, 5.0, 65536, ca_file=str(cert))
        second = await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t2"}, 5.0, 65536, ca_file=str(cert))
    finally:
        await http.aclose()
    assert first.status == 200 and b"tls@example.com" in first.body and b"Bearer t1" in first.body
    assert b"Bearer t2" in second.body  # the pooled TLS connection carries the next user's own token


async def test_an_untrusted_certificate_is_a_failed_callback_not_a_crash(tls_server: tuple[ServerThread, Path]) -> None:
    server, _ = tls_server
    http = UserDetailClient()  # the system's CAs: our throwaway CA is not among them
    try:
        with pytest.raises(CallbackFailed, match=r"(?i)tls|certificate"):
            await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t"}, 5.0, 65536)
    finally:
        await http.aclose()


async def test_insecure_mode_accepts_an_untrusted_certificate(tls_server: tuple[ServerThread, Path]) -> None:
    server, _ = tls_server
    http = UserDetailClient(verify_tls=False)
    try:
        answer = await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t"}, 5.0, 65536)
    finally:
        await http.aclose()
    assert answer.status == 200


async def test_a_missing_ca_file_is_a_failed_callback(tls_server: tuple[ServerThread, Path], tmp_path: Path) -> None:
    server, _ = tls_server
    http = UserDetailClient()
    try:
        with pytest.raises(CallbackFailed, match="CA file"):
            await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t"}, 5.0, 65536,
                           ca_file=str(tmp_path / "missing.pem"))
    finally:
        await http.aclose()


# ---------------------------------------------------------------- the options users set


def _exchange(server_url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(server_url + TOKEN_ENDPOINT_PATH, data={
        "grant_type": TOKEN_EXCHANGE_GRANT, "client_id": client_id, "client_secret": secret,
        "subject_token": "t", "subject_token_type": ACCESS_TOKEN_TYPE, "scope": OPENID_SCOPE,
    })


def test_a_client_ca_file_from_the_config_file_trusts_a_private_ca(
    tls_server: tuple[ServerThread, Path], tmp_path: Path,
) -> None:
    server, cert = tls_server
    config = tmp_path / "sim.toml"
    config.write_text(
        f'[[clients]]\nid = "acme"\nsecret = "acme-secret"\nuser_detail_url = "{server.url}/v1/user-detail"\n'
        f'ca_file = "{cert.name}"\n', encoding="utf-8",
    )
    (tmp_path / cert.name).write_bytes(cert.read_bytes())  # relative to the config file's folder
    settings = load_settings(config)
    with running_simulator(settings) as (sim_server, simulator):
        assert _exchange(sim_server.url, "acme", "acme-secret").status_code == 200
        assert simulator.journal.entries()[-1].user_detail_tls_verified is True


def test_without_the_ca_the_certificate_is_refused_and_the_error_says_tls(tls_server: tuple[ServerThread, Path]) -> None:
    server, _ = tls_server
    settings = apply_overrides(Settings(), clients=["acme:acme-secret"], user_detail_url=server.url + "/v1/user-detail")
    with running_simulator(settings) as (sim_server, simulator):
        answer = _exchange(sim_server.url, "acme", "acme-secret")
        assert answer.json()["errorMessages"][0]["errorCode"] == "USER_DETAIL_UNREACHABLE"
        assert "TLS" in simulator.journal.entries()[-1]["user_detail_calls"][0]["error"]


def test_insecure_mode_is_announced_in_the_banner_and_every_journal_entry(tls_server: tuple[ServerThread, Path]) -> None:
    server, _ = tls_server
    settings = apply_overrides(Settings(), clients=["acme:acme-secret"], user_detail_url=server.url + "/v1/user-detail",
                               user_detail_insecure=True)
    with running_simulator(settings) as (sim_server, simulator):
        assert _exchange(sim_server.url, "acme", "acme-secret").status_code == 200
        assert _exchange(sim_server.url, "acme", "wrong").status_code == 403
        assert [e.user_detail_tls_verified for e in simulator.journal.entries()] == [False, False]
        assert "NOT verified" in banner(simulator, sim_server.url)


def test_the_ca_flag_applies_to_every_client_and_must_be_a_readable_file(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    settings = apply_overrides(Settings(), clients=["a:s", "b:t"], user_detail_ca=str(pem))
    assert {c.ca_file for c in settings.clients} == {pem}
    with pytest.raises(ConfigError, match="--user-detail-ca: must be a readable file"):
        apply_overrides(Settings(), user_detail_ca=str(tmp_path / "missing.pem"))
