"""Signing keys, the JWKS, and the tokens the simulator hands out.

* **Access tokens** are JWS compact tokens (RS256 by default, ES256 optional) whose protected header is
  exactly ``{"kid","alg","typ":"JWT"}`` with ``kid`` first, like Spotnana's published sample
  (``eyJraWQiOi`` = ``{"kid":``). They verify against :meth:`KeySet.jwks`.
* **Refresh tokens** are compact JWEs (``alg`` ``dir``, ``enc`` ``A256GCM``) whose header starts with
  ``cty`` like Spotnana's sample (``eyJjdHkiOi`` = ``{"cty":``). They are sealed with an AES key derived
  from the signing key, so any process holding the same key file can read them, nobody else can
  forge them, and issuing one costs no asymmetric operation.
* **Keys** come from a PEM file shared by restarts and workers, or are generated in memory.

This module imports neither Starlette nor pytest. Key objects are parsed once and kept; per-key
derived material (encoded headers, AES key) is computed once per key and cached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import jwt
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import Algorithm, ECAlgorithm, RSAAlgorithm, get_default_algorithms

from .clock import Clock

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "MAX_PREVIOUS_KEYS",
    "SUBJECT_NAMESPACE",
    "SigningKey",
    "KeyFileError",
    "KeySet",
    "IssuedToken",
    "InvalidRefreshToken",
    "RefreshGrant",
    "TokenIssuer",
    "subject_for",
]

SUPPORTED_ALGORITHMS = ("RS256", "ES256")
#: How many retired keys stay published after rotations (so tokens they signed still verify).
MAX_PREVIOUS_KEYS = 2
#: RSA modulus size for generated keys, and the minimum accepted from a key file.
RSA_KEY_BITS = 2048
#: uuid5 namespace for :func:`subject_for` (= uuid5(NAMESPACE_URL, "urn:spotnana-sim:subject")). Never change it:
#: every process, restart and release must map an email to the same subject.
SUBJECT_NAMESPACE = uuid.UUID("0a80cbe2-b020-590f-91bb-2cf390cde134")

REFRESH_KDF_INFO = b"spotnana-sim refresh v1"
#: Anything longer is rejected before any decoding (our refresh tokens are a few hundred characters).
MAX_REFRESH_TOKEN_CHARS = 8192
#: A key file larger than this is certainly not a handful of PEM keys (and may be a device file).
MAX_KEY_FILE_BYTES = 1 << 20

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]
PublicKey = Union[rsa.RSAPublicKey, ec.EllipticCurvePublicKey]

_GCM_IV_BYTES = 12
_GCM_TAG_BYTES = 16
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


# --------------------------------------------------------------------------------------------------
# helpers


def _b64e(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64d_strict(segment: bytes) -> bytes:
    """Decode base64url without padding, refusing anything that is not the canonical encoding.

    Canonical means re-encoding gives the input back, so stray characters (which the stdlib would
    silently drop) and non-zero unused trailing bits are rejected: every character of a token matters.
    """
    try:
        raw = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if _b64e(raw) != segment:
        raise ValueError("not canonical base64url")
    return raw


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _new_jti() -> str:
    return secrets.token_urlsafe(16)


def _require_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _optional_text(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None")
    return value


def _lifetime(value: object, name: str, *, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; expected one of {', '.join(SUPPORTED_ALGORITHMS)}")
    return algorithm


def subject_for(email: str) -> str:
    """Stable user id for a profile: uuid5 over the trimmed, lowercased email in :data:`SUBJECT_NAMESPACE`.

    Every process and restart computes the same value, and ``Alice@Example.com`` and
    ``alice@example.com`` are the same user (as email lookup is case-insensitive).
    """
    if not isinstance(email, str):
        raise TypeError("email must be a string")
    return str(uuid.uuid5(SUBJECT_NAMESPACE, email.strip().lower()))


# --------------------------------------------------------------------------------------------------
# keys


def _jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK SHA-256 thumbprint, base64url: hash of the required members, sorted, no whitespace."""
    kty = jwk["kty"]
    members: tuple[str, ...]
    if kty == "RSA":
        members = ("e", "kty", "n")
    elif kty == "EC":
        members = ("crv", "kty", "x", "y")
    else:  # pragma: no cover - only RSA and EC keys are ever built
        raise ValueError(f"no thumbprint rule for kty {kty!r}")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64e(hashlib.sha256(canonical.encode("ascii")).digest()).decode("ascii")


def _describe_key(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"an RSA key of {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC key on curve {key.curve.name}"
    return f"a {type(key).__name__.lstrip('_')}"


@dataclass(frozen=True)
class SigningKey:
    """One private key with its identity: ``kid`` is the RFC 7638 thumbprint (deterministic from the key).

    Equality is by ``kid`` and ``algorithm``. ``public_jwk`` must not be mutated (use :meth:`KeySet.jwks`
    for a copy to hand out).
    """

    kid: str
    algorithm: str
    private_key: PrivateKey = field(repr=False, compare=False)
    public_jwk: dict[str, Any] = field(repr=False, compare=False)
    public_key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())

    @classmethod
    def from_private_key(cls, private_key: object, algorithm: str = "RS256") -> SigningKey:
        """Wrap an already-parsed private key; ``ValueError`` if it does not suit ``algorithm``."""
        _check_algorithm(algorithm)
        if algorithm == "RS256":
            if not isinstance(private_key, rsa.RSAPrivateKey):
                raise ValueError(f"RS256 needs an RSA private key, got {_describe_key(private_key)}")
            if private_key.key_size < RSA_KEY_BITS:
                raise ValueError(f"RS256 needs an RSA key of at least {RSA_KEY_BITS} bits, got {private_key.key_size}")
            jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        else:
            if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
                private_key.curve, ec.SECP256R1
            ):
                raise ValueError(f"ES256 needs an EC private key on P-256, got {_describe_key(private_key)}")
            jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        kid = _jwk_thumbprint(jwk)
        jwk.pop("key_ops", None)  # RFC 7517 §4.3: "use" and "key_ops" SHOULD NOT both appear
        public_jwk = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
        return cls(kid=kid, algorithm=algorithm, private_key=private_key, public_jwk=public_jwk)

    @classmethod
    def generate(cls, algorithm: str = "RS256") -> SigningKey:
        """A fresh key: RSA 2048 for RS256, P-256 for ES256."""
        _check_algorithm(algorithm)
        key: PrivateKey
        if algorithm == "RS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        return cls.from_private_key(key, algorithm)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (what key files hold)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def private_der(self) -> bytes:
        """The private key as PKCS#8 DER: deterministic for a given key, the input of key derivation."""
        return self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


class KeyFileError(Exception):
    """The key file cannot be used. The message names the file and the problem, never the key bytes."""


def _parse_key_file(path: Path, data: bytes, algorithm: str) -> list[SigningKey]:
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise KeyFileError(
            f"key file {path}: no PEM private key found (expected one or more '-----BEGIN PRIVATE KEY-----' blocks)"
        )
    keys: list[SigningKey] = []
    for number, block in enumerate(blocks, start=1):
        label = block.group(1).decode("ascii")
        where = f"key file {path}: PEM block {number} ({label})"
        if label == "ENCRYPTED PRIVATE KEY":
            raise KeyFileError(f"{where}: encrypted keys are not supported; store it unencrypted with mode 0600")
        if not label.endswith("PRIVATE KEY"):
            raise KeyFileError(f"{where}: not a private key")
        try:
            private_key = serialization.load_pem_private_key(block.group(0), password=None)
        except TypeError:
            raise KeyFileError(f"{where}: the key is password-protected; store it unencrypted with mode 0600") from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFileError(f"{where}: not a readable private key") from None
        try:
            keys.append(SigningKey.from_private_key(private_key, algorithm))
        except ValueError as exc:
            raise KeyFileError(f"{where}: wrong key type: {exc}") from None
    return keys


def _serialize_keys(keys: Iterable[SigningKey]) -> bytes:
    return b"".join(key.private_pem() for key in keys)


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` to a fresh 0600 temporary file beside ``path``; return its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except FileNotFoundError:
        pass


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` (mode 0600) unless it exists. Readers never see a partial file.

    Returns False when another process created the file first: the caller must then read that one,
    so that all workers starting at once end up with the same keys.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, data)
    try:
        try:
            os.link(tmp, path)  # atomic "create if absent" with complete contents
        except FileExistsError:
            return False
        except OSError:
            # Filesystem without hard links: fall back to rename (last writer wins in a race).
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        _unlink_quietly(tmp)


def _replace_atomic(path: Path, data: bytes) -> None:
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    finally:
        _unlink_quietly(tmp)


def _read_key_file(path: Path) -> bytes:
    """The file's bytes; FileNotFoundError passes through, any other problem is a KeyFileError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyFileError(f"key file {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {path}: larger than {MAX_KEY_FILE_BYTES} bytes, not a PEM key file")
    return data


@dataclass(frozen=True)
class _KeyState:
    keys: tuple[SigningKey, ...]
    by_kid: dict[str, SigningKey]
    jwks: tuple[dict[str, Any], ...]


class KeySet:
    """The active signing key plus up to :data:`MAX_PREVIOUS_KEYS` retired ones, all published in the JWKS.

    Readers see a consistent snapshot without locking (the state is swapped in one assignment);
    :meth:`rotate` and :meth:`reset` serialize on a lock. When the set is backed by a file, those two
    rewrite the file atomically; other processes already running keep their keys until they reload.
    """

    def __init__(self, keys: Sequence[SigningKey], *, path: Path | None = None) -> None:
        unique: list[SigningKey] = []
        seen: set[str] = set()
        for key in keys:
            if key.kid not in seen:
                seen.add(key.kid)
                unique.append(key)
        if not unique:
            raise ValueError("a KeySet needs at least one key")
        algorithms = {key.algorithm for key in unique}
        if len(algorithms) != 1:
            raise ValueError(f"all keys of a KeySet must use one algorithm, got {sorted(algorithms)}")
        self._algorithm = unique[0].algorithm
        self._path = path
        # More than active + MAX_PREVIOUS_KEYS (a hand-made file): the oldest are not published.
        self._initial: tuple[SigningKey, ...] = tuple(unique[: 1 + MAX_PREVIOUS_KEYS])
        self._lock = threading.Lock()
        self._state = self._build_state(self._initial)

    @staticmethod
    def _build_state(keys: tuple[SigningKey, ...]) -> _KeyState:
        return _KeyState(keys=keys, by_kid={key.kid: key for key in keys}, jwks=tuple(k.public_jwk for k in keys))

    @classmethod
    def generate(cls, algorithm: str = "RS256") -> KeySet:
        """An in-memory set with one fresh key (RSA 2048 for RS256, P-256 for ES256)."""
        return cls([SigningKey.generate(algorithm)])

    @classmethod
    def load_or_create(cls, path: Path, algorithm: str = "RS256") -> KeySet:
        """Keys from a PEM file (first = active, the rest previous), creating the file if it is missing.

        A missing file gets one fresh key, written atomically with mode 0600; if several workers race,
        exactly one file wins and all of them load it. Raises :class:`KeyFileError` for a file that cannot
        be read or written, holds no PEM private key, holds an encrypted key, or a key unfit for ``algorithm``.
        """
        _check_algorithm(algorithm)
        path = Path(path)
        try:
            data = _read_key_file(path)
        except FileNotFoundError:
            key = SigningKey.generate(algorithm)
            try:
                created = _create_exclusive(path, _serialize_keys([key]))
            except OSError as exc:
                raise KeyFileError(
                    f"key file {path}: missing and cannot be created ({exc.strerror or type(exc).__name__})"
                ) from None
            if created:
                return cls([key], path=path)
            try:
                data = _read_key_file(path)  # another process created it first: use its keys
            except FileNotFoundError:
                raise KeyFileError(f"key file {path}: vanished while being created") from None
        return cls(_parse_key_file(path, data, algorithm), path=path)

    @property
    def algorithm(self) -> str:
        return self._algorithm

    @property
    def path(self) -> Path | None:
        """The backing key file, or None for an in-memory set."""
        return self._path

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._state.keys[0]

    def published(self) -> list[SigningKey]:
        """Active key first, then the retired ones still accepted (at most :data:`MAX_PREVIOUS_KEYS`)."""
        return list(self._state.keys)

    def find(self, kid: object) -> SigningKey | None:
        """The published key with this ``kid`` (any value from an untrusted header is fine)."""
        if not isinstance(kid, str):
            return None
        return self._state.by_kid.get(kid)

    def jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}`` with every published public key. The JWKs are computed once per key change;
        each call returns fresh copies so callers may mutate them freely."""
        return {"keys": [dict(jwk) for jwk in self._state.jwks]}

    def rotate(self) -> SigningKey:
        """Make a new active key; the previous active key stays published (oldest beyond the limit drops).

        A file-backed set rewrites its file first, so a failed write leaves the set unchanged.
        """
        with self._lock:
            new = SigningKey.generate(self._algorithm)
            keys = (new, *self._state.keys[:MAX_PREVIOUS_KEYS])
            self._persist(keys)
            self._state = self._build_state(keys)
            return new

    def reset(self) -> None:
        """Back to the key(s) the set started with (rewriting the file if it was rotated)."""
        with self._lock:
            if self._state.keys == self._initial:
                return
            self._persist(self._initial)
            self._state = self._build_state(self._initial)

    def _persist(self, keys: tuple[SigningKey, ...]) -> None:
        if self._path is None:
            return
        try:
            _replace_atomic(self._path, _serialize_keys(keys))
        except OSError as exc:
            raise KeyFileError(f"key file {self._path}: cannot rewrite it ({exc.strerror or type(exc).__name__})") from None

    def __repr__(self) -> str:
        kids = ", ".join(key.kid for key in self._state.keys)
        return f"KeySet(algorithm={self._algorithm!r}, path={str(self._path) if self._path else None!r}, kids=[{kids}])"


# --------------------------------------------------------------------------------------------------
# tokens


@dataclass(frozen=True)
class IssuedToken:
    """A compact token and the claims it carries (do not mutate ``claims``)."""

    token: str
    claims: dict[str, Any]


class InvalidRefreshToken(Exception):
    """A refresh token was refused. ``reason`` is one of the class constants below; the message adds detail."""

    MALFORMED = "malformed"
    BAD_SEAL = "bad seal"
    EXPIRED = "expired"
    UNKNOWN_KEY = "unknown key"
    WRONG_CLIENT = "wrong client"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token carries (its sealed payload)."""

    client_id: str
    subject: str
    email: str | None
    scope: str | None
    issued_at: int
    expires_at: int
    jti: str

    @classmethod
    def _from_payload(cls, payload: object) -> RefreshGrant:
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        try:
            grant = cls(
                client_id=payload["client_id"],
                subject=payload["subject"],
                email=payload["email"],
                scope=payload["scope"],
                issued_at=payload["issued_at"],
                expires_at=payload["expires_at"],
                jti=payload["jti"],
            )
        except KeyError as exc:
            raise ValueError(f"payload lacks {exc.args[0]!r}") from None
        for name in ("client_id", "subject", "jti"):
            if not isinstance(getattr(grant, name), str):
                raise ValueError(f"{name} is not a string")
        for name in ("email", "scope"):
            if getattr(grant, name) is not None and not isinstance(getattr(grant, name), str):
                raise ValueError(f"{name} is not a string")
        for name in ("issued_at", "expires_at"):
            value = getattr(grant, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} is not an integer")
        return grant


@dataclass(frozen=True)
class _KeyMaterial:
    """Everything derived from one signing key that token work needs, computed once."""

    jws_header: bytes  # base64url of {"kid","alg","typ"}
    signer: Algorithm
    jwe_header: bytes  # base64url of {"cty","enc","alg","kid"}; also the AES-GCM AAD (RFC 7516 §5.1 step 14)
    aead: AESGCM

    @classmethod
    def build(cls, key: SigningKey) -> _KeyMaterial:
        jws_header = _b64e(_compact_json({"kid": key.kid, "alg": key.algorithm, "typ": "JWT"}))
        jwe_header = _b64e(_compact_json({"cty": "JWT", "enc": "A256GCM", "alg": "dir", "kid": key.kid}))
        content_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=REFRESH_KDF_INFO).derive(
            key.private_der()
        )
        return cls(
            jws_header=jws_header,
            signer=get_default_algorithms()[key.algorithm],
            jwe_header=jwe_header,
            aead=AESGCM(content_key),
        )


class TokenIssuer:
    """Issues and checks the simulator's access and refresh tokens with a :class:`KeySet` and a :class:`Clock`."""

    _MATERIAL_CACHE_LIMIT = 16

    def __init__(
        self,
        keys: KeySet,
        clock: Clock,
        *,
        issuer: str,
        access_lifetime: int = 3600,
        refresh_lifetime: int = 30 * 24 * 3600,
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.issuer = _require_text(issuer, "issuer")
        self.access_lifetime = _lifetime(access_lifetime, "access_lifetime", allow_zero=False)
        self.refresh_lifetime = _lifetime(refresh_lifetime, "refresh_lifetime", allow_zero=False)
        self._material: dict[str, _KeyMaterial] = {}

    def _material_for(self, key: SigningKey) -> _KeyMaterial:
        material = self._material.get(key.kid)
        if material is None:
            material = _KeyMaterial.build(key)
            cache = self._material
            if len(cache) >= self._MATERIAL_CACHE_LIMIT:  # only after very many rotations
                cache = {}
            cache[key.kid] = material
            self._material = cache
        return material

    # -- access tokens ---------------------------------------------------------------------------

    def issue_access_token(
        self,
        *,
        client_id: str,
        subject: str,
        email: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
        lifetime: int | None = None,
        issued_at: float | None = None,
    ) -> IssuedToken:
        """A JWT signed by the active key. Claims: ``iss, sub, client_id, [email], [scope], [aud], iat, exp, jti``.

        ``lifetime`` (seconds, default ``access_lifetime``) and ``issued_at`` (default ``clock.now()``)
        let fault rules issue short-lived or already-expired tokens. ``exp - iat == lifetime`` always.
        """
        _require_text(client_id, "client_id")
        _require_text(subject, "subject")
        _optional_text(email, "email")
        _optional_text(scope, "scope")
        _optional_text(audience, "audience")
        seconds = self.access_lifetime if lifetime is None else _lifetime(lifetime, "lifetime", allow_zero=True)
        iat = int(self.clock.now() if issued_at is None else issued_at)

        claims: dict[str, Any] = {"iss": self.issuer, "sub": subject, "client_id": client_id}
        if email is not None:
            claims["email"] = email
        if scope is not None:
            claims["scope"] = scope
        if audience is not None:
            claims["aud"] = audience
        claims["iat"] = iat
        claims["exp"] = iat + seconds
        claims["jti"] = _new_jti()

        key = self.keys.active
        material = self._material_for(key)
        signing_input = material.jws_header + b"." + _b64e(_compact_json(claims))
        signature = material.signer.sign(signing_input, key.private_key)
        return IssuedToken(token=(signing_input + b"." + _b64e(signature)).decode("ascii"), claims=claims)

    def verify_access_token(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Claims of a token signed by a published key, issued by us and not expired by the clock.

        Raises ``jwt.InvalidTokenError`` subclasses (``ExpiredSignatureError``, ``InvalidSignatureError``,
        ``DecodeError``, ...). ``aud`` is checked only when ``audience`` is given.
        """
        try:
            header = jwt.get_unverified_header(token)
        except RecursionError:  # absurdly nested header JSON
            raise jwt.DecodeError("Invalid header string") from None
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise jwt.InvalidTokenError("token kid is not a published key")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key,
            algorithms=[key.algorithm],
            issuer=self.issuer,
            audience=audience,
            options={
                "require": ["iss", "sub", "iat", "exp", "jti"],
                # time comes from the injectable clock, checked below, not from time.time()
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": audience is not None,
            },
        )
        for name in ("iat", "exp"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int):
                raise jwt.DecodeError(f"{name} must be an integer")
        if claims["exp"] <= self.clock.now():
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims

    # -- refresh tokens --------------------------------------------------------------------------

    def issue_refresh_token(self, *, client_id: str, subject: str, email: str | None, scope: str | None) -> str:
        """A compact JWE (dir + A256GCM) sealing a :class:`RefreshGrant` valid for ``refresh_lifetime``."""
        _require_text(client_id, "client_id")
        _require_text(subject, "subject")
        _optional_text(email, "email")
        _optional_text(scope, "scope")
        issued_at = int(self.clock.now())
        payload = {
            "client_id": client_id,
            "subject": subject,
            "email": email,
            "scope": scope,
            "issued_at": issued_at,
            "expires_at": issued_at + self.refresh_lifetime,
            "jti": _new_jti(),
        }
        material = self._material_for(self.keys.active)
        iv = os.urandom(_GCM_IV_BYTES)
        sealed = material.aead.encrypt(iv, _compact_json(payload), material.jwe_header)
        ciphertext, tag = sealed[:-_GCM_TAG_BYTES], sealed[-_GCM_TAG_BYTES:]
        return b".".join((material.jwe_header, b"", _b64e(iv), _b64e(ciphertext), _b64e(tag))).decode("ascii")

    def read_refresh_token(self, token: str, *, client_id: str | None = None) -> RefreshGrant:
        """The grant sealed in ``token``, after checking the seal, the client (when given) and expiry.

        Raises :class:`InvalidRefreshToken` with ``reason`` malformed / unknown key / bad seal /
        wrong client / expired.
        """
        malformed = InvalidRefreshToken.MALFORMED
        if not isinstance(token, str) or len(token) > MAX_REFRESH_TOKEN_CHARS:
            raise InvalidRefreshToken(malformed, "not a refresh token")
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRefreshToken(malformed, "non-ASCII characters") from None
        parts = raw.split(b".")
        if len(parts) != 5 or parts[1] != b"":
            raise InvalidRefreshToken(malformed, "expected five segments with an empty encrypted key")
        header_segment, _, iv_segment, ciphertext_segment, tag_segment = parts
        try:
            header = json.loads(_b64d_strict(header_segment))
            iv = _b64d_strict(iv_segment)
            ciphertext = _b64d_strict(ciphertext_segment)
            tag = _b64d_strict(tag_segment)
        except (ValueError, RecursionError):  # ValueError includes JSON and UTF-8 decoding errors
            raise InvalidRefreshToken(malformed, "segments are not base64url / JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "dir" or header.get("enc") != "A256GCM":
            raise InvalidRefreshToken(malformed, "unsupported header")
        if len(iv) != _GCM_IV_BYTES or len(tag) != _GCM_TAG_BYTES:
            raise InvalidRefreshToken(malformed, "wrong IV or tag length")
        key = self.keys.find(header.get("kid"))
        if key is None:
            raise InvalidRefreshToken(InvalidRefreshToken.UNKNOWN_KEY, "sealed with a key that is not published")
        try:
            plaintext = self._material_for(key).aead.decrypt(iv, ciphertext + tag, header_segment)
        except InvalidTag:
            raise InvalidRefreshToken(InvalidRefreshToken.BAD_SEAL, "authentication failed") from None
        try:
            grant = RefreshGrant._from_payload(json.loads(plaintext))
        except ValueError as exc:
            raise InvalidRefreshToken(malformed, f"sealed payload: {exc}") from None
        if client_id is not None and grant.client_id != client_id:
            raise InvalidRefreshToken(InvalidRefreshToken.WRONG_CLIENT, "issued to a different client")
        if self.clock.now() >= grant.expires_at:
            raise InvalidRefreshToken(InvalidRefreshToken.EXPIRED, "refresh token has expired")
        return grant
