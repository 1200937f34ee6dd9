"""Access tokens: Ed25519-signed JWTs issued by identity and verified locally everywhere else.

Verifiers hold the identity service's public JWK Set and refresh it only when a token names a key
id they do not know (key rotation), so no request costs a call to identity.
"""
import base64
import hashlib
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import PermissionDenied, Unauthenticated

AUDIENCE = "concilia"
ALGORITHM = "EdDSA"
ROLES = ("consumer", "company_agent", "manager", "monitor", "admin")
STAFF_ROLES = ("manager", "monitor", "admin")


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says. Carries ids only, never personal data."""
    account_id: str
    role: str
    company_id: str = ""
    group_id: str = ""
    jurisdiction: str = ""
    # A sector monitor's market segments (pack taxonomy segment codes): it sees only complaints in
    # them, inside its jurisdiction. Empty: every segment (prosecutors, courts, managers).
    segments: tuple[str, ...] = ()

    def require_role(self, *roles: str) -> "Principal":
        if self.role not in roles:
            raise PermissionDenied(f"this action needs one of the roles: {', '.join(roles)}")
        return self


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    # RFC 7638 thumbprint as key id: stable for the same key, different for a new one.
    thumbprint = hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    return {**jwk, "kid": _b64url(thumbprint), "use": "sig", "alg": ALGORITHM}


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, issuer: str, ttl_seconds: int):
        self.private_key = private_key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self.jwk = public_jwk(private_key.public_key())

    @classmethod
    def from_file(cls, path: str | Path, issuer: str, ttl_seconds: int, create: bool = False) -> "TokenSigner":
        """Loads a PEM (PKCS#8) Ed25519 key; creates one (mode 0600) when allowed and missing."""
        path = Path(path)
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"token signing key {path} does not exist")
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            path.touch(mode=0o600)
            path.write_bytes(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key, issuer, ttl_seconds)

    def jwks(self, extra_public_jwks: list[dict] | None = None) -> dict:
        return {"keys": [self.jwk, *(extra_public_jwks or [])]}

    def issue(self, principal: Principal, now: float | None = None) -> str:
        now = int(now if now is not None else time.time())
        claims = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": principal.account_id, "role": principal.role,
            "iat": now, "nbf": now, "exp": now + self.ttl_seconds, "jti": uuid.uuid4().hex,
        }
        for name in ("company_id", "group_id", "jurisdiction"):
            if getattr(principal, name):
                claims[name] = getattr(principal, name)
        if principal.segments:
            claims["segments"] = list(principal.segments)
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]})


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    valid_until: float  # exp + leeway, in time.time() seconds
    kid: str
    key: object


class TokenVerifier:
    """Verifies access tokens against a JWK Set obtained from `fetch_jwks` (cached).

    A client sends the same token with every request until it expires, and checking an EdDSA
    signature costs more than the rest of a small request: verified tokens are remembered until
    their expiry, in a bounded LRU keyed by the token's SHA-256 (the tokens themselves are not
    kept). A remembered token still needs its signing key to be current (a withdrawn key ends it).
    """

    def __init__(self, fetch_jwks: Callable[[], dict], issuer: str, leeway_seconds: int = 5,
                 refetch_interval_seconds: float = 30.0, cache_size: int = 10_000):
        self._fetch = fetch_jwks
        self.issuer = issuer
        self.leeway = leeway_seconds
        self.refetch_interval = refetch_interval_seconds
        self._keys: dict[str, object] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.cache_size = cache_size
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._verified_lock = threading.Lock()

    def _refresh(self, force: bool) -> None:
        with self._lock:
            if not force and self._keys:
                return
            if force and time.monotonic() - self._fetched_at < self.refetch_interval and self._keys:
                return
            jwks = self._fetch()
            self._keys = {k["kid"]: jwt.PyJWK(k, algorithm=ALGORITHM).key for k in jwks.get("keys", []) if "kid" in k}
            self._fetched_at = time.monotonic()

    def verify(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("missing access token")
        digest = hashlib.sha256(token.encode()).digest()
        with self._verified_lock:
            known = self._verified.get(digest)
            if known is not None:
                if time.time() < known.valid_until and self._keys.get(known.kid) is known.key:
                    self._verified.move_to_end(digest)
                    return known.principal
                del self._verified[digest]  # expired or key withdrawn: the full check says why
        principal, verified = self._verify_signed(token)
        with self._verified_lock:
            self._verified[digest] = verified
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, _Verified]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token") from None
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthenticated("malformed access token")
        kid = header["kid"]
        self._refresh(force=False)
        if kid not in self._keys:
            self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("access token signed by an unknown key")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid access token") from None
        segments = claims.get("segments", [])
        if claims.get("role") not in ROLES or not isinstance(segments, list) or not all(
                isinstance(segment, str) for segment in segments):
            raise Unauthenticated("invalid access token")
        principal = Principal(account_id=claims["sub"], role=claims["role"], company_id=claims.get("company_id", ""),
                              group_id=claims.get("group_id", ""), jurisdiction=claims.get("jurisdiction", ""),
                              segments=tuple(segments))
        # PyJWT rejects a token once exp <= now - leeway.
        return principal, _Verified(principal, claims["exp"] + self.leeway, kid, key)
