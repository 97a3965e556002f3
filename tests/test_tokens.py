"""spotnana_sim.core.tokens: keys, JWKS, access tokens (JWS) and refresh tokens (sealed JWE)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import string
import threading
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import spotnana_sim.core.tokens as tokens_module
from spotnana_sim.core.clock import Clock
from spotnana_sim.core.tokens import (
    MAX_PREVIOUS_KEYS,
    SUPPORTED_ALGORITHMS,
    InvalidRefreshToken,
    KeyFileError,
    KeySet,
    RefreshGrant,
    SigningKey,
    TokenIssuer,
    subject_for,
)

from .helpers import T0, ManualTime

ISSUER = "https://sim.test"
B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def flip_char(token: str, part: int, position: int, *, bit: int = 32) -> str:
    """``token`` with one base64url character of one part changed (``bit`` 32 always changes decoded bytes)."""
    parts = token.split(".")
    segment = parts[part]
    char = segment[position]
    replacement = B64URL[B64URL.index(char) ^ bit]
    index = position % len(segment)
    parts[part] = segment[:index] + replacement + segment[index + 1 :]
    return ".".join(parts)


def make_issuer(keys: KeySet, clock: Clock | None = None, **kwargs: Any) -> TokenIssuer:
    return TokenIssuer(keys, clock or Clock(ManualTime()), issuer=ISSUER, **kwargs)


def pem_of(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@pytest.fixture(scope="module", params=SUPPORTED_ALGORITHMS)
def shared_keys(request: pytest.FixtureRequest) -> KeySet:
    """One key set per algorithm, for tests that never rotate it."""
    return KeySet.generate(request.param)


@pytest.fixture(scope="module")
def rsa_keys() -> KeySet:
    return KeySet.generate("RS256")


# ---------------------------------------------------------------------------------------------
# access tokens


def test_access_token_header_is_kid_alg_typ_with_kid_first(shared_keys: KeySet) -> None:
    issued = make_issuer(shared_keys).issue_access_token(client_id="client-1", subject="user-1")
    first_segment = issued.token.split(".")[0]
    raw_header = b64url_decode(first_segment)
    assert raw_header.startswith(b'{"kid":')
    assert issued.token.startswith("eyJraWQiOi")  # Spotnana's sample access-token prefix
    header = json.loads(raw_header)
    assert list(header) == ["kid", "alg", "typ"]
    assert header == {"kid": shared_keys.active.kid, "alg": shared_keys.algorithm, "typ": "JWT"}


def test_access_token_claims_and_lifetime() -> None:
    keys = KeySet.generate("ES256")  # cheap to generate
    clock = Clock(ManualTime(T0 + 0.75))
    issuer = make_issuer(keys, clock, access_lifetime=900)
    issued = issuer.issue_access_token(
        client_id="client-1", subject="user-1", email="alice@example.com", scope="openid", audience="aud-1"
    )
    claims = issued.claims
    assert claims == jwt.decode(issued.token, options={"verify_signature": False})
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "user-1"
    assert claims["client_id"] == "client-1"
    assert claims["email"] == "alice@example.com"
    assert claims["scope"] == "openid"
    assert claims["aud"] == "aud-1"
    assert claims["iat"] == int(T0)  # whole seconds from the injected clock
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 900
    assert isinstance(claims["jti"], str) and claims["jti"]


def test_access_token_optional_claims_only_when_given() -> None:
    issuer = make_issuer(KeySet.generate("ES256"))
    claims = issuer.issue_access_token(client_id="c", subject="s").claims
    assert set(claims) == {"iss", "sub", "client_id", "iat", "exp", "jti"}
    assert claims["exp"] - claims["iat"] == 3600  # the default access lifetime


def test_access_token_lifetime_and_issued_at_overrides() -> None:
    keys = KeySet.generate("ES256")
    clock = Clock(ManualTime())
    issuer = make_issuer(keys, clock)
    short = issuer.issue_access_token(client_id="c", subject="s", lifetime=5)
    assert short.claims["exp"] - short.claims["iat"] == 5
    past = issuer.issue_access_token(client_id="c", subject="s", issued_at=T0 - 7200)
    assert past.claims["iat"] == int(T0 - 7200)
    assert past.claims["exp"] - past.claims["iat"] == 3600
    with pytest.raises(jwt.ExpiredSignatureError):
        issuer.verify_access_token(past.token)
    with pytest.raises(ValueError):
        issuer.issue_access_token(client_id="c", subject="s", lifetime=-1)


def test_jti_is_unique() -> None:
    issuer = make_issuer(KeySet.generate("ES256"))
    jtis = {issuer.issue_access_token(client_id="c", subject="s").claims["jti"] for _ in range(200)}
    assert len(jtis) == 200


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_access_token_verifies_through_jwks_with_pyjwkset(algorithm: str) -> None:
    keys = KeySet.generate(algorithm)
    issuer = TokenIssuer(keys, Clock(), issuer=ISSUER)  # real time: jwt.decode checks exp against it
    issued = issuer.issue_access_token(client_id="c", subject="s", email="alice@example.com")

    jwks = jwt.PyJWKSet.from_dict(keys.jwks())
    kid = jwt.get_unverified_header(issued.token)["kid"]
    signing_key = jwks[kid]
    assert signing_key.key_id == keys.active.kid
    claims = jwt.decode(issued.token, signing_key.key, algorithms=[algorithm], issuer=ISSUER)
    assert claims == issued.claims

    # and through PyJWK directly, as a partner caching one key would
    single = jwt.PyJWK(keys.jwks()["keys"][0])
    assert jwt.decode(issued.token, single, algorithms=[algorithm], issuer=ISSUER)["sub"] == "s"


def test_jwks_publishes_public_keys_with_rfc7638_kids(shared_keys: KeySet) -> None:
    (jwk,) = shared_keys.jwks()["keys"]
    assert jwk["use"] == "sig"
    assert jwk["alg"] == shared_keys.algorithm
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "private members must never be published"
    required = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    assert jwk["kid"] == thumbprint == shared_keys.active.kid
    assert jwk["kty"] == ("RSA" if shared_keys.algorithm == "RS256" else "EC")


def test_kid_is_deterministic_from_the_key() -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    assert SigningKey.from_private_key(private_key, "ES256").kid == SigningKey.from_private_key(private_key, "ES256").kid
    assert SigningKey.generate("ES256").kid != SigningKey.generate("ES256").kid


def test_jwks_returns_copies(rsa_keys: KeySet) -> None:
    first = rsa_keys.jwks()
    first["keys"][0]["kid"] = "tampered"
    first["keys"].append({"kty": "oct"})
    again = rsa_keys.jwks()
    assert again["keys"][0]["kid"] == rsa_keys.active.kid
    assert len(again["keys"]) == 1


def test_verify_access_token_accepts_own_and_rejects_bad(rsa_keys: KeySet) -> None:
    clock = Clock(ManualTime())
    issuer = make_issuer(rsa_keys, clock, access_lifetime=60)
    issued = issuer.issue_access_token(client_id="c", subject="s", audience="aud-1")
    assert issuer.verify_access_token(issued.token) == issued.claims
    assert issuer.verify_access_token(issued.token, audience="aud-1") == issued.claims
    with pytest.raises(jwt.InvalidAudienceError):
        issuer.verify_access_token(issued.token, audience="other")

    header, _payload, signature = issued.token.split(".")
    forged_claims = dict(issued.claims, sub="someone-else")
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    with pytest.raises(jwt.InvalidSignatureError):
        issuer.verify_access_token(f"{header}.{forged_payload}.{signature}")

    stranger = make_issuer(KeySet.generate("ES256"), clock).issue_access_token(client_id="c", subject="s")
    with pytest.raises(jwt.InvalidTokenError):
        issuer.verify_access_token(stranger.token)

    other_issuer = TokenIssuer(rsa_keys, clock, issuer="https://elsewhere.test")
    with pytest.raises(jwt.InvalidIssuerError):
        issuer.verify_access_token(other_issuer.issue_access_token(client_id="c", subject="s").token)

    clock.advance(59)
    issuer.verify_access_token(issued.token)
    clock.advance(1)  # now == exp: expired, like PyJWT's own rule
    with pytest.raises(jwt.ExpiredSignatureError):
        issuer.verify_access_token(issued.token)


# ---------------------------------------------------------------------------------------------
# refresh tokens


def test_refresh_token_round_trip(shared_keys: KeySet) -> None:
    clock = Clock(ManualTime(T0 + 0.5))
    issuer = make_issuer(shared_keys, clock, refresh_lifetime=86_400)
    token = issuer.issue_refresh_token(client_id="client-1", subject="user-1", email="alice@example.com", scope="openid")
    grant = issuer.read_refresh_token(token, client_id="client-1")
    assert isinstance(grant, RefreshGrant)
    assert (grant.client_id, grant.subject, grant.email, grant.scope) == (
        "client-1",
        "user-1",
        "alice@example.com",
        "openid",
    )
    assert grant.issued_at == int(T0)
    assert grant.expires_at == int(T0) + 86_400
    assert grant.jti
    assert issuer.read_refresh_token(token) == grant  # client check is optional

    no_email = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    assert issuer.read_refresh_token(no_email).email is None
    other = issuer.issue_refresh_token(client_id="client-1", subject="user-1", email="alice@example.com", scope="openid")
    assert issuer.read_refresh_token(other).jti != grant.jti


def test_refresh_token_is_a_dir_a256gcm_jwe_with_cty_first(shared_keys: KeySet) -> None:
    issuer = make_issuer(shared_keys)
    token = issuer.issue_refresh_token(client_id="c", subject="s", email="alice@example.com", scope="openid")
    assert token.startswith("eyJjdHkiOi")  # Spotnana's sample refresh-token prefix
    parts = token.split(".")
    assert len(parts) == 5 and parts[1] == ""
    raw_header = b64url_decode(parts[0])
    assert raw_header.startswith(b'{"cty":')
    header = json.loads(raw_header)
    assert list(header) == ["cty", "enc", "alg", "kid"]
    assert header == {"cty": "JWT", "enc": "A256GCM", "alg": "dir", "kid": shared_keys.active.kid}
    assert len(b64url_decode(parts[2])) == 12 and len(b64url_decode(parts[4])) == 16
    opened = b"".join(b64url_decode(part) for part in parts)
    assert b"alice@example.com" not in opened and b"client_id" not in opened, "payload must be encrypted"


@pytest.mark.parametrize("part", [0, 2, 3, 4])
@pytest.mark.parametrize("position", [0, len("eyJj") + 3, -1])
def test_tampered_refresh_token_is_rejected(rsa_keys: KeySet, part: int, position: int) -> None:
    issuer = make_issuer(rsa_keys)
    token = issuer.issue_refresh_token(client_id="c", subject="s", email="alice@example.com", scope="openid")
    tampered = flip_char(token, part, position)
    assert tampered != token
    with pytest.raises(InvalidRefreshToken):
        issuer.read_refresh_token(tampered)
    issuer.read_refresh_token(token)  # the original still reads


@pytest.mark.parametrize("part", [2, 3, 4])
def test_tampered_sealed_parts_fail_the_seal(rsa_keys: KeySet, part: int) -> None:
    issuer = make_issuer(rsa_keys)
    token = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    with pytest.raises(InvalidRefreshToken) as caught:
        issuer.read_refresh_token(flip_char(token, part, 1))
    assert caught.value.reason == InvalidRefreshToken.BAD_SEAL


def test_refresh_token_with_non_canonical_base64_is_rejected(rsa_keys: KeySet) -> None:
    """The 16-byte tag leaves 4 unused bits in its last character; changing them must still be refused."""
    issuer = make_issuer(rsa_keys)
    token = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    sloppy = flip_char(token, 4, -1, bit=1)
    assert sloppy != token and b64url_decode(sloppy.split(".")[4]) == b64url_decode(token.split(".")[4])
    with pytest.raises(InvalidRefreshToken) as caught:
        issuer.read_refresh_token(sloppy)
    assert caught.value.reason == InvalidRefreshToken.MALFORMED


def test_refresh_token_with_an_encrypted_key_part_is_rejected(rsa_keys: KeySet) -> None:
    issuer = make_issuer(rsa_keys)
    parts = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None).split(".")
    parts[1] = "AAAA"
    with pytest.raises(InvalidRefreshToken):
        issuer.read_refresh_token(".".join(parts))


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b.c.d.e", "....", "é.é..é.é", "x" * 20_000, "W1tbW1tb..AAAAAAAAAAAAAAAA..AAAAAAAAAAAAAAAAAAAAAA"],
)
def test_garbage_refresh_tokens_are_malformed(rsa_keys: KeySet, garbage: str) -> None:
    with pytest.raises(InvalidRefreshToken) as caught:
        make_issuer(rsa_keys).read_refresh_token(garbage)
    assert caught.value.reason == InvalidRefreshToken.MALFORMED


def test_refresh_token_for_another_client_is_rejected(rsa_keys: KeySet) -> None:
    issuer = make_issuer(rsa_keys)
    token = issuer.issue_refresh_token(client_id="client-a", subject="s", email=None, scope=None)
    with pytest.raises(InvalidRefreshToken) as caught:
        issuer.read_refresh_token(token, client_id="client-b")
    assert caught.value.reason == InvalidRefreshToken.WRONG_CLIENT
    assert issuer.read_refresh_token(token, client_id="client-a").client_id == "client-a"


def test_expired_refresh_token_is_rejected(rsa_keys: KeySet) -> None:
    clock = Clock(ManualTime())
    issuer = make_issuer(rsa_keys, clock, refresh_lifetime=1_000)
    token = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    clock.advance(999)
    issuer.read_refresh_token(token)
    clock.advance(1)
    with pytest.raises(InvalidRefreshToken) as caught:
        issuer.read_refresh_token(token)
    assert caught.value.reason == InvalidRefreshToken.EXPIRED
    clock.reset()
    assert issuer.read_refresh_token(token).subject == "s"


def test_refresh_token_from_unrelated_keys_is_unknown(rsa_keys: KeySet) -> None:
    stranger = make_issuer(KeySet.generate("ES256")).issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    with pytest.raises(InvalidRefreshToken) as caught:
        make_issuer(rsa_keys).read_refresh_token(stranger)
    assert caught.value.reason == InvalidRefreshToken.UNKNOWN_KEY


def test_refresh_token_sealed_with_a_different_key_under_our_kid_fails_the_seal(rsa_keys: KeySet) -> None:
    """The kid in the header is only a hint: a forger who copies it still cannot produce a valid seal."""
    impostor_keys = KeySet.generate("RS256")
    forged = make_issuer(impostor_keys).issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    _header, *rest = forged.split(".")
    our_header = {"cty": "JWT", "enc": "A256GCM", "alg": "dir", "kid": rsa_keys.active.kid}
    encoded = base64.urlsafe_b64encode(json.dumps(our_header, separators=(",", ":")).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidRefreshToken) as caught:
        make_issuer(rsa_keys).read_refresh_token(".".join([encoded, *rest]))
    assert caught.value.reason == InvalidRefreshToken.BAD_SEAL


# ---------------------------------------------------------------------------------------------
# key files


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_key_sets_loaded_from_one_file_agree(tmp_path: Path, algorithm: str) -> None:
    path = tmp_path / "keys.pem"
    first = KeySet.load_or_create(path, algorithm)
    second = KeySet.load_or_create(path, algorithm)
    assert first.active.kid == second.active.kid
    assert first.jwks() == second.jwks()

    clock = Clock(ManualTime())
    issuer_one, issuer_two = make_issuer(first, clock), make_issuer(second, clock)
    access = issuer_one.issue_access_token(client_id="c", subject="s", email="alice@example.com")
    assert issuer_two.verify_access_token(access.token) == access.claims
    refresh = issuer_one.issue_refresh_token(client_id="c", subject="s", email="alice@example.com", scope="openid")
    assert issuer_two.read_refresh_token(refresh, client_id="c").email == "alice@example.com"


def test_missing_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "keys.pem"
    keys = KeySet.load_or_create(path)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    loaded = serialization.load_pem_private_key(data, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048
    assert SigningKey.from_private_key(loaded).kid == keys.active.kid
    assert keys.path == path
    assert [p.name for p in path.parent.iterdir()] == ["keys.pem"], "no temporary files left behind"


def test_workers_racing_to_create_the_file_agree(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    count = 4
    barrier = threading.Barrier(count)
    kids: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            kids.append(KeySet.load_or_create(path, "ES256").active.kid)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(kids) == count and len(set(kids)) == 1
    assert SigningKey.from_private_key(serialization.load_pem_private_key(path.read_bytes(), None), "ES256").kid == kids[0]


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a key\n",
        b"",
        b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nbm90IGEga2V5\n-----END CERTIFICATE-----\n",
    ],
    ids=["text", "empty", "bad-pem-body", "not-a-private-key"],
)
def test_garbage_key_file_raises_key_file_error_naming_the_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage-keys.pem"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as caught:
        KeySet.load_or_create(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content, "a bad key file must never be overwritten"


def test_wrong_key_type_is_a_key_file_error_without_key_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    path.write_bytes(pem)
    with pytest.raises(KeyFileError) as caught:
        KeySet.load_or_create(path, "RS256")
    message = str(caught.value)
    assert str(path) in message and "RSA" in message
    body = b"".join(pem.splitlines()[1:-1]).decode()
    assert not any(body[i : i + 16] in message for i in range(0, len(body) - 16, 16)), "key bytes leaked"
    assert KeySet.load_or_create(path, "ES256").active.algorithm == "ES256"


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
        lambda: ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["rsa-1024", "ec-p384"],
)
def test_weak_or_wrong_curve_keys_are_refused(tmp_path: Path, make_key: Any) -> None:
    path = tmp_path / "weak.pem"
    path.write_bytes(pem_of(make_key()))
    for algorithm in SUPPORTED_ALGORITHMS:
        with pytest.raises(KeyFileError, match=str(path)):
            KeySet.load_or_create(path, algorithm)


def test_encrypted_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(KeyFileError, match="encrypted"):
        KeySet.load_or_create(path, "ES256")


def test_unreadable_key_path_is_a_key_file_error(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory"
    directory.mkdir()
    with pytest.raises(KeyFileError, match=str(directory)):
        KeySet.load_or_create(directory)


def test_multi_key_file_first_is_active_rest_are_published(tmp_path: Path) -> None:
    active, previous = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    path = tmp_path / "keys.pem"
    path.write_bytes(b"# comment lines outside PEM blocks are ignored\n" + active.private_pem() + previous.private_pem())
    keys = KeySet.load_or_create(path, "ES256")
    assert keys.active.kid == active.kid
    assert [key.kid for key in keys.published()] == [active.kid, previous.kid]
    assert {jwk["kid"] for jwk in keys.jwks()["keys"]} == {active.kid, previous.kid}
    assert keys.find(previous.kid) == previous
    assert keys.find("nope") is None
    assert keys.find(["not", "hashable"]) is None

    clock = Clock(ManualTime())
    old = make_issuer(KeySet([previous]), clock)
    new = make_issuer(keys, clock)
    assert new.verify_access_token(old.issue_access_token(client_id="c", subject="s").token)["sub"] == "s"
    assert new.read_refresh_token(old.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)).subject == "s"


def test_unsupported_algorithm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        KeySet.generate("HS256")
    with pytest.raises(ValueError):
        KeySet.load_or_create(tmp_path / "keys.pem", "none")
    assert not (tmp_path / "keys.pem").exists()


# ---------------------------------------------------------------------------------------------
# rotation and reset


def test_rotation_keeps_old_kid_published_and_reset_restores() -> None:
    keys = KeySet.generate("ES256")
    original = keys.active
    clock = Clock(ManualTime())
    issuer = make_issuer(keys, clock)
    old_access = issuer.issue_access_token(client_id="c", subject="s")
    old_refresh = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)

    new = keys.rotate()
    assert keys.active == new and new.kid != original.kid
    assert [k.kid for k in keys.published()] == [new.kid, original.kid]
    assert {jwk["kid"] for jwk in keys.jwks()["keys"]} == {new.kid, original.kid}
    assert issuer.verify_access_token(old_access.token)["jti"] == old_access.claims["jti"]
    assert issuer.read_refresh_token(old_refresh).subject == "s"
    new_access = issuer.issue_access_token(client_id="c", subject="s")
    assert jwt.get_unverified_header(new_access.token)["kid"] == new.kid
    new_refresh = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
    assert json.loads(b64url_decode(new_refresh.split(".")[0]))["kid"] == new.kid

    keys.reset()
    assert keys.active == original
    assert [k.kid for k in keys.published()] == [original.kid]
    assert issuer.verify_access_token(old_access.token)
    with pytest.raises(jwt.InvalidTokenError):
        issuer.verify_access_token(new_access.token)
    with pytest.raises(InvalidRefreshToken):
        issuer.read_refresh_token(new_refresh)


def test_rotation_publishes_at_most_two_previous_keys() -> None:
    keys = KeySet.generate("ES256")
    history = [keys.active.kid]
    for _ in range(MAX_PREVIOUS_KEYS + 2):
        history.append(keys.rotate().kid)
    published = [key.kid for key in keys.published()]
    assert published == list(reversed(history))[: 1 + MAX_PREVIOUS_KEYS]
    assert len(keys.jwks()["keys"]) == 1 + MAX_PREVIOUS_KEYS
    assert keys.find(history[0]) is None


def test_rotation_and_reset_rewrite_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.pem"
    keys = KeySet.load_or_create(path, "ES256")
    original = keys.active.kid
    new = keys.rotate()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    reloaded = KeySet.load_or_create(path, "ES256")
    assert [k.kid for k in reloaded.published()] == [new.kid, original]

    keys.reset()
    assert [k.kid for k in KeySet.load_or_create(path, "ES256").published()] == [original]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.pem"]


def test_rotation_that_cannot_write_the_file_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.pem"
    keys = KeySet.load_or_create(path, "ES256")
    before = keys.published()

    def fail(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)  # the module calls os.replace at run time
    with pytest.raises(KeyFileError, match=str(path)):
        keys.rotate()
    assert keys.published() == before


# ---------------------------------------------------------------------------------------------
# the hot path does no per-request parsing or derivation


def test_no_pem_parsing_or_jwk_building_per_token(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = KeySet.generate("ES256")
    issuer = make_issuer(keys)
    issuer.issue_access_token(client_id="c", subject="s")  # warm the per-key caches
    issuer.read_refresh_token(issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None))

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed or rebuilt per request")

    for name in ("load_pem_private_key", "load_pem_public_key"):
        monkeypatch.setattr(serialization, name, forbidden)
        monkeypatch.setattr(jwt.algorithms, name, forbidden)
    monkeypatch.setattr(jwt.algorithms.ECAlgorithm, "to_jwk", staticmethod(forbidden))
    monkeypatch.setattr(jwt.algorithms.RSAAlgorithm, "to_jwk", staticmethod(forbidden))
    monkeypatch.setattr(tokens_module, "HKDF", forbidden)

    for _ in range(3):
        access = issuer.issue_access_token(client_id="c", subject="s")
        issuer.verify_access_token(access.token)
        refresh = issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None)
        issuer.read_refresh_token(refresh)
        keys.jwks()


def test_refresh_key_is_derived_once_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    derivations: list[bytes] = []
    real_hkdf = HKDF

    class CountingHKDF:
        def __init__(self, **kwargs: Any) -> None:
            self._real = real_hkdf(**kwargs)

        def derive(self, key_material: bytes) -> bytes:
            derivations.append(key_material)
            return self._real.derive(key_material)

    monkeypatch.setattr(tokens_module, "HKDF", CountingHKDF)
    keys = KeySet.generate("ES256")
    issuer = make_issuer(keys)
    for _ in range(5):
        issuer.read_refresh_token(issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None))
    assert len(derivations) == 1
    keys.rotate()
    for _ in range(5):
        issuer.read_refresh_token(issuer.issue_refresh_token(client_id="c", subject="s", email=None, scope=None))
    assert len(derivations) == 2


# ---------------------------------------------------------------------------------------------
# subjects


def test_subject_for_is_stable_and_case_insensitive() -> None:
    subject = subject_for("alice@example.com")
    # Pinned: every process, restart and release must map this email to this id.
    assert subject == "3a41bf56-62f1-51a7-947e-7baef05fe498"
    assert uuid.UUID(subject).version == 5
    assert subject_for("Alice@Example.COM") == subject
    assert subject_for("  alice@example.com ") == subject
    assert subject_for("bob@example.com") != subject


# ---------------------------------------------------------------------------------------------
# construction checks


def test_token_issuer_refuses_bad_settings(rsa_keys: KeySet) -> None:
    clock = Clock()
    with pytest.raises(ValueError):
        TokenIssuer(rsa_keys, clock, issuer="")
    with pytest.raises(ValueError):
        TokenIssuer(rsa_keys, clock, issuer=ISSUER, access_lifetime=0)
    with pytest.raises(ValueError):
        TokenIssuer(rsa_keys, clock, issuer=ISSUER, refresh_lifetime=-5)
    with pytest.raises(ValueError):
        make_issuer(rsa_keys).issue_access_token(client_id="", subject="s")


def test_key_set_refuses_mixed_or_no_keys() -> None:
    with pytest.raises(ValueError):
        KeySet([])
    with pytest.raises(ValueError):
        KeySet([SigningKey.generate("ES256"), SigningKey.generate("RS256")])
    key = SigningKey.generate("ES256")
    assert KeySet([key, key]).published() == [key]
