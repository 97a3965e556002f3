"""The served simulator's user-detail client over HTTPS: real TLS on loopback with a throwaway CA."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from spotnana_sim.server.callback_http import PooledUserDetailHttp
from spotnana_sim.core.user_detail import CallbackFailed

from .servers import ServerThread


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
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
    server.url = server.url.replace("http://", "https://")
    with server:
        yield server, cert


async def test_https_call_with_a_trusted_certificate(tls_server: tuple[ServerThread, Path]) -> None:
    server, cert = tls_server
    http = PooledUserDetailHttp(ssl_context=ssl.create_default_context(cafile=str(cert)))
    try:
        first = await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t1"}, 5.0, 65536)
        second = await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t2"}, 5.0, 65536)
    finally:
        await http.aclose()
    assert first.status == 200 and b"tls@example.com" in first.body and b"Bearer t1" in first.body
    assert b"Bearer t2" in second.body  # the pooled TLS connection carries the next user's own token


async def test_an_untrusted_certificate_is_a_failed_callback_not_a_crash(tls_server: tuple[ServerThread, Path]) -> None:
    server, _ = tls_server
    http = PooledUserDetailHttp()  # the system's CAs: our throwaway CA is not among them
    try:
        with pytest.raises(CallbackFailed, match="(?i)tls|certificate"):
            await http.get(server.url + "/v1/user-detail", {"Authorization": "Bearer t"}, 5.0, 65536)
    finally:
        await http.aclose()
