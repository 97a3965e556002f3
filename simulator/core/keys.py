"""Signing keys and the JWKS: generated in memory, or shared through a PEM file by restarts and workers.

Key objects are parsed once and kept (never re-parsed per request); each key's ``kid`` is its RFC 7638
thumbprint, so it is the same in every process that loads the same file. No Starlette, no pytest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

SUPPORTED_ALGORITHMS = ("RS256", "ES256")
#: How many retired keys stay published after rotations (so tokens they signed still verify).
MAX_PREVIOUS_KEYS = 2
#: RSA modulus size for generated keys, and the minimum accepted from a key file.
RSA_KEY_BITS = 2048
#: A key file larger than this is certainly not a handful of PEM keys (and may be a device file).
MAX_KEY_FILE_BYTES = 1 << 20

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


def b64url_encode(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_algorithm(algorithm: str) -> str:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}; expected one of {', '.join(SUPPORTED_ALGORITHMS)}")
    return algorithm


# --------------------------------------------------------------------------------------------------
# keys


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
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
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest()).decode("ascii")


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
        check_algorithm(algorithm)
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
        kid = jwk_thumbprint(jwk)
        jwk.pop("key_ops", None)  # RFC 7517 §4.3: "use" and "key_ops" SHOULD NOT both appear
        public_jwk = {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}
        return cls(kid=kid, algorithm=algorithm, private_key=private_key, public_jwk=public_jwk)

    @classmethod
    def generate(cls, algorithm: str = "RS256") -> SigningKey:
        """A fresh key: RSA 2048 for RS256, P-256 for ES256."""
        check_algorithm(algorithm)
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
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name)


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
        check_algorithm(algorithm)
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


